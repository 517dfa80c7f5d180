"""Public pages of the baselines app."""

from django.urls import path

from . import views

app_name = "baselines"
urlpatterns = [
    path("", views.home, name="home"),
]
