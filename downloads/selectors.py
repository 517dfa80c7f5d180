"""The rows of a download package, read through the gate (``sharing.access``) only.

``package_measurements(scope, query)`` is the visible measurements a query selects (each
survey's preferred method unless ``all_methods``); ``long_rows`` and ``wide_rows`` turn it into
the column lists of the two table layouts, as querysets whose SQL the package writer streams
with ``COPY`` (``downloads.package``). Nothing here names a table: the SQL is Django's, built
from the gated queryset.

**Locations in SQL.** A sample's location is what ``sharing.access.shown_location`` gives the
viewer: exact, or the centroid of its cell at the finest precision among the grants covering its
country *and* survey; ``sharing.locations.shown_point`` states the same rule in SQL.
Coordinates are written rounded to 6 decimals (~0.1 m), as the API writes them.
``tests/test_downloads.py`` checks every row against ``shown_location``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass

from django.contrib.gis.geos import GEOSGeometry
from django.db import connection
from django.db.models import (
    Case,
    Count,
    F,
    Max,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Coalesce, NullIf

from baselines import grid
from baselines.models import (
    Country,
    Element,
    Measurement,
    Medium,
    Survey,
    applied_detection_limit,
    applied_method,
)
from sharing.access import (
    AggregateRows,
    Scope,
    aggregate_rows,
    viewer_scope,
    visible_measurements,
    visible_samples,
    within_bbox,
)
from sharing.locations import (
    SAMPLE,
    rounded,
    shown_cell,
    shown_point,
    shown_precision_km,
    within_area,
)

from .query import DownloadQuery

# --- the rows ------------------------------------------------------------------------------------


def package_measurements(scope: Scope, query: DownloadQuery) -> QuerySet[Measurement]:
    """The visible measurements a query selects: the gate's rows narrowed by the query, with
    boxes and polygons tested no finer than the viewer's precision."""
    scope = viewer_scope(scope)
    rows = visible_measurements(scope)
    if not query.all_methods:
        rows = rows.preferred()
    if query.surveys:
        rows = rows.filter(sample__survey__slug__in=query.surveys)
    if query.countries:
        ids = Country.objects.filter(Q(iso_a3__in=query.countries) | Q(adm0_a3__in=query.countries))
        rows = rows.filter(sample__country_id__in=list(ids.values_list("pk", flat=True)))
    if query.elements:
        rows = rows.filter(element__symbol__in=query.elements)
    if query.medium:
        rows = rows.filter(sample__survey__medium=Medium.objects.get(code=query.medium))
    if query.scales:
        rows = rows.filter(
            sample__survey__scale_m__in=[grid.scale_from_km(s) for s in query.scales]
        )
    if query.years:
        rows = rows.filter(sample__survey__year__in=query.years)
    if query.rounds:
        rows = rows.filter(sample__survey__monitoring_round__in=query.rounds)
    if query.bbox:
        rows = within_bbox(scope, rows, tuple(query.bbox), prefix=SAMPLE)
    if query.polygon:
        shape = GEOSGeometry(json.dumps(query.polygon), srid=4326)
        rows = within_area(scope, rows, shape, prefix=SAMPLE)
    return rows.order_by()


def sample_columns(scope: Scope, prefix: str = SAMPLE) -> dict[str, object]:
    """The columns describing a sample as the viewer may see it, from a measurement queryset
    (``prefix="sample__"``) or a sample queryset (``prefix=""``)."""
    point = shown_point(scope, prefix)
    return {
        "sample_id": F(f"{prefix}id"),
        "sample": F(f"{prefix}code"),
        "site_code": F(f"{prefix}site_code"),
        "survey": F(f"{prefix}survey__slug"),
        "country": Country.code_sql(f"{prefix}country__"),
        "medium": F(f"{prefix}survey__medium__code"),
        "survey_year": F(f"{prefix}survey__year"),
        "monitoring_round": F(f"{prefix}survey__monitoring_round"),
        "sampled_on": F(f"{prefix}sampled_on"),
        "depth": F(f"{prefix}depth"),
        "longitude": rounded(point, "X"),
        "latitude": rounded(point, "Y"),
        "location_precision_km": shown_precision_km(scope, prefix),
        "cell": shown_cell(scope, prefix),
    }


def long_columns(scope: Scope) -> dict[str, object]:
    return {
        "measurement_id": F("id"),
        **sample_columns(scope),
        "element": F("element__symbol"),
        "method": applied_method(),
        "value_mg_kg": F("value"),
        "censored": Case(When(censored=True, then=Value("true")), default=Value("false")),
        "detection_limit_mg_kg": applied_detection_limit(),
        "reported_value": F("reported_value"),
        "reported_unit": F("analyte__reported_unit"),
        "reported_species": Coalesce(
            NullIf(F("analyte__reported_species"), Value("")), F("element__symbol")
        ),
    }


