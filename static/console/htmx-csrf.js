// Sends Django's CSRF token with every HTMX request (writes are refused without it).
// The token comes from <meta name="csrf-token"> rendered by templates/admin/base_site.html.
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) {
    event.detail.headers["X-CSRFToken"] = meta.content;
  }
});
