from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("apps.core.urls")),
    path("hub/", include("apps.hub.urls")),
    path("invoiceninja/", include("apps.invoiceninja.urls")),
    path("revolut/", include("apps.revolut.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("django-rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
]

if settings.SANDBOX:
    urlpatterns += [
        path("sandbox/invoiceninja/", include("apps.invoiceninja.sandbox")),
        path("sandbox/revolut/", include("apps.revolut.sandbox")),
    ]
