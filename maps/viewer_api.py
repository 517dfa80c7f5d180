"""JSON endpoints the map viewer needs beside the layer and tile API.

- ``api/v1/viewer/elements?medium=``: elements with data the viewer may see in a medium (the
  periodic table's active elements), with the finest survey scale holding them;
- ``api/v1/viewer/values?element=&medium=&scale=&bbox=``: the values of the current view for the
  histogram and the cumulative probability plot;
- ``api/v1/cells/at?lon=&lat=&scale=``: the grid cell under a click (code and outline; the grid
  formula stays in ``baselines/grid.py``);
- ``api/v1/cells/<code>/samples?element=&medium=``: the samples of one cell with their values,
  located as the viewer may see them;
- ``api/v1/boundaries``: simplified country boundaries, the offline base layer.

Every row of sample data comes through ``sharing.access``: lists use the visible rows at the
scale of the product (a viewer limited to 20 km cells gets nothing from a 10 km cell or a 10 km
view), boxes go through ``within_bbox``, locations through ``shown_location``.
"""

from __future__ import annotations

import hashlib
import json
import math
from statistics import NormalDist

import numpy as np
from django.contrib.gis.db.models import MultiPolygonField
from django.contrib.gis.db.models.functions import AsGeoJSON
from django.db.models import Count, F, Func, Min, Value
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import patch_cache_control
from django.views.decorators.gzip import gzip_page
from rest_framework.decorators import api_view as drf_api_view
from rest_framework.exceptions import ValidationError

from baselines import grid, units
from baselines.models import Country, Element, Medium, Survey
from baselines.statistics import stat_values, summarise
from chemearth.caching import cached
from sharing.access import (
    EXACT,
    request_scope,
    shown_location,
    visible_measurements,
    visible_samples,
    within_bbox,
)
from sharing.audit import audit_access, note_country_served

# Samples listed in one cell's popup at most (a 0.5 km cell of a mining survey may hold many).
CELL_SAMPLE_LIMIT = 200
# Points of the cumulative probability plot at most: beyond this the curve is drawn from
# evenly spaced ranks, which looks the same at the chart's size.
PROBABILITY_POINTS = 400
HISTOGRAM_BINS = 24
# Simplification of the base layer in degrees: ~5 km, finer than any country outline shows at
# the zoom levels where the base layer is the only context.
BOUNDARY_TOLERANCE = 0.05
BOUNDARY_DECIMALS = 3


class BadRequest(ValidationError):
    """A parameter the endpoint cannot use; DRF answers it as the API's JSON 400 with a reason
    naming the parameter."""

    def __init__(self, parameter: str, reason: str) -> None:
        super().__init__({parameter: reason})
        self.parameter = parameter
        self.reason = reason


def api_get(view):
    """A GET endpoint of ``/api/v1/`` as a DRF view: the same authentication (session or
    ``Authorization: Token``; a bad token is a 401), errors and content negotiation as every other
    API endpoint. The view returns a Django response (JSON or GeoJSON bytes), kept as is."""
    return drf_api_view(["GET"])(view)


# --- parameters ----------------------------------------------------------------------------------


def param_element(request: HttpRequest) -> Element:
    symbol = request.GET.get("element", "")
    element = Element.objects.filter(symbol=symbol).first()
    if element is None:
        raise BadRequest("element", f"unknown element {symbol!r} (e.g. element=Cu)")
    return element


def param_medium(request: HttpRequest) -> str:
    code = request.GET.get("medium", "")
    if not Medium.objects.filter(code=code).exists():
        known = ", ".join(Medium.objects.values_list("code", flat=True))
        raise BadRequest("medium", f"unknown medium {code!r}; known: {known}")
    return code


def param_scale(request: HttpRequest) -> int:
    try:
        return grid.scale_from_km(request.GET.get("scale", ""))
    except ValueError as exc:
        raise BadRequest("scale", str(exc)) from None


def param_float(request: HttpRequest, name: str, low: float, high: float) -> float:
    try:
        value = float(request.GET.get(name, ""))
    except ValueError:
        raise BadRequest(name, f"expected a number between {low} and {high}") from None
    if not (low <= value <= high) or math.isnan(value):
        raise BadRequest(name, f"expected a number between {low} and {high}")
    return value


def param_bbox(request: HttpRequest) -> tuple[float, float, float, float]:
    """west,south,east,north; a view wider than the world is clamped to it."""
    text = request.GET.get("bbox", "")
    try:
        west, south, east, north = (float(v) for v in text.split(","))
    except ValueError:
        raise BadRequest("bbox", "expected west,south,east,north in degrees") from None
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise BadRequest("bbox", "expected finite numbers")
    if east - west >= 360:
        west, east = -180.0, 180.0
    west, east = max(west, -180.0), min(east, 180.0)
    south, north = max(south, -90.0), min(north, 90.0)
    if not (west < east and south < north):
        raise BadRequest("bbox", "expected west < east and south < north")
    return west, south, east, north


