#!/usr/bin/env python
"""Aggregates before release: what the gate's split into released and pre-release rows costs.

    .venv/bin/python benchmarks/aggregates.py --samples 200000

Since git ae3f7de ``sharing.access.aggregate_rows`` returns ``AggregateRows(released,
prerelease)``, two querysets instead of one union: the cell statistics endpoint reads the released
rows into ``VisibleValues`` and counts the cell's pre-release samples apart; a cells layer reads
both kinds of rows (two SQL queries) and builds its legend from the released ones; and an
agreement grants nothing until its licence is accepted (``viewer_scope`` reads
``LicenceAcceptance``). This script puts figures on those three paths.

1. Re-create its own database (default ``chemearth_aggregates_bench``: DROP, CREATE, ``CREATE
   EXTENSION postgis``, ``migrate``) with ``DATABASE_URL`` pointing at it before
   ``django.setup()``; the cache and the Celery broker are Redis database 10 (``--redis``),
   flushed at the start and at the end.
2. Build a seeded **synthetic** world in SQL and COPY, as benchmarks/access.py builds its own (its
   ``bulk_load`` for the sample table; measurements with ingest's ``measurement_copy_blocks`` and
   ``load_partition``): two real countries along the Oder, Germany (public, exact locations) and
   Poland (embargoed for a year, with public maps before release at 80 km: ``prerelease_scale_m``
   80 km, at least 3 samples per cell); 5 surveys (a national topsoil and a stream-sediment survey
   in each country, and a dense topsoil survey across the border); N samples at random on each
   country's mainland (``ST_GeneratePoints``), ids in nested cell order within each survey;
   Cu, Zn, Pb, As, Ni per sample plus a second, non-preferred Cu method in the topsoil surveys;
   two partner organisations with an agreement over Poland each, one whose member accepted its
   licence (``licence_accept``) and one whose member has not.
3. Time, in the same process, subject and reference interleaved (which one goes first alternates
   from run to run), after a warm-up run; medians of ``--repeat`` runs:

   (1) cell statistics: ``GET /api/v1/cells/<code>/stats?element=Cu&medium=topsoil`` through
       Django's test ``Client`` as an anonymous viewer, for ``--cells`` 80 km cells of each kind
       (public only, pre-release only, both), against one plain SQL query per cell on a bare
       psycopg connection (no ORM, no gate) selecting that cell's Cu values in topsoil;
   (2) a cells layer: ``maps.layers.layer_rows`` + ``layer_legend`` for Cu in topsoil at 80 km,
       anonymous scope (released German rows, pre-release Polish rows), against one plain SQL
       query of the same element and medium's rows (lon, lat, value, censored, dl), no gate;
   (3) ``viewer_scope(user)`` with the cache cleared before each call, for the partner whose
       licence is pending against anonymous, and cached (the accepted partner for insight).

   Answers are checked against the ungated rows (statistics n, pre-release sample counts, layer
   rows); EXPLAIN (ANALYZE, BUFFERS) plans of the gate's queries and the references go to
   ``benchmarks/out/aggregates-plans.txt``.
4. Print a table with the ratios, the command line, the git revision, the load average and the
   world's size. The database is dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import sys
import time
from contextlib import contextmanager
from urllib.parse import urlparse

import numpy as np
from common import (
    PROTECTED_DATABASES,
    ROOT,
    command_line,
    deployment_env,
    drop_database,
    dsn,
    git_revision,
    recreate_database,
)
from tqdm import tqdm

OUT = ROOT / "benchmarks" / "out"
PLANS_FILE = OUT / "aggregates-plans.txt"
# Other benchmarks' databases too, so that they can run side by side.
OTHER_BENCHMARKS = {
    "chemearth_bench",
    "chemearth_access_bench",
    "chemearth_tiles_bench",
    "chemearth_viewer_bench",
}

# --- the synthetic world -------------------------------------------------------------------------

PUBLIC, EMBARGOED = "DEU", "POL"
PRERELEASE_SCALE_M = 80_000
PRERELEASE_MIN_SAMPLES = 3
# ISO3: (share of all samples, box around the mainland (west, south, east, north)).
COUNTRIES = {
    PUBLIC: (0.55, (5.8, 47.2, 15.1, 55.1)),
    EMBARGOED: (0.45, (14.1, 49.0, 24.2, 54.9)),
}
BORDER_BOX = (12.5, 50.6, 16.8, 54.0)  # the Oder–Neisse border and some 100 km either side
# (name, medium, scale km, countries, share of each of its countries' samples, box or None)
SURVEYS = (
    ("DEU national topsoil baseline", "topsoil", 10, (PUBLIC,), 0.45, None),
    ("DEU stream sediment survey", "stream-sediment", 4, (PUBLIC,), 0.35, None),
    ("POL national topsoil baseline", "topsoil", 10, (EMBARGOED,), 0.45, None),
    ("POL stream sediment survey", "stream-sediment", 4, (EMBARGOED,), 0.35, None),
    ("Oder cross-border topsoil survey", "topsoil", 2, (PUBLIC, EMBARGOED), 0.20, BORDER_BOX),
)
# (symbol, median mg/kg, log10 standard deviation, detection limit mg/kg)
ELEMENTS = (
    ("Cu", 20, 0.35, 2.0),
    ("Zn", 70, 0.25, 5.0),
    ("Pb", 25, 0.25, 2.0),
    ("As", 8, 0.35, 1.0),
    ("Ni", 25, 0.30, 2.0),
)
SECOND_CU_METHOD = "AR-ICPMS"  # a non-preferred second Cu analyte in the topsoil surveys
ELEMENT, MEDIUM, SCALE_M = "Cu", "topsoil", 80_000
PARTNERS = (  # (username, organisation, licence accepted)
    ("partner-accepted", "Oder Geological Partnership", True),
    ("partner-pending", "Vistula Survey Consortium", False),
)
KINDS = ("public", "pre-release", "both")


def allocation(samples: int) -> list[tuple[int, str, int]]:
    """(survey index, country, number of samples) for every survey × country."""
    out = []
    for iso, (share, _) in COUNTRIES.items():
        total = round(samples * share)
        mine = [(i, s) for i, s in enumerate(SURVEYS) if iso in s[3]]
        counts = [int(total * s[4]) for _, s in mine]
        counts[0] += total - sum(counts)
        out += [(i, iso, n) for (i, _), n in zip(mine, counts, strict=True) if n > 0]
    return out


def build_world(samples: int, seed: int, timings: dict[str, float]) -> dict:
    from access import bulk_load  # after django.setup(): access.py imports the gate at its top
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from baselines import grid, units
    from baselines.ingest import ColumnRows, measurement_copy_blocks
    from baselines.ingest.write import copy_rows, load_partition
    from baselines.models import Analyte, Country, Element, Measurement, Medium, Sample, Survey
    from sharing.models import Agreement, Membership, Organisation, ReleasePolicy
    from sharing.services import licence_accept

    rng = np.random.default_rng(seed)
    countries = {iso: Country.objects.by_code(iso) for iso in COUNTRIES}
    media = {m.code: m for m in Medium.objects.all()}
    elements = {e.symbol: e for e in Element.objects.filter(symbol__in=[e[0] for e in ELEMENTS])}
    today = dt.datetime.now(dt.UTC).date()
    stages = tqdm(total=7, desc="building the world", unit="step", leave=True)

    @contextmanager
    def stage(label: str):
        stages.set_postfix_str(label)
        started = time.perf_counter()
        yield
        timings[label] = time.perf_counter() - started
        stages.update()

    with stage("surveys and analytes"):
        surveys, analytes = [], {}
        for n, (name, medium, scale_km, isos, _, _) in enumerate(SURVEYS):
            survey = Survey.objects.create(
                name=name,
                slug=f"bench-survey-{n + 1}",
                medium=media[medium],
                scale_m=scale_km * 1000,
                year=2010 + n,
            )
            survey.countries.set([countries[iso] for iso in isos])
            surveys.append(survey)
            rows = [
                Analyte(
                    survey=survey,
                    element=elements[symbol],
                    method="XRF",
                    reported_unit="mg/kg",
                    source_column=f"{symbol}_mg_kg",
                    detection_limit=dl,
                    preferred=True,
                )
                for symbol, _, _, dl in ELEMENTS
            ]
            if medium == "topsoil":
                rows.append(
                    Analyte(
                        survey=survey,
                        element=elements["Cu"],
                        method=SECOND_CU_METHOD,
                        reported_unit="mg/kg",
                        source_column=f"Cu_{SECOND_CU_METHOD}_mg_kg",
                        detection_limit=0.5,
                        preferred=False,
                    )
                )
            analytes[n] = Analyte.objects.bulk_create(rows)

    with stage("sample points"), connection.cursor() as cursor:
        parts: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        for k, (index, iso, count) in enumerate(allocation(samples)):
            box = SURVEYS[index][5] or COUNTRIES[iso][1]
            got: list[np.ndarray] = []
            for attempt in range(5):  # ST_GeneratePoints may give a point more or less
                missing = count - sum(len(g) for g in got)
                if missing <= 0:
                    break
                cursor.execute(
                    f"""
                    SELECT ST_X(d.geom), ST_Y(d.geom) FROM {Country._meta.db_table} c,
                    LATERAL ST_Dump(ST_GeneratePoints(
                        ST_Intersection(c.boundary, ST_MakeEnvelope(%s, %s, %s, %s, 4326)), %s, %s
                    )) d WHERE c.id = %s
                    """,
                    [*box, missing, seed + 1000 * attempt + k, countries[iso].pk],
                )
                got.append(np.array(cursor.fetchall(), dtype="f8").reshape(-1, 2))
            xy = np.concatenate(got)[:count]
            if len(xy) != count:
                raise SystemExit(f"{iso}: {len(xy)} points generated, {count} asked for")
            parts.setdefault(index, []).append((xy, np.full(count, countries[iso].pk)))
        lon, lat, country, survey_index = [], [], [], []
        for index in sorted(parts):
            xy = np.concatenate([p[0] for p in parts[index]])
            lon.append(np.round(xy[:, 0], 5))
            lat.append(np.round(xy[:, 1], 5))
            country.append(np.concatenate([p[1] for p in parts[index]]).astype(np.int64))
            survey_index.append(np.full(len(xy), index, dtype=np.int64))
        lon, lat = np.concatenate(lon), np.concatenate(lat)
        country, survey_index = np.concatenate(country), np.concatenate(survey_index)
        n = len(lon)
        sample_ids = np.arange(1, n + 1, dtype=np.int64)

    with stage("cell codes"):
        cells = grid.cell_codes(lon, lat)
        # Ids in nested cell order within each survey, as ingest numbers them.
        order = np.lexsort(
            [np.asarray(cells[size], dtype=str) for size in sorted(cells)] + [survey_index]
        )
        lon, lat, country = lon[order], lat[order], country[order]
        cells = {size: codes[order] for size, codes in cells.items()}

    with stage("COPY samples"), transaction.atomic(), connection.cursor() as cursor:
        table = Sample._meta.db_table
        survey_pk = np.array([s.pk for s in surveys], dtype=np.int64)[survey_index]
        columns = ["id", "survey_id", "code", "site_code", "geom", "country_id", "depth"]
        columns += ["sampled_on", "attributes", *(grid.cell_field_name(s) for s in grid.SCALES_M)]
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with bulk_load(cursor, table), cursor.copy(sql) as copy:
            for start in range(0, n, 100_000):
                sl = slice(start, start + 100_000)
                rows = zip(
                    sample_ids[sl].tolist(),
                    survey_pk[sl].tolist(),
                    survey_index[sl].tolist(),
                    lon[sl].tolist(),
                    lat[sl].tolist(),
                    country[sl].tolist(),
                    *(cells[s][sl].tolist() for s in grid.SCALES_M),
                    strict=True,
                )
                copy.write(
                    "".join(
                        f"{r[0]}\t{r[1]}\tS{r[2]}-{r[0]:07d}\tS{r[2]}-{r[0]:07d}\t"
                        f"SRID=4326;POINT({r[3]!r} {r[4]!r})\t{r[5]}\t\t\\N\t{{}}\t"
                        + "\t".join(r[6:])
                        + "\n"
                        for r in rows
                    )
                )
        cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", [table, n])
        del cells

    with stage("COPY measurements"), transaction.atomic(), connection.cursor() as cursor:
        table = Measurement._meta.db_table
        total, next_id = 0, 1
        starts = np.searchsorted(survey_index, np.arange(len(surveys) + 1))
        for index in range(len(surveys)):
            ids = sample_ids[starts[index] : starts[index + 1]]
            m = len(ids)
            columns = []
            for analyte in sorted(analytes[index], key=lambda a: (a.element_id, a.pk)):
                _, median, sd, dl = next(e for e in ELEMENTS if e[0] == analyte.element.symbol)
                if not analyte.preferred:
                    median, dl = median * 0.8, analyte.detection_limit  # a partial extraction
                value = np.round(10.0 ** (np.log10(median) + sd * rng.standard_normal(m)), 4)
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
        for survey in surveys:
            survey.data_version = 1
        Survey.objects.bulk_update(surveys, ["data_version"])

    with stage("VACUUM ANALYZE"), connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {Sample._meta.db_table}")
        cursor.execute(f"VACUUM (ANALYZE) {Measurement._meta.db_table}")
        cursor.execute("ANALYZE")

    with stage("policies, agreements, licence acceptance"):
        ReleasePolicy.objects.create(
            country=countries[PUBLIC], in_force=True, available_on=today - dt.timedelta(days=400)
        )
        ReleasePolicy.objects.create(
            country=countries[EMBARGOED],
            in_force=True,
            available_on=today + dt.timedelta(days=365),
            prerelease_scale_m=PRERELEASE_SCALE_M,
            prerelease_min_samples=PRERELEASE_MIN_SAMPLES,
        )
        for k, (username, name, accepted) in enumerate(PARTNERS):
            organisation = Organisation.objects.create(name=name, slug=f"partner-{k + 1}")
            agreement = Agreement.objects.create(
                title=f"Data exchange {k + 1}",
                organisation=organisation,
                all_elements=True,
                valid_from=today - dt.timedelta(days=365),
                valid_to=today + dt.timedelta(days=1000),
                licence_text="For research within the partnership only.",
            )
            agreement.countries.set([countries[EMBARGOED]])
            user = get_user_model().objects.create_user(username, f"{username}@example.org")
            Membership.objects.create(organisation=organisation, user=user)
            if accepted:
                licence_accept(user=user, agreement=agreement)
    stages.close()
    return {"samples": n, "measurements": total}


# --- timing --------------------------------------------------------------------------------------


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def pair(subject, reference, subject_first: bool) -> tuple[float, float, object, object]:
    """Time one interleaved pair; the order alternates from run to run."""
    if subject_first:
        s, s_result = timed(subject)
        r, r_result = timed(reference)
    else:
        r, r_result = timed(reference)
        s, s_result = timed(subject)
    return s, r, s_result, r_result


def run_timings(args, raw) -> dict:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import AnonymousUser
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from baselines import grid
    from baselines.models import Analyte, Country, Element, Measurement, Medium, Sample, Survey
    from maps.layers import LayerSpec, layer_legend, layer_rows
    from sharing.access import aggregate_rows, viewer_scope

    element = Element.objects.get(symbol=ELEMENT)
    medium = Medium.objects.get(code=MEDIUM)
    cell_field = grid.cell_field_name(SCALE_M)
    iso = dict(Country.objects.values_list("pk", "iso_a3"))
    embargoed = Country.objects.by_code(EMBARGOED).pk
    tables = dict(
        m=Measurement._meta.db_table,
        a=Analyte._meta.db_table,
        s=Sample._meta.db_table,
        v=Survey._meta.db_table,
    )
    joins = (
        "FROM {m} m JOIN {a} a ON a.id = m.analyte_id JOIN {s} s ON s.id = m.sample_id "
        "JOIN {v} v ON v.id = s.survey_id "
        "WHERE m.element_id = %s AND a.preferred AND v.medium_id = %s"
    ).format(**tables)
    cell_sql = f"SELECT m.value, m.censored, m.detection_limit {joins} AND s.{cell_field} = %s"
    layer_sql = f"SELECT ST_X(s.geom), ST_Y(s.geom), m.value, m.censored, m.detection_limit {joins}"

    def plain(sql: str, params: list) -> list[tuple]:
        with raw.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    # The cells: what the ungated rows hold per 80 km cell and country (untimed).
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.{cell_field}, s.country_id, count(*), count(DISTINCT m.sample_id) "
            f"{joins} GROUP BY 1, 2",
            [element.pk, medium.pk],
        )
        per_cell: dict[str, dict[str, tuple[int, int]]] = {}
        for code, country_id, rows, samples in cursor.fetchall():
            per_cell.setdefault(code, {})[iso[country_id]] = (rows, samples)
        # The gate's density rule: the embargoed country's samples with the element, any medium.
        cursor.execute(
            f"SELECT s.{cell_field} FROM {tables['m']} m JOIN {tables['s']} s ON s.id = m.sample_id"
            " WHERE m.element_id = %s AND s.country_id = %s GROUP BY 1"
            " HAVING count(DISTINCT m.sample_id) >= %s",
            [element.pk, embargoed, PRERELEASE_MIN_SAMPLES],
        )
        dense = {row[0] for row in cursor.fetchall()}
    by_kind: dict[str, list[str]] = {kind: [] for kind in KINDS}
    for code, held in sorted(per_cell.items()):
        if set(held) == {PUBLIC}:
            by_kind["public"].append(code)
        elif set(held) == {EMBARGOED} and code in dense:
            by_kind["pre-release"].append(code)
        elif set(held) == {PUBLIC, EMBARGOED}:
            by_kind["both"].append(code)
    cell_counts = {kind: len(codes) for kind, codes in by_kind.items()}
    rng = np.random.default_rng(args.seed)
    chosen = {
        kind: sorted(rng.choice(codes, min(args.cells, len(codes)), replace=False).tolist())
        for kind, codes in by_kind.items()
    }
    cells = [(kind, code) for kind in KINDS for code in chosen[kind]]
    expected = {
        code: (
            per_cell[code].get(PUBLIC, (0, 0))[0],
            per_cell[code].get(EMBARGOED, (0, 0))[1] if code in dense else 0,
        )
        for _, code in cells
    }

    client = Client()
    params = {"element": ELEMENT, "medium": MEDIUM}

    def endpoint(code: str) -> dict:
        response = client.get(f"/api/v1/cells/{code}/stats", params)
        if response.status_code != 200:
            raise SystemExit(f"cell {code}: HTTP {response.status_code}: {response.content[:300]}")
        return response.json()

    anonymous = AnonymousUser()
    scope = viewer_scope(anonymous)
    spec = LayerSpec(element=element, medium=medium, scale_m=SCALE_M, style="cells")

    def layer() -> tuple:
        rows_s, rows = timed(lambda: layer_rows(spec, scope))
        legend_s, (legend, features) = timed(lambda: layer_legend(spec, rows))  # spec: layer-like
        return rows, legend, features, rows_s, legend_s

    # Queries per request / per layer (untimed).
    with CaptureQueriesContext(connection) as captured:
        endpoint(chosen["both"][0] if chosen["both"] else cells[0][1])
    queries = {"cell": len(captured.captured_queries)}
    with CaptureQueriesContext(connection) as captured:
        layer()
    queries["layer"] = len(captured.captured_queries)

    users = {"anonymous": anonymous}
    for username, _, accepted in PARTNERS:
        user = get_user_model().objects.get(username=username)
        users["partner, licence accepted" if accepted else "partner, licence pending"] = user

    def scope_queries(user, cold: bool) -> int:
        if cold:
            cache.clear()
        else:
            viewer_scope(user)
        with CaptureQueriesContext(connection) as captured:
            viewer_scope(user)
        return len(captured.captured_queries)

    for key, user in users.items():
        queries[f"scope {key} uncached"] = scope_queries(user, True)
        queries[f"scope {key} cached"] = scope_queries(user, False)

    steps = (args.repeat + 1) * (len(cells) + 1 + 2 * len(users))
    bar = tqdm(total=steps, desc="timing (warm-up run, then interleaved runs)", unit="pair")
    cell_times = {code: ([], []) for _, code in cells}
    answers: dict[str, dict] = {}
    cell_rows: dict[str, int] = {}
    layer_times: dict[str, list[float]] = {"total": [], "rows": [], "legend": [], "sql": []}
    scope_times: dict[str, list[float]] = {}
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    for run in range(args.repeat + 1):  # run 0 is the warm-up
        first = run % 2 == 0
        for _, code in cells:
            s, r, answer, rows = pair(
                lambda c=code: endpoint(c),
                lambda c=code: plain(cell_sql, [element.pk, medium.pk, c]),
                first,
            )
            if run:
                cell_times[code][0].append(s)
                cell_times[code][1].append(r)
            answers[code], cell_rows[code] = answer, len(rows)
            bar.update()
        s, r, subject, reference = pair(
            layer, lambda: plain(layer_sql, [element.pk, medium.pk]), first
        )
        layer_result, layer_reference = subject, len(reference)
        if run:
            layer_times["total"].append(s)
            layer_times["rows"].append(subject[3])
            layer_times["legend"].append(subject[4])
            layer_times["sql"].append(r)
        bar.update()
        # viewer_scope last in each run: clearing the cache must not make a cell request cold.
        for cold in (True, False):
            for key, user in users.items():
                if cold:
                    cache.clear()
                else:
                    viewer_scope(user)  # fill the cache
                seconds, _ = timed(lambda u=user: viewer_scope(u))
                if run:
                    scope_times.setdefault((key, cold), []).append(seconds)
                bar.update()
        viewer_scope(anonymous)  # the next run's requests find the scope cached, as deployed
    bar.close()
    timing_seconds = time.perf_counter() - started
    load = (load_before, os.getloadavg()[0])

    # Checks (untimed): the gate's answers against the ungated rows.
    rows, legend, _, _, _ = layer_result
    released_n = int(np.count_nonzero(~rows.prerelease))
    prerelease_n = int(np.count_nonzero(rows.prerelease))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.country_id = %s, s.{cell_field} = ANY(%s), count(*) {joins} GROUP BY 1, 2",
            [embargoed, sorted(dense), element.pk, medium.pk],
        )
        ungated = {(is_embargoed, in_dense): k for is_embargoed, in_dense, k in cursor.fetchall()}
    checks = {
        "cell statistics n = the cell's public rows": all(
            answers[code]["statistics"]["n"] == expected[code][0] for _, code in cells
        ),
        "cell pre-release samples = the embargoed samples of a dense cell": all(
            ((answers[code]["before_release"] or {}).get("samples", 0)) == expected[code][1]
            for _, code in cells
        ),
        "pre-release cells give no statistic": all(
            answers[code]["statistics"]["n"] == 0 for code in chosen["pre-release"]
        ),
        "layer released rows = the public country's rows": released_n
        == sum(k for (e, _), k in ungated.items() if not e),
        "layer pre-release rows = the embargoed rows in dense cells": prerelease_n
        == ungated.get((True, True), 0),
        "layer rows ≤ ungated rows": len(rows) <= layer_reference,
        "legend breaks from released rows only": legend.n == released_n,
    }

    plans = explain(
        connection,
        aggregate_rows,
        scope,
        element,
        medium,
        cell_field,
        chosen,
        cell_sql,
        layer_sql,
    )

    def per_request(kind: str, side: int) -> list[float]:
        """Per run, the mean time of one request over the kind's cells."""
        codes = chosen[kind] if kind != "all" else [code for _, code in cells]
        return [
            statistics.fmean(cell_times[code][side][run] for code in codes)
            for run in range(args.repeat)
        ]

    cell_summary = {}
    for kind in (*KINDS, "all"):
        codes = chosen[kind] if kind != "all" else [code for _, code in cells]
        if not codes:
            continue
        subject, reference = per_request(kind, 0), per_request(kind, 1)
        ratios = [s / r for s, r in zip(subject, reference, strict=True)]
        cell_summary[kind] = dict(
            cells=len(codes),
            rows=statistics.fmean(cell_rows[code] for code in codes),
            subject=median_ms(subject),
            reference=median_ms(reference),
            ratios=(min(ratios), max(ratios)),
        )
    layer_ratios = [s / r for s, r in zip(layer_times["total"], layer_times["sql"], strict=True)]
    return {
        "cells": cell_summary,
        "cell_counts": cell_counts,
        "chosen": chosen,
        "layer": {k: median_ms(v) for k, v in layer_times.items()},
        "layer_ratios": (min(layer_ratios), max(layer_ratios)),
        "layer_rows": (released_n, prerelease_n, layer_reference),
        "legend": legend,
        "scope": {k: (median_ms(v), min(v) * 1000) for k, v in scope_times.items()},
        "queries": queries,
        "checks": checks,
        "plans": plans,
        "load": load,
        "timing_seconds": timing_seconds,
    }


