"""The URL map: every public surface of the portal is listed here."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include("baselines.api_urls")),
    path("api/v1/", include("maps.api_urls")),
    path("tiles/", include("maps.urls")),
    path("", include("maps.page_urls")),
    path("", include("sharing.urls")),
    path("", include("baselines.urls")),
]

handler404 = "baselines.views.not_found"
handler500 = "baselines.views.server_error"
