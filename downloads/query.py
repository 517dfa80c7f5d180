"""What a download asks for: parsed once from JSON, checked field by field, stored as JSON.

``DownloadQuery.parse(body)`` raises ``InvalidQuery(field, reason)`` naming the first field that
cannot be used; the portal turns it into its 400 (``portal.http.BadParameter``). Names are those
of the API contract (docs: issue 15): ``surveys`` (slugs), ``countries`` (ISO3), ``elements``
(symbols; empty or "all": every element), ``medium`` (code), ``bbox`` ([w, s, e, n] degrees),
``polygon`` (GeoJSON Polygon/MultiPolygon, or a Feature/FeatureCollection of them), ``scales``
(survey sampling scales in km), ``years`` (campaign years), ``rounds`` (monitoring rounds),
``format`` and ``all_methods`` (long CSV only: every method's values, not just the preferred).

``format: "geotiff"`` is one map layer's Cloud-Optimised GeoTIFF (``downloads.geotiff``), named
as the map names it: ``elements`` exactly one symbol, ``medium`` required, ``scales`` exactly one
*grid* scale (the layer's cell size, not a survey's sampling scale), ``style`` (cells | surface;
default cells), ``scheme`` and ``ramp`` (the classification and colours; defaults as the map's),
optional ``bbox`` (clips the raster). A layer is the whole of what the viewer may see of that
element and medium, so the row filters (``surveys``, ``countries``, ``years``, ``rounds``) and
``polygon`` are refused for it; ``style``, ``scheme`` and ``ramp`` are refused for the tables.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from baselines import grid
from baselines.areas import InvalidArea, parse_area
from baselines.models import Country, Element, Medium, Survey
from maps.classification import SCHEMES
from maps.ramps import RAMPS

GEOTIFF = "geotiff"
FORMATS = ("csv", "csv-wide", "gpkg", "parquet", GEOTIFF)
# The styles a GeoTIFF is offered for: a class raster of cells or of the surface. A points
# layer's raster is dots drawn a few pixels wide at one zoom, not data (the samples are in the
# table formats, for viewers who may see them).
LAYER_STYLES = ("cells", "surface")
FIELDS = (
    "surveys", "countries", "elements", "medium", "bbox", "polygon", "scales", "years",
    "rounds", "format", "all_methods", "style", "scheme", "ramp",
)  # fmt: skip
# Fields of a layer (GeoTIFF) only, and the fields that narrow rows, which a layer does not take.
LAYER_FIELDS = ("style", "scheme", "ramp")
ROW_FILTERS = ("surveys", "countries", "years", "rounds", "polygon", "all_methods")
# A drawn or uploaded area is a selection, not a boundary data set: bounded so a request cannot
# make every row's test expensive.
MAX_POLYGON_VERTICES = 10_000
MAX_LIST = 500


class InvalidQuery(ValueError):
    """A field of a download request that cannot be used."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