def explain(connection, aggregate_rows, scope, element, medium, cell_field, chosen, *sqls) -> dict:
    """EXPLAIN (ANALYZE, BUFFERS) of the gate's queries and the references, warm (the second of
    two runs), written to PLANS_FILE; returns {label: execution ms}."""
    from django.db.models import FloatField, Func

    cell_sql, layer_sql = sqls
    rows = aggregate_rows(scope, scale_m=SCALE_M, element=element, medium=medium)
    both = (chosen["both"] or chosen["public"])[0]
    pre = (chosen["pre-release"] or chosen["both"])[0]

    def in_cell(code: str) -> dict:
        return {f"sample__{cell_field}": code, "sample__survey__medium__code": medium.code}

    def layer_queryset(queryset):
        return (
            queryset.preferred()
            .filter(sample__survey__medium_id=medium.pk)
            .annotate(
                lon=Func("sample__geom", function="ST_X", output_field=FloatField()),
                lat=Func("sample__geom", function="ST_Y", output_field=FloatField()),
            )
            .values_list("lon", "lat", "value", "censored", "detection_limit", "sample__country_id")
        )

    released = rows.released.preferred().filter(**in_cell(both))
    released = released.values_list("value", "censored", "detection_limit", "sample__country_id")
    distinct_sql, distinct_params = (
        rows.prerelease.preferred().filter(**in_cell(pre)).values("sample_id").distinct()
    ).query.sql_with_params()
    cases = [
        (f"cell stats, released values ({both})", *released.query.sql_with_params()),
        (
            f"cell stats, pre-release sample count ({pre})",
            f"SELECT count(*) FROM ({distinct_sql}) subquery",
            distinct_params,
        ),
        (f"reference: cell values, plain SQL ({both})", cell_sql, [element.pk, medium.pk, both]),
        ("layer, released rows", *layer_queryset(rows.released).query.sql_with_params()),
        ("layer, pre-release rows", *layer_queryset(rows.prerelease).query.sql_with_params()),
        ("reference: layer rows, plain SQL", layer_sql, [element.pk, medium.pk]),
    ]
    OUT.mkdir(parents=True, exist_ok=True)
    found = {}
    with PLANS_FILE.open("w", encoding="utf-8") as handle, connection.cursor() as cursor:
        handle.write(f"# EXPLAIN (ANALYZE, BUFFERS), warm — {command_line()}\n")
        handle.write(f"# {time.strftime('%Y-%m-%d %H:%M')}, git {git_revision()}\n\n")
        for label, sql, params in cases:
            for _ in range(2):
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                plan = [row[0] for row in cursor.fetchall()]
            found[label] = next(
                float(line.split(":")[1].split()[0])
                for line in plan
                if line.startswith("Execution Time")
            )
            handle.write(f"=== {label} ===\n\n{sql}\n-- params: {params!r}\n\n")
            handle.write("\n".join(plan) + "\n\n")
    return found


