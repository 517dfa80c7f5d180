"""Features of a collection: the query parameters of ``items`` and the pages they select.

Every row comes through the gate: samples from ``visible_samples`` (narrowed to the collection,
then by ``bbox`` through ``within_bbox``, so a snapped sample is tested by its cell, never by its
stored point), element values from ``visible_measurements_of`` (preferred method; an element the
caller may not see is simply absent), locations from ``shown_location``. A page reads its samples
in id order after the cursor (or in ``sortby`` order after the cursor's sort keys: ``sorting``),
and the element columns of all of them in one more query that selects five small columns (no
country boundary, no per-feature query). Coordinates are those shown, then transformed to the
requested ``crs`` (``crs``); a ``bbox`` in another CRS (``bbox-crs``) becomes the equivalent
longitude/latitude box before ``within_bbox``.

JSON pages in CRS84 are written by PostgreSQL (``page_text``): each sample's head (base
properties and shown point) is annotated on the page's query and its element values come as one
JSON object per sample from a query around the gate's rows; Python only splices the texts. The
HTML page and other CRSs take ``page``; ``tests/test_ogcapi_text_pages.py`` holds both equal.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace

from django.db import connection
from django.db.models import F, Func, TextField, Value
from django.db.models.functions import Cast, NullIf
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework.exceptions import NotFound

from baselines import grid
from baselines.models import Country, Sample, Survey
from sharing.access import (
    request_scope,
    shown_location,
    visible_measurements,
    visible_measurements_of,
    visible_samples,
    within_bbox,
)
from sharing.audit import audit_access, note_country_served
from sharing.locations import shown_cell, shown_point, shown_precision_km

from ..http import BadParameter
from ..sql import JSONBuild
from . import crs as crs_module
from . import sorting
from .collections import BASE_PROPERTIES, DECIMALS, Collection
from .cql import filter_q, parse_filter

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
# The query parameters ``items`` understands; any other is a 400 (OGC API – Features core,
# /req/core/query-param-unknown), so a misspelt filter never silently returns everything.
ITEMS_PARAMETERS = (
    "f", "bbox", "bbox-crs", "limit", "datetime", "properties", "filter", "filter-lang",
    "filter-crs", "sortby", "crs", "cursor",
)  # fmt: skip
# Sample columns a feature needs (``only``): never the related rows' large columns.
SAMPLE_COLUMNS = (
    "id", "code", "site_code", "geom", "country_id", "survey_id", "sampled_on", "depth",
    *(grid.cell_field_name(size) for size in grid.SCALES_M),
)  # fmt: skip


@dataclass(frozen=True)
class ItemsQuery:
    limit: int = DEFAULT_LIMIT
    bbox: tuple[float, float, float, float] | None = None
    dates: tuple[dt.date | None, dt.date | None] | None = None
    properties: tuple[str, ...] | None = None  # None: all of the collection's
    cursor: list | None = None  # the sort keys (id last) of the previous page's last feature
    filter: object = None  # pygeofilter's syntax tree
    sortby: sorting.SortBy = sorting.DEFAULT
    crs: crs_module.Crs = crs_module.DEFAULT


def items_query(params: Mapping, collection: Collection) -> ItemsQuery:
    """The parameters of an ``items`` request, each checked (a 400 naming the bad one)."""
    unknown = sorted(set(params) - set(ITEMS_PARAMETERS))
    if unknown:
        raise BadParameter(unknown[0], f"unknown parameter; known: {', '.join(ITEMS_PARAMETERS)}")
    sortby = sorting.sortby_param(params)
    bbox_crs = crs_module.crs_param(params, "bbox-crs")
    text = params.get("bbox")
    return ItemsQuery(
        limit=limit_param(params),
        bbox=None if text is None else bbox_crs.bbox_lonlat(text, "bbox"),
        dates=datetime_param(params.get("datetime")),
        properties=_properties(params.get("properties"), collection),
        cursor=sortby.read_cursor(params.get("cursor")),
        filter=parse_filter(params),
        sortby=sortby,
        crs=crs_module.crs_param(params, "crs"),
    )


def limit_param(params: Mapping) -> int:
    text = params.get("limit")
    if text in (None, ""):
        return DEFAULT_LIMIT
    try:
        limit = int(text)
    except ValueError:
        raise BadParameter("limit", f"expected a whole number from 1 to {MAX_LIMIT}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadParameter(
            "limit",
            f"expected a whole number from 1 to {MAX_LIMIT}; follow the next link for more",
        )
    return limit


def datetime_param(text: str | None) -> tuple[dt.date | None, dt.date | None] | None:
    """An instant or an interval (``start/end``, either end open as ``..`` or empty) as the
    first and last sampling day it covers (UTC)."""
    if text is None:
        return None
    parts = text.split("/")
    if len(parts) > 2 or not text.strip():
        raise BadParameter("datetime", "expected a date or date-time, or an interval start/end")
    days = [None if part in ("", "..") else _day(part) for part in parts]
    if len(days) == 1:
        if days[0] is None:
            raise BadParameter("datetime", "expected a date or date-time")
        return days[0], days[0]
    start, end = days
    if start is None and end is None:
        raise BadParameter("datetime", "an interval needs at least one end")
    if start is not None and end is not None and start > end:
        raise BadParameter("datetime", "the interval ends before it starts")
    return start, end


def _day(text: str) -> dt.date:
    try:
        moment = parse_datetime(text)
        day = parse_date(text) if moment is None else None
    except ValueError:
        moment = day = None
    if moment is not None:
        if moment.tzinfo is not None:
            moment = moment.astimezone(dt.UTC)
        return moment.date()
    if day is None:
        raise BadParameter("datetime", f"{text!r} is not an RFC 3339 date or date-time")
    return day


def _properties(text: str | None, collection: Collection) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    known = collection.property_names
    unknown = [n for n in names if n not in known]
    if unknown:
        raise BadParameter(
            "properties", f"{unknown[0]!r} is no property of this collection; known: "
            + ", ".join(known)
        )  # fmt: skip
    return names


# The element values of a page's samples, one JSON object per sample with every element asked
# for (null where not measured or below detection), around the gate's rows (``{gated}``). A
# (sample, element) pair measured twice by the preferred method counts once.
ELEMENT_TEXTS_SQL = """
WITH gated (sample_id, element_id, value, censored, detection_limit) AS ({gated}),
     v AS (SELECT DISTINCT ON (sample_id, element_id) * FROM gated)
