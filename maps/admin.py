"""Admin for map layers: what has been rendered, for whom (audience digest) and how long it took."""

from django.contrib import admin

from .models import MapLayer


@admin.register(MapLayer)
class MapLayerAdmin(admin.ModelAdmin):
    list_display = [
        "key", "element", "medium", "scale_m", "style", "is_public", "state", "progress",
        "n_values", "render_seconds", "last_requested",
    ]  # fmt: skip
    list_filter = ["state", "style", "is_public", "medium"]
    search_fields = ["key", "element__symbol"]
    readonly_fields = [f.name for f in MapLayer._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False  # layers are made by /api/v1/layers, never by hand
