"""``/api/v1/``: the REST API's routes."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from . import api

router = DefaultRouter()
router.register("elements", api.ElementViewSet, basename="element")
router.register("media", api.MediumViewSet, basename="medium")
router.register("countries", api.CountryViewSet, basename="country")
router.register("surveys", api.SurveyViewSet, basename="survey")
router.register("samples", api.SampleViewSet, basename="sample")
router.register("measurements", api.MeasurementViewSet, basename="measurement")

app_name = "api"
urlpatterns = [
    *router.urls,
    path("cells/<str:code>/stats", api.CellStatsView.as_view(), name="cell-stats"),
]
