"""The dashboards' figures, each computed from the rows the gate gives a viewer.

Every selector starts from ``sharing.access.visible_samples`` / ``visible_measurements`` (so a
partner's dashboard includes its accepted agreements' rows and the anonymous one does not), cuts
them by a ``Region``, aggregates in SQL (one pass over the rows; percentiles are PostgreSQL's
``percentile_cont``, the same linear rule as numpy's and ``baselines.statistics``) and returns a
``Figure``: JSON-ready data plus the countries and surveys whose rows it used, so the caller
records the audit and labels synthetic data. Figures are cached per (rights, policy version, data
version, arguments) — ``Scope.cache_key`` names rights, not users.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.contrib.postgres.aggregates import ArrayAgg
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import (
    Avg,
    Case,
    Count,
    F,
    FloatField,
    Func,
    IntegerField,
    Max,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform

from baselines import grid, units
from baselines.models import Element, Medium, Survey
from chemearth.caching import cached
from sharing.access import Scope, viewer_scope, visible_measurements, visible_samples

from .models import LandUse, SoilStandard
from .regions import Region

CACHE_SECONDS = 600
# Severity as multiples of the screening value (the 2014 national bulletin's four grades).
SEVERITY = (("slight", 1, 2), ("mild", 2, 3), ("moderate", 3, 5), ("heavy", 5, None))
CLASSES = ("priority_protection", "safe_use", "strict_control")
BASELINE_PERCENTILES = (5, 25, 50, 75, 95, 98)
# Attributes read from a sample (``Sample.attributes``), as ingest stores extra columns.
PH_KEY = "ph"
LAND_USE_KEY = "land_use"


@dataclass(frozen=True)
class Figure:
    """A dashboard's numbers and whose rows made them."""

    data: dict
    countries: frozenset[int] = field(default_factory=frozenset)
    surveys: frozenset[int] = field(default_factory=frozenset)

    @property
    def synthetic_surveys(self) -> list[str]:
        """Names of the synthetic surveys among the rows used (pages and charts say so)."""
        return list(
            Survey.objects.filter(pk__in=self.surveys, synthetic=True).values_list(
                "name", flat=True
            )
        )


def min_samples() -> int:
    """Below this many samples a share is not printed: "too few samples" instead."""
    return int(getattr(settings, "DASHBOARD_MIN_SAMPLES", 10))


def _cached(name: str, scope: Scope, parts: tuple, compute) -> Figure:
    digest = hashlib.sha1(repr(parts).encode()).hexdigest()[:16]
    key = ":".join(["dash", name, scope.cache_key, Survey.objects.data_version(), digest])
    return cached(key, compute, timeout=CACHE_SECONDS)


def fetch(sql: str, params) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _sql(rows: QuerySet) -> tuple[str, tuple] | None:
    """The queryset's SQL and parameters; None when it can match nothing (a viewer with no
    grants: Django refuses to write ``IN ()``)."""
    try:
        return rows.query.sql_with_params()
    except EmptyResultSet:
        return None


def _share(count: int, n: int) -> float | None:
    return round(100 * count / n, 2) if n >= min_samples() else None


def stat_value():
    """A value as statistics use it: censored ones at DL × 1/2 (``baselines.statistics``)."""
    return Case(
        When(censored=True, then=F("detection_limit") * units.CENSORED_SUBSTITUTE_FRACTION),
        default=F("value"),
        output_field=FloatField(),
    )


# --- coverage ------------------------------------------------------------------------------------


def _union(items: list[tuple[int, str, tuple[str, ...]]]) -> tuple[float, set]:
    """Area (km²) of the union of cells, each (scale, code, codes of its containing coarser
    cells): coarse first, a cell inside an already counted coarser cell adds nothing. Each cell
    counts with its true area (cells of one scale differ by up to a few % with latitude)."""
    counted: set[tuple[int, str]] = set()
    for size_m, code, ancestors in sorted(items, key=lambda item: -item[0]):
        containing = zip(grid.coarser_containing(size_m), ancestors, strict=True)
        if (size_m, code) in counted or any(a in counted for a in containing):
            continue
        counted.add((size_m, code))
    return grid.cells_area_km2(code for _, code in counted), counted


ROW_OF_CODE = "split_part(%(expressions)s, '-', 2)::int"  # a cell code's row, as in grid.parse_code


