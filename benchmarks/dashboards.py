#!/usr/bin/env python
"""Dashboards benchmark: each dashboard figure cold, cached, and against a plain SQL query.

    .venv/bin/python benchmarks/dashboards.py --samples 1000000

Targets (the dashboards issue): cold ≤ 2 s, cached ≤ 100 ms, gated ≤ 1.3× a plain SQL query of
the same figure without the gate, on a 1,000,000-sample database. Steps (benchmarks/README.md):

1. Re-create its own database (default ``chemearth_dashboards_bench``: DROP, CREATE, ``CREATE
   EXTENSION postgis``, ``migrate``, which installs GB 15618-2018) with ``DATABASE_URL`` pointing
   at it before ``django.setup()``; the cache is Redis database ``--redis-db`` (default 13),
   flushed at the start and the end (clearing it is part of the timings). ``--keep`` keeps the
   database, ``--reuse`` times a kept one again without building it.
2. Build benchmarks/access.py's seeded synthetic world (``build_world``: 12 countries, 40 surveys,
   10 elements per sample — Cd, Hg, As, Pb, Cr, Cu, Ni, Zn of the standard among them — stored as
   ingest stores them, and release policies for every rule of the gate), with two of its options:
   a second monitoring round of the Chinese, German and Polish national topsoil surveys (half of
   their sites again, same site codes; ``--samples`` counts both rounds), and pH / land use
   ("paddy" or "other") in the attributes of topsoil and subsoil samples. The partner of that
   world (agreement over Germany, exact, and Poland, embargoed) accepts its licence here, so the
   partner scope sees more than the anonymous one; a staff user sees everything.
3. For each figure — ``coverage``, ``exceedance`` (GB 15618-2018), ``monitoring_change`` (Cd,
   rounds 1 → 2), ``data_volume``, ``element_baselines`` (topsoil) — and each region (the world,
   one country, ``--country``, default CHN), after one warm-up run: ``--repeat`` interleaved runs
   (order alternating) of, per scope (anonymous, partner, staff), a cold call (``cache.clear()``
   first: no cached figure) then a cached call (the same again), and the plain SQL query, hand
   written, straight from the tables without the gate, on a bare psycopg connection with the
   portal's session settings (``jit=off``). Medians. PostgreSQL's buffers and the OS page cache
   are warm (the warm-up run read the tables; nothing is evicted between runs): "cold" is the
   Django cache only. The scope objects are computed once, as a request computes its own.
4. Check (untimed) that each plain query's figure equals the selector's for the staff scope
   (everything, no gate); a difference is printed as MISMATCH and the run exits non-zero.
5. For insight: each figure once more cold for the anonymous scope with its SQL captured (share of
   the time in SQL, slowest statement), and EXPLAIN (ANALYZE, BUFFERS) of the slowest statement
   of each figure (world, anonymous) and of each plain query (world) into
   ``benchmarks/out/dashboards-plans.txt``, with the plan nodes taking most time printed.

Prints a markdown table with the load average per figure, the targets met or missed, the command
line and the git revision.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
import zlib
from collections import defaultdict

import access
from common import (  # noqa: E402  (benchmarks/ is the script's directory)
    PROTECTED_DATABASES,
    ROOT,
    command_line,
    database_exists,
    deployment_env,
    drop_database,
    dsn,
    git_revision,
    recreate_database,
)
from tqdm import tqdm

OUT = ROOT / "benchmarks" / "out"
PLANS_FILE = OUT / "dashboards-plans.txt"
OTHER_BENCHMARKS = {
    "chemearth_bench",
    "chemearth_access_bench",
    "chemearth_aggregates_bench",
    "chemearth_tiles_bench",
    "chemearth_viewer_bench",
    "chemearth_bench_api",
}
TARGET_COLD_S, TARGET_CACHED_MS, TARGET_RATIO = 2.0, 100.0, 1.3
SECOND_ROUNDS = (
    "CHN national topsoil baseline",  # public
    "DEU national topsoil baseline",  # public at 20 km; the partner sees it exact
    "POL national topsoil baseline",  # embargoed; the partner sees it
)
STANDARD = "gb15618-2018"
CHANGE_ELEMENT, ROUNDS, MEDIUM = "Cd", (1, 2), "topsoil"
FIGURES = ("coverage", "exceedance", "monitoring_change", "data_volume", "element_baselines")
SCOPES = ("anonymous", "partner", "staff")
STAFF_USER = "bench-staff"
MARKER = "chemearth dashboards benchmark world: samples={samples} seed={seed}"
ELEMENT_COUNTS = (
    "n", "ph_unknown", "above_screening", "above_intervention",
    "slight", "mild", "moderate", "heavy", "censored_undetermined",
)  # fmt: skip
BASELINE_PERCENTILES = (5, 25, 50, 75, 95, 98)
CHANGE_EDGES = (-100, -75, -50, -25, -10, 10, 25, 50, 75, 100, 200)  # then +inf
THRESHOLD = 50.0  # monitoring_change's default

# --- the plain queries: each figure straight from the tables, no gate ----------------------------
# ``{country}`` is "" for the world or "AND s.country_id = %(country)s"; values are named params.

CELL_COLUMNS = ("cell_80k", "cell_40k", "cell_20k", "cell_10k", "cell_4k", "cell_2k", "cell_1k")
SIZES = (80_000, 40_000, 20_000, 10_000, 4_000, 2_000, 1_000, 500)

# Coverage: cells per scale; and the union of the cells each survey sampled at its own scale,
# where a cell counts unless a coarser cell containing it (a scale its size divides) was sampled
# too — for the network, per country (that country's cells), and per campaign year (cells first
# sampled by then whose containing cells were not): each cell adds its area in its first year and
# takes it away in the first year of a containing cell.
COVERAGE_SQL = """
WITH items AS (
    SELECT DISTINCT v.scale_m AS size,
           CASE v.scale_m WHEN 80000 THEN s.cell_80k WHEN 40000 THEN s.cell_40k
                WHEN 20000 THEN s.cell_20k WHEN 10000 THEN s.cell_10k WHEN 4000 THEN s.cell_4k
                WHEN 2000 THEN s.cell_2k WHEN 1000 THEN s.cell_1k ELSE s.cell_500m END AS code,
           s.country_id, v.year, s.survey_id,
           s.cell_80k, s.cell_40k, s.cell_20k, s.cell_10k, s.cell_4k, s.cell_2k, s.cell_1k
    FROM baselines_sample s JOIN baselines_survey v ON v.id = s.survey_id
    WHERE TRUE {country}
),
cells AS (  -- per cell and country
    SELECT size, code, country_id, min(year) AS first_year, (size / 1000.0)::float8 ^ 2 AS area,
           min(cell_80k) AS c80, min(cell_40k) AS c40, min(cell_20k) AS c20,
           min(cell_10k) AS c10, min(cell_4k) AS c4, min(cell_2k) AS c2, min(cell_1k) AS c1
    FROM items GROUP BY size, code, country_id
),
up AS (  -- each cell's containing coarser cells
    SELECT c.size, c.code, c.country_id, a.size AS up_size, a.code AS up_code
    FROM cells c CROSS JOIN LATERAL (VALUES (80000, c.c80), (40000, c.c40), (20000, c.c20),
        (10000, c.c10), (4000, c.c4), (2000, c.c2), (1000, c.c1)) a(size, code)
    WHERE a.size > c.size AND a.size %% c.size = 0
),
network AS (
    SELECT size, code, min(first_year) AS first_year, min(area) AS area FROM cells
    GROUP BY size, code
),
network_up AS (  -- per cell: whether a containing cell was sampled, and first when
    SELECT n.size, n.code, n.first_year, n.area, count(p.size) > 0 AS covered,
           min(p.first_year) AS up_year
    FROM network n
    LEFT JOIN (SELECT DISTINCT size, code, up_size, up_code FROM up) u
           ON u.size = n.size AND u.code = n.code
    LEFT JOIN network p ON p.size = u.up_size AND p.code = u.up_code
    GROUP BY n.size, n.code, n.first_year, n.area
),
country_covered AS (
    SELECT DISTINCT u.size, u.code, u.country_id FROM up u
    JOIN cells p ON p.country_id = u.country_id AND p.size = u.up_size AND p.code = u.up_code
),
events AS (
    SELECT first_year AS year, area AS delta FROM network_up
    WHERE first_year IS NOT NULL AND (up_year IS NULL OR up_year > first_year)
    UNION ALL
    SELECT up_year, -area FROM network_up
    WHERE first_year IS NOT NULL AND up_year > first_year
),
by_year AS (SELECT year, sum(delta) AS delta FROM events GROUP BY year)
SELECT 'scale', 80000, count(DISTINCT cell_80k)::float8 FROM baselines_sample s WHERE TRUE {country}
UNION ALL SELECT 'scale', 40000, count(DISTINCT cell_40k) FROM baselines_sample s
    WHERE TRUE {country}
