"""The portal's pages (``portal:``): home, the map viewer, surveys."""

from django.urls import path

from . import map_page, pages

app_name = "portal"
urlpatterns = [
    path("", pages.home, name="home"),
    path("map/", map_page.viewer, name="map"),
    path("surveys/", pages.survey_list, name="survey-list"),
    path("surveys/<slug:slug>/", pages.survey_detail, name="survey-detail"),
]