SELECT p.id,
       json_object_agg(e.symbol, CASE WHEN v.censored THEN NULL ELSE v.value END ORDER BY e.ord)
           ::text,
       string_agg(e.symbol || '<' || v.detection_limit::text, '; ' ORDER BY e.ord)
           FILTER (WHERE v.censored)
FROM unnest(%s::bigint[]) AS p(id)
CROSS JOIN unnest(%s::int[], %s::text[]) WITH ORDINALITY AS e(id, symbol, ord)
LEFT JOIN v ON v.sample_id = p.id AND v.element_id = e.id
GROUP BY p.id
"""


BELOW = "below_detection_limit"


def _spliceable(names) -> bool:
    """Whether ``names`` lists the head's properties, then ``below_detection_limit``, then
    elements (each part in any order): the order ``feature_texts`` can splice."""
    part = [0 if name in HEAD_PROPERTIES else 1 if name == BELOW else 2 for name in names]
    return part == sorted(part)


HEAD_PROPERTIES = frozenset(name for name, _, _ in BASE_PROPERTIES) - {BELOW}


def feature_head(scope, names) -> Cast:
    """The base properties among ``names`` but ``below_detection_limit`` (which comes from the
    element values), as the Python path writes them: blank site codes and depths are null, the
    location's precision and cell are the viewer's."""
    every = {
        "code": F("code"),
        "site_code": NullIf(F("site_code"), Value("")),
        "survey": F("survey__slug"),
        "country": Country.code_sql("country__"),
        "medium": F("survey__medium__code"),
        "sampled_on": F("sampled_on"),
        "depth": NullIf(F("depth"), Value("")),
        "location_precision_km": shown_precision_km(scope, prefix=""),
        "cell": shown_cell(scope, prefix=""),
    }
    # As text: psycopg would parse ``json`` into a dict.
    return Cast(JSONBuild(**{name: every[name] for name in names if name in every}), TextField())


def feature_point(scope) -> Func:
    """The shown location (exact, or the centre of the viewer's cell) as GeoJSON, 6 decimals."""
    return Func(
        shown_point(scope, prefix=""),
        template="ST_AsGeoJSON(%(expressions)s, 6)",
        output_field=TextField(),
    )


@dataclass
class TextPage:
    features: list[str]  # GeoJSON features as text, coordinates in CRS84
    next_cursor: str | None


@dataclass
class Page:
    features: list[dict]  # coordinates in the query's CRS
    next_cursor: str | None  # after the page's last feature, when more follow
    lonlat: list[tuple[float, float]]  # each feature's shown location in CRS84 (the HTML map)


class FeatureReader:
    """Features of one collection for one request's caller, through the gate."""

    def __init__(self, request, collection: Collection) -> None:
        self.request = request
        self.collection = collection
        self.scope = request_scope(request)

    def samples(self):
        samples = visible_samples(self.scope, Sample.objects.only(*SAMPLE_COLUMNS))
        if self.collection.survey is not None:
            samples = samples.filter(survey=self.collection.survey)
        return samples

    def page(self, query: ItemsQuery) -> Page:
        """One page of features; the caller records the audit (a cached page is audited too)."""
        rows, next_cursor = self.rows(query)
        features, lonlat = self.located_features(rows, query.properties, query.crs)
        return Page(features, next_cursor, lonlat)

    def page_text(self, query: ItemsQuery) -> TextPage | None:
        """The same page as GeoJSON feature texts written by PostgreSQL (``feature_texts``),
        or None where that path does not apply (another CRS, properties in another order)."""
        names = self.collection.property_names if query.properties is None else query.properties
        if query.crs is not crs_module.DEFAULT or not _spliceable(names):
            return None
        rows, next_cursor = self.rows(
            query,
            as_values=True,
            feature_head=feature_head(self.scope, names),
            feature_point=feature_point(self.scope),
        )
        return TextPage(self.feature_texts(rows, names), next_cursor)

    def rows(
        self, query: ItemsQuery, as_values: bool = False, **annotations
    ) -> tuple[list, str | None]:
        """The page's samples (with ``annotations``) and the cursor after them, if more follow;
        ``as_values``: as plain rows of ids and annotations (no model, no geometry parsed: a
        1,000-sample page cost ~38 ms of model instances)."""
        samples = self.samples()
        if query.bbox is not None:
            samples = within_bbox(self.scope, samples, query.bbox)
        if query.dates is not None:
            start, end = query.dates
            samples = samples.filter(sampled_on__isnull=False)
            if start is not None:
                samples = samples.filter(sampled_on__gte=start)
            if end is not None:
                samples = samples.filter(sampled_on__lte=end)
        sortby = query.sortby
        if query.filter is not None or not sortby.by_id:
            samples = samples.alias(
                shown_country=Country.code_sql("country__"),
                shown_site_code=NullIf("site_code", Value("")),
                shown_depth=NullIf("depth", Value("")),
            )
        if query.filter is not None:
            element_rows = visible_measurements(self.scope).preferred()
            samples = samples.filter(
                filter_q(query.filter, self.collection.queryables, element_rows)
            )
        if query.cursor is not None:
            samples = samples.filter(sortby.after(query.cursor))
        keys = sorting.annotations(sortby)
        samples = samples.annotate(**keys, **annotations).order_by(*sortby.order_by())
        if as_values:
            fields = ("id", "country_id", "survey_id", *keys, *annotations)
            found = samples.values(*fields)[: query.limit + 1]
            rows = [SimpleNamespace(pk=row["id"], **row) for row in found]
        else:
            rows = list(samples[: query.limit + 1])
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        return rows, sortby.cursor(rows[-1]) if more and rows else None

    def feature_texts(self, rows: list[SimpleNamespace], names) -> list[str]:
        """Each row's feature as JSON text: its head (base properties and point, annotated by
        ``rows``) and its element values (``element_texts``) spliced, in ``names`` order."""
        ids = {symbol: pk for pk, symbol in self.collection.elements}
        elements = [(ids[name], name) for name in names if name in ids]
        values = self.element_texts(rows, elements)
        below = BELOW in names
        texts = []
        for sample in rows:
            note_country_served(self.request, sample.country_id)
            found, limits = values.get(sample.pk, ("{}", None))
            parts = [sample.feature_head[1:-1]]
            if below:
                parts.append('"below_detection_limit":' + json.dumps(limits))
            parts.append(found[1:-1])
            properties = ",".join(part for part in parts if part)
            texts.append(
                f'{{"type":"Feature","id":{sample.pk},"geometry":{sample.feature_point},'
                f'"properties":{{{properties}}}}}'
            )
        return texts

    def element_texts(
        self, rows: list[SimpleNamespace], elements: list[tuple[int, str]]
    ) -> dict[int, tuple[str, str | None]]:
        """{sample id: (JSON object of every element of ``elements`` → value or null, the
        "symbol<limit; …" of those below detection)} of a page, in one query around the gate's
        own rows (``visible_measurements_of``, preferred method)."""
        if not rows or not elements:
            return {}
        page = [(s.pk, s.country_id, s.survey_id) for s in rows]
        gated = (
            visible_measurements_of(self.scope, page)
            .preferred()
            .filter(element_id__in=[pk for pk, _ in elements])
            .values_list("sample_id", "element_id", "value", "censored", "detection_limit")
        )
        sql, params = gated.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                ELEMENT_TEXTS_SQL.format(gated=sql),
                [*params, [s.pk for s in rows], [pk for pk, _ in elements],
                 [symbol for _, symbol in elements]],
            )  # fmt: skip
            return {pk: (found, limits) for pk, found, limits in cursor.fetchall()}

    def feature(
        self, feature_id: str, crs: crs_module.Crs = crs_module.DEFAULT
    ) -> tuple[dict, tuple[float, float]]:
        """One feature (coordinates in ``crs``) and its shown location in CRS84; a hidden,
        missing or malformed id, or one of another collection, is the same 404."""
        try:
            pk = int(feature_id)
        except ValueError:
            raise NotFound() from None
        if not 0 < pk < 2**63:
            raise NotFound()
        rows = list(self.samples().filter(pk=pk))
        if not rows:
            raise NotFound()
        features, lonlat = self.located_features(rows, None, crs)
        audit_access(self.request, self.scope, f"ogcapi item {self.collection.id} {pk}")
        return features[0], lonlat[0]

    def located_features(
        self, rows: list[Sample], properties: tuple[str, ...] | None, crs: crs_module.Crs
    ) -> tuple[list[dict], list[tuple[float, float]]]:
        """The features of ``rows`` with coordinates in ``crs``, and their shown locations in
        CRS84. The location is decided first (exact, or the cell's centre), then transformed:
        no CRS shows more than CRS84 does."""
        features, shown = self.features(rows, properties)
        lonlat = [(round(lon, DECIMALS), round(lat, DECIMALS)) for lon, lat in shown]
        if crs is crs_module.DEFAULT:
            coordinates = [list(p) for p in lonlat]
        else:
            coordinates = crs.coordinates([p[0] for p in shown], [p[1] for p in shown])
        for feature, xy in zip(features, coordinates, strict=True):
            feature["geometry"] = {"type": "Point", "coordinates": xy}
        return features, lonlat

    def features(
        self, rows: list[Sample], properties: tuple[str, ...] | None
    ) -> tuple[list[dict], list[tuple[float, float]]]:
        """The features of ``rows`` (without geometry) and their shown locations, unrounded."""
        names = self.collection.property_names if properties is None else list(properties)
        wanted = set(names)
        elements = [(pk, s) for pk, s in self.collection.elements if s in wanted]
        values = self.element_values(rows, [pk for pk, _ in elements])
        surveys = {
            pk: (slug, medium)
            for pk, slug, medium in Survey.objects.filter(
                pk__in={s.survey_id for s in rows}
            ).values_list("pk", "slug", "medium__code")
        }
        countries = {
            pk: iso or adm0
            for pk, iso, adm0 in Country.objects.filter(
                pk__in={s.country_id for s in rows}
            ).values_list("pk", "iso_a3", "adm0_a3")
        }
        features, shown = [], []
        for sample in rows:
            note_country_served(self.request, sample.country_id)
            lon, lat, precision = shown_location(self.scope, sample)
            shown.append((lon, lat))
            slug, medium = surveys[sample.survey_id]
            found = values.get(sample.pk, {})
            below = [
                f"{symbol}<{found[pk][1]:g}"
                for pk, symbol in elements
                if pk in found and found[pk][1] is not None
            ]
            every = {
                "code": sample.code,
                "site_code": sample.site_code or None,
                "survey": slug,
                "country": countries[sample.country_id],
                "medium": medium,
                "sampled_on": sample.sampled_on.isoformat() if sample.sampled_on else None,
                "depth": sample.depth or None,
                "location_precision_km": precision / 1000 if precision else None,
                "cell": sample.cell_code(precision) if precision else None,
                "below_detection_limit": "; ".join(below) or None,
                **{symbol: found.get(pk, (None, None))[0] for pk, symbol in elements},
            }
            features.append(
                {
                    "type": "Feature",
                    "id": sample.pk,
                    "geometry": None,  # set by located_features
                    "properties": {name: every[name] for name in names},
                }
            )
        return features, shown

    def element_values(
        self, rows: list[Sample], element_ids: list[int]
    ) -> dict[int, dict[int, tuple[float | None, float | None]]]:
        """{sample id: {element id: (value, detection limit if censored)}} of a page, in one
        query over the visible measurements (preferred method) of its samples, found by the
        gate from the page's samples themselves (``visible_measurements_of``: sample ids and
        elements, no join to the sample table)."""
        if not rows or not element_ids:
            return {}
        page = [(s.pk, s.country_id, s.survey_id) for s in rows]
        found: dict[int, dict[int, tuple[float | None, float | None]]] = {}
        measurements = (
            visible_measurements_of(self.scope, page)
            .preferred()
            .filter(element_id__in=element_ids)
            .values_list("sample_id", "element_id", "value", "censored", "detection_limit")
        )
        for sample_id, element_id, value, censored, limit in measurements:
            found.setdefault(sample_id, {})[element_id] = (
                (None, limit) if censored else (value, None)
            )
        return found