UNION ALL SELECT 'scale', 20000, count(DISTINCT cell_20k) FROM baselines_sample s
    WHERE TRUE {country}
UNION ALL SELECT 'scale', 10000, count(DISTINCT cell_10k) FROM baselines_sample s
    WHERE TRUE {country}
UNION ALL SELECT 'scale', 4000, count(DISTINCT cell_4k) FROM baselines_sample s
    WHERE TRUE {country}
UNION ALL SELECT 'scale', 2000, count(DISTINCT cell_2k) FROM baselines_sample s
    WHERE TRUE {country}
UNION ALL SELECT 'scale', 1000, count(DISTINCT cell_1k) FROM baselines_sample s
    WHERE TRUE {country}
UNION ALL SELECT 'scale', 500, count(DISTINCT cell_500m) FROM baselines_sample s
    WHERE TRUE {country}
UNION ALL SELECT 'network', 0, coalesce(sum(area) FILTER (WHERE NOT covered), 0) FROM network_up
UNION ALL SELECT 'country', c.country_id, sum(c.area) FROM cells c
    WHERE NOT EXISTS (SELECT FROM country_covered k
                      WHERE k.size = c.size AND k.code = c.code AND k.country_id = c.country_id)
    GROUP BY c.country_id
UNION ALL SELECT 'year', y.year, coalesce(sum(b.delta), 0)
    FROM (SELECT DISTINCT year FROM items WHERE year IS NOT NULL) y
    LEFT JOIN by_year b ON b.year <= y.year GROUP BY y.year
