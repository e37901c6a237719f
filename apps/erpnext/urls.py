from django.urls import path

from apps.erpnext import views

app_name = "erpnext"
urlpatterns = [
    path("", views.hub, name="hub"),
    path("sync/", views.sync_now, name="sync_now"),
    path("test/", views.test, name="test_connection"),
    path("links/<int:pk>/confirm/", views.confirm_link, name="confirm_link"),
]
