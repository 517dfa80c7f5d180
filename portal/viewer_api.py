"""JSON endpoints the map viewer needs beside the layer and tile API.

- ``api/v1/viewer/elements?medium=``: elements with data the viewer may see in a medium (the
  periodic table's active elements), with the finest survey scale holding them;
- ``api/v1/viewer/values?element=&medium=&scale=&style=&bbox=``: the values of the current view
  for the histogram and the cumulative probability plot — the rows the layer of that style is
  drawn from (``maps.layers.released_rows``), so the charts and the legend agree on n;
- ``api/v1/cells/at?lon=&lat=&scale=``: the grid cell under a click (code and outline; the grid
  formula stays in ``baselines/grid.py``);
- ``api/v1/cells/<code>/samples?element=&medium=``: the samples of one cell with their values,
  method and detection limit, located as the viewer may see them;
- ``api/v1/boundaries``: simplified country boundaries, the offline base layer.

Every row of sample data comes through ``sharing.access``: lists use the visible rows at the
scale of the product (a viewer limited to 20 km cells gets nothing from a 10 km cell or a 10 km
view), boxes go through ``within_bbox``, locations through ``shown_location``.
"""

from __future__ import annotations

import hashlib
import json
from statistics import NormalDist

import numpy as np
from django.contrib.gis.db.models import MultiPolygonField
from django.contrib.gis.db.models.functions import AsGeoJSON
from django.db.models import F, Func, Value
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import patch_cache_control
from django.views.decorators.gzip import gzip_page
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view as drf_api_view

from baselines import grid, units
from baselines.models import Country
from chemearth.caching import cached
from maps.layers import released_rows
from maps.styles import STYLES
from sharing.access import (
    EXACT,
    request_scope,
    shown_location,
    within_bbox,
)
from sharing.audit import audit_access, note_country_served
from sharing.selectors import VisibleValues, elements_with_data

from .http import (
    BadParameter,
    bbox_param,
    cell_param,
    choice_param,
    element_param,
    float_param,
    medium_param,
    scale_param,
)
from .schema import BBOX, CELL, ELEMENT, ERRORS, JSON_OBJECT, MEDIUM, SCALE, STYLE, query

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


def api_get(view):
    """A GET endpoint of ``/api/v1/`` as a DRF view: the same authentication (session or
    ``Authorization: Token``; a bad token is a 401), errors and content negotiation as every other
    API endpoint. The view returns a Django response (JSON or GeoJSON bytes), kept as is."""
    return drf_api_view(["GET"])(view)


def _display(value: float | None, symbol: str) -> float | None:
    return None if value is None else float(units.to_display(value, symbol))


# --- elements with data --------------------------------------------------------------------------


@extend_schema(parameters=[MEDIUM], responses={200: JSON_OBJECT, **ERRORS}, tags=["viewer"])
@api_get
def elements_view(request: HttpRequest) -> JsonResponse:
    """``api/v1/viewer/elements?medium=topsoil``: the elements the viewer may map in a medium."""
    medium = medium_param(request.GET).code
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


@extend_schema(
    parameters=[
        ELEMENT,
        MEDIUM,
        SCALE,
        BBOX,
        query("style", "cells | surface | points: the layer whose rows to count", required=False),
    ],  # fmt: skip
    responses={200: JSON_OBJECT, **ERRORS},
    tags=["viewer"],
)
@api_get
def values_view(request: HttpRequest) -> JsonResponse:
    """``api/v1/viewer/values?element=Cu&medium=topsoil&scale=80&style=cells&bbox=w,s,e,n``: the
    visible values in the view (display unit), as a log histogram, a cumulative probability curve
    and a summary. The rows of the map's layer of that style (never pre-release ones: the curve
    shows single values; points: exact locations only), and the box through ``within_bbox`` so
    it cannot probe snapped positions."""
    element = element_param(request.GET)
    medium_obj = medium_param(request.GET)
    medium = medium_obj.code
    scale_m = scale_param(request.GET)
    bbox = bbox_param(request.GET)
    style = choice_param(request.GET, "style", STYLES, "cells")
    scope = request_scope(request)
    # The rows the map's layer of this style is drawn from: the charts count what the legend
    # counts (points: exact locations only).
    source = released_rows(scope, style=style, scale_m=scale_m, element=element, medium=medium_obj)
    rows = within_bbox(scope, source, bbox, prefix="sample__")
    values = VisibleValues.of(rows, element.symbol)
    for country_id in values.countries:
        note_country_served(request, country_id)
    summary = values.summary
    x = values.display_values()
    unit, species = units.display_unit(element.symbol)
    audit_access(request, scope, f"view values {element.symbol} {medium}")
    return JsonResponse(
        {
            "element": element.symbol,
            "medium": medium,
            "scale_km": scale_m / 1000,
            "style": style,
            "bbox": bbox,
            "unit": unit,
            "species": species or element.symbol,
            "n": summary.n,
            "censored": summary.censored,
            "statistics": values.display_statistics(summary),
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


@extend_schema(
    parameters=[query('lon', 'longitude', type=OpenApiTypes.DOUBLE),
                query('lat', 'latitude', type=OpenApiTypes.DOUBLE), SCALE],
    responses={200: JSON_OBJECT, **ERRORS}, tags=['cells'],
)  # fmt: skip
@api_get
def cell_at_view(request: HttpRequest) -> JsonResponse:
    """``api/v1/cells/at?lon=&lat=&scale=``: the cell holding a point (no data involved)."""
    lon = float_param(request.GET, "lon", -180.0, 180.0)
    lat = float_param(request.GET, "lat", -90.0, 90.0)
    size_m = scale_param(request.GET)
    try:
        cell = grid.cell_at(lon, lat, size_m)
    except ValueError as exc:
        raise BadParameter("lon", str(exc)) from None
    return JsonResponse(cell_json(cell))


@extend_schema(
    parameters=[CELL, ELEMENT, MEDIUM, STYLE],
    responses={200: JSON_OBJECT, **ERRORS},
    tags=["cells"],
)
@api_get
def cell_samples_view(request: HttpRequest, code: str) -> JsonResponse:
    """``api/v1/cells/<code>/samples?element=Cu&medium=topsoil[&style=]``: the cell's samples
    and their values, each with its method and detection limit. Only rows visible at the cell's
    own scale: a viewer limited to 20 km cells learns nothing of a 10 km cell; with
    ``style=points`` only the samples the points map shows (exact locations). Points only where
    the viewer may see exact locations."""
    cell = cell_param(code)
    element = element_param(request.GET)
    medium_obj = medium_param(request.GET)
    medium = medium_obj.code
    style = choice_param(request.GET, "style", STYLES, "cells")
    scope = request_scope(request)
    # The rows the map of this style shows in the cell, as the cell's statistics count them.
    released = released_rows(
        scope, style=style, scale_m=cell.size_m, element=element, medium=medium_obj, cell=cell.code
    )
    rows = list(
        released.with_provenance()
        .select_related("sample__survey", "sample__country")
        .defer("sample__country__boundary")
        .order_by("sample__code", "pk")[: CELL_SAMPLE_LIMIT + 1]
    )
    # Preferred method only: one row per sample, so rows count the cell's samples.
    total = released.count() if len(rows) > CELL_SAMPLE_LIMIT else len(rows)
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
                # The limit that applied to the value, censored or not (null when unknown).
                "detection_limit": _display(m.applied_detection_limit, element.symbol),
                "method": m.applied_method or "",
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
@extend_schema(
    responses={(200, "application/geo+json"): OpenApiTypes.OBJECT, **ERRORS}, tags=["reference"]
)
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