UNION ALL SELECT DISTINCT 'survey', survey_id, 0 FROM items
"""

# Exceedance: every preferred measurement of the standard's elements, its sample's pH band and
# land use (pH from the "ph" attribute when it reads as a number, else unknown; land use from
# "land_use" when the standard names it, else "other"), and the limits that apply: the land use's
# own rows, else "other"'s; for an unknown pH the strictest band's screening and intervention.
EXCEEDANCE_SQL = r"""
WITH lim AS (
    SELECT l.element_id, l.land_use, l.ph_above, l.ph_up_to, l.screening, l.intervention
    FROM dashboards_standardlimit l JOIN dashboards_soilstandard st ON st.id = l.standard_id
    WHERE st.code = %(standard)s
),
uses AS (SELECT land_use FROM lim UNION SELECT 'other'),
applies AS (
    SELECT e.element_id, u.land_use,
           CASE WHEN EXISTS (SELECT FROM lim x
                             WHERE x.element_id = e.element_id AND x.land_use = u.land_use)
                THEN u.land_use ELSE 'other' END AS source
    FROM (SELECT DISTINCT element_id FROM lim) e CROSS JOIN uses u
),
bands AS (
    SELECT a.element_id, a.land_use, true AS known, l.ph_above, l.ph_up_to, l.screening,
           l.intervention
    FROM applies a JOIN lim l ON l.element_id = a.element_id AND l.land_use = a.source
    UNION ALL
    SELECT a.element_id, a.land_use, false, NULL, NULL, min(l.screening), min(l.intervention)
    FROM applies a JOIN lim l ON l.element_id = a.element_id AND l.land_use = a.source
    GROUP BY a.element_id, a.land_use
),
samples AS MATERIALIZED (  -- pH and land use read once per sample, not per band tried
    SELECT s.id, s.country_id, s.survey_id,
           CASE WHEN s.attributes ->> 'ph' ~ '^\s*[0-9]+(\.[0-9]*)?\s*$'
                THEN (s.attributes ->> 'ph')::float8 END AS ph,
           CASE WHEN s.attributes ->> 'land_use' IN (SELECT land_use FROM uses)
                THEN s.attributes ->> 'land_use' ELSE 'other' END AS land_use
    FROM baselines_sample s WHERE TRUE {country}
),
r AS (
    SELECT m.sample_id, m.element_id, m.value, m.censored, m.detection_limit, s.country_id,
           s.survey_id, s.ph, s.land_use
    FROM baselines_measurement m
    JOIN baselines_analyte a ON a.id = m.analyte_id
    JOIN samples s ON s.id = m.sample_id
    WHERE a.preferred AND m.element_id IN (SELECT element_id FROM lim)
),
m AS (
    SELECT r.*, b.screening, b.intervention,
           CASE WHEN NOT r.censored THEN r.value / b.screening END AS ratio
    FROM r JOIN bands b ON b.element_id = r.element_id AND b.land_use = r.land_use
     AND b.known = (r.ph IS NOT NULL)
     AND (r.ph IS NULL OR ((b.ph_above IS NULL OR r.ph > b.ph_above)
                           AND (b.ph_up_to IS NULL OR r.ph <= b.ph_up_to)))
)
SELECT 'e', element_id, land_use, country_id, survey_id, count(*),
       count(*) FILTER (WHERE ph IS NULL),
       count(*) FILTER (WHERE ratio > 1),
       count(*) FILTER (WHERE NOT censored AND value > intervention),
       count(*) FILTER (WHERE ratio > 1 AND ratio <= 2),
       count(*) FILTER (WHERE ratio > 2 AND ratio <= 3),
       count(*) FILTER (WHERE ratio > 3 AND ratio <= 5),
       count(*) FILTER (WHERE ratio > 5),
       count(*) FILTER (WHERE censored AND detection_limit > screening)
FROM m GROUP BY element_id, land_use, country_id, survey_id
UNION ALL
SELECT 's', worst, NULL, NULL, NULL, count(*), count(*) FILTER (WHERE ph_unknown),
       0, 0, 0, 0, 0, 0, 0
FROM (SELECT sample_id, bool_or(ph IS NULL) AS ph_unknown,
             max(CASE WHEN NOT censored AND value > intervention THEN 2
                      WHEN ratio > 1 THEN 1 ELSE 0 END) AS worst
      FROM m GROUP BY sample_id) w
GROUP BY worst
"""

# Monitoring change: the element's preferred values in the two rounds (censored at DL × ½), sites
# paired by country, site code and medium (a site's values in one round averaged), the relative
# change where the first round's value is positive; the sites changing by more than the threshold
# with their points (staff see exact points).
MONITORING_SQL = """
WITH r AS (
    SELECT s.id AS sample_id, s.country_id, s.site_code, v.medium_id, s.survey_id,
           v.monitoring_round AS round,
           CASE WHEN m.censored THEN m.detection_limit * %(half)s ELSE m.value END AS stat
    FROM baselines_measurement m
    JOIN baselines_analyte a ON a.id = m.analyte_id
    JOIN baselines_sample s ON s.id = m.sample_id
    JOIN baselines_survey v ON v.id = s.survey_id
    WHERE a.preferred AND m.element_id = %(element)s
      AND v.monitoring_round IN (%(first)s, %(second)s) {country}
),
ok AS (
    SELECT * FROM r
    WHERE stat IS NOT NULL AND stat = stat AND stat NOT IN ('Infinity', '-Infinity')
),
sites AS (
    SELECT country_id, site_code, avg(stat) FILTER (WHERE round = %(first)s) AS before,
           avg(stat) FILTER (WHERE round = %(second)s) AS after, max(sample_id) AS sample_id
    FROM ok GROUP BY country_id, site_code, medium_id
    HAVING bool_or(round = %(first)s) AND bool_or(round = %(second)s)
),
ch AS (
    SELECT country_id, site_code, sample_id, 100 * (after - before) / before AS change
    FROM sites WHERE before > 0
)
SELECT json_build_object(
    'n', (SELECT count(*) FROM ch),
    'increase', (SELECT count(*) FROM ch WHERE change > %(threshold)s),
    'decrease', (SELECT count(*) FROM ch WHERE change < -%(threshold)s),
    'percentiles', (SELECT percentile_cont(ARRAY[0.05, 0.25, 0.5, 0.75, 0.95])
                    WITHIN GROUP (ORDER BY change) FROM ch),
    'histogram', (SELECT json_object_agg(bin, k) FROM (
                    SELECT width_bucket(change, %(edges)s::float8[]) AS bin, count(*) AS k
                    FROM ch GROUP BY 1) h),
    'changed', (SELECT json_agg(json_build_array(c.site_code, ST_X(s.geom), ST_Y(s.geom),
                                                 c.change))
                FROM ch c JOIN baselines_sample s ON s.id = c.sample_id
                WHERE abs(c.change) > %(threshold)s),
    'countries', (SELECT json_agg(DISTINCT country_id) FROM ch),
    'surveys', (SELECT json_agg(DISTINCT survey_id) FROM ok)
)
"""

# Data volume: samples, measurements and elements per country and survey.
VOLUME_SQL = """
WITH per_element AS (
    SELECT s.country_id, s.survey_id, m.element_id, count(*) AS n
    FROM baselines_measurement m JOIN baselines_sample s ON s.id = m.sample_id
    WHERE TRUE {country}
    GROUP BY 1, 2, 3
)
SELECT 'm', country_id, survey_id, sum(n)::bigint, count(*) FROM per_element GROUP BY 2, 3
UNION ALL
SELECT 's', s.country_id, s.survey_id, count(*), 0 FROM baselines_sample s
WHERE TRUE {country} GROUP BY 2, 3
"""

# Element baselines: per element in the medium, its preferred values (censored at DL × ½).
BASELINES_SQL = """
WITH r AS (
    SELECT m.element_id, m.censored, s.country_id, s.survey_id,
           CASE WHEN m.censored THEN m.detection_limit * %(half)s ELSE m.value END AS stat
    FROM baselines_measurement m
    JOIN baselines_analyte a ON a.id = m.analyte_id
    JOIN baselines_sample s ON s.id = m.sample_id
    JOIN baselines_survey v ON v.id = s.survey_id
    WHERE a.preferred AND v.medium_id = %(medium)s {country}
),
ok AS (SELECT * FROM r WHERE stat IS NOT NULL AND stat = stat),
med AS (SELECT element_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY stat) AS m
        FROM ok GROUP BY element_id)
