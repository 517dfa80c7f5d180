"""``/tiles/``: XYZ tiles, TileJSON and legends of rendered map layers (``tiles:``)."""

from django.urls import path

from . import tiles

app_name = "tiles"
urlpatterns = [
    path("<str:key>.json", tiles.tilejson, name="tilejson"),
    path("<str:key>/legend.json", tiles.legend_json, name="legend-json"),
    path("<str:key>/legend.png", tiles.legend_png, name="legend-png"),
    path("<str:key>/<int:z>/<int:x>/<int:y>.png", tiles.tile, name="tile"),
    path(
        "c/<str:key>/<int:expires>/<str:signature>/<int:z>/<int:x>/<int:y>.png",
        tiles.capability_tile,
        name="capability-tile",
    ),
]
