"""Download packages (``downloads:``): the API under ``/api/v1/downloads/``, the page and the
signed file links. Included at the root of the URL map (the paths below are complete), so the
API's 404s keep the API's JSON body and the page keeps the site's."""

from django.urls import path

from . import downloads_api, downloads_pages

app_name = "downloads"
urlpatterns = [
    path("api/v1/downloads/", downloads_api.DownloadsView.as_view(), name="api-list"),
    path(
        "api/v1/downloads/<uuid:public_id>",
        downloads_api.DownloadDetailView.as_view(),
        name="api-detail",
    ),
    path(
        "api/v1/downloads/<uuid:public_id>/datacite",
        downloads_api.DownloadDataCiteView.as_view(),
        name="api-datacite",
    ),
    path("downloads/", downloads_pages.downloads_page, name="page"),
    path("downloads/<uuid:public_id>/", downloads_pages.package_page, name="package"),
    path("downloads/file/<str:token>", downloads_api.DownloadFileView.as_view(), name="file"),
]
