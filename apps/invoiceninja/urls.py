from django.urls import path

from apps.invoiceninja import views

app_name = "invoiceninja"
urlpatterns = [
    path("", views.hub, name="hub"),
    path("sync/", views.sync_now, name="sync_now"),
    path("webhooks/register/", views.register, name="register_webhooks"),
    path("test/", views.test, name="test_connection"),
    path("<str:kind>/<int:pk>/pdf/", views.document_pdf, name="document_pdf"),
]
