#!/usr/bin/env python
"""Access-gate benchmark: the cost of ``sharing.access`` on the researchers' main read.

    .venv/bin/python benchmarks/access.py --samples 1000000

Steps (see benchmarks/README.md):

1. Re-create its own database (default ``chemearth_access_bench``: DROP, CREATE, ``CREATE EXTENSION
   postgis``, ``migrate``, which loads the elements, media and Natural Earth countries) with
   ``DATABASE_URL`` pointing at it before ``django.setup()``, so no other database is touched.
2. Build a seeded synthetic world directly in SQL and with COPY (not through the CSV ingest):
   12 real countries, 40 surveys over them (national topsoil, stream sediment and subsoil surveys,
   dense regional topsoil surveys, two multi-country surveys), N samples as random points on each
   country's mainland (PostGIS ``ST_GeneratePoints`` on the country boundary), their 8 cell
   codes from ``baselines.grid.cell_codes``, and 10 elements per sample (one preferred analyte per
   survey × element; half of the topsoil surveys also report Cu by a second, non-preferred method),
   about 10 N measurements stored as ingest stores them: sample ids in nested cell order within
   each survey (``grid.nested_order``'s keys), each survey's rows element by element in one
   partition (``baselines.ingest.write.load_partition``, binary COPY built by
   ``measurement_copy_blocks``; surveys under ``INGEST_PARTITION_MIN_ROWS`` rows go to the
   default partition). Sample indexes are dropped for their load and re-created from their own
   definitions (checked identical), then VACUUM ANALYZE.
   Release policies that exercise every rule of the gate: countries fully public, one embargoed
   (with an early-opened survey), one without a policy, one with 2 confidential elements, one with
   public precision 20 km, one survey-level embargo, and a partner organisation whose agreement
   covers 2 countries, with one member.
3. Time, in the same process, "one element, one medium, all samples in a bbox" → (sample id, point,
   value), each fully evaluated with ``list()``: (a) without the gate, (b) through the gate for
   an anonymous viewer, (c) through the gate for the partner, and (d) ``viewer_scope()`` itself.
   Warm-up runs first, then ``--repeat`` runs of each, interleaved; the median is reported, with,
   for insight, the same SQL on a bare cursor (database + transfer, no ORM row conversion), with
   the server's JIT setting and with ``SET jit = off``. The EXPLAIN (ANALYZE, BUFFERS) plans of
   (a), (b), (c), and of (a), (b) without JIT, go to ``benchmarks/out/access-plans.txt``.
4. Print a summary table, the ratios gate / no gate (target ≤ 1.3×) and the exact command line.

The database is dropped at the end unless ``--keep``; ``--reuse`` runs the timings on a database
kept by an earlier run, without re-creating it. ``--file-order`` is an experiment: sample ids in
file order (random in space) instead of nested cell order.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import platform
import statistics
import sys
import time
from contextlib import contextmanager, nullcontext

import common
import numpy as np
from common import (  # noqa: E402  (benchmarks/ is the script's directory)
    ROOT,
    command_line,
    database_exists,
    database_url,
    drop_database,
    git_revision,
    recreate_database,
)

# The ingest benchmark's database too, so that the two can run side by side.
PROTECTED_DATABASES = common.PROTECTED_DATABASES | {"chemearth_bench"}
OUT = ROOT / "benchmarks" / "out"
PLANS_FILE = OUT / "access-plans.txt"
TARGET_RATIO = 1.3
NO_CACHE = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}

# --- the synthetic world -------------------------------------------------------------------------

# ISO3: (share of all samples, box around the mainland (west, south, east, north)). Points are
# generated inside the country's boundary ∩ this box, so overseas territories stay empty.
COUNTRIES: dict[str, tuple[float, tuple[float, float, float, float]]] = {
    "FRA": (0.14, (-5.0, 42.3, 8.3, 51.1)),
    "DEU": (0.12, (5.8, 47.2, 15.1, 55.1)),
    "BEL": (0.03, (2.5, 49.4, 6.5, 51.6)),
    "NLD": (0.03, (3.3, 50.7, 7.3, 53.6)),
    "CHE": (0.04, (5.9, 45.8, 10.5, 47.9)),
    "AUT": (0.04, (9.5, 46.3, 17.2, 49.1)),
    "CZE": (0.04, (12.0, 48.5, 18.9, 51.1)),
    "POL": (0.08, (14.1, 49.0, 24.2, 54.9)),
    "ITA": (0.08, (6.6, 36.6, 18.6, 47.1)),
    "ESP": (0.10, (-9.4, 36.0, 3.4, 43.8)),
    "GBR": (0.06, (-8.2, 49.9, 1.8, 58.7)),
    "CHN": (0.24, (73.5, 18.0, 135.1, 53.6)),
}
# Dense regional topsoil surveys: (region, box).
REGIONS = {
    "FRA": ("Grand Est", (4.8, 47.6, 8.2, 49.6)),
    "DEU": ("Baden-Württemberg", (7.5, 47.6, 10.5, 49.8)),
    "ESP": ("Andalucía", (-7.5, 36.2, -1.6, 38.7)),
    "ITA": ("Toscana", (9.7, 42.3, 12.4, 44.5)),
    "GBR": ("Midlands", (-3.2, 51.9, 0.2, 53.6)),
    "CHN": ("Hunan", (108.8, 24.6, 114.3, 30.1)),
}
SUBSOIL = ("FRA", "DEU", "ESP", "ITA", "POL", "GBR", "CHN", "AUT")
MULTI_TOPSOIL = ("FRA", "DEU", "BEL", "NLD", "CHE", "AUT", "CZE", "POL", "ITA", "ESP")
MULTI_SEDIMENT = ("FRA", "DEU", "BEL", "NLD", "AUT", "CZE", "POL", "GBR")
# Share of a country's samples per kind of survey (normalised over the kinds the country has).
SHARES = {
    "topsoil": 0.30, "sediment": 0.22, "subsoil": 0.13, "regional": 0.15,
    "multi-topsoil": 0.12, "multi-sediment": 0.08,
}  # fmt: skip
# (symbol, median mg/kg, log10 standard deviation, detection limit mg/kg)
ELEMENTS = (
    ("Cu", 20, 0.35, 2.0),
    ("Zn", 70, 0.25, 5.0),
    ("Pb", 25, 0.25, 2.0),
    ("As", 8, 0.35, 1.0),
    ("Ni", 25, 0.30, 2.0),
    ("Cr", 60, 0.30, 5.0),
    ("Co", 11, 0.25, 1.0),
    ("Cd", 0.15, 0.30, 0.05),
    ("Hg", 0.04, 0.35, 0.01),
    ("Mn", 600, 0.25, 10.0),
)
SECOND_CU_METHOD = "AR-ICPMS"  # a non-preferred second Cu analyte in every other topsoil survey

# The read that is timed: one element, one medium, all samples in a bbox (west, south, east, north):
# north-east France (about a quarter of it: Champagne, Lorraine, Alsace, Franche-Comté, with the
# dense Grand Est survey) and south-west Germany (Saarland, Palatinate, northern Baden), with
# slivers of Belgium and Switzerland.
ELEMENT, MEDIUM = "Cu", "topsoil"
BBOX = (2.0, 47.5, 9.0, 50.0)

PARTNER_ORG = "Rhine–Vistula Geological Partnership"
PARTNER_USER = "partner"

# Options of build_world for benchmarks/dashboards.py, off by default (the world of the other
# benchmarks is unchanged, draw for draw). A second monitoring round of a survey resamples this
# share of its sites: same site code, point and country, values = the first round's × a
# log-normal change (log10 drift per element, spread per site); drawn from generators of their own.
RESAMPLED_SHARE = 0.5
ROUND_DRIFT = {"Cd": 0.04, "Pb": -0.03}  # log10 per round: Cd up ~10 %, Pb down ~7 %
ROUND_SPREAD = 0.12
# Soil attributes as ingest stores extra columns (text): pH for 80 % of topsoil and subsoil
# samples (1 % of them "n.d."), land use for 85 % ("paddy" for 35 % of China's, 5 % elsewhere).
SOIL_MEDIA = ("topsoil", "subsoil")


def survey_plan() -> list[dict]:
    """The 40 surveys: name, kind, medium, scale, countries, region box (or None)."""
    plan = []
    for iso in COUNTRIES:
        plan.append(
            dict(
                name=f"{iso} national topsoil baseline",
                kind="topsoil",
                medium="topsoil",
                scale_km=10,
                countries=[iso],
                region=None,
            )
        )
        plan.append(
            dict(
                name=f"{iso} stream sediment survey",
                kind="sediment",
                medium="stream-sediment",
                scale_km=4,
                countries=[iso],
                region=None,
            )
        )
        if iso in SUBSOIL:
            plan.append(
                dict(
                    name=f"{iso} national subsoil baseline",
                    kind="subsoil",
                    medium="subsoil",
                    scale_km=20,
                    countries=[iso],
                    region=None,
                )
            )
        if iso in REGIONS:
            region, box = REGIONS[iso]
            plan.append(
                dict(
                    name=f"{iso} {region} topsoil survey",
                    kind="regional",
                    medium="topsoil",
                    scale_km=2,
                    countries=[iso],
                    region=box,
                )
            )
    plan.append(
        dict(
            name="Multi-country agricultural soil survey",
            kind="multi-topsoil",
            medium="topsoil",
            scale_km=40,
            countries=list(MULTI_TOPSOIL),
            region=None,
        )
    )
    plan.append(
        dict(
            name="Multi-country stream sediment atlas",
            kind="multi-sediment",
            medium="stream-sediment",
            scale_km=40,
            countries=list(MULTI_SEDIMENT),
            region=None,
        )
    )
    return plan


def allocation(samples: int, plan: list[dict]) -> list[tuple[int, str, int]]:
    """(survey index, country, number of samples) for every survey × country."""
    out = []
    for iso, (share, _) in COUNTRIES.items():
        total = round(samples * share)
        mine = [(i, s) for i, s in enumerate(plan) if iso in s["countries"]]
        weights = np.array([SHARES[s["kind"]] for _, s in mine])
        counts = np.floor(total * weights / weights.sum()).astype(int)
        counts[0] += total - counts.sum()
        out += [(i, iso, int(n)) for (i, _), n in zip(mine, counts, strict=True) if n > 0]
    return out


# --- database ------------------------------------------------------------------------------------


def schema_of(cursor, table: str) -> list[tuple[str, str]]:
    """Every index and constraint of a table, as (name, definition), for the round-trip check."""
    cursor.execute(
        """
        SELECT c.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x
        JOIN pg_class c ON c.oid = x.indexrelid WHERE x.indrelid = %s::regclass
        UNION ALL
        SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass
        ORDER BY 1, 2
        """,
        [table, table],
    )
    return cursor.fetchall()


@contextmanager
def bulk_load(cursor, table: str):
    """Drop a table's secondary indexes, unique constraints and foreign keys for a bulk load, and
    re-create them from their own definitions afterwards (the primary key and checks stay)."""
    before = schema_of(cursor, table)
    cursor.execute(
        """
        SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE conrelid = %s::regclass AND contype IN ('u', 'f') ORDER BY contype DESC, conname
        """,
        [table],
    )
    constraints = cursor.fetchall()  # unique ones first: a foreign key may need one back
    cursor.execute(
        """
        SELECT c.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x
        JOIN pg_class c ON c.oid = x.indexrelid
        WHERE x.indrelid = %s::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)
        """,
        [table],
    )
    indexes = cursor.fetchall()
    for name, _ in reversed(constraints):
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    yield
    cursor.execute("SET maintenance_work_mem = '1GB'")
    cursor.execute("SET max_parallel_maintenance_workers = 2")
    for _, definition in indexes:
        cursor.execute(definition)
    for name, definition in constraints:
        cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    cursor.execute("RESET maintenance_work_mem")
    cursor.execute("RESET max_parallel_maintenance_workers")
    after = schema_of(cursor, table)
    if after != before:
        raise SystemExit(f"{table}: indexes/constraints differ after the load:\n{before}\n{after}")


# --- building the world --------------------------------------------------------------------------


def build_world(
    samples: int,
    seed: int,
    timings: dict[str, float],
    file_order: bool,
    *,
    second_rounds: tuple[str, ...] = (),
    soil_attributes: bool = False,
    progress: bool = False,
) -> dict:
    """The world above in the current database. ``second_rounds``: names of surveys that get a
    second monitoring round (a survey "<name>, round 2", monitoring_round 2, RESAMPLED_SHARE of
    their sites; ``samples`` then counts both rounds). ``soil_attributes``: pH and land use in
    the attributes of topsoil and subsoil samples. ``progress``: tqdm bars for the long steps."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from tqdm import tqdm

    from baselines import grid, units
    from baselines.ingest import ColumnRows, measurement_copy_blocks
    from baselines.ingest.write import copy_rows, load_partition
    from baselines.models import Analyte, Country, Element, Measurement, Medium, Sample, Survey
    from sharing.models import (
        Agreement,
        Membership,
        Organisation,
        ReleasePolicy,
        SurveyEmbargo,
    )

    rng = np.random.default_rng(seed)
    plan = survey_plan()
    rounds_rng = np.random.default_rng(seed + 1)  # second rounds and attributes only
    unknown = set(second_rounds) - {spec["name"] for spec in plan}
    if unknown:
        raise SystemExit(f"second rounds of unknown surveys: {sorted(unknown)}")
    if second_rounds:  # the second rounds' samples count in ``samples`` (to within rounding)
        total = samples
        for _ in range(5):  # a fixed point: first rounds of ``samples`` + their second rounds
            firsts = sum(
                count
                for index, _, count in allocation(samples, plan)
                if plan[index]["name"] in second_rounds
            )
            samples = total - round(firsts * RESAMPLED_SHARE)
    countries = {iso: Country.objects.by_code(iso) for iso in COUNTRIES}
    media = {m.code: m for m in Medium.objects.all()}
    elements = {e.symbol: e for e in Element.objects.filter(symbol__in=[e[0] for e in ELEMENTS])}
    today = dt.datetime.now(dt.UTC).date()

    with step("surveys and analytes (ORM)", timings):
        surveys = []
        for n, spec in enumerate(plan):
            survey = Survey.objects.create(
                name=spec["name"],
                slug=f"bench-survey-{n + 1}",
                medium=media[spec["medium"]],
                scale_m=int(spec["scale_km"] * 1000),
                year=2000 + n % 20,
            )
            survey.countries.set([countries[iso] for iso in spec["countries"]])
            surveys.append(survey)
        analytes: dict[int, list[Analyte]] = {}  # survey index → analytes, in column order
        topsoil_count = 0
        for n, survey in enumerate(surveys):
            rows = [
                Analyte(
                    survey=survey,
                    element=elements[symbol],
                    method="XRF" if symbol != "Hg" else "CV-AAS",
                    reported_unit="mg/kg",
                    source_column=f"{symbol}_mg_kg",
                    detection_limit=dl,
                    preferred=True,
                )
                for symbol, _, _, dl in ELEMENTS
            ]
            if plan[n]["medium"] == "topsoil":
                topsoil_count += 1
                if topsoil_count % 2:
                    rows.insert(
                        1,
                        Analyte(
                            survey=survey,
                            element=elements["Cu"],
                            method=SECOND_CU_METHOD,
                            reported_unit="mg/kg",
                            source_column=f"Cu_{SECOND_CU_METHOD}_mg_kg",
                            detection_limit=0.5,
                            preferred=False,
                        ),
                    )
            analytes[n] = Analyte.objects.bulk_create(rows)
        # Second monitoring rounds: (index of the round-2 survey, index of its first round).
        rounds: list[tuple[int, int]] = []
        for name in second_rounds:
            first = next(i for i, spec in enumerate(plan) if spec["name"] == name)
            source, index = surveys[first], len(surveys)
            survey = Survey.objects.create(
                name=f"{name}, round 2",
                slug=f"bench-survey-{index + 1}",
                medium=source.medium,
                scale_m=source.scale_m,
                year=source.year + 5,
                monitoring_round=2,
            )
            survey.countries.set(source.countries.all())
            surveys.append(survey)
            analytes[index] = Analyte.objects.bulk_create(
                Analyte(
                    survey=survey,
                    element=a.element,
                    method=a.method,
                    reported_unit=a.reported_unit,
                    source_column=a.source_column,
                    detection_limit=a.detection_limit,
                    preferred=a.preferred,
                )
                for a in analytes[first]
            )
            rounds.append((index, first))

    # Points: random, uniform on each country's mainland (or the regional survey's box).
    with step("sample points (ST_GeneratePoints)", timings):
        parts: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        with connection.cursor() as cursor:
            for k, (index, iso, count) in enumerate(
                tqdm(allocation(samples, plan), desc="points", leave=False, disable=not progress)
            ):
                box = plan[index]["region"] or COUNTRIES[iso][1]
                got: list[np.ndarray] = []
                for attempt in range(5):  # ST_GeneratePoints may give one point more or less
                    missing = count - sum(len(g) for g in got)
                    if missing <= 0:
                        break
                    cursor.execute(
                        """
                        SELECT ST_X(d.geom), ST_Y(d.geom) FROM baselines_country c,
                        LATERAL ST_Dump(ST_GeneratePoints(
                            ST_Intersection(c.boundary, ST_MakeEnvelope(%s, %s, %s, %s, 4326)),
                            %s, %s
                        )) d WHERE c.id = %s
                        """,
                        [*box, missing, seed + 1000 * attempt + k, countries[iso].pk],
                    )
                    got.append(np.array(cursor.fetchall(), dtype="f8").reshape(-1, 2))
                xy = np.concatenate(got)[:count]
                if len(xy) != count:
                    raise SystemExit(f"{iso}: {len(xy)} points generated, {count} asked for")
                country = np.full(count, countries[iso].pk, dtype=np.int64)
                parts.setdefault(index, []).append((xy[:, 0], xy[:, 1], country))
        # Per survey: one file's rows, in the (random) order a survey file would list them.
        lon_parts, lat_parts, country_parts, survey_parts = [], [], [], []
        for index in sorted(parts):
            lon = np.concatenate([p[0] for p in parts[index]])
            lat = np.concatenate([p[1] for p in parts[index]])
            country = np.concatenate([p[2] for p in parts[index]])
            order = rng.permutation(len(lon))
            lon_parts.append(np.round(lon[order], 5))
            lat_parts.append(np.round(lat[order], 5))
            country_parts.append(country[order])
            survey_parts.append(np.full(len(lon), index, dtype=np.int64))
        lon, lat = np.concatenate(lon_parts), np.concatenate(lat_parts)
        country = np.concatenate(country_parts)
        survey_index = np.concatenate(survey_parts)
        n = len(lon)
        sample_ids = np.arange(1, n + 1, dtype=np.int64)

    with step("cell codes (grid.cell_codes)", timings):
        cells = grid.cell_codes(lon, lat)
        if not file_order:  # ids in nested cell order within each survey, as ingest numbers them
            order = np.lexsort(
                [np.asarray(cells[size], dtype=str) for size in sorted(cells)] + [survey_index]
            )
            lon, lat, country = lon[order], lat[order], country[order]
            cells = {size: codes[order] for size, codes in cells.items()}

    # Each sample's site is its own code, but a second round's (the first round's sample it
    # resamples: site_row, a row index); attributes "{}" unless soil_attributes.
    site_row: np.ndarray | None = None
    resampled: dict[int, np.ndarray] = {}  # round-2 index → rows within its first round
    attributes: list[str] | None = None
    if rounds or soil_attributes:
        with step("second monitoring rounds, soil attributes", timings):
            site_row = np.arange(n, dtype=np.int64)
            for index, first in rounds:
                rows_of_first = np.flatnonzero(survey_index == first)  # contiguous
                k = round(len(rows_of_first) * RESAMPLED_SHARE)
                chosen = np.sort(rounds_rng.choice(rows_of_first, k, replace=False))
                resampled[index] = chosen - rows_of_first[0]
                lon, lat = np.append(lon, lon[chosen]), np.append(lat, lat[chosen])
                country = np.append(country, country[chosen])
                cells = {size: np.append(codes, codes[chosen]) for size, codes in cells.items()}
                survey_index = np.append(survey_index, np.full(k, index, dtype=np.int64))
                site_row = np.append(site_row, chosen)
            n = len(lon)
            sample_ids = np.arange(1, n + 1, dtype=np.int64)
            if soil_attributes:
                attributes = soil_attribute_json(
                    rounds_rng, plan, rounds, survey_index, site_row, country,
                    countries["CHN"].pk,
                )  # fmt: skip

    with step(f"COPY {n:,} samples, re-create indexes", timings):
        survey_pk = np.array([s.pk for s in surveys], dtype=np.int64)[survey_index]
        table = Sample._meta.db_table
        columns = [
            "id",
            "survey_id",
            "code",
            "site_code",
            "geom",
            "country_id",
            "depth",
            "sampled_on",
            "attributes",
            *(grid.cell_field_name(s) for s in grid.SCALES_M),
        ]
        with transaction.atomic(), connection.cursor() as cursor:
            with bulk_load(cursor, table):
                sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
                with cursor.copy(sql) as copy:
                    for start in tqdm(
                        range(0, n, 100_000), desc="samples", leave=False, disable=not progress
                    ):
                        sl = slice(start, start + 100_000)
                        codes = [
                            f"S{s:03d}-{i:07d}"
                            for s, i in zip(
                                survey_index[sl].tolist(), sample_ids[sl].tolist(), strict=True
                            )
                        ]
                        sites = codes
                        if site_row is not None:  # a second round's site: its first round's code
                            rows_ = site_row[sl]
                            sites = [
                                f"S{s:03d}-{i + 1:07d}"
                                for s, i in zip(
                                    survey_index[rows_].tolist(), rows_.tolist(), strict=True
                                )
                            ]
                        rows = zip(
                            sample_ids[sl].tolist(),
                            survey_pk[sl].tolist(),
                            codes,
                            sites,
                            (
                                f"SRID=4326;POINT({x!r} {y!r})"
                                for x, y in zip(lon[sl].tolist(), lat[sl].tolist(), strict=True)
                            ),
                            country[sl].tolist(),
                            attributes[sl] if attributes else itertools.repeat("{}", len(codes)),
                            *(cells[s][sl].tolist() for s in grid.SCALES_M),
                            strict=True,
                        )
                        copy.write(
                            "".join(
                                f"{r[0]}\t{r[1]}\t{r[2]}\t{r[3]}\t{r[4]}\t{r[5]}\t\t\\N\t{r[6]}\t"
                                + "\t".join(r[7:])
                                + "\n"
                                for r in rows
                            )
                        )
            cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", [table, int(n)])
        del cells

    with step("measurements: a partition per survey, as ingest loads them", timings):
        table = Measurement._meta.db_table
        total = 0
        next_id = 1
        starts = np.searchsorted(survey_index, np.arange(len(surveys) + 1))
        first_of = {index: first for index, first in rounds}
        first_values: dict[int, dict[tuple, np.ndarray]] = {f: {} for f in first_of.values()}
        with transaction.atomic(), connection.cursor() as cursor:
            for index in tqdm(range(len(surveys)), desc="surveys", disable=not progress):
                ids = sample_ids[starts[index] : starts[index + 1]]
                m = len(ids)
                if not m:
                    continue
                columns = []
                # Element by element in element order, as ingest writes a file's columns.
                for analyte in sorted(analytes[index], key=lambda a: (a.element_id, a.pk)):
                    symbol = analyte.element.symbol
                    _, median, sd, dl = next(e for e in ELEMENTS if e[0] == symbol)
                    if not analyte.preferred:
                        median *= 0.8  # a partial extraction reads lower
                        dl = analyte.detection_limit
                    key = (analyte.element_id, analyte.method)
                    if index in first_of:  # a second round: the first round's values, changed
                        before = first_values[first_of[index]][key][resampled[index]]
                        change = ROUND_DRIFT.get(symbol, 0.0) + ROUND_SPREAD * (
                            rounds_rng.standard_normal(m)
                        )
                        value = np.round(before * 10.0**change, 4)
                    else:
                        value = np.round(
                            10.0 ** (np.log10(median) + sd * rng.standard_normal(m)), 4
                        )
                    if index in first_values:
                        first_values[index][key] = value
                    censored = value < dl
                    parsed = units.ParsedValues(
                        value=np.where(censored, np.nan, value),
                        censored=censored,
                        detection_limit=np.full(m, dl),
                        present=np.ones(m, dtype=bool),
                        invalid=np.zeros(m, dtype=bool),
                        above_range=np.zeros(m, dtype=bool),
                    )
                    columns.append(ColumnRows(analyte.pk, analyte.element_id, parsed, 1.0))
                rows = m * len(columns)
                blocks = measurement_copy_blocks(ids, columns, first_id=next_id)
                if rows >= settings.INGEST_PARTITION_MIN_ROWS:
                    load_partition(cursor, int(ids[0]), int(ids[-1]) + 1, blocks)
                else:
                    copy_rows(cursor, table, blocks)
                next_id += rows
                total += rows
            cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", [table, next_id])
        for s in surveys:
            s.data_version = 1
        Survey.objects.bulk_update(surveys, ["data_version"])

    with step("VACUUM ANALYZE", timings), connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {Sample._meta.db_table}")
        cursor.execute(f"VACUUM (ANALYZE) {Measurement._meta.db_table}")
        cursor.execute("ANALYZE")

    with step("release policies, embargoes, partner agreement (ORM)", timings):
        by_name = {s.name: s for s in surveys}
        future, past = today + dt.timedelta(days=365), today - dt.timedelta(days=30)
        public = ("FRA", "BEL", "NLD", "ESP", "CZE", "ITA", "CHN", "AUT", "CHE", "DEU")
        for iso in public:
            ReleasePolicy.objects.create(
                country=countries[iso],
                in_force=True,
                available_on=today - dt.timedelta(days=400),
                public_precision_m=20_000 if iso == "DEU" else None,
            )
        ReleasePolicy.objects.get(country=countries["CHE"]).confidential_elements.set(
            [elements["As"], elements["Hg"]]
        )
        ReleasePolicy.objects.create(  # embargoed, with public maps before release at 20 km
            country=countries["POL"],
            in_force=True,
            available_on=future,
            prerelease_scale_m=20_000,
            prerelease_min_samples=3,
        )
        # GBR: no policy (rule 1: publishes nothing).
        SurveyEmbargo.objects.create(  # a public country's survey still closed
            survey=by_name["AUT national topsoil baseline"],
            available_on=today + dt.timedelta(days=180),
            reason="awaiting the national report",
        )
        SurveyEmbargo.objects.create(  # an embargoed country's survey opened early
            survey=by_name["POL stream sediment survey"],
            available_on=past,
            reason="published",
        )
        organisation = Organisation.objects.create(name=PARTNER_ORG, slug="partnership")
        agreement = Agreement.objects.create(
            title="Data exchange 2024–2028",
            organisation=organisation,
            all_elements=True,
            valid_from=today - dt.timedelta(days=365),
            valid_to=today + dt.timedelta(days=1000),
            licence_text="For research within the partnership only.",
        )
        agreement.countries.set([countries["DEU"], countries["POL"]])
        partner = get_user_model().objects.create_user(PARTNER_USER, "partner@example.org")
        Membership.objects.create(organisation=organisation, user=partner)

    return {"samples": n, "measurements": total}


