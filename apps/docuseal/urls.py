from django.urls import path

from apps.docuseal import views

app_name = "docuseal"
urlpatterns = [
    path("", views.hub, name="hub"),
    path("test/", views.test, name="test_connection"),
    path("webhooks/hmac-secret/", views.save_hmac_secret, name="save_hmac_secret"),
    path("webhooks/secret-header/", views.generate_secret_header, name="generate_secret_header"),
    path("template/", views.save_template, name="save_template"),
    path("documents/<int:pk>/", views.signed_document, name="signed_document"),
]