SELECT ok.element_id, count(*), count(*) FILTER (WHERE ok.censored),
       percentile_cont(%(fractions)s::float8[]) WITHIN GROUP (ORDER BY ok.stat),
       min(ok.stat), max(ok.stat), avg(ok.stat),
       CASE WHEN min(ok.stat) > 0 THEN exp(avg(ln(greatest(ok.stat, 1e-300)))) END,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(ok.stat - med.m)),
       array_agg(DISTINCT ok.country_id), array_agg(DISTINCT ok.survey_id)
FROM ok JOIN med USING (element_id)
GROUP BY ok.element_id
"""

PLAIN_SQL = {
    "coverage": COVERAGE_SQL,
    "exceedance": EXCEEDANCE_SQL,
    "monitoring_change": MONITORING_SQL,
    "data_volume": VOLUME_SQL,
    "element_baselines": BASELINES_SQL,
}


class World:
    """What the figures and the plain queries need, read once after django.setup()."""

    def __init__(self, country_code: str) -> None:
        from baselines import units
        from baselines.models import Country, Element, Medium, Survey
        from dashboards.models import SoilStandard
        from dashboards.regions import region_of

        self.standard = SoilStandard.objects.get(code=STANDARD)
        self.element = Element.objects.get(symbol=CHANGE_ELEMENT)
        self.medium = Medium.objects.get(code=MEDIUM)
        self.symbols = dict(Element.objects.values_list("pk", "symbol"))
        self.country_codes = {c.pk: c.code for c in Country.objects.all()}
        self.survey_slugs = dict(Survey.objects.values_list("pk", "slug"))
        self.half = units.CENSORED_SUBSTITUTE_FRACTION
        self.regions = {
            "world": region_of("world"),
            "country": region_of(f"country:{country_code}"),
        }
        self.country_pk = Country.objects.by_code(country_code).pk

    def call(self, figure: str, scope, region):
        from dashboards import selectors

        if figure == "coverage":
            return selectors.coverage(scope, region)
        if figure == "exceedance":
            return selectors.exceedance(scope, region, self.standard)
        if figure == "monitoring_change":
            return selectors.monitoring_change(scope, region, self.element, ROUNDS)
        if figure == "data_volume":
            return selectors.data_volume(scope, region)
        return selectors.element_baselines(scope, region, self.medium)

    def plain(self, figure: str, region_key: str) -> tuple[str, dict | None]:
        """The plain query of a figure in a region: (SQL, named parameters)."""
        where = "" if region_key == "world" else "AND s.country_id = %(country)s"
        sql = PLAIN_SQL[figure].format(country=where)
        params = {
            "country": self.country_pk,
            "standard": STANDARD,
            "half": self.half,
            "element": self.element.pk,
            "first": ROUNDS[0],
            "second": ROUNDS[1],
            "threshold": THRESHOLD,
            "edges": list(map(float, CHANGE_EDGES)),
            "medium": self.medium.pk,
            "fractions": [p / 100 for p in BASELINE_PERCENTILES],
        }
        if figure == "coverage" and region_key == "world":  # no parameter: % is itself
            return sql.replace("%%", "%"), None
        return sql, params

    # --- comparable forms: the plain query's rows and the selector's figure, side by side ---

    def fold(self, figure: str, rows: list[tuple]) -> dict:
        return getattr(self, f"_fold_{figure}")(rows)

    def digest(self, figure: str, fig) -> dict:
        return getattr(self, f"_digest_{figure}")(fig)

    def _fold_coverage(self, rows) -> dict:
        out = {"scales": {}, "network": 0.0, "countries": {}, "years": {}, "surveys": set(),
               "country_ids": set()}  # fmt: skip
        for kind, key, value in rows:
            if kind == "scale":
                out["scales"][key / 1000] = int(value)
            elif kind == "network":
                out["network"] = float(value)
            elif kind == "country":
                out["countries"][self.country_codes[key]] = float(value)
                out["country_ids"].add(key)
            elif kind == "year":
                out["years"][key] = float(value)
            else:
                out["surveys"].add(key)
        return out

    def _digest_coverage(self, fig) -> dict:
        d = fig.data
        return {
            "scales": {s["scale_km"]: s["cells"] for s in d["scales"]},
            "network": d["network"]["area_km2"],
            "countries": {c["country"]: c["area_km2"] for c in d["countries"]},
            "years": {y["year"]: y["area_km2"] for y in d["years"]},
            "surveys": set(fig.surveys),
            "country_ids": set(fig.countries),
        }

    def _fold_exceedance(self, rows) -> dict:
        elements: dict = {}
        samples = {"n": 0, "ph_unknown": 0, "classes": [0, 0, 0]}
        countries, surveys = set(), set()
        for kind, key, land_use, country, survey, *counts in rows:
            if kind == "e":
                symbol = self.symbols[key]
                e = elements.setdefault(
                    symbol, {k: 0 for k in ELEMENT_COUNTS} | {"land_use": defaultdict(int)}
                )
                for name, count in zip(ELEMENT_COUNTS, counts, strict=True):
                    e[name] += count
                e["land_use"][(land_use, "n")] += counts[0]
                e["land_use"][(land_use, "above_screening")] += counts[2]
                countries.add(country)
                surveys.add(survey)
            else:
                samples["n"] += counts[0]
                samples["ph_unknown"] += counts[1]
                samples["classes"][key] += counts[0]
        for e in elements.values():
            e["land_use"] = dict(e["land_use"])
        return {"elements": elements, "samples": samples, "countries": countries,
                "surveys": surveys}  # fmt: skip

    def _digest_exceedance(self, fig) -> dict:
        elements = {}
        for e in fig.data["elements"]:
            land_use = {}
            for lu, c in e["land_use"].items():
                land_use[(lu, "n")] = c["n"]
                land_use[(lu, "above_screening")] = c["above_screening"]
            elements[e["element"]] = {k: e[k] for k in ELEMENT_COUNTS} | {"land_use": land_use}
        s = fig.data["samples"]
        classes = [s["priority_protection"], s["safe_use"], s["strict_control"]]
        return {
            "elements": elements,
            "samples": {"n": s["n"], "ph_unknown": s["ph_unknown"], "classes": classes},
            "countries": set(fig.countries),
            "surveys": set(fig.surveys),
        }

    def _fold_monitoring_change(self, rows) -> dict:
        doc = rows[0][0]
        counts = [0] * len(CHANGE_EDGES)
        for bucket, k in (doc["histogram"] or {}).items():
            counts[int(bucket) - 1] += k  # width_bucket: 1 … 11; 0 (below -100 %) cannot occur
        changed = sorted(
            (site, round(lon, 6), round(lat, 6), round(change, 1))
            for site, lon, lat, change in doc["changed"] or []
        )
        return {
            "sites": doc["n"],
            "percent_increase": share(doc["increase"], doc["n"]),
            "percent_decrease": share(doc["decrease"], doc["n"]),
            "percentiles": doc["percentiles"],
            "histogram": counts,
            "changed": changed,
            "countries": set(doc["countries"] or []),
            "surveys": set(doc["surveys"] or []),
        }

    def _digest_monitoring_change(self, fig) -> dict:
        d = fig.data
        p = d["percentiles"]
        return {
            "sites": d["sites"],
            "percent_increase": d["percent_increase"],
            "percent_decrease": d["percent_decrease"],
            "percentiles": [p[k] for k in ("p5", "p25", "median", "p75", "p95")] if p else None,
            "histogram": d["histogram"]["counts"],
            "changed": sorted(
                (c["site"], c["lon"], c["lat"], c["change_percent"]) for c in d["changed_sites"]
            ),
            "countries": set(fig.countries),
            "surveys": set(fig.surveys),
        }

    def _fold_data_volume(self, rows) -> dict:
        table: dict = defaultdict(lambda: [0, 0, 0])
        for kind, country, survey, n, elements in rows:
            key = (self.country_codes[country], self.survey_slugs[survey])
            if kind == "s":
                table[key][0] = n
            else:
                table[key][1], table[key][2] = n, elements
        return {"rows": {k: tuple(v) for k, v in table.items()}}

    def _digest_data_volume(self, fig) -> dict:
        return {
            "rows": {
                (r["country"], r["survey"]): (r["samples"], r["measurements"], r["elements"])
                for r in fig.data["rows"]
            }
        }

    def _fold_element_baselines(self, rows) -> dict:
        from baselines import units

        out = {}
        countries, surveys = set(), set()
        for element_id, n, censored, pcts, low, high, mean, gmean, mad, cs, ss in rows:
            symbol = self.symbols[element_id]

            def shown(v, symbol=symbol):
                return None if v is None else float(units.to_display(v, symbol))

            out[symbol] = {
                "n": n, "censored": censored,
                **{f"p{p}": shown(v) for p, v in zip(BASELINE_PERCENTILES, pcts, strict=True)},
                "min": shown(low), "max": shown(high), "mean": shown(mean),
                "geometric_mean": shown(gmean), "mad": shown(mad),
            }  # fmt: skip
            countries.update(cs)
            surveys.update(ss)
        return {"elements": out, "countries": countries, "surveys": surveys}

    def _digest_element_baselines(self, fig) -> dict:
        keys = ("n", "censored", *(f"p{p}" for p in BASELINE_PERCENTILES), "min", "max", "mean",
                "geometric_mean", "mad")  # fmt: skip
        return {
            "elements": {e["element"]: {k: e[k] for k in keys} for e in fig.data["elements"]},
            "countries": set(fig.countries),
            "surveys": set(fig.surveys),
        }


def share(count: int, n: int) -> float | None:
    """A percentage as dashboards print it: 2 decimals, none below DASHBOARD_MIN_SAMPLES."""
    from django.conf import settings

    return round(100 * count / n, 2) if n >= settings.DASHBOARD_MIN_SAMPLES else None


def differences(a, b, path: str = "") -> list[str]:
    """Where two comparable forms differ (floats to 1e-9 relative)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=repr):
            if key not in a or key not in b:
                out.append(f"{path}/{key}: only in {'plain' if key in a else 'selector'}")
            else:
                out += differences(a[key], b[key], f"{path}/{key}")
        return out
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items in plain, {len(b)} in the selector's"]
        out = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out += differences(x, y, f"{path}[{i}]")
        return out
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None or not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9):
            return [f"{path}: plain {a!r} ≠ selector {b!r}"]
        return []
    return [] if a == b else [f"{path}: plain {_short(a)} ≠ selector {_short(b)}"]