def soil_attribute_json(rng, plan, rounds, survey_index, site_row, country, china) -> list[str]:
    """Per sample, its attributes as JSON text: pH and land use for topsoil and subsoil samples
    (see SOIL_MEDIA); a second round's sample repeats its site's first-round attributes."""
    n = len(survey_index)
    medium = [spec["medium"] for spec in plan] + [plan[first]["medium"] for _, first in rounds]
    soil = np.isin(survey_index, [i for i, m in enumerate(medium) if m in SOIL_MEDIA])
    ph = np.round(np.clip(rng.normal(6.4, 1.1, n), 3.5, 9.5), 1)
    has_ph = soil & (rng.random(n) < 0.8)
    not_determined = has_ph & (rng.random(n) < 0.01)
    paddy = rng.random(n) < np.where(country == china, 0.35, 0.05)
    has_land_use = soil & (rng.random(n) < 0.85)
    # Second rounds: the site's first-round attributes.
    ph, has_ph, not_determined = ph[site_row], has_ph[site_row], not_determined[site_row]
    paddy, has_land_use = paddy[site_row], has_land_use[site_row]
    out = []
    for p, known, nd, is_paddy, known_use in zip(
        ph.tolist(), has_ph.tolist(), not_determined.tolist(), paddy.tolist(),
        has_land_use.tolist(), strict=True,
    ):  # fmt: skip
        items = []
        if known:
            items.append(f'"ph": "{"n.d." if nd else p}"')
        if known_use:
            items.append(f'"land_use": "{"paddy" if is_paddy else "other"}"')
        out.append("{" + ", ".join(items) + "}")
    return out


