from django.urls import include, path

app_name = "core"
urlpatterns = [
    path("", include("apps.core.health")),
    path("hooks/", include("apps.core.webhooks.urls")),
    path("console/", include("apps.core.console.urls")),
]