def _short(value) -> str:
    text = repr(sorted(value) if isinstance(value, set) else value)
    return text if len(text) < 200 else text[:200] + "…"


# --- timing --------------------------------------------------------------------------------------


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def run_timings(args, world: World, scopes: dict, raw) -> dict:
    from django.core.cache import cache

    def plain(figure: str, region_key: str) -> dict:
        sql, params = world.plain(figure, region_key)
        with raw.cursor() as cursor:
            cursor.execute(sql, params)
            return world.fold(figure, cursor.fetchall())

    results: dict = {}
    steps = len(world.regions) * len(FIGURES) * (args.repeat + 1)
    bar = tqdm(total=steps, desc="timing (a warm-up run, then interleaved runs)", unit="run")
    for region_key, region in world.regions.items():
        for figure in FIGURES:
            r = {"cold": defaultdict(list), "cached": defaultdict(list), "plain": [], "first": {}}
            load_before = os.getloadavg()[0]
            runs = args.repeat
            run = 0
            while run <= runs:  # run 0 is the warm-up
                run_started = time.perf_counter()
                order = list(SCOPES) + ["plain"]
                if run % 2:
                    order.reverse()
                for who in order:
                    if who == "plain":
                        seconds, answer = timed(lambda f=figure, k=region_key: plain(f, k))
                        r["plain_answer"] = answer
                        r["plain"].append(seconds)
                        continue

                    def call(w=who, f=figure, g=region):
                        return world.call(f, scopes[w], g)

                    cache.clear()
                    cold, fig = timed(call)
                    cached, again = timed(call)
                    if again.data != fig.data:
                        raise SystemExit(f"{figure} {region_key} {who}: cached figure differs")
                    r.setdefault("figures", {})[who] = fig
                    r["cold"][who].append(cold)
                    r["cached"][who].append(cached)
                if not run:
                    # A slow figure gets fewer runs within its budget; one slower than the whole
                    # budget is timed by its warm-up run alone (it misses its target anyway).
                    spent = time.perf_counter() - run_started
                    runs = min(args.repeat, int(args.budget // spent))
                    bar.total -= args.repeat - runs
                    if runs:  # the warm-up run is not timed
                        r["first"] = {w: v.pop() for w, v in r["cold"].items()}
                        r["first"]["plain"] = r["plain"].pop()
                        r["cached"] = defaultdict(list)
                bar.update()
                run += 1
            r["runs"] = runs
            r["load"] = (load_before, os.getloadavg()[0])
            results[(figure, region_key)] = r
    bar.close()
    return results


def insight(world: World, scopes: dict, raw) -> dict:
    """Each figure once more cold (anonymous) with its SQL captured; EXPLAIN (ANALYZE, BUFFERS)
    of the slowest statement (world) and of the plain queries (world) to PLANS_FILE."""
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    found: dict = {}
    OUT.mkdir(parents=True, exist_ok=True)
    with PLANS_FILE.open("w", encoding="utf-8") as out:
        out.write(f"# EXPLAIN (ANALYZE, BUFFERS), warm — {command_line()}\n")
        out.write(f"# {time.strftime('%Y-%m-%d %H:%M')}, git {git_revision()}\n\n")
        for region_key, region in world.regions.items():
            for figure in tqdm(FIGURES, desc=f"insight ({region_key})", leave=False):
                cache.clear()
                with CaptureQueriesContext(connection) as captured:
                    seconds, _ = timed(
                        lambda f=figure, g=region: world.call(f, scopes["anonymous"], g)
                    )
                queries = [(float(q["time"]), q["sql"]) for q in captured.captured_queries]
                slowest = max(queries)
                entry = {
                    "seconds": seconds,
                    "queries": len(queries),
                    "sql_seconds": sum(t for t, _ in queries),
                    "slowest": slowest[0],
                }
                if region_key == "world":
                    with connection.cursor() as cursor:
                        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest[1])
                        plan = "\n".join(row[0] for row in cursor.fetchall())
                        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + slowest[1])
                        entry["top"] = top_nodes(cursor.fetchone()[0])
                    out.write(
                        f"=== {figure}, world, anonymous: slowest of {len(queries)} statements "
                        f"({slowest[0] * 1000:.0f} ms of {seconds * 1000:.0f} ms) ===\n\n"
                        f"{slowest[1]}\n\n{plan}\n\n"
                    )
                    sql, params = world.plain(figure, "world")
                    with raw.cursor() as cursor:
                        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                        plan = "\n".join(row[0] for row in cursor.fetchall())
                        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
                        entry["plain_top"] = top_nodes(cursor.fetchone()[0])
                    out.write(f"=== {figure}, world: the plain query ===\n\n{sql}\n")
                    out.write(f"-- params: {params!r}\n\n{plan}\n\n")
                found[(figure, region_key)] = entry
    return found