def _display(value: float | None, symbol: str) -> float | None:
    return None if value is None else float(units.to_display(value, symbol))


# --- elements with data --------------------------------------------------------------------------


def elements_with_data(scope, medium: str) -> list[dict]:
    """Per element, the visible samples in a medium and the finest scale of their surveys.
    Cached per set of rights and data version (a scan of the measurements)."""

    def compute() -> list[dict]:
        rows = (
            visible_measurements(scope)
            .preferred()
            .filter(sample__survey__medium__code=medium)
            .values("element__symbol")
            .annotate(n=Count("id"), finest=Min("sample__survey__scale_m"))
            .order_by("element__atomic_number")
        )
        return [
            {"symbol": r["element__symbol"], "n": r["n"], "finest_scale_km": r["finest"] / 1000}
            for r in rows
        ]

    key = f"viewer-elements:{scope.cache_key}:{Survey.objects.data_version()}:{medium}"
    return cached(key, compute, timeout=600)


@api_get
def elements_view(request: HttpRequest) -> JsonResponse:
    """``api/v1/viewer/elements?medium=topsoil``: the elements the viewer may map in a medium."""
    medium = param_medium(request)
    scope = request_scope(request)
    return JsonResponse({"medium": medium, "elements": elements_with_data(scope, medium)})


# --- values of the view (histogram, cumulative probability) ----------------------------------


def _histogram(x: np.ndarray) -> dict:
    """Counts in bins equal on a log axis (values ≤ 0 cannot be placed on it and are counted)."""
    positive = x[x > 0]
    if positive.size == 0:
        return {"edges": [], "counts": [], "not_positive": int(x.size)}
    low, high = np.log10(positive.min()), np.log10(positive.max())
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    edges = np.logspace(low, high, HISTOGRAM_BINS + 1)
    # 10 ** log10(x) need not give x back: pin the outer edges so no value falls outside.
    edges[0], edges[-1] = min(edges[0], positive.min()), max(edges[-1], positive.max())
    counts, _ = np.histogram(positive, bins=edges)
    return {
        "edges": [float(e) for e in edges],
        "counts": [int(c) for c in counts],
        "not_positive": int(x.size - positive.size),
    }


def _probability(x: np.ndarray) -> list[list[float]]:
    """[value, cumulative probability, normal quantile] by rank, (i - 0.5) / n plotting position
    (Hazen), thinned to evenly spaced ranks."""
    ordered = np.sort(x)
    n = ordered.size
    ranks = np.unique(np.linspace(0, n - 1, min(n, PROBABILITY_POINTS)).round().astype(int))
    normal = NormalDist()
    points = []
    for i in ranks:
        p = (i + 0.5) / n
        points.append([float(ordered[i]), round(p, 6), round(normal.inv_cdf(p), 4)])
    return points


@api_get
def values_view(request: HttpRequest) -> JsonResponse:
    """``api/v1/viewer/values?element=Cu&medium=topsoil&scale=80&bbox=w,s,e,n``: the visible
    values in the view (display unit), as a log histogram, a cumulative probability curve and a
    summary. Only visible rows (never pre-release ones: the curve shows single values), at the
    view's scale, and the box through ``within_bbox`` so it cannot probe snapped positions."""
    element = param_element(request)
    medium = param_medium(request)
    scale_m = param_scale(request)
    bbox = param_bbox(request)
    scope = request_scope(request)
    rows = within_bbox(
        scope,
        visible_measurements(scope, scale_m=scale_m)
        .preferred()
        .filter(element=element, sample__survey__medium__code=medium),
        bbox,
        prefix="sample__",
    ).values_list("value", "censored", "detection_limit", "sample__country_id")
    data = np.array(list(rows), dtype=object).reshape(-1, 4)
    for country_id in set(data[:, 3].tolist()):
        note_country_served(request, country_id)
    values, censored, limits = (
        data[:, 0].astype("f8"),
        data[:, 1].astype(bool),
        data[:, 2].astype("f8"),
    )
    summary = summarise(values, censored, limits)
    x = stat_values(values, censored, limits)
    x = np.asarray(units.to_display(x[np.isfinite(x)], element.symbol), dtype="f8")
    unit, species = units.display_unit(element.symbol)
    audit_access(request, scope, f"view values {element.symbol} {medium}")
    return JsonResponse(
        {
            "element": element.symbol,
            "medium": medium,
            "scale_km": scale_m / 1000,
            "bbox": bbox,
            "unit": unit,
            "species": species or element.symbol,
            "n": summary.n,
            "censored": summary.censored,
            "statistics": summary.converted(lambda v: _display(v, element.symbol)),
            "histogram": _histogram(x),
            "probability": _probability(x) if x.size else [],
        }
    )


# --- the cell under a click and its samples --------------------------------------------------