def _cells_and_area(rows, size_m: int) -> tuple[int, float]:
    """Distinct cells at a scale among sample rows, and their true area: counted per grid row in
    SQL (a cell's area depends on its row only), summed here."""
    field = grid.cell_field_name(size_m)
    per_row = (
        rows.order_by()
        .annotate(grid_row=Func(F(field), template=ROW_OF_CODE, output_field=IntegerField()))
        .values("grid_row")
        .annotate(n=Count(field, distinct=True))
        .values_list("grid_row", "n")
    )
    pairs = [(r, n) for r, n in per_row if r is not None]
    if not pairs:
        return 0, 0.0
    row_numbers, counts = (np.array(v) for v in zip(*pairs, strict=True))
    return int(counts.sum()), float((grid.areas_km2(row_numbers, size_m) * counts).sum())


def _sampled_cells(scope: Scope, region: Region, size_m: int) -> list[tuple]:
    """Distinct (cell, its containing coarser cells, country, campaign year, survey) of the
    visible samples of surveys sampled at ``size_m``, each counted at that scale."""
    fields = [grid.cell_field_name(s) for s in (size_m, *grid.coarser_containing(size_m))]
    rows = visible_samples(scope, scale_m=size_m).filter(survey__scale_m=size_m)
    rows = region.narrow(scope, rows, prefix="")
    return list(
        rows.order_by().values_list(*fields, "country_id", "survey__year", "survey_id").distinct()
    )


def coverage(scope: Scope, region: Region) -> Figure:
    """Land covered by cells holding a visible sample: per scale (every sample counted in its
    cell at that scale), and the network's union (each survey at its own sampling scale, each
    piece of land counted once however many surveys or scales sampled it), per country and by
    campaign year."""
    scope = viewer_scope(scope)

    def compute() -> Figure:
        per_scale = []
        for size_m in grid.SCALES_M:
            rows = region.narrow(scope, visible_samples(scope, scale_m=size_m), prefix="")
            cells, area = _cells_and_area(rows, size_m)
            per_scale.append(
                {"scale_km": grid.scale_km(size_m), "cells": cells, "area_km2": area,
                 "percent": _percent(area, region.area_km2)}
            )  # fmt: skip
        items = []  # (scale, code, ancestors, country, year, survey)
        # order_by(): Survey's default ordering would add its name to the DISTINCT (one scale per
        # survey: 43 passes instead of 5 in the 1M benchmark).
        for size_m in Survey.objects.order_by().values_list("scale_m", flat=True).distinct():
            for row in _sampled_cells(scope, region, size_m):
                *codes, country, year, survey = row
                items.append((size_m, codes[0], tuple(codes[1:]), country, year, survey))
        area, _counted = _union([i[:3] for i in items])
        return Figure(
            data={
                "region": region.param,
                "land_km2": region.area_km2,
                "network": {"area_km2": area, "percent": _percent(area, region.area_km2)},
                "scales": per_scale,
                "countries": _coverage_by_country(items),
                "years": _coverage_by_year(items, region.area_km2),
            },
            countries=frozenset(i[3] for i in items),
            surveys=frozenset(i[5] for i in items),
        )

    return _cached("coverage", scope, (region.cache_part,), compute)


def _percent(area: float, land: float) -> float | None:
    return round(min(100.0, 100 * area / land), 3) if land else None


def _coverage_by_country(items: list[tuple]) -> list[dict]:
    from baselines.models import Country

    by_country = defaultdict(list)
    for item in items:
        by_country[item[3]].append(item[:3])
    countries = Country.objects.in_bulk(list(by_country))
    result = []
    for country_id, cells in by_country.items():
        country = countries[country_id]
        area, _ = _union(cells)
        result.append(
            {"country": country.code, "name": str(country.name), "area_km2": area,
             "land_km2": country.land_area_km2,
             "percent": _percent(area, country.land_area_km2)}
        )  # fmt: skip
    return sorted(result, key=lambda r: -r["area_km2"])


def _coverage_by_year(items: list[tuple], land: float) -> list[dict]:
    """The network's area after each campaign year (cumulative; unknown years last)."""
    years = sorted({i[4] for i in items if i[4] is not None})
    result = []
    for year in years:
        area, _ = _union([i[:3] for i in items if i[4] is not None and i[4] <= year])
        result.append({"year": year, "area_km2": area, "percent": _percent(area, land)})
    return result


