"""``/api/v1/``: every API route, in one namespace (``api:``)."""

from django.urls import path, re_path
from rest_framework.routers import DefaultRouter

from . import api, certificates_api, dashboards_api, layers_api, map_images, viewer_api

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
    re_path(
        r"^layers/(?P<key>[0-9a-f]{1,40})/image\.(?P<fmt>png|pdf)$",
        map_images.image_view,
        name="layer-image",
    ),
    path("cells/at", viewer_api.cell_at_view, name="cell-at"),
    path("cells/<str:code>/stats", api.CellStatsView.as_view(), name="cell-stats"),
    path("cells/<str:code>/samples", viewer_api.cell_samples_view, name="cell-samples"),
    path("viewer/elements", viewer_api.elements_view, name="viewer-elements"),
    path("viewer/values", viewer_api.values_view, name="viewer-values"),
    path("boundaries", viewer_api.boundaries_view, name="boundaries"),
    path("dashboards/", dashboards_api.index_view, name="dashboards"),
    path("dashboards/coverage", dashboards_api.coverage_view, name="dashboard-coverage"),
    path(
        "dashboards/coverage/cells",
        dashboards_api.coverage_cells_view,
        name="dashboard-coverage-cells",
    ),
    path("dashboards/exceedance", dashboards_api.exceedance_view, name="dashboard-exceedance"),
    path(
        "dashboards/exceedance/cells",
        dashboards_api.exceedance_cells_view,
        name="dashboard-exceedance-cells",
    ),
    path("dashboards/change", dashboards_api.change_view, name="dashboard-change"),
    path("dashboards/volume", dashboards_api.volume_view, name="dashboard-volume"),
    path("dashboards/baselines", dashboards_api.baselines_view, name="dashboard-baselines"),
    path("dashboards/compare", dashboards_api.compare_view, name="dashboard-compare"),
    path("dashboards/standards", dashboards_api.standards_view, name="dashboard-standards"),
    path("certificates/units", certificates_api.units_view, name="certificate-units"),
    path(
        "certificates/units/<str:code>/rating",
        certificates_api.rating_view,
        name="certificate-rating",
    ),
    path("certificates/<str:public_id>", certificates_api.certificate_view, name="certificate"),
]
