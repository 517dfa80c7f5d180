"""``/api/v1/dashboards/…``: every dashboard figure as JSON (the pages' API twins).

Each endpoint takes the page's own query string (``region``, ``polygon``, ``medium``,
``standard``, ``element``, ``from``/``to`` rounds), reads its figure from ``dashboards.selectors``
(rows through ``sharing.access`` only), records the audit for the countries whose rows it used,
and names the synthetic surveys among them. ``baselines`` also answers as CSV (``f=csv``).
"""

from __future__ import annotations

import csv
import io

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from drf_spectacular.utils import extend_schema

from baselines import grid
from dashboards import selectors
from dashboards.models import SoilStandard
from dashboards.selectors import Figure
from dashboards.standards import DEFAULT_STANDARD
from dashboards.warm import DEFAULT_MAP_SCALE_M
from sharing.access import request_scope
from sharing.audit import audit_access, note_country_served

from .http import (
    BadParameter,
    choice_param,
    element_param,
    float_param,
    medium_param,
    region_param,
    scale_param,
)
from .schema import ELEMENT, ERRORS, JSON_OBJECT, MEDIUM, SCALE, query
from .viewer_api import api_get

REGION = query("region", "world, country:ISO3, continent:Name or zone:ID", required=False)
POLYGON = query("polygon", "a drawn area: GeoJSON Polygon or MultiPolygon", required=False)
STANDARD = query("standard", "soil standard code (default gb15618-2018)", required=False)
OPTIONAL_MEDIUM = query("medium", "medium code, e.g. topsoil", required=False)
# The coverage map draws at most this many cells (a finer scale over a large region is refused
# with a reason, never cut short).
MAX_MAP_CELLS = 20_000
# Monitoring sites re-found by position are metres apart; beyond 5 km a pair is another site.
MAX_PAIRING_DISTANCE_M = 5000
# (name, page route, API route, title): the index of dashboards, in reading order.
DASHBOARDS = (
    ("coverage", "Sampling coverage"),
    ("exceedance", "Samples above soil risk limits"),
    ("change", "Change between monitoring rounds"),
    ("volume", "Data volume"),
    ("baselines", "Element baselines"),
    ("compare", "Two regions side by side"),
)


def standard_param(params) -> SoilStandard:
    code = params.get("standard") or DEFAULT_STANDARD
    standard = SoilStandard.objects.filter(code=code).first()
    if standard is None:
        known = ", ".join(SoilStandard.objects.values_list("code", flat=True))
        raise BadParameter("standard", f"unknown standard {code!r}; known: {known}")
    return standard


def optional_medium(params):
    return medium_param(params) if params.get("medium") else None


def rounds_param(params, scope) -> tuple[int, int]:
    known = [str(r["round"]) for r in selectors.monitoring_rounds(scope)]
    if len(known) < 2:
        raise BadParameter("from", "the data you may see has fewer than two monitoring rounds")
    first = int(choice_param(params, "from", known, known[0]))
    second = int(choice_param(params, "to", known, known[-1]))
    if first == second:
        raise BadParameter("to", "choose two different rounds")
    return first, second


def pairing_distance_param(params) -> float:
    """``within_m``: metres within which unpaired sites are paired by distance (0: none)."""
    if not params.get("within_m"):
        return 0.0
    return float_param(params, "within_m", 0, MAX_PAIRING_DISTANCE_M)


def served(request: HttpRequest, figure: Figure, label: str) -> dict:
    """Record whose rows the figure used (audit) and give its data with the synthetic flag."""
    note_figure(request, figure)
    audit_access(request, request_scope(request), f"dashboard {label}")
    return {**figure.data, "synthetic_surveys": figure.synthetic_surveys}


def note_figure(request: HttpRequest, figure: Figure) -> None:
    """Note the countries whose rows a figure used, for the request's one audit record."""
    for country_id in figure.countries:
        note_country_served(request, country_id)


def _answer(request: HttpRequest, name: str, body: dict) -> JsonResponse:
    query_string = request.GET.urlencode()
    page = reverse(f"portal:dashboard-{name}") + (f"?{query_string}" if query_string else "")
    return JsonResponse({"dashboard": name, "page": request.build_absolute_uri(page), **body})


@extend_schema(responses={200: JSON_OBJECT}, tags=["dashboards"])
@api_get
def index_view(request: HttpRequest) -> JsonResponse:
    """``/api/v1/dashboards/``: the dashboards and their API twins."""
    return JsonResponse(
        {
            "dashboards": [
                {
                    "name": name,
                    "title": title,
                    "url": request.build_absolute_uri(reverse(f"api:dashboard-{name}")),
                    "page": request.build_absolute_uri(reverse(f"portal:dashboard-{name}")),
                }
                for name, title in DASHBOARDS
            ],
            "standards": request.build_absolute_uri(reverse("api:dashboard-standards")),
        }
    )