def coverage_cells(scope: Scope, region: Region, size_m: int, limit: int) -> Figure | None:
    """Codes of the cells at ``size_m`` holding a visible sample (the coverage map, in
    ``data["cells"]``) and whose rows they are; None when there are more than ``limit`` (the
    caller asks for a coarser scale instead)."""
    rows = region.narrow(scope, visible_samples(scope, scale_m=size_m), prefix="")
    field_name = grid.cell_field_name(size_m)
    pairs = list(
        rows.order_by(field_name).values_list(field_name, "country_id").distinct()[: limit + 1]
    )
    codes = sorted({code for code, _ in pairs})
    if len(pairs) > limit:
        return None
    return Figure(data={"cells": codes}, countries=frozenset(c for _, c in pairs))


# --- risk-limit exceedance -----------------------------------------------------------------------


def _limit_rows(standard: SoilStandard) -> list[tuple]:
    """The standard's limits for the join: (element, land use, pH above, pH up to, pH known,
    screening, intervention), every land use complete (missing elements from "other") and, per
    element and land use, a row for unknown pH with the strictest band's values."""
    limits = list(standard.limits.all())
    land_uses = sorted({limit.land_use for limit in limits} | {LandUse.OTHER})
    by_key = defaultdict(list)
    for limit in limits:
        by_key[(limit.element_id, limit.land_use)].append(limit)
    rows = []
    for element_id in sorted({limit.element_id for limit in limits}):
        for land_use in land_uses:
            bands = by_key.get((element_id, land_use)) or by_key.get((element_id, "other"))
            if not bands:
                continue
            for b in bands:
                rows.append((element_id, land_use, b.ph_above, b.ph_up_to, True, b.screening,
                             b.intervention))  # fmt: skip
            interventions = [b.intervention for b in bands if b.intervention is not None]
            rows.append((element_id, land_use, None, None, False,
                         min(b.screening for b in bands),
                         min(interventions) if interventions else None))  # fmt: skip
    return rows


def exceedance_rows(scope, region, standard, medium, rounds, size_m=None) -> QuerySet:
    """The gated rows a standard judges; with ``size_m``, only those a product at that cell
    size may use (rule 3), each with its cell code."""
    element_ids = list(standard.limits.values_list("element_id", flat=True).distinct())
    rows = visible_measurements(scope, scale_m=size_m).preferred()
    rows = rows.filter(element_id__in=element_ids)
    if medium is not None:
        rows = rows.filter(sample__survey__medium=medium)
    if rounds:
        rows = rows.filter(sample__survey__monitoring_round__in=rounds)
    rows = region.narrow(scope, rows)
    return rows.order_by().values(
        "sample_id", "element_id", "value", "censored", "detection_limit",
        "sample__country_id", "sample__survey_id",
        ph_text=KeyTextTransform(PH_KEY, "sample__attributes"),
        land_text=KeyTextTransform(LAND_USE_KEY, "sample__attributes"),
        cell=F(f"sample__{grid.cell_field_name(size_m)}") if size_m else Value(""),
    )  # fmt: skip


# Each row judged against its limits: ``m`` holds the screening and intervention values of the
# row's element, land use and pH band (the strictest band when pH is unknown) and value/screening.
_CLASSIFIED_SQL = """
WITH r AS ({rows}),
lim(element_id, land_use, ph_above, ph_up_to, known, screening, intervention) AS (
    VALUES {limits}
),
m AS (
    SELECT r.*, l.screening, l.intervention, (r.ph IS NULL) AS ph_unknown,
           CASE WHEN r.censored THEN NULL ELSE r.value / l.screening END AS ratio
    FROM (
        SELECT r.sample_id, r.element_id, r.value, r.censored, r.detection_limit,
               r.country_id, r.survey_id,
               CASE WHEN r.ph_text ~ '^\\s*[0-9]+(\\.[0-9]*)?\\s*$'
                    THEN r.ph_text::float END AS ph,
               CASE WHEN r.land_text = ANY(%s) THEN r.land_text ELSE 'other' END AS land_use,
               r.cell
        FROM r
        OFFSET 0  -- a fence: pH and land use parsed once a row, not once a (row, limit) pair
    ) r
    JOIN lim l ON l.element_id = r.element_id AND l.land_use = r.land_use
      AND l.known = (r.ph IS NOT NULL)
      AND (r.ph IS NULL OR ((l.ph_above IS NULL OR r.ph > l.ph_above)
                            AND (l.ph_up_to IS NULL OR r.ph <= l.ph_up_to)))
)
"""

# A judged row's class, 0 priority protection (≤ screening), 1 safe use (above screening), 2 strict
# control (above intervention); a value below detection exceeds nothing. One sample's or one
# element's class is the worst of its rows (certificates' ratings use it too).
ROW_CLASS_SQL = (
    "CASE WHEN NOT censored AND value > intervention THEN 2 WHEN ratio > 1 THEN 1 ELSE 0 END"
)

