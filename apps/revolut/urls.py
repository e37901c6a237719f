from django.urls import path

from apps.revolut import views

app_name = "revolut"
urlpatterns = [
    path("", views.hub, name="hub"),
    path("balances/", views.balance_page, name="balances"),
    path("balances/cards/", views.balance_cards, name="balance_cards"),
    path("connect/", views.connect_index, name="connect_index"),
    path("connect/<int:pk>/", views.connect, name="connect"),
    path("connect/<int:pk>/consent/", views.start_consent, name="start_consent"),
    path("connect/<int:pk>/certificate.cer", views.certificate, name="certificate"),
    path("oauth/callback/", views.oauth_callback, name="oauth_callback"),
]