@extend_schema(parameters=[REGION, POLYGON], responses={200: JSON_OBJECT, **ERRORS},
               tags=["dashboards"])  # fmt: skip
@api_get
def coverage_view(request: HttpRequest) -> JsonResponse:
    """Land covered by cells holding visible samples: per scale, the network, by country and
    campaign year."""
    region = region_param(request.GET)
    figure = selectors.coverage(request_scope(request), region)
    return _answer(request, "coverage", served(request, figure, "coverage"))


@extend_schema(parameters=[REGION, POLYGON, SCALE], responses={200: JSON_OBJECT, **ERRORS},
               tags=["dashboards"])  # fmt: skip
@api_get
def coverage_cells_view(request: HttpRequest) -> JsonResponse:
    """The sampled cells at one scale as GeoJSON polygons (the coverage map)."""
    region = region_param(request.GET)
    size_m = scale_param(request.GET, default=DEFAULT_MAP_SCALE_M)
    scope = request_scope(request)
    figure = selectors.coverage_cells(scope, region, size_m, MAX_MAP_CELLS)
    if figure is None:
        raise BadParameter(
            "scale", f"more than {MAX_MAP_CELLS:,} sampled cells at this scale; "
            "choose a coarser scale or a smaller region",
        )  # fmt: skip
    codes = served(request, figure, f"coverage cells {grid.scale_label(size_m)}")["cells"]
    return JsonResponse(cells_geojson({"code": code} for code in codes))


def cells_geojson(cells) -> dict:
    """Grid cells (dicts with a ``code`` and properties) as a GeoJSON FeatureCollection."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": cell,
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [list(p) for p in grid.parse_code(cell["code"]).polygon_lonlat(2)]
                    ],
                },
            }
            for cell in cells
        ],
    }


@extend_schema(parameters=[REGION, POLYGON, STANDARD, OPTIONAL_MEDIUM],
               responses={200: JSON_OBJECT, **ERRORS}, tags=["dashboards"])  # fmt: skip
@api_get
def exceedance_view(request: HttpRequest) -> JsonResponse:
    """Per element, the share of samples above the standard's screening and intervention values,
    by severity and land use, and samples by class."""
    region = region_param(request.GET)
    standard = standard_param(request.GET)
    medium = optional_medium(request.GET)
    figure = selectors.exceedance(request_scope(request), region, standard, medium)
    return _answer(request, "exceedance", served(request, figure, "exceedance"))


@extend_schema(parameters=[REGION, POLYGON, STANDARD, OPTIONAL_MEDIUM, SCALE],
               responses={200: JSON_OBJECT, **ERRORS}, tags=["dashboards"])  # fmt: skip
@api_get
def exceedance_cells_view(request: HttpRequest) -> JsonResponse:
    """The exceedance map: per grid cell, samples and those in the safe-use and strict-control
    classes (the worst element decides), as GeoJSON polygons."""
    region = region_param(request.GET)
    standard = standard_param(request.GET)
    medium = optional_medium(request.GET)
    size_m = scale_param(request.GET, default=DEFAULT_MAP_SCALE_M)
    figure = selectors.exceedance_cells(request_scope(request), region, standard, size_m, medium)
    cells = served(request, figure, f"exceedance cells {grid.scale_label(size_m)}")["cells"]
    if len(cells) > MAX_MAP_CELLS:
        raise BadParameter("scale", f"more than {MAX_MAP_CELLS:,} cells at this scale; "
                           "choose a coarser scale or a smaller region")  # fmt: skip
    return JsonResponse(cells_geojson(cells))


@extend_schema(
    parameters=[REGION, POLYGON, ELEMENT, OPTIONAL_MEDIUM,
                query("from", "first monitoring round", required=False),
                query("to", "second monitoring round", required=False),
                query("within_m", "also pair samples whose site code has no partner in the other "
                      "round with the nearest one within this many metres (0–5000; default 0: "
                      "by site code only)", required=False)],
    responses={200: JSON_OBJECT, **ERRORS}, tags=["dashboards"],
)  # fmt: skip
@api_get
def change_view(request: HttpRequest) -> JsonResponse:
    """Relative change of an element at sites sampled in two monitoring rounds."""
    scope = request_scope(request)
    region = region_param(request.GET)
    element = element_param(request.GET)
    rounds = rounds_param(request.GET, scope)
    medium = optional_medium(request.GET)
    within_m = pairing_distance_param(request.GET)
    figure = selectors.monitoring_change(scope, region, element, rounds, medium, within_m=within_m)
    body = served(request, figure, f"change {element.symbol}")
    rounds_seen = selectors.monitoring_rounds(scope)
    return _answer(request, "change", {**body, "available_rounds": rounds_seen})


@extend_schema(parameters=[REGION, POLYGON], responses={200: JSON_OBJECT, **ERRORS},
               tags=["dashboards"])  # fmt: skip
@api_get
def volume_view(request: HttpRequest) -> JsonResponse:
    """Visible samples and measurements per country and survey."""
    region = region_param(request.GET)
    figure = selectors.data_volume(request_scope(request), region)
    return _answer(request, "volume", served(request, figure, "data volume"))


BASELINE_COLUMNS = (
    "element", "unit", "species", "n", "censored", "censored_percent", "p5", "p25", "median",
    "p75", "p95", "p98", "mad", "geometric_mean", "mean", "min", "max",
)  # fmt: skip


@extend_schema(
    parameters=[REGION, POLYGON, MEDIUM,
                query("f", "json (default) or csv", required=False)],
    responses={200: JSON_OBJECT, **ERRORS}, tags=["dashboards"],
)  # fmt: skip
@api_get
def baselines_view(request: HttpRequest) -> HttpResponse:
    """Per element: n, censored share, P5…P98, MAD, geometric mean — in the display unit."""
    region = region_param(request.GET)
    medium = medium_param(request.GET)
    # ``f`` as in OGC API: DRF keeps ``format`` for its own renderer choice.
    output = choice_param(request.GET, "f", ("json", "csv"), "json")
    figure = selectors.element_baselines(request_scope(request), region, medium)
    body = served(request, figure, "element baselines")
    if output == "csv":
        return baselines_csv(body, f"baselines-{region.param}-{medium.code}")
    return _answer(request, "baselines", body)


def baselines_csv(body: dict, name: str) -> HttpResponse:
    """The baseline table as CSV, with the synthetic surveys named in a comment-free column."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(BASELINE_COLUMNS)
    for row in body["elements"]:
        writer.writerow(["" if row[c] is None else row[c] for c in BASELINE_COLUMNS])
    response = HttpResponse("\ufeff" + out.getvalue(), content_type="text/csv; charset=utf-8")
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name)
    response["Content-Disposition"] = f'attachment; filename="{safe}.csv"'
    return response