_EXCEEDANCE_SQL = f"""
SELECT 'e', element_id, land_use, country_id, survey_id,
       count(*), count(*) FILTER (WHERE ph_unknown),
       count(*) FILTER (WHERE ratio > 1),
       count(*) FILTER (WHERE intervention IS NOT NULL AND NOT censored AND value > intervention),
       count(*) FILTER (WHERE ratio > 1 AND ratio <= 2),
       count(*) FILTER (WHERE ratio > 2 AND ratio <= 3),
       count(*) FILTER (WHERE ratio > 3 AND ratio <= 5),
       count(*) FILTER (WHERE ratio > 5),
       count(*) FILTER (WHERE censored AND detection_limit > screening)
FROM m GROUP BY element_id, land_use, country_id, survey_id
UNION ALL
SELECT 's', worst, land_use, country_id, survey_id, count(*), count(*) FILTER (WHERE ph_unknown),
       0, 0, 0, 0, 0, 0, 0
FROM (
    SELECT sample_id, land_use, country_id, survey_id, bool_or(ph_unknown) AS ph_unknown,
           max({ROW_CLASS_SQL}) AS worst
    FROM m GROUP BY sample_id, land_use, country_id, survey_id
) s
GROUP BY worst, land_use, country_id, survey_id
"""

_CELLS_SQL = f"""
SELECT cell, count(*), count(*) FILTER (WHERE worst = 1), count(*) FILTER (WHERE worst = 2),
       array_agg(DISTINCT country_id)
FROM (
    SELECT sample_id, cell, country_id,
           max({ROW_CLASS_SQL}) AS worst
    FROM m GROUP BY sample_id, cell, country_id
) s
GROUP BY cell ORDER BY cell
"""


def classified_sql(rows: QuerySet, standard: SoilStandard) -> tuple[str, list] | None:
    """SQL (``WITH … m AS (…)``) judging the rows against the standard, and its parameters;
    None when no row can match."""
    compiled = _sql(rows)
    limits = _limit_rows(standard)
    if not limits or compiled is None:
        return None
    row_sql, row_params = compiled
    # Columns by position: Django names annotated .values() columns, not relation paths.
    columns = (
        "sample_id, element_id, value, censored, detection_limit, country_id, survey_id, "
        "ph_text, land_text, cell"
    )
    row_sql = f"SELECT {columns} FROM ({row_sql}) AS g({columns})"
    values = ", ".join(["(%s, %s, %s::float, %s::float, %s, %s::float, %s::float)"] * len(limits))
    land_uses = sorted({limit[1] for limit in limits})
    params = [*row_params, *[v for row in limits for v in row], land_uses]
    return _CLASSIFIED_SQL.format(rows=row_sql, limits=values), params


_ELEMENT_COUNTS = (
    "n", "ph_unknown", "above_screening", "above_intervention",
    "slight", "mild", "moderate", "heavy", "censored_undetermined",
)  # fmt: skip


def exceedance(
    scope: Scope,
    region: Region,
    standard: SoilStandard,
    medium: Medium | None = None,
    rounds: tuple[int, ...] = (),
) -> Figure:
    """Per element: samples above the standard's screening and intervention values, by severity
    (multiples of screening) and land use; and samples by overall class (the worst element).

    pH comes from the sample's ``ph`` attribute, else the strictest band applies (counted in
    ``ph_unknown``); land use from ``land_use``, else "other". A value below detection counts
    as not exceeding; when its detection limit is above the screening value it is counted in
    ``censored_undetermined`` too."""
    scope = viewer_scope(scope)

    def compute() -> Figure:
        classified = classified_sql(
            exceedance_rows(scope, region, standard, medium, rounds), standard
        )
        if classified is None:
            return Figure(data=_exceedance_data(standard, region, {}, {}, {}))
        sql, params = classified
        sql += _EXCEEDANCE_SQL
        per_element, classes, by_land_use = _fold_exceedance(fetch(sql, params))
        countries = frozenset(c for key in per_element for c in per_element[key]["countries"])
        surveys = frozenset(s for key in per_element for s in per_element[key]["surveys"])
        return Figure(
            data=_exceedance_data(standard, region, per_element, classes, by_land_use),
            countries=countries,
            surveys=surveys,
        )

    medium_code = medium.code if medium else ""
    parts = (region.cache_part, standard.pk, standard.updated.isoformat(), medium_code, rounds)
    return _cached("exceedance", scope, parts, compute)