# --- timing --------------------------------------------------------------------------------------


@contextmanager
def step(label: str, timings: dict[str, float] | None = None):
    print(f"… {label}", end="", flush=True)
    started = time.perf_counter()
    yield
    seconds = time.perf_counter() - started
    if timings is not None:
        timings[label] = seconds
    print(f" {seconds:.1f} s", flush=True)


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def run_timings(args) -> dict:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import AnonymousUser
    from django.contrib.gis.geos import Polygon
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, override_settings

    from baselines import grid
    from baselines.models import Element, Measurement, Medium, Sample
    from sharing.access import (
        viewer_scope,
        visible_measurements,  # after django.setup()
        within_bbox,
    )

    element = Element.objects.get(symbol=ELEMENT)
    medium = Medium.objects.get(code=MEDIUM)
    partner = get_user_model().objects.get(username=PARTNER_USER)
    anonymous = AnonymousUser()
    fields = ("sample_id", "sample__geom", "value")

    def base():
        return Measurement.objects.filter(
            element=element, analyte__preferred=True, sample__survey__medium=medium
        )

    def ungated(bbox=BBOX):
        return Measurement.objects.filter(
            element=element,
            analyte__preferred=True,
            sample__survey__medium=medium,
            sample__geom__bboverlaps=Polygon.from_bbox(bbox),
        ).values_list(*fields)

    def gated(scope):
        visible = visible_measurements(scope).filter(
            element=element, analyte__preferred=True, sample__survey__medium=medium
        )
        return within_bbox(scope, visible, BBOX, prefix="sample__").values_list(*fields)

    scope_anon = viewer_scope(anonymous)
    scope_partner = viewer_scope(partner)
    queries = {
        "a": ("(a) no gate", lambda: list(ungated())),
        "b": ("(b) gate, anonymous", lambda: list(gated(scope_anon))),
        "c": ("(c) gate, partner", lambda: list(gated(scope_partner))),
    }
    querysets = {"a": ungated(), "b": gated(scope_anon), "c": gated(scope_partner)}
    compiled = {k: qs.query.sql_with_params() for k, qs in querysets.items()}

    def sql_only(key):
        sql, params = compiled[key]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    def set_jit(on: bool) -> None:
        with connection.cursor() as cursor:
            cursor.execute("RESET jit" if on else "SET jit = off")

    # viewer_scope as deployed (with whatever cache the project puts in front of it), and cold:
    # the same call with Django's cache replaced by a DummyCache (every get misses).
    scopes = {
        "d-anon": ("(d) viewer_scope, anonymous", lambda: viewer_scope(anonymous), False),
        "d-partner": ("(d) viewer_scope, partner", lambda: viewer_scope(partner), False),
        "d-anon-cold": ("    anonymous, no cache", lambda: viewer_scope(anonymous), True),
        "d-partner-cold": ("    partner, no cache", lambda: viewer_scope(partner), True),
    }

    def run_scopes(timed: dict[str, list[float]] | None = None) -> None:
        for cold in (False, True):
            with override_settings(CACHES=NO_CACHE) if cold else nullcontext():
                for key, (_, fn, is_cold) in scopes.items():
                    if is_cold != cold:
                        continue
                    t = time.perf_counter()
                    fn()
                    if timed is not None:
                        timed[key].append(time.perf_counter() - t)

    scope_queries = {}
    for cold in (False, True):
        with override_settings(CACHES=NO_CACHE) if cold else nullcontext():
            for key, (_, fn, is_cold) in scopes.items():
                if is_cold == cold:
                    fn()  # fill the cache, if any
                    with CaptureQueriesContext(connection) as captured:
                        fn()
                    scope_queries[key] = len(captured.captured_queries)

    # Warm-up: caches, connection, the planner's catalogue lookups.
    with step("warm-up (3 runs of each)"):
        for _ in range(3):
            for key in queries:
                queries[key][1]()
                sql_only(key)
                set_jit(False)
                sql_only(key)
                set_jit(True)
            run_scopes()

    samples: dict[str, list[float]] = {k: [] for k in [*queries, *scopes]}
    sql_samples: dict[str, list[float]] = {k: [] for k in queries}
    nojit_samples: dict[str, list[float]] = {k: [] for k in queries}
    rows: dict[str, list] = {}
    load_before = os.getloadavg()[0]
    with step(f"timing ({args.repeat} runs of each, interleaved)"):
        for _ in range(args.repeat):
            for key, (_, fn) in queries.items():
                t = time.perf_counter()
                rows[key] = fn()
                samples[key].append(time.perf_counter() - t)
                t = time.perf_counter()
                sql_only(key)
                sql_samples[key].append(time.perf_counter() - t)
                set_jit(False)
                t = time.perf_counter()
                sql_only(key)
                nojit_samples[key].append(time.perf_counter() - t)
                set_jit(True)
            run_scopes(samples)

    load = (load_before, os.getloadavg()[0])

    # Checks (untimed). The gate narrows a 20 km-precision country by the cells touching the bbox,
    # so its rows there may lie just outside the bbox: compare with the bbox grown to those cells.
    grown = grid.cell_aligned_bbox(BBOX, 20_000)
    ids = {k: {r[0] for r in rows[k]} for k in rows}
    ids_grown = set(ungated(grown).values_list("sample_id", flat=True))
    checks = {
        "partner rows ⊆ no-gate rows": ids["c"] <= ids["a"],
        "anonymous rows ⊆ no-gate rows over the 20 km cell-aligned bbox": ids["b"] <= ids_grown,
        "anonymous rows ⊆ partner rows ∪ (20 km country, outside the bbox)": ids["b"] - ids["c"]
        <= ids_grown - ids["a"],
    }
    country_of = dict(
        Sample.objects.filter(pk__in=ids["a"] | ids["b"] | ids["c"]).values_list(
            "pk", "country__iso_a3"
        )
    )
    by_country: dict[str, dict[str, int]] = {}
    for key, keyed in ids.items():
        for sample_id in keyed:
            iso = country_of[sample_id]
            by_country.setdefault(iso, {"a": 0, "b": 0, "c": 0})[key] += 1

    # Plans, warm (after the timing runs).
    OUT.mkdir(parents=True, exist_ok=True)
    with PLANS_FILE.open("w", encoding="utf-8") as handle:
        handle.write(f"# EXPLAIN (ANALYZE, BUFFERS) — {command_line()}\n")
        handle.write(
            f"# {time.strftime('%Y-%m-%d %H:%M')}, git {git_revision()}, "
            f"bbox {BBOX}, {ELEMENT} in {MEDIUM}\n\n"
        )
        runs = [(key, True) for key in queries] + [("a", False), ("b", False)]
        for key, jit in runs:
            label = queries[key][0] + ("" if jit else ", SET jit = off")
            sql, params = compiled[key]
            set_jit(jit)
            with connection.cursor() as cursor:
                try:
                    text = cursor.cursor.mogrify(sql, params)
                except Exception:  # noqa: BLE001 - only for display
                    text = f"{sql}\n-- params: {params!r}"
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                plan = "\n".join(r[0] for r in cursor.fetchall())
            set_jit(True)
            handle.write(f"=== {label}: {len(rows[key]):,} rows ===\n\n{text}\n\n{plan}\n\n")

    return {
        "labels": {**{k: v[0] for k, v in queries.items()}, **{k: v[0] for k, v in scopes.items()}},
        "median": {k: median_ms(v) for k, v in samples.items()},
        "min": {k: min(v) * 1000 for k, v in samples.items()},
        "sql_median": {k: median_ms(v) for k, v in sql_samples.items()},
        "nojit_median": {k: median_ms(v) for k, v in nojit_samples.items()},
        "rows": {k: len(v) for k, v in rows.items()},
        "scope_queries": scope_queries,
        "grants": {"anonymous": scope_anon.grants, "partner": scope_partner.grants},
        "checks": checks,
        "by_country": by_country,
        "grown": grown,
        "load": load,
    }


