"""The URL map: every public surface of the portal is listed here (all served by ``portal``,
except the accounts, steward and licence pages of ``sharing`` and Django's admin and auth)."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("sharing.auth_urls")),  # Django's, the password reset throttled
    path("api/v1/", include("portal.api_urls")),
    path("tiles/", include("portal.tile_urls")),
    path("ogcapi/", include("portal.ogcapi.urls")),
    path("health/", include("portal.health_urls")),  # load balancers, monitors, make status
    path("", include("portal.downloads_urls")),
    path("", include("portal.urls")),
    path("", include("sharing.urls")),
]

handler404 = "portal.http.not_found"
handler500 = "portal.http.server_error"