def exceedance_cells(
    scope: Scope, region: Region, standard: SoilStandard, size_m: int,
    medium: Medium | None = None,
) -> Figure:  # fmt: skip
    """Per grid cell at ``size_m`` (no finer than the viewer's precision allows): samples, and
    those whose worst element is above screening (safe use) or intervention (strict control):
    the exceedance map."""
    scope = viewer_scope(scope)

    def compute() -> Figure:
        rows = exceedance_rows(scope, region, standard, medium, (), size_m=size_m)
        classified = classified_sql(rows, standard)
        if classified is None:
            return Figure(data={"cells": []})
        sql, params = classified
        cells, countries = [], set()
        for code, n, safe_use, strict, cell_countries in fetch(sql + _CELLS_SQL, params):
            cells.append({"code": code, "n": n, "safe_use": safe_use, "strict_control": strict})
            countries.update(cell_countries)
        return Figure(data={"cells": cells}, countries=frozenset(countries))

    medium_code = medium.code if medium else ""
    parts = (region.cache_part, standard.pk, standard.updated.isoformat(), size_m, medium_code)
    return _cached("exceedance-cells", scope, parts, compute)


def _fold_exceedance(result: list[tuple]):
    per_element = defaultdict(lambda: {k: 0 for k in _ELEMENT_COUNTS} | {
        "countries": set(), "surveys": set()})  # fmt: skip
    by_land_use = defaultdict(lambda: defaultdict(lambda: {"n": 0, "above_screening": 0}))
    classes = {"n": 0, "ph_unknown": 0} | {c: 0 for c in CLASSES}
    for kind, key, land_use, country, survey, *counts in result:
        if kind == "e":
            entry = per_element[key]
            for name, count in zip(_ELEMENT_COUNTS, counts, strict=True):
                entry[name] += count
            entry["countries"].add(country)
            entry["surveys"].add(survey)
            by_land_use[key][land_use]["n"] += counts[0]
            by_land_use[key][land_use]["above_screening"] += counts[2]
        else:
            classes[CLASSES[key]] += counts[0]
            classes["n"] += counts[0]
            classes["ph_unknown"] += counts[1]
    return per_element, classes, by_land_use


def _exceedance_data(standard, region, per_element, classes, by_land_use) -> dict:
    symbols = dict(Element.objects.values_list("pk", "symbol"))
    order = dict(Element.objects.values_list("pk", "atomic_number"))
    elements = []
    for element_id in sorted(per_element, key=lambda pk: order[pk]):
        e = per_element[element_id]
        n = e["n"]
        elements.append(
            {
                "element": symbols[element_id],
                **{k: e[k] for k in _ELEMENT_COUNTS},
                "percent_above_screening": _share(e["above_screening"], n),
                "percent_above_intervention": _share(e["above_intervention"], n),
                "severity_percent": {name: _share(e[name], n) for name, _low, _high in SEVERITY},
                "classes": {
                    "priority_protection": n - e["above_screening"],
                    "safe_use": e["above_screening"] - e["above_intervention"],
                    "strict_control": e["above_intervention"],
                },
                "land_use": {
                    lu: {**c, "percent_above_screening": _share(c["above_screening"], c["n"])}
                    for lu, c in sorted(by_land_use[element_id].items())
                },
            }
        )
    n = classes.get("n", 0)
    return {
        "region": region.param,
        "standard": {"code": standard.code, "name": str(standard.name), "source": standard.source},
        "min_samples": min_samples(),
        "elements": elements,
        "samples": classes | {"percent": {c: _share(classes.get(c, 0), n) for c in CLASSES}},
    }


# --- element baselines ---------------------------------------------------------------------------


_BASELINE_SQL = """
WITH r AS ({rows}),
med AS (SELECT element_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY stat) AS m
        FROM r GROUP BY element_id)
SELECT r.element_id, count(*), count(*) FILTER (WHERE r.censored),
       percentile_cont(%s::float8[]) WITHIN GROUP (ORDER BY r.stat),
       min(r.stat), max(r.stat), avg(r.stat),
       CASE WHEN min(r.stat) > 0 THEN exp(avg(ln(greatest(r.stat, 1e-300)))) END,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(r.stat - med.m)),
       array_agg(DISTINCT r.country_id), array_agg(DISTINCT r.survey_id)
FROM r JOIN med USING (element_id)
GROUP BY r.element_id
"""


