"""``/api/v1/layers``: the map layer a viewer should draw, its render state and its URLs."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from maps.classification import SCHEMES
from maps.layers import LayerRequestError, LayerSpec, find_layer
from maps.models import MapLayer
from maps.ramps import RAMPS
from maps.styles import STYLES
from sharing.access import request_scope
from sharing.audit import audit_access, note_country_served

from .http import choice_param, element_param, medium_param, scale_param
from .schema import ELEMENT, ERRORS, JSON_OBJECT, MEDIUM, query
from .tiles import tiles_expire, tiles_template


def layer_document(layer: MapLayer) -> dict:
    """What a client needs to draw a layer (relative URLs; TileJSON has absolute ones). A
    restricted layer's ``tiles`` is a capability URL valid until ``tiles_expire`` (epoch
    seconds): ask again before then for a fresh one."""
    tiles = tiles_template(layer)
    return {
        "id": layer.key,
        "state": layer.state,
        "progress": layer.progress,
        "message": layer.message,
        "element": layer.element.symbol,
        "medium": layer.medium.code,
        "scale_km": layer.scale_m / 1000,
        "style": layer.style,
        "scheme": layer.scheme,
        "ramp": layer.ramp,
        "tilejson": reverse("tiles:tilejson", args=[layer.key]),
        "tiles": tiles,
        "tiles_expire": tiles_expire(tiles),
        "legend": reverse("tiles:legend-json", args=[layer.key]),
        "legend_png": reverse("tiles:legend-png", args=[layer.key]),
        "minzoom": 0,
        "maxzoom": layer.maxzoom,
        "bounds": layer.bounds,
        "n_values": layer.n_values,
        "public": layer.is_public,
    }


def layer_spec_param(params) -> LayerSpec:
    """``element``, ``medium``, ``scale`` (km; a layer defaults to 80 km, the atlas scale),
    ``style``, ``scheme``, ``ramp``."""
    return LayerSpec(
        element=element_param(params),
        medium=medium_param(params),
        scale_m=scale_param(params, default=80_000),
        style=choice_param(params, "style", STYLES, "cells"),
        scheme=choice_param(params, "scheme", SCHEMES, "percentiles"),
        ramp=choice_param(params, "ramp", RAMPS, "geochem"),
    )


@extend_schema(
    parameters=[ELEMENT, MEDIUM, query('scale', 'grid scale in km (default 80)', required=False),
                query('style', 'cells | surface | points', required=False),
                query('scheme', 'percentiles | quantiles | boxplot | log_equal', required=False),
                query('ramp', 'geochem | colourblind | viridis', required=False)],
    responses={200: JSON_OBJECT, 403: ERRORS[404], **ERRORS}, tags=['maps'],
)  # fmt: skip
class LayerView(APIView):
    """``GET /api/v1/layers?element=Cu&medium=topsoil&scale=80&style=cells`` (optional
    ``scheme``: percentiles | quantiles | boxplot | log_equal, ``ramp``: geochem | colourblind |
    viridis). Finds or queues the layer for the requester's audience; poll it while ``state``
    is ``queued`` or ``rendering`` (``progress`` in percent)."""

    def get(self, request):
        spec = layer_spec_param(request.query_params)
        scope = request_scope(request)
        try:
            layer = find_layer(spec, scope, request.user)
        except LayerRequestError as exc:
            raise PermissionDenied(exc.reason) from None
        if layer.state in (MapLayer.State.READY, MapLayer.State.EMPTY):
            for country_id in layer.countries:
                note_country_served(request, country_id)
            audit_access(
                request,
                scope,
                f"map layer {spec.element.symbol} {spec.medium.code} {spec.scale_m / 1000:g} km "
                f"{spec.style}",
            )
        return Response(layer_document(layer))