def _select(rows: QuerySet, columns: dict[str, object], prefix: str = "c") -> QuerySet:
    """``rows`` selecting ``columns`` in order. Aliases are positional (``c0``, ``c1``, …) so no
    column name can clash with a model field; the header is written from ``columns``."""
    selected = rows.values(**{f"{prefix}{i}": expr for i, expr in enumerate(columns.values())})
    expected = [f"{prefix}{i}" for i in range(len(columns))]
    if list(selected.query.annotation_select) != expected or selected.query.values_select:
        raise AssertionError("column order of the package query is not the header's")
    return selected


@dataclass(frozen=True)
class Table:
    """A table layout: column names (the CSV header) and the SQL selecting them in order.

    ``rows`` alone is the statement; with ``pivot`` (wide tables) the statement joins the
    sample columns of ``rows`` to the per-sample aggregates of ``pivot`` (both gated querysets),
    composed with psycopg's ``sql`` module.
    """

    columns: list[str]
    rows: QuerySet
    pivot: QuerySet | None = None
    pivot_columns: tuple[str, ...] = ()

    def statement(self, cursor) -> str:
        """The SELECT, its parameters bound by the driver (``cursor`` is psycopg's)."""
        rows = cursor.mogrify(*self.rows.query.sql_with_params())
        if self.pivot is None:
            return rows
        from psycopg import sql

        pivot = cursor.mogrify(*self.pivot.query.sql_with_params())
        return (
            sql.SQL(
                "SELECT s.*, {values} FROM ({rows}) AS s JOIN ({pivot}) AS p "
                "ON p.{key} = s.{first} ORDER BY s.{first}"
            )
            .format(
                values=sql.SQL(", ").join(sql.Identifier("p", c) for c in self.pivot_columns),
                rows=sql.SQL(rows),
                pivot=sql.SQL(pivot),
                key=sql.Identifier("sample_id"),
                first=sql.Identifier("c0"),
            )
            .as_string(cursor)
        )


def long_rows(scope: Scope, query: DownloadQuery) -> Table:
    """One row per measurement, in storage order (no sort: the table is read once, in order)."""
    columns = long_columns(scope)
    return Table(list(columns), _select(package_measurements(scope, query), columns))


def wide_rows(scope: Scope, query: DownloadQuery, elements: list[Element]) -> Table:
    """One row per sample, two columns per element: ``<El>_mg_kg`` (the value; empty when below
    the detection limit) and ``<El>_dl_mg_kg`` (the limit, only when below it).

    The values are pivoted per sample id first (GROUP BY the id alone), then joined to the
    visible samples' columns: locations are computed once per sample, not once per value.
    """
    columns = sample_columns(scope, prefix="")
    aggregates: dict[str, object] = {}
    for element in elements:
        aggregates[f"{element.symbol}_mg_kg"] = Max("value", filter=Q(element_id=element.pk))
        aggregates[f"{element.symbol}_dl_mg_kg"] = Max(
            "detection_limit", filter=Q(element_id=element.pk, censored=True)
        )
    aliases = {f"v{i}": expr for i, expr in enumerate(aggregates.values())}
    pivot = package_measurements(scope, query).values("sample_id").annotate(**aliases)
    samples = _select(visible_samples(scope), columns)
    return Table([*columns, *aggregates], samples, pivot, tuple(aliases))


# --- what a package holds ------------------------------------------------------------------------


@dataclass(frozen=True)
class Contents:
    """Counts of a package's rows, computed before it is written (and before it is queued)."""

    measurements: int
    samples: int
    elements: list[Element]
    # (survey id, country id) -> {"measurements": n, "samples": n}
    by_survey_country: dict[tuple[int, int], dict[str, int]]
    # A map layer's (GeoTIFF's) rule-4 rows: how many, and their (survey id, country id) pairs.
    # They enter the layer only as their cell's class (docs/security.md), so they are counted
    # apart and never per survey or country; their surveys are cited and their licences listed.
    prerelease_values: int = 0
    prerelease_pairs: frozenset[tuple[int, int]] = frozenset()

    @property
    def country_ids(self) -> list[int]:
        """Countries whose released rows the package holds (audited, counted)."""
        return sorted({c for _, c in self.by_survey_country})

    @property
    def survey_ids(self) -> list[int]:
        return sorted({s for s, _ in self.by_survey_country})

    @property
    def cited_country_ids(self) -> list[int]:
        """Countries whose rows made the package, pre-release ones included (licences)."""
        return sorted(
            {c for _, c in self.by_survey_country} | {c for _, c in self.prerelease_pairs}
        )

    @property
    def cited_survey_ids(self) -> list[int]:
        """Surveys whose rows made the package, pre-release ones included (citations)."""
        return sorted(
            {s for s, _ in self.by_survey_country} | {s for s, _ in self.prerelease_pairs}
        )

    @property
    def values_read(self) -> int:
        """The rows a build reads: what the role limits count."""
        return self.measurements + self.prerelease_values

    def as_json(self, rights: str) -> dict:
        """A package's contents as the job keeps them (not a layer's: no pre-release rows),
        with the rights they were counted for (``Scope.cache_key``: the viewer's grants and the
        policy version)."""
        pairs = sorted(self.by_survey_country.items())
        return {
            "rights": rights,
            "pairs": [[s, c, n["measurements"], n["samples"]] for (s, c), n in pairs],
            "elements": [e.pk for e in self.elements],
        }

    @classmethod
    def from_json(cls, data: dict) -> Contents:
        by_key = {(s, c): {"measurements": m, "samples": n} for s, c, m, n in data["pairs"]}
        return cls(
            measurements=sum(v["measurements"] for v in by_key.values()),
            samples=sum(v["samples"] for v in by_key.values()),
            elements=list(
                Element.objects.filter(pk__in=data["elements"]).order_by("atomic_number")
            ),
            by_survey_country=by_key,
        )