def element_baselines(
    scope: Scope, region: Region, medium: Medium, elements: list[Element] | None = None
) -> Figure:
    """Per element in a medium: n, censored share, P5/P25/median/P75/P95/P98, MAD (unscaled),
    geometric and arithmetic mean, min and max — in the element's display unit, censored values
    at DL × 1/2 as every statistic of the portal."""
    scope = viewer_scope(scope)
    symbols = tuple(sorted(e.symbol for e in elements)) if elements else ()

    def compute() -> Figure:
        rows = visible_measurements(scope).preferred().filter(sample__survey__medium=medium)
        if symbols:
            rows = rows.filter(element__symbol__in=symbols)
        rows = region.narrow(scope, rows).order_by()
        rows = rows.annotate(stat=stat_value()).values(
            "element_id", "censored", "stat", "sample__country_id", "sample__survey_id"
        )
        compiled = _sql(rows)
        if compiled is None:
            return _baseline_figure(region, medium, [])
        row_sql, params = compiled
        row_sql = (
            f"SELECT * FROM ({row_sql}) AS g(element_id, censored, stat, country_id, survey_id)"
            " WHERE stat IS NOT NULL AND stat = stat"  # finite: NaN is not equal to itself
        )
        fractions = [p / 100 for p in BASELINE_PERCENTILES]
        result = fetch(_BASELINE_SQL.format(rows=row_sql), [*params, fractions])
        return _baseline_figure(region, medium, result)

    return _cached("baselines", scope, (region.cache_part, medium.code, symbols), compute)


def _baseline_figure(region: Region, medium: Medium, result: list[tuple]) -> Figure:
    elements = {e.pk: e for e in Element.objects.all()}
    table, countries, surveys = [], set(), set()
    for element_id, n, censored, pcts, low, high, mean, gmean, mad, cs, ss in sorted(
        result, key=lambda row: elements[row[0]].atomic_number
    ):
        symbol = elements[element_id].symbol
        unit, species = units.display_unit(symbol)

        def shown(value, symbol=symbol):
            return None if value is None else float(units.to_display(value, symbol))

        table.append(
            {"element": symbol, "unit": unit, "species": species or symbol, "n": n,
             "censored": censored, "censored_percent": round(100 * censored / n, 2),
             **{f"p{p}": shown(v) for p, v in zip(BASELINE_PERCENTILES, pcts, strict=True)},
             "median": shown(pcts[BASELINE_PERCENTILES.index(50)]),
             "mad": shown(mad), "geometric_mean": shown(gmean), "mean": shown(mean),
             "min": shown(low), "max": shown(high),
             "too_few": n < min_samples()}
        )  # fmt: skip
        countries.update(cs)
        surveys.update(ss)
    data = {"region": region.param, "medium": medium.code, "elements": table}
    return Figure(data=data, countries=frozenset(countries), surveys=frozenset(surveys))


# --- data volume ---------------------------------------------------------------------------------


def data_volume(scope: Scope, region: Region) -> Figure:
    """Visible samples and measurements per country and survey (with the survey's medium and
    scale) and the number of elements measured."""
    scope = viewer_scope(scope)

    def compute() -> Figure:
        samples = region.narrow(scope, visible_samples(scope), prefix="").order_by()
        sample_counts = {
            (r["country_id"], r["survey_id"]): r["n"]
            for r in samples.values("country_id", "survey_id").annotate(n=Count("id"))
        }
        rows = region.narrow(scope, visible_measurements(scope)).order_by()
        per_element = rows.values("sample__country_id", "sample__survey_id", "element_id")
        counts = defaultdict(lambda: [0, set()])
        for r in per_element.annotate(n=Count("id")):
            entry = counts[(r["sample__country_id"], r["sample__survey_id"])]
            entry[0] += r["n"]
            entry[1].add(r["element_id"])
        return _volume_figure(region, sample_counts, counts)

    return _cached("volume", scope, (region.cache_part,), compute)


def _volume_figure(region: Region, sample_counts: dict, counts: dict) -> Figure:
    from baselines.models import Country

    keys = set(sample_counts) | set(counts)
    countries = Country.objects.in_bulk([k[0] for k in keys])
    surveys = Survey.objects.select_related("medium").in_bulk([k[1] for k in keys])
    rows = []
    for country_id, survey_id in sorted(keys):
        survey, country = surveys[survey_id], countries[country_id]
        measurements, element_ids = counts.get((country_id, survey_id), (0, set()))
        rows.append(
            {"country": country.code, "country_name": str(country.name),
             "survey": survey.slug, "survey_name": survey.name, "synthetic": survey.synthetic,
             "medium": survey.medium.code, "scale_km": grid.scale_km(survey.scale_m),
             "samples": sample_counts.get((country_id, survey_id), 0),
             "measurements": measurements, "elements": len(element_ids)}
        )  # fmt: skip
    totals = {
        "samples": sum(r["samples"] for r in rows),
        "measurements": sum(r["measurements"] for r in rows),
    }
    return Figure(
        data={"region": region.param, "rows": rows, "totals": totals},
        countries=frozenset(k[0] for k in keys),
        surveys=frozenset(k[1] for k in keys),
    )


