"""Admin for map layers: what has been rendered, for whom (audience digest) and how long it took."""

from django.contrib import admin

from .models import FeaturedMap, MapLayer


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


@admin.register(FeaturedMap)
class FeaturedMapAdmin(admin.ModelAdmin):
    """The newest row is the map ``/map/`` opens on; saving it renders its layer (``featured``)."""

    list_display = ["element", "medium", "style", "latitude", "longitude", "zoom", "updated"]

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        from .featured import seed_featured

        seed_featured()
