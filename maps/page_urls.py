"""Pages of the maps app (the map viewer) and the JSON endpoints only the viewer needs."""

from django.urls import path

from . import pages, viewer_api

app_name = "maps"
urlpatterns = [
    path("map/", pages.viewer, name="viewer"),
    path("api/v1/viewer/elements", viewer_api.elements_view, name="viewer-elements"),
    path("api/v1/viewer/values", viewer_api.values_view, name="viewer-values"),
    path("api/v1/cells/at", viewer_api.cell_at_view, name="cell-at"),
    path("api/v1/cells/<str:code>/samples", viewer_api.cell_samples_view, name="cell-samples"),
    path("api/v1/boundaries", viewer_api.boundaries_view, name="boundaries"),
]