# --- the benchmark -------------------------------------------------------------------------------


def describe_grants(grants) -> list[str]:
    from baselines.models import Country, Element

    iso = dict(Country.objects.values_list("pk", "iso_a3"))
    symbol = dict(Element.objects.values_list("pk", "symbol"))
    lines = []
    for g in grants:
        text = ",".join(sorted(iso[c] for c in g.countries))
        if g.surveys is not None:
            text += f" surveys {sorted(g.surveys)}"
        if g.excluded_surveys:
            text += f" minus surveys {sorted(g.excluded_surveys)}"
        if g.elements is not None:
            text += f" elements {sorted(symbol[e] for e in g.elements)}"
        if g.excluded_elements:
            text += f" minus {'/'.join(sorted(symbol[e] for e in g.excluded_elements))}"
        text += f" @ {'exact' if not g.precision_m else f'{g.precision_m // 1000} km'} ({g.source})"
        lines.append(text)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=100_000, help="samples; default 100000")
    parser.add_argument("--seed", type=int, default=20240601, help="random seed")
    parser.add_argument(
        "--database",
        default="chemearth_access_bench",
        help="bench database (re-created); default chemearth_access_bench",
    )
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per query; default 20")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument(
        "--file-order",
        action="store_true",
        help="experiment: sample ids in file order (random in space), not nested cell order",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="time on a database kept by an earlier run (no re-creation)",
    )
    args = parser.parse_args()
    if args.samples < 1000:
        parser.error("--samples must be at least 1000")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.database.lower() in PROTECTED_DATABASES:
        parser.error(f"--database {args.database!r} is not this benchmark's database")

    cmd = command_line()
    print(f"command: {cmd}")
    os.environ["DATABASE_URL"] = database_url(args.database)
    os.environ["DJANGO_SETTINGS_MODULE"] = "chemearth.settings"
    os.environ["DJANGO_DEBUG"] = "0"  # no query log: time what production runs
    os.environ["CACHE_KEY_PREFIX"] = f"bench:{args.database}"  # apart from the dev site's keys
    sys.path.insert(0, str(ROOT))
    timings: dict[str, float] = {}
    started = time.perf_counter()

    if args.reuse:
        if not database_exists(args.database):
            parser.error(f"--reuse: database {args.database} does not exist (run with --keep)")
    else:
        with step(f"re-creating database {args.database}", timings):
            recreate_database(args.database)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections

    with step("migrate (elements, media, Natural Earth countries)", timings):
        call_command("migrate", verbosity=0, interactive=False)

    from baselines.models import Measurement, Sample, Survey

    if args.reuse:
        world = {"samples": Sample.objects.count(), "measurements": Measurement.objects.count()}
        if not world["samples"]:
            parser.error(f"--reuse: database {args.database} holds no samples")
        build_seconds = 0.0
    else:
        t = time.perf_counter()
        world = build_world(args.samples, args.seed, timings, args.file_order)
        build_seconds = time.perf_counter() - t
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_total_relation_size('baselines_measurement'), "
            "pg_relation_size('baselines_measurement'), pg_total_relation_size('baselines_sample'),"
            " current_setting('server_version'), current_setting('shared_buffers'), "
            "current_setting('work_mem'), current_setting('jit')"
        )
        m_total, m_heap, s_total, version, shared_buffers, work_mem, jit = cursor.fetchone()
    surveys = Survey.objects.count()

    result = run_timings(args)
    med, sql_med, n = result["median"], result["sql_median"], result["rows"]
    nojit = result["nojit_median"]

    print()
    print(f"Access-gate benchmark — {time.strftime('%Y-%m-%d %H:%M')}, git {git_revision()}")
    print(
        f"  machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, PostgreSQL "
        f"{version.split()[0]} (shared_buffers {shared_buffers}, work_mem {work_mem}, jit {jit})"
    )
    print(
        f"  world: {world['samples']:,} samples, {world['measurements']:,} measurements, "
        f"{surveys} surveys, {len(COUNTRIES)} countries; measurement table "
        f"{m_total / 2**30:.2f} GiB ({m_heap / 2**30:.2f} GiB heap), sample table "
        f"{s_total / 2**30:.2f} GiB"
        + (f"; built in {build_seconds:.0f} s" if build_seconds else " (reused)")
    )
    print(
        f"  query: {ELEMENT}, {MEDIUM}, preferred analyte, samples in bbox {BBOX} "
        f"→ (sample_id, sample__geom, value), list() of the queryset"
    )
    print("  anonymous grants: " + "; ".join(describe_grants(result["grants"]["anonymous"])))
    print("  partner grants:   " + "; ".join(describe_grants(result["grants"]["partner"])))
    print(
        f"  median of {args.repeat} runs after 3 warm-up runs, interleaved; 'SQL only' = the "
        "same SQL on a bare cursor, fetchall(), no ORM row conversion; 'jit off' = that with "
        f"SET jit = off; load average {result['load'][0]:.1f} → {result['load'][1]:.1f} during "
        "the timings"
    )
    if args.file_order:
        print("  EXPERIMENT --file-order: sample ids in file order, random in space")
    print()
    print(
        f"{'':<30} {'rows':>8}  {'median ms':>10}  {'min ms':>8}  {'ratio':>6}  "
        f"{'SQL only ms':>11}  {'ratio':>6}  {'jit off ms':>10}  {'ratio':>6}"
    )
    for key in ("a", "b", "c"):
        print(
            f"{result['labels'][key]:<30} {n[key]:>8,}  {med[key]:>10.1f}  "
            f"{result['min'][key]:>8.1f}  {med[key] / med['a']:>5.2f}×  {sql_med[key]:>11.1f}  "
            f"{sql_med[key] / sql_med['a']:>5.2f}×  {nojit[key]:>10.1f}  "
            f"{nojit[key] / nojit['a']:>5.2f}×"
        )
    for key in ("d-anon", "d-partner", "d-anon-cold", "d-partner-cold"):
        print(
            f"{result['labels'][key]:<30} {result['scope_queries'][key]:>5} q.  "
            f"{med[key]:>10.2f}  {result['min'][key]:>8.2f}"
        )
    print()
    for key, who in (("b", "anonymous"), ("c", "partner")):
        scope, cold = ("d-anon", "d-anon-cold") if key == "b" else ("d-partner", "d-partner-cold")
        parts = []
        for what, timing in (("ORM", med), ("SQL only", sql_med), ("SQL, jit off", nojit)):
            ratio = timing[key] / timing["a"]
            parts.append(f"{what} {ratio:.2f}× ({'OK' if ratio <= TARGET_RATIO else 'ABOVE'})")
        print(f"  gate/no-gate, {who} (target ≤ {TARGET_RATIO}×): " + ", ".join(parts))
        print(
            f"    ORM + viewer_scope per request: {(med[key] + med[scope]) / med['a']:.2f}×, "
            f"{(med[key] + med[cold]) / med['a']:.2f}× without cache"
        )
    print()
    print(
        "  rows per country (no gate / anonymous / partner): "
        + ", ".join(
            f"{iso} {v['a']:,}/{v['b']:,}/{v['c']:,}"
            for iso, v in sorted(result["by_country"].items())
        )
    )
    grown = ", ".join(f"{v:.3f}" for v in result["grown"])
    print(
        f"  (anonymous rows of the 20 km country are those whose 20 km cell touches the bbox: "
        f"the cell-aligned bbox is ({grown}))"
    )
    for label, ok in result["checks"].items():
        print(f"  check: {label}: {'ok' if ok else 'FAILED'}")
    print(f"  plans: {os.path.relpath(PLANS_FILE, ROOT)}")
    if timings:
        print("  set-up: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    print(f"  total run time {time.perf_counter() - started:.0f} s")
    print()
    print(f"command: {cmd}")

    connections.close_all()
    if not args.keep:
        drop_database(args.database)
        print(f"(database {args.database} dropped; use --keep to keep it)")
    else:
        print(f"(kept database {args.database}; --reuse times it again without re-creating it)")
    if not all(result["checks"].values()):
        raise SystemExit("a check failed")


if __name__ == "__main__":
    main()
