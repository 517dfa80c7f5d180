"""``/tiles/``: tiles, TileJSON and legends of rendered map layers.

A layer is found by its key; a layer of another audience, a retired or stale one and a missing
one all answer the same 404, so a response never reveals that a layer exists. Public layers
are open to every viewer (they hold only public rows); the rest only to their own audience.
Tiles of a ready layer come from the tile cache on disk or are cut from the layer's raster and
cached; a layer still rendering answers 202 with a transparent tile, so a map shows "rendering"
rather than broken images. Tile URLs never change content (the key names the data and policy
versions), so public tiles are cacheable for a year; behind nginx they are served from disk
without Python, restricted ones by ``X-Accel-Redirect`` after the check here.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from chemearth import change_feed, metrics
from maps.layers import data_version, retire
from maps.models import MapLayer
from sharing.access import request_scope
from sharing.versioning import VersionInputs, version_inputs

from . import tile_capabilities
from .http import NOT_FOUND_REASON, error_response

IMMUTABLE = "public, max-age=31536000, immutable"
PRIVATE = "private, max-age=3600"


def _not_found() -> JsonResponse:
    return error_response(404, NOT_FOUND_REASON)


def visible_layer(request: HttpRequest, key: str) -> MapLayer | None:
    """The layer ``key`` if the requester may see it and it is still current, else None.

    A public layer's check makes no query in steady state: its row and the current versions come
    from memos that PostgreSQL's change notices clear (``chemearth.change_feed``).
    """
    layer = _live_layer(key)
    _authenticate_token(request)
    if layer is None:
        return None
    if layer.is_public:
        return _current(layer, _policy_inputs().version_at(timezone.now()))
    scope = request_scope(request)
    if scope.audience != layer.audience:
        return None
    return _current(layer, scope.version)


def capability_layer(key: str, expires: int, signature: str) -> MapLayer | None:
    """The layer a tile capability opens (``portal.tile_capabilities``), if it is genuine,
    unexpired and its layer still current; no session, no query in steady state."""
    if not tile_capabilities.is_valid(key, expires, signature):
        return None
    layer = _live_layer(key)
    return layer and _current(layer, _policy_inputs().version_at(timezone.now()))


def _live_layer(key: str) -> MapLayer | None:
    layer = _layer_row(key)
    if layer is not None and layer.is_pending:
        layer = _layer_row.__wrapped__(key)  # its state moves on without a notice; read it fresh
    if layer is None or layer.state == MapLayer.State.RETIRED:
        return None
    return layer


def _current(layer: MapLayer, policy_version: str) -> MapLayer | None:
    """``layer`` if it is keyed by the current versions; else it is retired here, so its tiles
    stop at the first request."""
    if layer.policy_version != policy_version or layer.data_version != _data_version(
        layer.medium_id
    ):
        retire(MapLayer.objects.filter(pk=layer.pk), reason="superseded")
        return None
    return layer


@change_feed.memoised
def _layer_row(key: str) -> MapLayer | None:
    return MapLayer.objects.filter(key=key).select_related("element", "medium").first()


@change_feed.memoised
def _policy_inputs() -> VersionInputs:
    return version_inputs()


@change_feed.memoised
def _data_version(medium_id: int) -> str:
    return data_version(medium_id)


def _authenticate_token(request: HttpRequest) -> None:
    """Tile, TileJSON and legend views are plain Django views (no DRF per tile); a partner's
    map client sends the same ``Authorization: Token …`` it uses for the API, so honour it the
    same way: a token wins over the session, and a bad one raises AuthenticationFailed (401)."""
    if not request.headers.get("Authorization", "").startswith("Token "):
        return
    from sharing.authentication import ApiTokenAuthentication

    found = ApiTokenAuthentication().authenticate(request)
    if found:
        request.user = found[0]
        request.__dict__.pop("_chemearth_scope", None)


def tile_view(view):
    """GET only; a bad API token is the API's 401 (as on every ``/api/v1/`` endpoint)."""
    from rest_framework.exceptions import AuthenticationFailed

    @require_GET
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except AuthenticationFailed as exc:
            response = error_response(401, str(exc.detail))
            response["WWW-Authenticate"] = "Token"
            return response

    return wrapper