@extend_schema(
    parameters=[query("a", "first region"), query("b", "second region"), MEDIUM, STANDARD],
    responses={200: JSON_OBJECT, **ERRORS}, tags=["dashboards"],
)  # fmt: skip
@api_get
def compare_view(request: HttpRequest) -> JsonResponse:
    """Two regions side by side: baseline percentiles per element and exceedance shares."""
    return _answer(request, "compare", compare_body(request, request.GET))


def compare_body(request: HttpRequest, params) -> dict:
    scope = request_scope(request)
    medium = medium_param(params)
    standard = standard_param(params)
    sides, synthetic = {}, set()
    for side in ("a", "b"):
        region = region_param(params, name=side, polygon=f"{side}_polygon")
        baselines = selectors.element_baselines(scope, region, medium)
        exceeding = selectors.exceedance(scope, region, standard, medium)
        for figure in (baselines, exceeding):
            note_figure(request, figure)
            synthetic.update(figure.synthetic_surveys)
        sides[side] = {
            "region": region.param,
            "name": region.name,
            "baselines": baselines.data["elements"],
            "exceedance": exceeding.data["elements"],
        }
    # One audit record for the four figures (each ``served`` wrote one per country so far).
    audit_access(request, scope, f"dashboard compare {sides['a']['region']} {sides['b']['region']}")
    return {
        "medium": medium.code, "standard": standard.code, **sides,
        "synthetic_surveys": sorted(synthetic),
    }  # fmt: skip


@extend_schema(responses={200: JSON_OBJECT}, tags=["dashboards"])
@api_get
def standards_view(request: HttpRequest) -> JsonResponse:
    """The soil standards as data: each limit by element, land use and pH band, with its source."""
    standards = []
    for standard in SoilStandard.objects.prefetch_related("limits__element"):
        standards.append(
            {
                "code": standard.code,
                "name": str(standard.name),
                "source": standard.source,
                "limits": [
                    {
                        "element": limit.element.symbol,
                        "land_use": limit.land_use,
                        "ph_above": limit.ph_above,
                        "ph_up_to": limit.ph_up_to,
                        "screening": limit.screening,
                        "intervention": limit.intervention,
                    }
                    for limit in standard.limits.all()
                ],  # fmt: skip
            }
        )
    return JsonResponse({"unit": "mg/kg", "standards": standards})
