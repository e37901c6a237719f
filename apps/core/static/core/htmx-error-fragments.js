// htmx 2 does not swap 4xx responses by default. The console's refusals (403 "permission requise",
// 404 "introuvable"...) are readable French fragments marked with X-Console-Error: swap them in.
(function () {
  if (window.consoleErrorFragments) {
    return;
  }
  window.consoleErrorFragments = true;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr && xhr.status >= 400 && xhr.status < 500 && xhr.getResponseHeader("X-Console-Error")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
