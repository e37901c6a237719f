// A live page says when one of its sockets drops ("Mise à jour en direct interrompue — reconnexion…") and hides
// the notice once every socket is back. htmx's ws extension retries by itself after an abnormal close (1006,
// 1011-1013); after a "going away" (1001: the server restarted) it does not, so the page asks for the
// reconnection. A socket back after a drop fires "live-resumed" on [data-live-resume] elements: they fetch
// again what the page shows live, since whatever was pushed meanwhile was lost.
(function () {
  if (window.consoleLiveStatus) {
    return;
  }
  window.consoleLiveStatus = true;
  // htmx's default delay ("full-jitter") grows to 64 s between attempts once a server has been away a while:
  // a page would stay stale, its notice up, for a minute after the server is back. At most 5 s apart, jittered.
  if (window.htmx) {
    window.htmx.config.wsReconnectDelay = function (retryCount) {
      return Math.min(1000 * Math.pow(2, retryCount), 5000) * (0.5 + Math.random() / 2);
    };
  }
  var leaving = false;
  // Set when a socket drops, cleared once every socket element on the page is connected. Elements are counted
  // as they are now: a catch-up can swap a panel in while its old socket is still down, and the new element's
  // first connection is what brings it back.
  var recovering = false;
  var connected = new WeakSet();
  var dropped = new WeakSet();  // closed since they last connected: their return means something was missed
  function showNotices() {
    if (recovering) {
      recovering = Array.prototype.some.call(document.querySelectorAll("[ws-connect]"), function (element) {
        return !connected.has(element);
      });
    }
    document.querySelectorAll(".console-live-lost").forEach(function (notice) {
      notice.hidden = !recovering;
    });
  }
  window.addEventListener("beforeunload", function () { leaving = true; });
  document.addEventListener("htmx:wsClose", function (event) {
    if (leaving) {
      return;
    }
    connected.delete(event.target);
    dropped.add(event.target);
    recovering = true;
    showNotices();
    var code = event.detail && event.detail.event ? event.detail.event.code : 0;
    if (code === 1001 && event.detail.socketWrapper) {
      setTimeout(function () { event.detail.socketWrapper.reconnect(); }, 2000);
    }
  });
  document.addEventListener("htmx:wsOpen", function (event) {
    connected.add(event.target);
    showNotices();
    if (!dropped.delete(event.target)) {
      return;  // a first connection, not a return
    }
    if (window.htmx) {
      document.querySelectorAll("[data-live-resume]").forEach(function (element) {
        window.htmx.trigger(element, "live-resumed");
      });
    }
  });
})();
