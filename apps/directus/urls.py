from django.urls import path

from apps.directus import views

app_name = "directus"

urlpatterns = [
    path("", views.hub, name="hub"),
    path("test/", views.test, name="test_connection"),
    path("schema/", views.create_schema, name="create_schema"),
    path("push/", views.push_now, name="push_now"),
    path("resync/", views.resync_now, name="resync_now"),
    path("poll/", views.poll_now, name="poll_now"),
]