# --- the benchmark -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=200_000, help="samples; default 200000")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs; default 7")
    parser.add_argument("--cells", type=int, default=8, help="80 km cells of each kind; default 8")
    parser.add_argument("--seed", type=int, default=20240601, help="random seed")
    parser.add_argument(
        "--database",
        default="chemearth_aggregates_bench",
        help="bench database (re-created); default chemearth_aggregates_bench",
    )
    parser.add_argument(
        "--redis",
        default="redis://127.0.0.1:6379/10",
        help="cache and broker (flushed: clearing the cache is part of the timings); default "
        "redis://127.0.0.1:6379/10",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()
    if args.samples < 10_000:
        parser.error("--samples must be at least 10000")
    if args.repeat < 1 or args.cells < 1:
        parser.error("--repeat and --cells must be at least 1")
    name = args.database.lower()
    ours = name.startswith("chemearth_aggregates") or not name.startswith(
        ("chemearth", "test_chemearth")
    )
    if name in PROTECTED_DATABASES | OTHER_BENCHMARKS or not ours:
        parser.error(f"--database {args.database!r} is not this benchmark's database")
    if urlparse(args.redis).path.strip("/") in ("", "0"):
        parser.error("--redis: not database 0 (the site's); the benchmark flushes it")

    cmd = command_line()
    print(f"command: {cmd}")
    print("world: synthetic (generated by this script, seeded), not survey data")
    os.environ.update(deployment_env(args.database))  # its own cache keys and queue
    os.environ["DJANGO_SETTINGS_MODULE"] = "chemearth.settings"
    os.environ["DJANGO_DEBUG"] = "0"  # no query log: time what production runs
    for variable in ("REDIS_URL", "CACHE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        os.environ[variable] = args.redis
    tile_root = OUT / "aggregates-tiles"  # nothing is rendered; never the site's tiles
    os.environ["TILE_ROOT"] = str(tile_root)
    sys.path.insert(0, str(ROOT))
    started = time.perf_counter()
    timings: dict[str, float] = {}

    import psycopg
    import redis

    redis.Redis.from_url(args.redis).flushdb()
    t = time.perf_counter()
    recreate_database(args.database)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections

    call_command("migrate", verbosity=0, interactive=False)
    timings["database and migrate"] = time.perf_counter() - t
    t = time.perf_counter()
    world = build_world(args.samples, args.seed, timings)
    build_seconds = time.perf_counter() - t

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT sum(pg_total_relation_size(relid)) "
            "FROM pg_partition_tree('baselines_measurement')), "
            "current_setting('server_version'), current_setting('shared_buffers'), "
            "current_setting('work_mem'), current_setting('jit')"
        )
        m_total, version, shared_buffers, work_mem, jit = cursor.fetchone()
    # The reference's connection: bare psycopg, the portal's session settings (jit off).
    with psycopg.connect(dsn(args.database), options="-c jit=off", autocommit=True) as raw:
        result = run_timings(args, raw)

    cells, layer, scope, q = result["cells"], result["layer"], result["scope"], result["queries"]
    load = result["load"]
    print()
    print(f"Aggregates before release — {time.strftime('%Y-%m-%d %H:%M')}, git {git_revision()}")
    print(
        f"  machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, PostgreSQL "
        f"{version.split()[0]} (shared_buffers {shared_buffers}, work_mem {work_mem}; server jit "
        f"{jit}, off on both timed connections)"
    )
    print(
        f"  world (synthetic): {world['samples']:,} samples, {world['measurements']:,} "
        f"measurements, {len(SURVEYS)} surveys, 2 countries ({PUBLIC} public, {EMBARGOED} "
        f"embargoed with maps before release at {PRERELEASE_SCALE_M // 1000} km, ≥ "
        f"{PRERELEASE_MIN_SAMPLES} samples per cell), 2 partners over {EMBARGOED} (one licence "
        f"accepted, one pending); measurement table {m_total / 2**20:.0f} MiB; built in "
        f"{build_seconds:.0f} s"
    )
    counts = result["cell_counts"]
    print(
        f"  {ELEMENT} in {MEDIUM}, {SCALE_M // 1000} km cells: {counts['public']} public only, "
        f"{counts['pre-release']} pre-release only (dense), {counts['both']} with both; timed "
        + ", ".join(f"{len(v)} {k}" for k, v in result["chosen"].items())
    )
    print(
        f"  median of {args.repeat} interleaved runs after a warm-up run (order alternating); "
        f"load average {load[0]:.2f} → {load[1]:.2f} during the timings "
        f"({result['timing_seconds']:.0f} s)"
    )
    print()
    print("| measurement | rows | subject ms | reference ms | ratio | per-run ratios |")
    print("|---|---|---|---|---|---|")
    for kind, c in cells.items():
        label = f"(1) cell stats, {kind} cells ({c['cells']}), per request"
        print(
            f"| {label} | {c['rows']:,.0f} | {c['subject']:.2f} | {c['reference']:.2f} | "
            f"**{c['subject'] / c['reference']:.2f}** | {c['ratios'][0]:.2f}–{c['ratios'][1]:.2f} |"
        )
    released_n, prerelease_n, reference_n = result["layer_rows"]
    print(
        f"| (2) layer_rows + layer_legend, anonymous | {released_n:,} + {prerelease_n:,} "
        f"pre-release / {reference_n:,} | {layer['total']:.1f} | {layer['sql']:.1f} | "
        f"**{layer['total'] / layer['sql']:.2f}** | "
        f"{result['layer_ratios'][0]:.2f}–{result['layer_ratios'][1]:.2f} |"
    )
    print(
        f"| &nbsp;&nbsp; of which layer_rows (2 queries) | | {layer['rows']:.1f} | "
        f"{layer['sql']:.1f} | {layer['rows'] / layer['sql']:.2f} | |"
    )
    print(f"| &nbsp;&nbsp; of which layer_legend | | {layer['legend']:.1f} | | | |")
    for cold in (True, False):
        anon = scope[("anonymous", cold)][0]
        for key in ("partner, licence pending", "partner, licence accepted", "anonymous"):
            ms, _ = scope[(key, cold)]
            n = q[f"scope {key} {'uncached' if cold else 'cached'}"]
            label = f"(3) viewer_scope, {key}, {'cache cleared' if cold else 'cached'} ({n} q.)"
            ratio = "1.00" if key == "anonymous" else f"**{ms / anon:.2f}**"
            if "accepted" in key:
                ratio = f"{ms / anon:.2f}"
            print(f"| {label} | | {ms:.2f} | {anon:.2f} | {ratio} | |")
    print()
    print(
        f"  SQL queries: cell stats request {q['cell']}, layer rows + legend {q['layer']}; "
        "the references are one query each"
    )
    legend = result["legend"]
    print(
        f"  layer legend: {legend.n:,} released values, "
        f"{legend.prerelease_cells} pre-release cells ({legend.prerelease_values:,} samples)"
    )
    print(
        "  EXPLAIN ANALYZE (warm), execution ms: "
        + "; ".join(f"{k} {v:.1f}" for k, v in result["plans"].items())
    )
    print(f"  plans: {os.path.relpath(PLANS_FILE, ROOT)}")
    for label, ok in result["checks"].items():
        print(f"  check: {label}: {'ok' if ok else 'FAILED'}")
    print("  set-up: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    print(f"  total run time {time.perf_counter() - started:.0f} s")
    print()
    print(f"command: {cmd}")
    print(f"git: {git_revision()}; load average {load[0]:.2f} → {load[1]:.2f}")

    connections.close_all()
    shutil.rmtree(tile_root, ignore_errors=True)
    if args.keep:
        print(f"(kept database {args.database} and Redis {args.redis})")
    else:
        drop_database(args.database)
        redis.Redis.from_url(args.redis).flushdb()
        print(f"(database {args.database} dropped, Redis {args.redis} flushed; --keep keeps them)")
    if not all(result["checks"].values()):
        raise SystemExit("a check failed")


if __name__ == "__main__":
    main()
