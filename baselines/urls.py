"""Public pages of the baselines app."""

from django.urls import path

from . import views

app_name = "baselines"
urlpatterns = [
    path("", views.home, name="home"),
    path("surveys/", views.survey_list, name="survey-list"),
    path("surveys/<slug:slug>/", views.survey_detail, name="survey-detail"),
]