def top_nodes(document, k: int = 3) -> list[tuple[float, str]]:
    """The plan nodes with most time of their own (their time × loops minus their children's),
    as (ms, description); parallel workers' times add up, so these can exceed the wall time."""
    if isinstance(document, str):
        document = json.loads(document)
    nodes: list[tuple[float, str]] = []

    def walk(node) -> float:
        total = node.get("Actual Total Time", 0.0) * node.get("Actual Loops", 1)
        children = sum(walk(child) for child in node.get("Plans", []))
        what = node["Node Type"]
        for field in ("Relation Name", "Index Name", "CTE Name", "Strategy"):
            if field in node:
                what += f" {node[field]}"
        what += f" ({node.get('Actual Rows', 0) * node.get('Actual Loops', 1):,} rows)"
        nodes.append((max(total - children, 0.0), what))
        return total

    walk(document[0]["Plan"])
    return sorted(nodes, reverse=True)[:k]


# --- the benchmark -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--samples", type=int, default=1_000_000, help="samples of the world, both rounds")
    add("--seed", type=int, default=20240601, help="random seed of the world")
    add("--database", default="chemearth_dashboards_bench", help="benchmark database (re-created)")
    add("--redis-db", type=int, default=13, help="Redis database of the cache (flushed; 13)")
    add("--repeat", type=int, default=3, help="timed runs of each figure (default 3)")
    add(
        "--budget",
        type=float,
        default=240,
        help="seconds of timed runs per figure and region: a figure whose warm-up run took "
        "longer than budget / repeat gets fewer runs; longer than budget, none: its warm-up "
        "run is its figure (default 240)",
    )
    add("--country", default="CHN", help="the country region (ISO3; default CHN)")
    add("--keep", action="store_true", help="keep the database")
    add("--reuse", action="store_true", help="time a database kept with --keep (no build)")
    args = parser.parse_args()
    name = args.database.lower()
    if name in PROTECTED_DATABASES | OTHER_BENCHMARKS or name.startswith("test_chemearth"):
        parser.error(f"--database {args.database!r} is not this benchmark's database")
    if args.redis_db == 0:
        parser.error("--redis-db 0 is the site's cache; the benchmark flushes its database")
    if args.samples < 10_000 or args.repeat < 1:
        parser.error("--samples must be at least 10000 and --repeat at least 1")

    cmd = command_line()
    print(f"command: {cmd}")
    print("world: synthetic (benchmarks/access.py's generator, seeded), not survey data")
    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
    os.environ.update(deployment_env(args.database))  # its own cache keys beside the demo's
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "chemearth.settings",
            "DJANGO_DEBUG": "0",  # no query log: time what production runs
            "REDIS_URL": redis_url,
            "CACHE_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "CELERY_RESULT_BACKEND": redis_url,
            "TILE_ROOT": str(OUT / "dashboards-tiles"),  # nothing is rendered
        }
    )
    sys.path.insert(0, str(ROOT))
    import psycopg
    import redis

    lock = psycopg.connect(dsn("postgres"), autocommit=True)
    key = zlib.crc32(f"chemearth benchmark {args.database}".encode()) - 2**31
    if not lock.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()[0]:
        lock.close()
        raise SystemExit(f"another benchmark run is using database {args.database}")
    store = redis.Redis.from_url(redis_url)
    store.flushdb()
    failed = True
    try:
        failed = bench(args, cmd)
    finally:
        store.flushdb()
        if "django.db" in sys.modules:
            from django.db import connections

            connections.close_all()
        if args.keep or args.reuse:
            print(f"(kept database {args.database}; --reuse times it again)")
        else:
            drop_database(args.database)
            print(f"(database {args.database} dropped, Redis {redis_url} flushed; --keep keeps)")
        lock.close()
    if failed:
        raise SystemExit("a check failed (MISMATCH above)")