def count_measurements(scope: Scope, query: DownloadQuery) -> int:
    """The rows a package would be made from (a layer's: released and pre-release)."""
    if query.is_layer:
        rows = layer_rows(scope, query)
        return rows.released.count() + rows.prerelease.count()
    return package_measurements(scope, query).count()


def layer_rows(scope: Scope, query: DownloadQuery) -> AggregateRows:
    """The rows of a GeoTIFF's map layer: the gate's aggregate rows of its element and medium at
    its grid scale, exactly those ``maps.layers.layer_rows`` renders (a bbox clips the raster,
    not the rows: the classes are the whole layer's)."""
    return aggregate_rows(
        viewer_scope(scope),
        scale_m=query.layer_scale_m,
        element=Element.objects.get(symbol=query.elements[0]),
        medium=Medium.objects.get(code=query.medium),
    )


def layer_contents(scope: Scope, query: DownloadQuery) -> Contents:
    """What a GeoTIFF's layer is made of: released rows per (survey, country), pre-release rows
    as a total and the pairs they come from."""
    rows = layer_rows(scope, query)
    pairs = ("sample__survey_id", "sample__country_id")
    by_key = {
        (survey_id, country_id): {"measurements": n, "samples": samples}
        for survey_id, country_id, n, samples in rows.released.values_list(*pairs)
        .annotate(n=Count("*"), samples=Count("sample_id", distinct=True))
        .order_by()
    }
    prerelease = {
        (survey_id, country_id): n
        for survey_id, country_id, n in rows.prerelease.values_list(*pairs)
        .annotate(n=Count("*"))
        .order_by()
    }
    return Contents(
        measurements=sum(v["measurements"] for v in by_key.values()),
        samples=sum(v["samples"] for v in by_key.values()),
        elements=list(Element.objects.filter(symbol__in=query.elements)),
        by_survey_country=by_key,
        prerelease_values=sum(prerelease.values()),
        prerelease_pairs=frozenset(prerelease),
    )


# One scan of a package's gated rows counts its measurements per (survey, country, element) and
# its samples per (survey, country): two grouping sets hashed side by side. Rows of the second
# set (element null, one per sample) are counted as samples; of the first, summed as measurements.
# (Two queries read the rows twice, and count(DISTINCT) sorted them.)
CONTENTS_SQL = """
SELECT survey_id, country_id, element_id, sum(n)::bigint, count(sample_id)
FROM (
    SELECT survey_id, country_id, element_id, sample_id, count(*) AS n
    FROM ({gated}) AS g (survey_id, country_id, element_id, sample_id)
    GROUP BY GROUPING SETS ((survey_id, country_id, element_id),
                            (survey_id, country_id, sample_id))
) AS sets
GROUP BY survey_id, country_id, element_id
"""


def package_contents(scope: Scope, query: DownloadQuery) -> Contents:
    if query.is_layer:
        return layer_contents(scope, query)
    gated = package_measurements(scope, query).values_list(
        "sample__survey_id", "sample__country_id", "element_id", "sample_id"
    )
    sql, params = gated.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(CONTENTS_SQL.format(gated=sql), params)
        found = cursor.fetchall()
    by_key: dict[tuple[int, int], dict[str, int]] = defaultdict(
        lambda: {"measurements": 0, "samples": 0}
    )
    element_ids: set[int] = set()
    for survey_id, country_id, element_id, measurements, samples in found:
        if element_id is None:
            by_key[survey_id, country_id]["samples"] = samples
        else:
            by_key[survey_id, country_id]["measurements"] += measurements
            element_ids.add(element_id)
    return Contents(
        measurements=sum(v["measurements"] for v in by_key.values()),
        samples=sum(v["samples"] for v in by_key.values()),
        elements=list(Element.objects.filter(pk__in=element_ids).order_by("atomic_number")),
        by_survey_country=dict(by_key),
    )


def surveys_of(contents: Contents) -> list[Survey]:
    """The surveys to cite: every one whose rows made the package."""
    return list(
        Survey.objects.filter(pk__in=contents.cited_survey_ids)
        .select_related("medium")
        .order_by("name")
    )
