"""``/api/v1/`` routes of the maps app: map layers."""

from django.urls import path

from . import api

app_name = "maps-api"
urlpatterns = [
    path("layers", api.LayerView.as_view(), name="layers"),
]
