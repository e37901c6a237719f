// A live page says when its socket drops ("Mise à jour en direct interrompue — reconnexion…") and hides the
// notice when it is back. htmx's ws extension retries by itself after an abnormal close (1006, 1011-1013);
// after a "going away" (1001: the server restarted) it does not, so the page asks for the reconnection.
// Back online, the record's live pieces are fetched again ("live-resumed"): changes pushed meanwhile were lost.
(function () {
  if (window.consoleLiveStatus) {
    return;
  }
  window.consoleLiveStatus = true;
  var leaving = false;
  var dropped = false;
  function notices(visible) {
    document.querySelectorAll(".console-live-lost").forEach(function (notice) {
      notice.hidden = !visible;
    });
  }
  window.addEventListener("beforeunload", function () { leaving = true; });
  document.addEventListener("htmx:wsClose", function (event) {
    if (leaving) {
      return;
    }
    dropped = true;
    notices(true);
    var code = event.detail && event.detail.event ? event.detail.event.code : 0;
    if (code === 1001 && event.detail.socketWrapper) {
      setTimeout(function () { event.detail.socketWrapper.reconnect(); }, 2000);
    }
  });
  document.addEventListener("htmx:wsOpen", function () {
    notices(false);
    if (dropped && window.htmx) {
      dropped = false;
      document.querySelectorAll("[data-live-resume]").forEach(function (element) {
        window.htmx.trigger(element, "live-resumed");
      });
    }
  });
})();
