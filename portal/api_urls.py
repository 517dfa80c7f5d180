"""``/api/v1/``: every API route, in one namespace (``api:``)."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from . import api, layers_api, viewer_api

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
    path("layers", layers_api.LayerView.as_view(), name="layers"),
    path("cells/at", viewer_api.cell_at_view, name="cell-at"),
    path("cells/<str:code>/stats", api.CellStatsView.as_view(), name="cell-stats"),
    path("cells/<str:code>/samples", viewer_api.cell_samples_view, name="cell-samples"),
    path("viewer/elements", viewer_api.elements_view, name="viewer-elements"),
    path("viewer/values", viewer_api.values_view, name="viewer-values"),
    path("boundaries", viewer_api.boundaries_view, name="boundaries"),
]
