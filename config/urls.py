from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("apps.core.urls")),
    path("hub/", include("apps.hub.urls")),
    path("invoiceninja/", include("apps.invoiceninja.urls")),
    path("revolut/", include("apps.revolut.urls")),
    # Vendor emulators: every view is wrapped by apps.core.sandbox.sandbox_view (404 unless SANDBOX is on).
    path("sandbox/invoiceninja/", include("apps.invoiceninja.sandbox")),
    path("sandbox/revolut/", include("apps.revolut.sandbox")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("django-rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
]
