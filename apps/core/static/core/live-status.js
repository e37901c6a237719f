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
  var down = [];  // ws-connect elements whose socket is closed
  function stillDown() {
    // A socket element swapped out of the page meanwhile no longer counts.
    down = down.filter(function (element) { return document.body.contains(element); });
    return down.length > 0;
  }
  function showNotices() {
    var visible = stillDown();
    document.querySelectorAll(".console-live-lost").forEach(function (notice) {
      notice.hidden = !visible;
    });
  }
  window.addEventListener("beforeunload", function () { leaving = true; });
  document.addEventListener("htmx:wsClose", function (event) {
    if (leaving) {
      return;
    }
    if (down.indexOf(event.target) < 0) {
      down.push(event.target);
    }
    showNotices();
    var code = event.detail && event.detail.event ? event.detail.event.code : 0;
    if (code === 1001 && event.detail.socketWrapper) {
      setTimeout(function () { event.detail.socketWrapper.reconnect(); }, 2000);
    }
  });
  document.addEventListener("htmx:wsOpen", function (event) {
    var index = down.indexOf(event.target);
    if (index < 0) {
      return;  // a first connection, not a return
    }
    down.splice(index, 1);
    showNotices();
    if (window.htmx) {
      document.querySelectorAll("[data-live-resume]").forEach(function (element) {
        window.htmx.trigger(element, "live-resumed");
      });
    }
  });
})();