def bench(args, cmd: str) -> bool:
    import psycopg
    import psycopg.sql

    started = time.perf_counter()
    timings: dict[str, float] = {}
    marker = MARKER.format(samples=args.samples, seed=args.seed)
    if args.reuse:
        if not database_exists(args.database):
            raise SystemExit(f"--reuse: no database {args.database} (run with --keep first)")
        with psycopg.connect(dsn(args.database)) as conn:
            comment = conn.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                "WHERE datname = current_database()"
            ).fetchone()[0]
        if comment != marker:
            raise SystemExit(f"--reuse: {args.database} is not a complete world of {marker!r}")
    else:
        with access.step(f"re-creating database {args.database}", timings):
            recreate_database(args.database)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import AnonymousUser
    from django.core.management import call_command
    from django.db import connection

    from baselines.models import Measurement, Sample, Survey
    from sharing.access import viewer_scope
    from sharing.models import Agreement
    from sharing.services import licence_accept

    build_seconds = 0.0
    if not args.reuse:
        with access.step("migrate (elements, countries, GB 15618-2018)", timings):
            call_command("migrate", verbosity=0, interactive=False)
        t = time.perf_counter()
        access.build_world(
            args.samples, args.seed, timings, False,
            second_rounds=SECOND_ROUNDS, soil_attributes=True, progress=True,
        )  # fmt: skip
        partner = get_user_model().objects.get(username=access.PARTNER_USER)
        licence_accept(
            user=partner, agreement=Agreement.objects.get(organisation__slug="partnership")
        )
        get_user_model().objects.create_user(STAFF_USER, is_staff=True)
        build_seconds = time.perf_counter() - t
        with psycopg.connect(dsn(args.database), autocommit=True) as conn:
            conn.execute(
                psycopg.sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                    psycopg.sql.Identifier(args.database), psycopg.sql.Literal(marker)
                )
            )
    users = get_user_model().objects
    scopes = {
        "anonymous": viewer_scope(AnonymousUser()),
        "partner": viewer_scope(users.get(username=access.PARTNER_USER)),
        "staff": viewer_scope(users.get(username=STAFF_USER)),
    }
    world = World(args.country)
    samples, measurements = Sample.objects.count(), Measurement.objects.count()
    round_two = Sample.objects.filter(survey__monitoring_round=2).count()
    with_ph = Sample.objects.filter(attributes__has_key="ph").count()
    paddy = Sample.objects.filter(attributes__land_use="paddy").count()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT sum(pg_total_relation_size(relid)) "
            "FROM pg_partition_tree('baselines_measurement')), "
            "pg_total_relation_size('baselines_sample'), current_setting('server_version'), "
            "current_setting('shared_buffers'), current_setting('work_mem'), "
            "current_setting('max_parallel_workers_per_gather')"
        )
        m_size, s_size, version, shared_buffers, work_mem, workers = cursor.fetchone()

    with psycopg.connect(dsn(args.database), options="-c jit=off", autocommit=True) as raw:
        load_before = os.getloadavg()
        results = run_timings(args, world, scopes, raw)
        load_after = os.getloadavg()
        with access.step("checks: plain queries against the staff scope's figures"):
            mismatches = {}
            for (figure, region_key), r in results.items():
                plain = r["plain_answer"]
                selector = world.digest(figure, r["figures"]["staff"])
                mismatches[(figure, region_key)] = differences(plain, selector)
        found = insight(world, scopes, raw)

    print()
    print(f"Dashboards benchmark — {time.strftime('%Y-%m-%d %H:%M')}, git {git_revision()}")
    print(
        f"  machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, PostgreSQL "
        f"{version.split()[0]} (shared_buffers {shared_buffers}, work_mem {work_mem}, "
        f"{workers} parallel workers per gather; jit off on both timed connections)"
    )
    print(
        f"  world (synthetic): {samples:,} samples ({round_two:,} of them second-round), "
        f"{measurements:,} measurements, {Survey.objects.count()} surveys; {with_ph:,} samples "
        f"with a pH, {paddy:,} paddy; measurement table {m_size / 2**30:.2f} GiB, sample table "
        f"{s_size / 2**30:.2f} GiB"
        + (f"; built in {build_seconds:.0f} s" if build_seconds else " (reused)")
    )
    print(
        f"  regions: world, country:{args.country}; median of {args.repeat} interleaved runs "
        f"(fewer for a figure whose warm-up run took over {args.budget:.0f} s / {args.repeat}, "
        f"its warm-up run alone over {args.budget:.0f} s)"
        f"after a warm-up run; cold = cache.clear() first, PostgreSQL buffers and page cache "
        f"warm; load average {load_before[0]:.2f} → {load_after[0]:.2f}"
    )
    print(
        "  scopes: anonymous (public grants), partner (its agreement over DEU exact and POL, "
        "licence accepted), staff (everything, no gate); plain = hand-written SQL, no gate"
    )
    for who in ("anonymous", "partner"):
        print(f"  {who} grants: " + "; ".join(access.describe_grants(scopes[who].grants)))
    print()
    print(
        "| figure | region | scope | cold s | cached ms | staff cold s | plain s | gated / plain "
        "| gated / staff | cold ≤ 2 s | cached ≤ 100 ms | ≤ 1.3× | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    missed = []
    for (figure, region_key), r in results.items():
        plain_s = statistics.median(r["plain"])
        staff_s = statistics.median(r["cold"]["staff"])
        region_label = "world" if region_key == "world" else args.country
        for who in ("anonymous", "partner"):
            cold = statistics.median(r["cold"][who])
            cached = statistics.median(r["cached"][who]) * 1000
            ratio = cold / plain_s
            verdicts = (cold <= TARGET_COLD_S, cached <= TARGET_CACHED_MS, ratio <= TARGET_RATIO)
            for ok, what in zip(verdicts, ("cold", "cached", "ratio"), strict=True):
                if not ok:
                    missed.append((figure, region_label, who, what))
            runs = "–".join(f"{x:.2f}" for x in (min(r["cold"][who]), max(r["cold"][who])))
            runs = {0: "warm-up run only", 1: "1 run"}.get(r["runs"], f"{r['runs']} runs: {runs}")
            print(
                f"| {figure} | {region_label} | {who} | {cold:.2f} ({runs}) | {cached:.1f} | "
                f"{staff_s:.2f} | {plain_s:.2f} | **{ratio:.2f}×** | {cold / staff_s:.2f}× | "
                + " | ".join("met" if ok else "**missed**" for ok in verdicts)
                + f" | {r['load'][0]:.1f}–{r['load'][1]:.1f} |"
            )
    print()
    print("first (warm-up) calls, s: " + "; ".join(
        f"{figure}/{'world' if k == 'world' else args.country} "
        + ", ".join(f"{w} {v:.2f}" for w, v in r["first"].items())
        for (figure, k), r in results.items() if r["first"]
    ))  # fmt: skip
    print()
    print("insight: one more cold call each, anonymous, SQL captured")
    for (figure, region_key), e in found.items():
        line = (
            f"  {figure} {region_key}: {e['seconds']:.2f} s, {e['queries']} statements, SQL "
            f"{e['sql_seconds']:.2f} s ({100 * e['sql_seconds'] / e['seconds']:.0f} %), slowest "
            f"{e['slowest']:.2f} s"
        )
        print(line)
        for key, label in (("top", "slowest statement"), ("plain_top", "plain query")):
            if key in e:
                print(
                    f"    {label}, most time of their own: "
                    + "; ".join(f"{what} {ms:,.0f} ms" for ms, what in e[key])
                )
    print(f"  plans: {os.path.relpath(PLANS_FILE, ROOT)}")
    print()
    failed = False
    for (figure, region_key), diffs in mismatches.items():
        if diffs:
            failed = True
            print(f"!!! MISMATCH: {figure} {region_key}: plain query ≠ selector (staff scope):")
            for d in diffs[:20]:
                print(f"!!!   {d}")
            if len(diffs) > 20:
                print(f"!!!   … and {len(diffs) - 20} more")
        else:
            print(f"  check: {figure} {region_key}: plain query = selector (staff scope): ok")
    for region_key in world.regions:
        volume = {
            w: results[("data_volume", region_key)]["figures"][w].data["totals"] for w in SCOPES
        }
        print(
            f"  measurements visible ({region_key}): "
            + ", ".join(f"{w} {v['measurements']:,}" for w, v in volume.items())
        )
    print()
    print(
        f"targets: {3 * 2 * len(results) - len(missed)} of {3 * 2 * len(results)} met; missed: "
        + (", ".join("/".join(m) for m in missed) or "none")
    )
    if timings:
        print("set-up: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    print(f"total run time {time.perf_counter() - started:.0f} s")
    print()
    print(f"command: {cmd}")
    print(f"git: {git_revision()}; load average now {os.getloadavg()[0]:.2f}")
    return failed


if __name__ == "__main__":
    main()
