from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.contrib.staticfiles.views import serve as serve_static
from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.utils.translation import gettext_lazy
from django.views.generic import RedirectView

# The admin is the console shell (templates/admin/base_site.html).
admin.site.site_header = "Hypervisual Console"
admin.site.site_title = "Hypervisual Console"
admin.site.site_url = None
admin.site.index_title = gettext_lazy("Accueil de la console")  # Django's is "Site d'administration"

urlpatterns = [
    # "/" is the console home, never a 404.
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False), name="root"),
    path("favicon.ico", login_not_required(lambda request: HttpResponsePermanentRedirect(
        static("console/favicon.svg")))),
    path("", include("apps.core.urls")),
    path("", include("apps.operations.urls")),
    path("hub/", include("apps.hub.urls")),
    path("invoiceninja/", include("apps.invoiceninja.urls")),
    path("revolut/", include("apps.revolut.urls")),
    path("erpnext/", include("apps.erpnext.urls")),
    path("mautic/", include("apps.mautic.urls")),
    path("docuseal/", include("apps.docuseal.urls")),
    path("directus/", include("apps.directus.urls")),
    path("automations/", include("apps.automations.urls")),
    # Vendor emulators: every view is wrapped by apps.core.sandbox.sandbox_view (404 unless SANDBOX is on).
    path("sandbox/invoiceninja/", include("apps.invoiceninja.sandbox")),
    path("sandbox/revolut/", include("apps.revolut.sandbox")),
    path("sandbox/erpnext/", include("apps.erpnext.sandbox.urls")),
    path("sandbox/mautic/", include("apps.mautic.sandbox")),
    path("sandbox/docuseal/", include("apps.docuseal.sandbox.urls")),
    path("sandbox/directus/", include("apps.directus.sandbox")),
    path("i18n/", include("django.conf.urls.i18n")),
    # django-rq's pages, for operators only (apps/core/queue_dashboard.py).
    path("django-rq/", include("apps.core.queue_dashboard")),
    path("admin/", admin.site.urls),
]

if settings.DEBUG:
    # An ASGI server does not serve static files: with DEBUG on (make run) Django does, login page included;
    # in production the reverse proxy serves STATIC_ROOT (`manage.py collectstatic`) at /static/.
    urlpatterns += [
        re_path(rf"^{settings.STATIC_URL.strip('/')}/(?P<path>.*)$", login_not_required(serve_static)),
    ]
