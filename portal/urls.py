"""The portal's pages (``portal:``): home, the map viewer, surveys, the API's description."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import certificates_pages, dashboards_pages, developer_page, map_page, metrics, pages

app_name = "portal"
urlpatterns = [
    path("", pages.home, name="home"),
    path("map/", map_page.viewer, name="map"),
    path("surveys/", pages.survey_list, name="survey-list"),
    path("surveys/<slug:slug>/", pages.survey_detail, name="survey-detail"),
    path("dashboards/", dashboards_pages.index, name="dashboards"),
    path("dashboards/zones/", dashboards_pages.zones, name="dashboard-zones"),
    *(
        path(f"dashboards/{name}/", getattr(dashboards_pages, name), name=f"dashboard-{name}")
        for name in ("coverage", "exceedance", "change", "volume", "baselines", "compare")
    ),
    path("certificates/", certificates_pages.certificates_map, name="certificates"),
    path("certificates/units/", certificates_pages.units, name="certificate-units"),
    path("certificates/units/<str:code>/", certificates_pages.unit_detail, name="certificate-unit"),
    path(
        "certificates/units/<str:code>/plots/",
        certificates_pages.draw_plot,
        name="certificate-draw-plot",
    ),
    path(
        "certificates/units/<str:code>/issue/", certificates_pages.issue, name="certificate-issue"
    ),
    path("certificates/<str:public_id>/", certificates_pages.verify, name="certificate-verify"),
    path(
        "certificates/<str:public_id>/print/",
        certificates_pages.printable,
        name="certificate-print",
    ),
    path("certificates/<str:public_id>/pdf/", certificates_pages.pdf, name="certificate-pdf"),
    path(
        "certificates/<str:public_id>/revoke/", certificates_pages.revoke, name="certificate-revoke"
    ),
    # The API's description, served by the portal with local assets (no CDN; drf-spectacular's
    # Redoc page loads web fonts from Google, so only Swagger UI is offered).
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/api/", developer_page.developer_page, name="developer"),
    path("metrics", metrics.metrics_view, name="metrics"),  # Prometheus; token or staff only
    # The split view serves its start-up script as a file: no inline script for the CSP to refuse.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="portal:api-schema"),
        name="api-docs",
    ),
]