# --- monitoring change ---------------------------------------------------------------------------


def monitoring_rounds(scope: Scope) -> list[dict]:
    """The monitoring rounds of the surveys whose samples the viewer may see, with their years."""
    scope = viewer_scope(scope)
    survey_ids = visible_samples(scope).order_by().values("survey_id").distinct()
    rounds = (
        Survey.objects.filter(pk__in=survey_ids, monitoring_round__isnull=False)
        .values("monitoring_round")
        .annotate(surveys=Count("pk"))
        .order_by("monitoring_round")
    )
    result = []
    for r in rounds:
        years = Survey.objects.filter(
            pk__in=survey_ids, monitoring_round=r["monitoring_round"]
        ).values_list("year", flat=True)
        known = sorted(y for y in years if y)
        result.append(
            {"round": r["monitoring_round"], "surveys": r["surveys"],
             "years": [known[0], known[-1]] if known else None}
        )  # fmt: skip
    return result


CHANGE_BINS = np.array([-100, -75, -50, -25, -10, 10, 25, 50, 75, 100, 200, np.inf])


def monitoring_change(
    scope: Scope,
    region: Region,
    element: Element,
    rounds: tuple[int, int],
    medium: Medium | None = None,
    threshold_percent: float = 50.0,
    within_m: float = 0.0,
) -> Figure:
    """Sites sampled in both rounds (paired by country, site code and medium; with ``within_m``,
    samples without a site code also to the nearest one of the other round within that many
    metres): the distribution of relative change of the element from the first round to the
    second, the share changing by more than ±``threshold_percent``, and the sites that did (at
    their shown locations)."""
    scope = viewer_scope(scope)

    def compute() -> Figure:
        paired = _paired_sites(scope, region, element, rounds, medium)
        if within_m > 0:
            nearby = _paired_within(scope, region, element, rounds, medium, within_m)
            paired = {"pairs": paired["pairs"] + nearby["pairs"],
                      "surveys": paired["surveys"] | nearby["surveys"]}  # fmt: skip
        figure = _change_figure(scope, region, element, rounds, paired, threshold_percent)
        figure.data["within_m"] = within_m
        return figure

    medium_code = medium.code if medium else ""
    parts = (region.cache_part, element.symbol, rounds, medium_code, threshold_percent, within_m)
    return _cached("change", scope, parts, compute)


def _round_rows(scope, region, element, rounds, medium) -> QuerySet:
    """The viewer's preferred rows of the element in the two rounds, in the region."""
    rows = (
        visible_measurements(scope)
        .preferred()
        .filter(element=element, sample__survey__monitoring_round__in=rounds)
    )
    if medium is not None:
        rows = rows.filter(sample__survey__medium=medium)
    return region.narrow(scope, rows).order_by()


def _paired_sites(scope, region, element, rounds, medium) -> dict:
    """Sites with the element in both rounds, paired in SQL by (country, site code, medium):
    each round's mean statistics value (a site sampled twice in a round is averaged), the
    site's latest sample (where the changed-sites map shows it) and the surveys of its rows."""
    first, second = rounds
    rows = _round_rows(scope, region, element, rounds, medium)
    round_of = "sample__survey__monitoring_round"
    found = (
        rows.values("sample__country_id", "sample__site_code", "sample__survey__medium_id")
        .annotate(
            before=Avg(stat_value(), filter=Q(**{round_of: first})),
            after=Avg(stat_value(), filter=Q(**{round_of: second})),
            last=Max("sample_id"),
            # The surveys of the paired rows, in the same pass (a second query read them all).
            surveys=ArrayAgg("sample__survey_id", distinct=True),
        )
        .filter(before__isnull=False, after__isnull=False)
        .values_list(
            "sample__country_id", "sample__site_code", "before", "after", "last", "surveys"
        )
    )
    pairs, surveys = [], set()
    for *pair, pair_surveys in found:
        pairs.append(tuple(pair))
        surveys.update(pair_surveys)
    return {"pairs": pairs, "surveys": surveys}