def _cache_headers(
    response: HttpResponse, layer: MapLayer, etag: str, expires: int | None = None
) -> HttpResponse:
    response["ETag"] = etag
    if expires is not None:  # a capability URL: anyone holding it may see it, until it expires
        response["Cache-Control"] = f"private, max-age={max(0, expires - int(time.time()))}"
        return response
    response["Cache-Control"] = IMMUTABLE if layer.is_public else PRIVATE
    if not layer.is_public:
        response["Vary"] = "Cookie, Authorization"
    return response


def _file(
    layer: MapLayer,
    path: Path,
    content_type: str,
    etag: str,
    expires: int | None = None,
):
    if settings.TILE_ACCEL_REDIRECT:
        response = HttpResponse(content_type=content_type)
        relative = path.relative_to(settings.TILE_ROOT)
        response["X-Accel-Redirect"] = (
            settings.TILE_ACCEL_REDIRECT.rstrip("/") + "/" + str(relative)
        )
    else:
        response = FileResponse(path.open("rb"), content_type=content_type)
    return _cache_headers(response, layer, etag, expires)


def _pending_tile(layer: MapLayer) -> HttpResponse:
    from maps.tiling import EMPTY_TILE

    response = HttpResponse(EMPTY_TILE, content_type="image/png", status=202)
    response["X-Layer-State"] = layer.state
    response["X-Layer-Progress"] = f"{layer.progress:.0f}"
    response["Retry-After"] = "2"
    response["Cache-Control"] = "no-store"
    return response


@tile_view
def tile(request: HttpRequest, key: str, z: int, x: int, y: int) -> HttpResponse:
    return _tile(visible_layer(request, key), request.headers.get("If-None-Match"), z, x, y)


@tile_view
def capability_tile(
    request: HttpRequest, key: str, expires: int, signature: str, z: int, x: int, y: int
) -> HttpResponse:
    """A restricted layer's tile by capability URL (``/tiles/c/<key>/<expires>/<sig>/…``).
    The capability is the credential; a bad API token sent along is still the API's 401."""
    _authenticate_token(request)
    layer = capability_layer(key, expires, signature)
    return _tile(layer, request.headers.get("If-None-Match"), z, x, y, expires)


def fast_tile(
    key: str,
    z: int,
    x: int,
    y: int,
    if_none_match: str | None,
    capability: tuple[int, str] | None = None,
) -> HttpResponse | None:
    """A tile answered without Django's request handling (``portal.tile_fast_path``): a public
    layer's, or any layer's by capability (``(expires, signature)``). None when the answer needs
    the full path — a restricted layer without capability, a refused capability, a missing or
    superseded layer — which then answers (and logs) it as usual."""
    if capability is not None:
        layer = capability_layer(key, *capability)
    else:
        layer = _live_layer(key)
        if layer is None or not layer.is_public:
            return None
        layer = _current(layer, _policy_inputs().version_at(timezone.now()))
    if layer is None:
        return None
    return _tile(layer, if_none_match, z, x, y, capability and capability[0])


def _tile(
    layer: MapLayer | None,
    if_none_match: str | None,
    z: int,
    x: int,
    y: int,
    expires: int | None = None,
) -> HttpResponse:
    from maps.tiling import EMPTY_TILE, TileSource

    if layer is None:
        return _not_found()
    if not (0 <= z <= 22 and 0 <= x < 2**z and 0 <= y < 2**z):
        return error_response(400, f"no tile {z}/{x}/{y}")
    if layer.is_pending or layer.state == MapLayer.State.FAILED:
        return _pending_tile(layer)
    etag = f'"{layer.key}-{z}-{x}-{y}"'
    if if_none_match == etag:
        return _cache_headers(HttpResponse(status=304), layer, etag, expires)
    if layer.state == MapLayer.State.EMPTY or z > (layer.maxzoom or 0):
        response = HttpResponse(EMPTY_TILE, content_type="image/png")
        return _cache_headers(response, layer, etag, expires)
    path = layer.tile_path(z, x, y)
    if path.exists():
        metrics.TILES.labels("hit").inc()
        return _file(layer, path, "image/png", etag, expires)
    metrics.TILES.labels("miss").inc()
    try:
        png = TileSource.open(layer.directory).tile_png(z, x, y)
    except FileNotFoundError:
        return _not_found()  # retired between the check and the read
    if png is None:
        png = EMPTY_TILE
        _link_empty(layer, path)
    else:
        _write_atomically(path, png)
    return _cache_headers(HttpResponse(png, content_type="image/png"), layer, etag, expires)


