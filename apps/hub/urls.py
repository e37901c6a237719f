from django.urls import path

from apps.hub import views

app_name = "hub"
urlpatterns = [
    path("recherche/", views.search, name="search"),
]