def cell_json(cell: grid.Cell) -> dict:
    outline = cell.polygon_lonlat(densify=4)
    lons = [p[0] for p in outline]
    lats = [p[1] for p in outline]
    return {
        "code": cell.code,
        "scale_km": cell.size_m / 1000,
        "bounds": [min(lons), min(lats), max(lons), max(lats)],
        "outline": [[round(lon, 6), round(lat, 6)] for lon, lat in outline],
        "area_km2": cell.area_m2 / 1e6,
    }


@api_get
def cell_at_view(request: HttpRequest) -> JsonResponse:
    """``api/v1/cells/at?lon=&lat=&scale=``: the cell holding a point (no data involved)."""
    lon = param_float(request, "lon", -180.0, 180.0)
    lat = param_float(request, "lat", -90.0, 90.0)
    size_m = param_scale(request)
    try:
        cell = grid.cell_at(lon, lat, size_m)
    except ValueError as exc:
        raise BadRequest("lon", str(exc)) from None
    return JsonResponse(cell_json(cell))


@api_get
def cell_samples_view(request: HttpRequest, code: str) -> JsonResponse:
    """``api/v1/cells/<code>/samples?element=Cu&medium=topsoil``: the cell's samples and their
    values. Only rows visible at the cell's own scale: a viewer limited to 20 km cells learns
    nothing of a 10 km cell. Points only where the viewer may see exact locations."""
    try:
        cell = grid.parse_code(code)
    except grid.InvalidCellCode as exc:
        raise BadRequest("code", str(exc)) from None
    element = param_element(request)
    medium = param_medium(request)
    scope = request_scope(request)
    cell_filter = {f"sample__{grid.cell_field_name(cell.size_m)}": cell.code}
    rows = list(
        visible_measurements(scope, scale_m=cell.size_m)
        .preferred()
        .filter(element=element, sample__survey__medium__code=medium, **cell_filter)
        .select_related("sample__survey", "sample__country")
        .order_by("sample__code", "pk")[: CELL_SAMPLE_LIMIT + 1]
    )
    total = (
        visible_samples(scope, scale_m=cell.size_m)
        .filter(
            survey__medium__code=medium,
            **{grid.cell_field_name(cell.size_m): cell.code},
        )
        .count()
    )
    samples = []
    for m in rows[:CELL_SAMPLE_LIMIT]:
        sample = m.sample
        note_country_served(request, sample.country_id)
        lon, lat, precision = shown_location(scope, sample)
        value = None if m.censored else _display(m.value, element.symbol)
        samples.append(
            {
                "code": sample.code,
                "survey": sample.survey.name,
                "country": sample.country.code,
                "value": value,
                "censored": m.censored,
                "detection_limit": _display(m.detection_limit, element.symbol),
                "location": (
                    {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]}
                    if precision == EXACT
                    else None
                ),
                "location_precision_km": precision / 1000 if precision else None,
            }
        )
    audit_access(request, scope, f"cell samples {cell.code} {element.symbol}")
    unit, species = units.display_unit(element.symbol)
    return JsonResponse(
        {
            "cell": cell.code,
            "element": element.symbol,
            "medium": medium,
            "unit": unit,
            "species": species or element.symbol,
            "samples": samples,
            "samples_in_cell": total,
            "truncated": len(rows) > CELL_SAMPLE_LIMIT,
        }
    )


# --- country boundaries, the offline base layer --------------------------------------------------


def boundaries_geojson() -> bytes:
    """Every country simplified in PostGIS (topology preserved), as one FeatureCollection."""
    simplified = Func(
        F("boundary"),
        Value(BOUNDARY_TOLERANCE),
        function="ST_SimplifyPreserveTopology",
        output_field=MultiPolygonField(srid=4326),
    )
    rows = (
        Country.objects.annotate(outline=AsGeoJSON(simplified, precision=BOUNDARY_DECIMALS))
        .order_by("adm0_a3")
        .values_list("adm0_a3", "iso_a3", "name_en", "name_zh", "outline")
    )
    features = []
    for adm0, iso, name_en, name_zh, outline in rows:
        if not outline:
            continue
        # The geometry is already GeoJSON text from PostGIS: spliced in, not parsed and redumped.
        head = json.dumps(
            {
                "type": "Feature",
                "id": adm0,
                "properties": {"code": iso or adm0, "name_en": name_en, "name_zh": name_zh},
            },
            ensure_ascii=False,
        )
        features.append(head[:-1] + ',"geometry":' + outline + "}")
    return ('{"type":"FeatureCollection","features":[' + ",".join(features) + "]}").encode()


@gzip_page
@api_get
def boundaries_view(request: HttpRequest) -> HttpResponse:
    """``api/v1/boundaries``: simplified country outlines (public reference data), cached for a
    day in the cache and by browsers, with an ETag so a reload costs a 304."""
    body = cached("viewer-boundaries:v1", boundaries_geojson, timeout=86_400)
    etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(body, content_type="application/geo+json")
    response["ETag"] = etag
    patch_cache_control(response, public=True, max_age=86_400)
    return response