def _write_atomically(path: Path, data: bytes) -> None:
    """Cache a tile; concurrent writers of the same tile each rename a complete file."""
    # OSError: the layer was retired (its directory renamed) meanwhile; serving still works.
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
        temporary.write_bytes(data)
        os.replace(temporary, path)


def _link_empty(layer: MapLayer, path: Path) -> None:
    """Cache an empty tile as a hard link to one shared empty PNG per layer: most tiles of a
    national survey are empty, and a front server then serves them from disk too."""
    from maps.tiling import EMPTY_TILE

    empty = layer.directory / "empty.png"
    with contextlib.suppress(OSError):
        if not empty.exists():
            _write_atomically(empty, EMPTY_TILE)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
        os.link(empty, temporary)
        os.replace(temporary, path)


def tiles_template(layer: MapLayer) -> str:
    """The XYZ URL template clients fill in: ``/tiles/<key>/{z}/{x}/{y}.png`` for a public
    layer, a capability URL for a restricted one (valid until :func:`tiles_expire`)."""
    if layer.is_public:
        url = reverse("tiles:tile", args=[layer.key, 0, 0, 0])
    else:
        expires, signature = tile_capabilities.issue(layer.key)
        url = reverse("tiles:capability-tile", args=[layer.key, expires, signature, 0, 0, 0])
    return url.replace("/0/0/0.png", "/{z}/{x}/{y}.png")


def tiles_expire(template: str) -> int | None:
    """When a template from :func:`tiles_template` stops working (epoch seconds), or None."""
    parts = template.split("/")
    return int(parts[4]) if len(parts) > 4 and parts[2] == "c" else None


def tilejson_document(request: HttpRequest, layer: MapLayer) -> dict:
    base = request.build_absolute_uri("/").rstrip("/")
    tiles = base + tiles_template(layer)
    bounds = layer.bounds or [-180, -85.0511, 180, 85.0511]
    return {
        "tilejson": "3.0.0",
        "name": f"{layer.element.symbol} {layer.medium.code} {layer.scale_m / 1000:g} km "
        f"{layer.style}",
        "scheme": "xyz",
        "tiles": [tiles],
        "minzoom": 0,
        "maxzoom": layer.maxzoom or 0,
        "bounds": bounds,
        "center": [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, 2],
        "legend": base + reverse("tiles:legend-json", args=[layer.key]),
        "attribution": "Chemical Earth",
    }


@tile_view
def tilejson(request: HttpRequest, key: str) -> HttpResponse:
    layer = visible_layer(request, key)
    if layer is None:
        return _not_found()
    response = JsonResponse(tilejson_document(request, layer))
    response["Cache-Control"] = "no-cache"  # maxzoom and bounds arrive when the render ends
    return response


def _legend_pending(layer: MapLayer) -> JsonResponse:
    return error_response(
        202, "The layer is still being rendered.", "rendering",
        state=layer.state, progress=layer.progress,
    )  # fmt: skip


@tile_view
def legend_json(request: HttpRequest, key: str) -> HttpResponse:
    layer = visible_layer(request, key)
    if layer is None:
        return _not_found()
    if layer.legend is None:
        return _legend_pending(layer)
    return _cache_headers(JsonResponse(layer.legend), layer, f'"{layer.key}-legend"')


@tile_view
def legend_png(request: HttpRequest, key: str) -> HttpResponse:
    layer = visible_layer(request, key)
    if layer is None:
        return _not_found()
    path = layer.directory / "legend.png"
    if layer.state != MapLayer.State.READY or not path.exists():
        if layer.state == MapLayer.State.EMPTY:
            return error_response(404, "No visible data in this layer.", "empty")
        return _legend_pending(layer)
    return _file(layer, path, "image/png", f'"{layer.key}-legend-png"')
