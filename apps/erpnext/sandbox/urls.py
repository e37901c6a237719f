"""Routes of the ERPNext emulator (mounted at /sandbox/erpnext/; 404 unless SANDBOX is on)."""

from django.urls import path

from apps.core.sandbox import sandbox_view
from apps.erpnext.sandbox import api, pages

app_name = "erpnext_sandbox"
urlpatterns = [
    path("api/resource/<str:doctype>", sandbox_view(api.resource_list), name="resource_list"),
    path("api/resource/<str:doctype>/", sandbox_view(api.resource_list)),
    path("api/resource/<str:doctype>/<path:name>", sandbox_view(api.resource_detail), name="resource_detail"),
    path("api/method/<str:name>", sandbox_view(api.method), name="method"),
    path("api/method/<str:name>/", sandbox_view(api.method)),
    path("", sandbox_view(pages.index), name="index"),
]