@dataclass(frozen=True)
class DownloadQuery:
    surveys: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    elements: list[str] = field(default_factory=list)  # empty: every element
    medium: str | None = None
    bbox: list[float] | None = None
    polygon: dict | None = None  # GeoJSON geometry, WGS84
    scales: list[float] = field(default_factory=list)  # km
    years: list[int] = field(default_factory=list)
    rounds: list[int] = field(default_factory=list)
    format: str = "csv"
    all_methods: bool = False
    # A GeoTIFF's layer (None for the table formats, and then left out of the JSON).
    style: str | None = None
    scheme: str | None = None
    ramp: str | None = None

    # --- JSON ----------------------------------------------------------------------------------

    def as_json(self) -> dict:
        data = asdict(self)
        if not self.is_layer:
            for name in LAYER_FIELDS:
                data.pop(name)
        return data

    @classmethod
    def from_json(cls, data: Mapping) -> DownloadQuery:
        """A stored query (already checked when it was asked)."""
        return cls(**{k: data[k] for k in FIELDS if k in data})

    @property
    def wide(self) -> bool:
        """One row per sample (element columns) rather than one per measurement."""
        return self.format in ("csv-wide", "gpkg", "parquet")

    @property
    def is_layer(self) -> bool:
        """A map layer's raster (GeoTIFF) rather than rows."""
        return self.format == GEOTIFF

    @property
    def layer_scale_m(self) -> int:
        """The layer's grid scale in metres (GeoTIFF only)."""
        return grid.scale_from_km(self.scales[0])

    # --- parsing -------------------------------------------------------------------------------

    @classmethod
    def parse(cls, body) -> DownloadQuery:
        if not isinstance(body, Mapping):
            raise InvalidQuery("body", "expected a JSON object")
        unknown = sorted(set(body) - set(FIELDS))
        if unknown:
            raise InvalidQuery(unknown[0], f"unknown field; known: {', '.join(FIELDS)}")
        fmt = body.get("format", "csv")
        if not isinstance(fmt, str) or fmt not in FORMATS:
            raise InvalidQuery("format", f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
        if fmt == GEOTIFF:
            return cls._parse_layer(body)
        for name in LAYER_FIELDS:
            if body.get(name) not in (None, ""):
                raise InvalidQuery(name, f"{name} names a map layer: only for format {GEOTIFF}")
        all_methods = body.get("all_methods", False)
        if not isinstance(all_methods, bool):
            raise InvalidQuery("all_methods", "expected true or false")
        if all_methods and fmt != "csv":
            raise InvalidQuery(
                "all_methods", "every method's values fit only the long CSV (format csv)"
            )
        return cls(
            surveys=_surveys(body.get("surveys")),
            countries=_countries(body.get("countries")),
            elements=_elements(body.get("elements")),
            medium=_medium(body.get("medium")),
            bbox=_bbox(body.get("bbox")),
            polygon=_polygon(body.get("polygon")),
            scales=_scales(body.get("scales")),
            years=_integers(body.get("years"), "years", 1800, 2200),
            rounds=_integers(body.get("rounds"), "rounds", 1, 1000),
            format=fmt,
            all_methods=all_methods,
        )

    @classmethod
    def _parse_layer(cls, body: Mapping) -> DownloadQuery:
        """A GeoTIFF: one map layer, named by exactly one element, a medium, exactly one grid
        scale and a style (scheme and ramp as the map's unless given); an optional bbox."""
        for name in ROW_FILTERS:
            if body.get(name) not in (None, "", [], False):
                reason = (
                    "a GeoTIFF is a map layer: clip it with bbox (a polygon is not offered)"
                    if name == "polygon"
                    else f"a GeoTIFF is a whole map layer of what you may see; {name} does not "
                    "apply (clip it with bbox)"
                )
                raise InvalidQuery(name, reason)
        elements = _elements(body.get("elements"))
        if len(elements) != 1:
            raise InvalidQuery("elements", "a GeoTIFF is one element's map: name exactly one")
        medium = _medium(body.get("medium"))
        if medium is None:
            raise InvalidQuery("medium", "a GeoTIFF is one medium's map: name it (e.g. topsoil)")
        scales = _scales(body.get("scales"))
        if len(scales) != 1:
            raise InvalidQuery(
                "scales", "a GeoTIFF is a map at one grid scale: name exactly one (km, e.g. 20)"
            )
        if body.get("style") == "points":
            raise InvalidQuery(
                "style",
                "a GeoTIFF is offered for cells and surface maps (samples are in the "
                "table formats)",
            )
        return cls(
            elements=elements,
            medium=medium,
            bbox=_bbox(body.get("bbox")),
            scales=scales,
            format=GEOTIFF,
            style=_choice(body.get("style"), "style", LAYER_STYLES, "cells"),
            scheme=_choice(body.get("scheme"), "scheme", SCHEMES, "percentiles"),
            ramp=_choice(body.get("ramp"), "ramp", tuple(RAMPS), "geochem"),
        )


def _choice(value, name: str, choices: tuple[str, ...], default: str) -> str:
    if value is None or value == "":
        return default
    if not isinstance(value, str) or value not in choices:
        raise InvalidQuery(name, f"unknown {name} {value!r}; known: {', '.join(choices)}")
    return value


def _strings(value, name: str) -> list[str]:
    """A list of strings; a single string is a list of one; null or absent: empty."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidQuery(name, "expected a list of strings")
    if len(value) > MAX_LIST:
        raise InvalidQuery(name, f"at most {MAX_LIST} values")
    if any("\x00" in v for v in value):
        raise InvalidQuery(name, "NUL characters are not allowed")
    return list(dict.fromkeys(v.strip() for v in value))


def _surveys(value) -> list[str]:
    slugs = _strings(value, "surveys")
    known = set(Survey.objects.filter(slug__in=slugs).values_list("slug", flat=True))
    missing = [s for s in slugs if s not in known]
    if missing:
        raise InvalidQuery("surveys", f"unknown survey {missing[0]!r}")
    return sorted(slugs)


def _countries(value) -> list[str]:
    codes = [c.upper() for c in _strings(value, "countries")]
    known = set(Country.objects.filter(iso_a3__in=codes).values_list("iso_a3", flat=True))
    known |= set(Country.objects.filter(adm0_a3__in=codes).values_list("adm0_a3", flat=True))
    missing = [c for c in codes if c not in known]
    if missing:
        raise InvalidQuery("countries", f"unknown country {missing[0]!r} (ISO 3166 alpha-3)")
    return sorted(codes)


def _elements(value) -> list[str]:
    if value == "all" or value == ["all"]:
        return []
    symbols = _strings(value, "elements")
    found = dict(Element.objects.filter(symbol__in=symbols).values_list("symbol", "atomic_number"))
    missing = [s for s in symbols if s not in found]
    if missing:
        raise InvalidQuery("elements", f"unknown element {missing[0]!r} (e.g. Cu)")
    return sorted(symbols, key=found.__getitem__)


def _medium(value) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not Medium.objects.filter(code=value).exists():
        known = ", ".join(Medium.objects.order_by("code").values_list("code", flat=True))
        raise InvalidQuery("medium", f"unknown medium {value!r}; known: {known}")
    return value


def _bbox(value) -> list[float] | None:
    """[west, south, east, north] in degrees (or the kit's "w,s,e,n" text); clamped to the
    world like every other bbox of the portal."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = value.split(",")
    try:
        if (
            not isinstance(value, list)
            or len(value) != 4
            or any(isinstance(v, bool) for v in value)
        ):
            raise ValueError
        west, south, east, north = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InvalidQuery("bbox", "expected [west, south, east, north] in degrees") from None
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise InvalidQuery("bbox", "expected finite numbers")
    if not (west < east and south < north):
        raise InvalidQuery("bbox", "expected west < east and south < north")
    if east - west >= 360:
        west, east = -180.0, 180.0
    west, east = max(west, -180.0), min(east, 180.0)
    south, north = max(south, -90.0), min(north, 90.0)
    if not (west < east and south < north):
        raise InvalidQuery("bbox", "the box lies outside the world (±180, ±90)")
    return [west, south, east, north]


def _polygon(value) -> dict | None:
    if value is None or value == "":
        return None
    try:
        shape = parse_area(value, max_vertices=MAX_POLYGON_VERTICES)
    except InvalidArea as error:
        raise InvalidQuery("polygon", str(error)) from None
    return json.loads(shape.geojson)


def _scales(value) -> list[float]:
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        value = [value]
    if len(value) > len(grid.SCALES_M):
        raise InvalidQuery("scales", "each scale at most once")
    scales = []
    for item in value:
        try:
            if isinstance(item, bool):
                raise ValueError("not a number")
            scales.append(grid.scale_km(grid.scale_from_km(item)))
        except ValueError as exc:
            raise InvalidQuery("scales", str(exc)) from None
    return sorted(set(scales), reverse=True)


def _integers(value, name: str, low: int, high: int) -> list[int]:
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        value = [value]
    if len(value) > MAX_LIST:
        raise InvalidQuery(name, f"at most {MAX_LIST} values")
    numbers = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise InvalidQuery(name, f"expected whole numbers between {low} and {high}")
        try:
            number = int(item)
        except ValueError:
            raise InvalidQuery(name, f"expected whole numbers between {low} and {high}") from None
        if not low <= number <= high:
            raise InvalidQuery(name, f"expected whole numbers between {low} and {high}")
        numbers.append(number)
    return sorted(set(numbers))