def _paired_within(scope, region, element, rounds, medium, within_m: float) -> dict:
    """Samples whose site code has no partner in the other round (a survey without a site
    column gets its sample ids as site codes) paired across the rounds by distance: each
    first-round sample to the nearest such second-round one of its country and medium within
    ``within_m`` metres (geodesic), and each second-round sample kept with the nearest of the
    first-round samples that chose it, so a sample is in one pair at most. The pairs read like
    ``_paired_sites``' (their site label says the distance)."""
    first, second = rounds
    found = _sql(
        _round_rows(scope, region, element, rounds, medium).values_list(
            "sample_id", "sample__country_id", "sample__survey__medium_id",
            "sample__survey__monitoring_round", "sample__survey_id", "sample__geom",
            "sample__site_code",
        )
        .annotate(v=stat_value())
    )  # fmt: skip
    if found is None:
        return {"pairs": [], "surveys": set()}
    inner, params = found
    sql = f"""
        WITH r (sample_id, country_id, medium_id, rnd, survey_id, g, site, v)
            AS MATERIALIZED ({inner}),
        alone AS MATERIALIZED (  -- paired by site code already: not again by distance
            SELECT * FROM r WHERE NOT EXISTS (
                SELECT 1 FROM r o WHERE o.rnd <> r.rnd AND o.site = r.site
                  AND o.country_id = r.country_id AND o.medium_id = r.medium_id)
        ),
        nearest AS (
            SELECT a.country_id, a.v AS before, n.v AS after, n.d, n.sample_id AS b_id,
                   ARRAY[a.survey_id, n.survey_id] AS surveys
            FROM alone a CROSS JOIN LATERAL (
                SELECT b.sample_id, b.v, b.survey_id,
                       ST_Distance(a.g::geography, b.g::geography) AS d
                FROM alone b
                WHERE b.rnd = %s AND b.country_id = a.country_id AND b.medium_id = a.medium_id
                  AND ST_DWithin(a.g::geography, b.g::geography, %s)
                ORDER BY d LIMIT 1
            ) n
            WHERE a.rnd = %s
        )
        SELECT DISTINCT ON (b_id) country_id, d, before, after, b_id, surveys
        FROM nearest ORDER BY b_id, d
    """
    pairs, surveys = [], set()
    for country, distance, before, after, last, pair_surveys in fetch(
        sql, (*params, second, within_m, first)
    ):
        pairs.append((country, f"~{distance:.0f} m", before, after, last))
        surveys.update(pair_surveys)
    return {"pairs": pairs, "surveys": surveys}


def _shown_points(scope, sample_ids: list[int]) -> dict[int, tuple[float, float]]:
    """Where the viewer may see these samples (the changed sites only)."""
    from sharing.locations import shown_point

    rows = (
        visible_samples(scope)
        .filter(pk__in=sample_ids)
        .annotate(shown=shown_point(scope, prefix=""))
        .values_list("pk", "shown")
    )
    return {pk: (point.x, point.y) for pk, point in rows if point is not None}


def _change_figure(scope, region, element, rounds, paired, threshold) -> Figure:
    changes, changed, countries = [], [], set()
    for country, site, before, after, last in paired["pairs"]:
        if before is None or after is None or before <= 0:
            continue
        change = 100 * (after - before) / before
        changes.append(change)
        countries.add(country)
        if abs(change) > threshold:
            changed.append((site, last, change))
    located = _shown_points(scope, [last for _, last, _ in changed])
    points = [
        {"site": site, "lon": round(located[last][0], 6), "lat": round(located[last][1], 6),
         "change_percent": round(change, 1)}
        for site, last, change in changed
        if last in located
    ]  # fmt: skip
    x = np.asarray(changes, dtype="f8")
    n = int(x.size)
    counts, _edges = np.histogram(x, bins=CHANGE_BINS) if n else (np.zeros(11, int), None)
    data = {
        "region": region.param, "element": element.symbol, "rounds": list(rounds),
        "threshold_percent": threshold, "sites": n, "min_samples": min_samples(),
        "percent_increase": _share(int((x > threshold).sum()), n),
        "percent_decrease": _share(int((x < -threshold).sum()), n),
        "percentiles": (
            dict(zip(("p5", "p25", "median", "p75", "p95"),
                     (float(v) for v in np.percentile(x, [5, 25, 50, 75, 95])), strict=True))
            if n else None
        ),
        "histogram": {
            "edges": [float(e) if np.isfinite(e) else None for e in CHANGE_BINS],
            "counts": counts.tolist(),
        },
        "changed_sites": points,
    }  # fmt: skip
    return Figure(data=data, countries=frozenset(countries), surveys=frozenset(paired["surveys"]))
