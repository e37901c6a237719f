from django.urls import path

from apps.automations import views

app_name = "automations"
urlpatterns = [
    path("", views.rules_page, name="rules"),
    path("rules/<str:key>/switch/", views.switch_rule, name="switch_rule"),
    path("chains/<int:pk>/relaunch/", views.relaunch_chain, name="relaunch_chain"),
    path("chains/<int:pk>/run/", views.run_chain, name="run_chain"),
    path("credits/", views.credits_page, name="credits"),
    path("credits/<int:pk>/confirm/", views.confirm_credit, name="confirm_credit"),
    path("credits/<int:pk>/dismiss/", views.dismiss_credit, name="dismiss_credit"),
]
