from django.urls import path

from apps.mautic import views

app_name = "mautic"
urlpatterns = [
    path("", views.hub, name="hub"),
    path("test/", views.test, name="test_connection"),
    path("sync/", views.sync_now, name="sync_now"),
    path("reconcile/", views.reconcile, name="reconcile"),
    path("webhooks/register/", views.register, name="register_webhook"),
    path("contacts/<int:pk>/", views.contact_timeline, name="contact"),
    path("connect/<int:pk>/", views.authorize, name="authorize"),
    path("oauth/callback/", views.oauth_callback, name="oauth_callback"),
]
