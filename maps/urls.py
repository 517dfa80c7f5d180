"""``/tiles/``: XYZ tiles, TileJSON and legends of rendered map layers."""

from django.urls import path

from . import views

app_name = "tiles"
urlpatterns = [
    path("<str:key>.json", views.tilejson, name="tilejson"),
    path("<str:key>/legend.json", views.legend_json, name="legend-json"),
    path("<str:key>/legend.png", views.legend_png, name="legend-png"),
    path("<str:key>/<int:z>/<int:x>/<int:y>.png", views.tile, name="tile"),
]
