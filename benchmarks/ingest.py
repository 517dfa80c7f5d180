#!/usr/bin/env python
"""Ingest benchmark: a synthetic survey of N samples × 76 elements, loaded end to end.

    .venv/bin/python benchmarks/ingest.py --samples 100000

Steps (see benchmarks/README.md):

1. Re-create its own database (default ``chemearth_bench``: DROP, CREATE, ``CREATE EXTENSION
   postgis``, ``migrate``) with ``DATABASE_URL`` pointing at it before ``django.setup()``, so the
   dev database is never touched.
2. Generate a survey CSV in the format ``manage.py ingest`` reads: ``sample_id, longitude,
   latitude, country_iso3`` and one column per GGB-76 element, majors as oxides in %, Au/PGE/Re in
   ppb, the rest in mg/kg; log-normal values, each element censored below a detection limit
   (written ``<DL``, some as ``-DL``).
3. Time the ingest command end to end in a fresh Python process (interpreter start, Django set-up,
   read, validate, COPY, commit, ANALYZE): measurement rows/s and samples/s. The child process
   records where the time goes by wrapping the ingest module's internal steps (``--plain`` runs
   ``manage.py ingest`` itself instead, without the split).
4. Reference: the same measurement rows, exported from the table the ingest wrote (untimed), then
   ``COPY ... FROM STDIN (FORMAT binary)`` in 8 MiB blocks with psycopg 3 into a bare table (same
   column types, no indexes, no constraints), commit included. Also, for insight, the same COPY into
   a copy of the real table (its identity column, BRIN index and check; foreign keys if any).
5. Print a summary table, the ratio ingest/raw, and the exact command line.

The generated file goes to ``--out`` (default benchmarks/out, gitignored) and is deleted afterwards,
as is the database, unless ``--keep``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import platform
import subprocess
import sys
import time
import zlib
from contextlib import contextmanager
from pathlib import Path
from statistics import NormalDist

import numpy as np
from common import (  # noqa: E402  (benchmarks/ is the script's directory)
    PROTECTED_DATABASES,
    ROOT,
    command_line,
    deployment_env,
    drop_database,
    dsn,
    git_revision,
    recreate_database,
)

SURVEY_NAME = "Benchmark survey"
MEDIUM, SCALE_KM = "topsoil", "10"
COPY_BLOCK = 8 << 20  # bytes per write in the raw COPY reference
GEN_CHUNK = 50_000  # rows generated and written per chunk
MEASUREMENT_COLUMNS = (
    "sample_id",
    "analyte_id",
    "element_id",
    "value",
    "censored",
    "detection_limit",
    "reported_value",
)

# --- the synthetic survey ------------------------------------------------------------------------

# (symbol, column header, median in the reported unit, log10 standard deviation, fraction censored:
# the detection limit is that percentile rounded to a round number, unless FIXED_DL gives it).
# Medians are typical of topsoils (GEMAS/FOREGS, China's national baselines); spreads are wider for
# chalcophile and mobile elements than for lithophile ones. Au/PGE/Re/Te/Ag are heavily censored.
ELEMENTS: tuple[tuple[str, str, float, float, float], ...] = (
    ("Li", "Li_mg_kg", 25, 0.20, 0.01),
    ("Be", "Be_mg_kg", 1.8, 0.20, 0.03),
    ("B", "B_mg_kg", 40, 0.30, 0.05),
    ("C", "C_pct", 1.2, 0.35, 0.02),  # total carbon, reported in %
    ("N", "N_mg_kg", 1000, 0.30, 0.0),
    ("F", "F_mg_kg", 450, 0.20, 0.01),
    ("Na", "Na2O_pct", 1.2, 0.35, 0.0),
    ("Mg", "MgO_pct", 1.3, 0.30, 0.0),
    ("Al", "Al2O3_pct", 12.5, 0.12, 0.0),
    ("Si", "SiO2_pct", 65, 0.05, 0.0),
    ("P", "P_mg_kg", 700, 0.25, 0.0),
    ("S", "S_mg_kg", 300, 0.30, 0.05),
    ("Cl", "Cl_mg_kg", 80, 0.40, 0.10),
    ("K", "K2O_pct", 2.3, 0.18, 0.0),
    ("Ca", "CaO_pct", 1.5, 0.45, 0.0),
    ("Sc", "Sc_mg_kg", 10, 0.20, 0.02),
    ("Ti", "Ti_mg_kg", 4000, 0.15, 0.0),
    ("V", "V_mg_kg", 80, 0.20, 0.01),
    ("Cr", "Cr_mg_kg", 60, 0.30, 0.02),
    ("Mn", "Mn_mg_kg", 600, 0.25, 0.0),
    ("Fe", "Fe2O3_pct", 4.5, 0.20, 0.0),
    ("Co", "Co_mg_kg", 11, 0.25, 0.02),
    ("Ni", "Ni_mg_kg", 25, 0.30, 0.03),
    ("Cu", "Cu_mg_kg", 20, 0.35, 0.02),
    ("Zn", "Zn_mg_kg", 70, 0.25, 0.01),
    ("Ga", "Ga_mg_kg", 16, 0.15, 0.01),
    ("Ge", "Ge_mg_kg", 1.3, 0.12, 0.05),
    ("As", "As_mg_kg", 8, 0.35, 0.05),
    ("Se", "Se_mg_kg", 0.25, 0.30, 0.15),
    ("Br", "Br_mg_kg", 4, 0.40, 0.15),
    ("Rb", "Rb_mg_kg", 90, 0.20, 0.0),
    ("Sr", "Sr_mg_kg", 150, 0.35, 0.0),
    ("Y", "Y_mg_kg", 25, 0.15, 0.01),
    ("Zr", "Zr_mg_kg", 250, 0.20, 0.0),
    ("Nb", "Nb_mg_kg", 14, 0.20, 0.02),
    ("Mo", "Mo_mg_kg", 0.8, 0.30, 0.08),
    ("Ru", "Ru_ppb", 0.2, 0.30, 0.60),
    ("Rh", "Rh_ppb", 0.15, 0.30, 0.60),
    ("Pd", "Pd_ppb", 1.3, 0.35, 0.40),
    ("Ag", "Ag_mg_kg", 0.07, 0.30, 0.40),
    ("Cd", "Cd_mg_kg", 0.15, 0.30, 0.15),
    ("In", "In_mg_kg", 0.05, 0.20, 0.20),
    ("Sn", "Sn_mg_kg", 3, 0.25, 0.05),
    ("Sb", "Sb_mg_kg", 0.8, 0.35, 0.10),
    ("Te", "Te_mg_kg", 0.03, 0.30, 0.60),
    ("I", "I_mg_kg", 2, 0.40, 0.10),
    ("Cs", "Cs_mg_kg", 6, 0.25, 0.02),
    ("Ba", "Ba_mg_kg", 500, 0.20, 0.0),
    ("La", "La_mg_kg", 38, 0.18, 0.01),
    ("Ce", "Ce_mg_kg", 75, 0.18, 0.01),
    ("Pr", "Pr_mg_kg", 8.5, 0.18, 0.02),
    ("Nd", "Nd_mg_kg", 32, 0.18, 0.01),
    ("Sm", "Sm_mg_kg", 6, 0.18, 0.02),
    ("Eu", "Eu_mg_kg", 1.2, 0.18, 0.03),
    ("Gd", "Gd_mg_kg", 5.3, 0.18, 0.02),
    ("Tb", "Tb_mg_kg", 0.8, 0.18, 0.05),
    ("Dy", "Dy_mg_kg", 4.6, 0.18, 0.03),
    ("Ho", "Ho_mg_kg", 0.95, 0.18, 0.05),
    ("Er", "Er_mg_kg", 2.7, 0.18, 0.03),
    ("Tm", "Tm_mg_kg", 0.42, 0.18, 0.08),
    ("Yb", "Yb_mg_kg", 2.7, 0.18, 0.03),
    ("Lu", "Lu_mg_kg", 0.42, 0.18, 0.08),
    ("Hf", "Hf_mg_kg", 7, 0.20, 0.02),
    ("Ta", "Ta_mg_kg", 1.1, 0.20, 0.05),
    ("W", "W_mg_kg", 1.8, 0.30, 0.08),
    ("Re", "Re_ppb", 0.3, 0.35, 0.50),
    ("Os", "Os_ppb", 0.06, 0.30, 0.60),
    ("Ir", "Ir_ppb", 0.04, 0.30, 0.60),
    ("Pt", "Pt_ppb", 1.5, 0.30, 0.40),
    ("Au", "Au_ppb", 1.5, 0.45, 0.35),
    ("Hg", "Hg_mg_kg", 0.04, 0.35, 0.05),
    ("Tl", "Tl_mg_kg", 0.6, 0.20, 0.05),
    ("Pb", "Pb_mg_kg", 25, 0.25, 0.01),
    ("Bi", "Bi_mg_kg", 0.3, 0.30, 0.10),
    ("Th", "Th_mg_kg", 11, 0.20, 0.01),
    ("U", "U_mg_kg", 2.5, 0.20, 0.02),
)
# Elements far above any analytical limit get the laboratory's limit instead of a percentile, so
# they are (almost) never censored, as in real surveys: majors by XRF, the most abundant traces.
FIXED_DL = {
    "SiO2_pct": 0.05, "Al2O3_pct": 0.05, "Fe2O3_pct": 0.05, "K2O_pct": 0.05, "MgO_pct": 0.05,
    "CaO_pct": 0.05, "Na2O_pct": 0.05, "Ti_mg_kg": 10, "Mn_mg_kg": 10, "Ba_mg_kg": 10,
    "Zr_mg_kg": 5, "Sr_mg_kg": 5, "P_mg_kg": 10, "Rb_mg_kg": 5, "N_mg_kg": 20,
}  # fmt: skip
SIO2_MAX = 95.0  # % (a soil is not pure quartz; the oxides must stay below 100 %)
# Every other oxide's log-normal tail is cut here too: ingest refuses a value above 100 %.
OXIDE_MAX = 60.0  # %
NEGATIVE_SHARE = 0.10  # of censored cells written as −DL instead of <DL

# Boxes well inside each country's land (lon_min, lon_max, lat_min, lat_max); the country comes
# from the country_iso3 column.
COUNTRY_BOXES = {
    "USA": (-103.0, -92.0, 36.0, 42.0),  # Kansas, Nebraska, Missouri, Iowa
    "CHN": (100.0, 115.0, 28.0, 38.0),  # Sichuan to Henan
    "BRA": (-55.0, -45.0, -20.0, -5.0),  # Mato Grosso, Goiás, Tocantins
    "AUS": (122.0, 145.0, -30.0, -21.0),  # the interior
}


def _nice(x: float) -> float:
    """The round number nearest to x on a log scale (detection limits are round numbers)."""
    exponent = math.floor(math.log10(x))
    mantissa = x / 10**exponent
    best = min((1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10), key=lambda m: abs(math.log10(mantissa / m)))
    return round(best * 10.0**exponent, 12)


def _decimals_needed(x: float) -> int:
    return next(d for d in range(0, 12) if abs(round(x, d) - x) < 1e-12 * max(1.0, x))


class ColumnSpec:
    def __init__(self, symbol, header, median, sd, censored):
        self.symbol, self.header, self.median, self.sd = symbol, header, median, sd
        self.target_censored = censored
        self.log_median = math.log10(median)
        if header in FIXED_DL:
            self.dl = float(FIXED_DL[header])
        else:
            self.dl = _nice(median * 10 ** (sd * NormalDist().inv_cdf(censored)))
        decimals = 2 - math.floor(math.log10(median))  # about three significant digits
        decimals = max(decimals, _decimals_needed(self.dl))  # the limit must be writable
        if header.endswith("_pct"):
            decimals = max(decimals, 2)
        self.decimals = min(max(decimals, 0), 4)
        self.fmt = f"{{:.{self.decimals}f}}".format
        self.lt = "<" + self.fmt(self.dl)
        self.neg = "-" + self.fmt(self.dl)


def column_specs() -> list[ColumnSpec]:
    specs = [ColumnSpec(*row) for row in ELEMENTS]
    with (ROOT / "baselines" / "data" / "elements.csv").open(encoding="utf-8") as handle:
        ggb76 = {r["symbol"] for r in csv.DictReader(handle) if r["ggb76"].strip() == "1"}
    ours = {s.symbol for s in specs}
    if ours != ggb76 or len(specs) != len(ours):
        raise SystemExit(f"element table out of step with elements.csv: {sorted(ours ^ ggb76)}")
    return specs


def generate_csv(path: Path, n: int, seed: int, symbols: list[str] | None = None) -> dict:
    """Write the survey file; return what was generated (cells, censored cells).

    ``symbols`` limits the element columns to those elements (in the table's order); the default
    is all 76. Fewer columns draw other random values than the full file for the same seed.
    """
    specs = column_specs()
    if symbols is not None:
        unknown = set(symbols) - {s.symbol for s in specs}
        if unknown or not symbols:
            raise SystemExit(f"unknown or no elements: {sorted(unknown)}")
        specs = [s for s in specs if s.symbol in set(symbols)]
    rng = np.random.default_rng(seed)
    log_median = np.array([s.log_median for s in specs])
    sd = np.array([s.sd for s in specs])
    dl = np.array([s.dl for s in specs])
    symbols_in_file = [s.symbol for s in specs]
    si = symbols_in_file.index("Si") if "Si" in symbols_in_file else None
    percent = np.array([s.header.endswith("_pct") for s in specs], dtype=bool)
    isos = np.array(list(COUNTRY_BOXES))
    boxes = np.array(list(COUNTRY_BOXES.values()))
    header = ["sample_id", "longitude", "latitude", "country_iso3", *(s.header for s in specs)]
    censored_total = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(header) + "\n")
        for start in range(0, n, GEN_CHUNK):
            m = min(GEN_CHUNK, n - start)
            country = rng.integers(0, len(isos), m)
            box = boxes[country]
            lon = box[:, 0] + rng.random(m) * (box[:, 1] - box[:, 0])
            lat = box[:, 2] + rng.random(m) * (box[:, 3] - box[:, 2])
            values = 10.0 ** (log_median + sd * rng.standard_normal((m, len(specs))))
            values[:, percent] = np.minimum(values[:, percent], OXIDE_MAX)
            if si is not None:
                values[:, si] = np.minimum(values[:, si], SIO2_MAX)
            below = values < dl
            negative = below & (rng.random(below.shape) < NEGATIVE_SHARE)
            censored_total += int(below.sum())
            columns = [
                [f"CE{i:08d}" for i in range(start + 1, start + m + 1)],
                list(map("{:.5f}".format, lon.tolist())),
                list(map("{:.5f}".format, lat.tolist())),
                isos[country].tolist(),
            ]
            for j, spec in enumerate(specs):
                text = np.array(list(map(spec.fmt, values[:, j].tolist())), dtype=object)
                text[below[:, j]] = spec.lt
                text[negative[:, j]] = spec.neg
                columns.append(text.tolist())
            handle.write("\n".join(map(",".join, zip(*columns, strict=True))))
            handle.write("\n")
    return {"cells": n * len(specs), "censored": censored_total, "columns": len(header)}


# --- database ------------------------------------------------------------------------------------


def checkpoint(database: str) -> None:
    """Flush dirty buffers so that a timed step does not pay for the previous one's writes."""
    import psycopg

    with psycopg.connect(dsn(database), autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def export_measurements(database: str) -> bytes:
    """The rows the ingest wrote, as a complete binary COPY stream (header to trailer)."""
    import psycopg

    columns = ", ".join(MEASUREMENT_COLUMNS)
    parts: list[bytes] = []
    with psycopg.connect(dsn(database)) as conn, conn.cursor() as cur:
        sql = f"COPY (SELECT {columns} FROM baselines_measurement) TO STDOUT (FORMAT binary)"
        with cur.copy(sql) as copy:
            parts.extend(bytes(block) for block in copy)
    return b"".join(parts)


def timed_copy(database: str, data: bytes, table: str, setup: list[str]) -> tuple[float, int]:
    """Create ``table`` (untimed), then COPY ``data`` into it in big blocks and commit (timed)."""
    import psycopg

    with psycopg.connect(dsn(database), autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        for statement in setup:
            conn.execute(statement)
        conn.execute("CHECKPOINT")
    view = memoryview(data)
    with psycopg.connect(dsn(database)) as conn:
        cur = conn.cursor()
        started = time.perf_counter()
        sql = f"COPY {table} ({', '.join(MEASUREMENT_COLUMNS)}) FROM STDIN (FORMAT binary)"
        with cur.copy(sql) as copy:
            for offset in range(0, len(view), COPY_BLOCK):
                copy.write(view[offset : offset + COPY_BLOCK])
        rows = cur.rowcount
        conn.commit()
        elapsed = time.perf_counter() - started
    return elapsed, rows


def bare_table_sql(table: str) -> list[str]:
    # Same column types as baselines_measurement; no id, no NOT NULL, no index, no constraint.
    columns = ", ".join(MEASUREMENT_COLUMNS)
    return [f"CREATE TABLE {table} AS SELECT {columns} FROM baselines_measurement WITH NO DATA"]


def schema_table_sql(database: str, table: str) -> tuple[list[str], str]:
    """A copy of baselines_measurement as migrated: columns, identity, checks, indexes and its
    foreign keys (which LIKE does not copy); and a description of it."""
    import psycopg

    with psycopg.connect(dsn(database)) as conn:
        fks = [
            row[0]
            for row in conn.execute(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'baselines_measurement'::regclass AND contype = 'f'"
            )
        ]
        n_indexes = conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'baselines_measurement'"
        ).fetchone()[0]
    deferred = sum("INITIALLY DEFERRED" in fk for fk in fks)
    statements = [f"CREATE TABLE {table} (LIKE baselines_measurement INCLUDING ALL)"]
    statements += [f"ALTER TABLE {table} ADD {fk}" for fk in fks]
    return statements, f"{n_indexes} indexes, {len(fks)} foreign keys ({deferred} deferred)"


def server_facts(database: str) -> dict[str, str]:
    import psycopg

    names = ("server_version", "shared_buffers", "max_wal_size", "synchronous_commit", "wal_level")
    with psycopg.connect(dsn(database), autocommit=True) as conn:
        return {n: conn.execute(f"SHOW {n}").fetchone()[0] for n in names}


# --- the timed ingest (child process) ------------------------------------------------------------


class Phases:
    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def add(self, key: str, seconds: float) -> None:
        self.seconds[key] = self.seconds.get(key, 0.0) + seconds
        self.calls[key] = self.calls.get(key, 0) + 1

    def wrap(self, owner, attribute: str, key: str, *, iterator: bool = False) -> None:
        original = getattr(owner, attribute)
        phases = self

        if iterator:

            def wrapped(*args, **kwargs):
                return phases.iterate(original(*args, **kwargs), key)

        else:

            def wrapped(*args, **kwargs):
                started = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    phases.add(key, time.perf_counter() - started)

        setattr(owner, attribute, wrapped)

    def iterate(self, iterable, key: str):
        it = iter(iterable)
        while True:
            started = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                self.add(key, time.perf_counter() - started)
                return
            self.add(key, time.perf_counter() - started)
            yield item


def child_main(args: argparse.Namespace) -> None:
    """Run the ingest command in this (fresh) process, recording where its time goes."""
    started = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chemearth.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    import baselines.management.commands.ingest as command
    from baselines import grid, units
    from baselines.ingest import binary, countries, read, surveys, validate, write

    phases = Phases()
    setup_seconds = time.perf_counter() - started
    phases.wrap(read, "file_sha256", "sha256")
    phases.wrap(read, "read_text", "read")
    original_chunks = read.csv_chunks

    def csv_chunks(text, problems):
        header, chunks = original_chunks(text, problems)
        return header, phases.iterate(chunks, "parse")

    read.csv_chunks = csv_chunks
    phases.wrap(validate, "validate_chunk", "validate")
    phases.wrap(units, "parse_values", "parse_values")
    phases.wrap(validate, "concat", "concat")
    phases.wrap(validate, "check_duplicates", "duplicates")
    phases.wrap(countries, "assign_countries", "countries")
    phases.wrap(write, "write_survey", "write")
    phases.wrap(grid, "cell_codes", "cells")
    phases.wrap(write, "_copy_samples", "copy_samples")
    phases.wrap(surveys, "analyte_for", "analytes")
    phases.wrap(write, "copy_rows", "copy_measurements")
    phases.wrap(binary, "measurement_copy_blocks", "blocks", iterator=True)

    def sql_timer(execute, sql, params, many, context):
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            head = sql.lstrip().upper()
            for prefix, key in (
                ("ANALYZE", "analyze"),
                ("CREATE INDEX", "index"),
                ("LOCK TABLE", "lock"),
            ):
                if head.startswith(prefix):
                    phases.add(key, time.perf_counter() - t)
            if "ATTACH PARTITION" in head:
                phases.add("attach", time.perf_counter() - t)

    db_commit = connection.commit

    def commit():
        t = time.perf_counter()
        try:
            return db_commit()
        finally:
            phases.add("commit", time.perf_counter() - t)

    connection.commit = commit
    result: dict = {}
    original_service = command.survey_ingest

    def service(**kwargs):
        t = time.perf_counter()
        report = original_service(**kwargs)
        result["service_seconds"] = time.perf_counter() - t
        result["report"] = {
            k: report.as_dict()[k]
            for k in ("rows", "samples_added", "measurements_added", "censored", "warnings")
        }
        return report

    command.survey_ingest = service
    with connection.execute_wrapper(sql_timer):
        call_command(
            "ingest",
            args.child,
            survey=SURVEY_NAME,
            medium=MEDIUM,
            scale=SCALE_KM,
            no_progress=True,
            stdout=io.StringIO(),
        )
    result["setup_seconds"] = setup_seconds
    result["child_seconds"] = time.perf_counter() - started
    result["phases"] = phases.seconds
    Path(args.child_result).write_text(json.dumps(result))


# --- the benchmark (parent process) --------------------------------------------------------------


def phase_rows(child: dict, wall: float) -> list[tuple[str, float]]:
    """The child's step timers as (label, seconds), indented under the step that contains them."""
    p = dict.fromkeys(
        ("sha256", "read", "parse", "validate", "parse_values", "concat", "duplicates",
         "countries", "write", "cells", "copy_samples", "analytes", "copy_measurements", "blocks",
         "analyze", "index", "attach", "lock", "commit"),
        0.0,
    ) | child["phases"]  # fmt: skip
    top = ("sha256", "read", "parse", "validate", "concat", "duplicates", "countries", "write",
           "commit")  # fmt: skip
    in_write = sum(
        p[k]
        for k in ("lock", "cells", "copy_samples", "analytes", "copy_measurements", "index",
                  "analyze", "attach")
    )  # fmt: skip
    return [
        ("process start, imports, django.setup()", child["setup_seconds"]),
        ("sha256 of the file", p["sha256"]),
        ("read + decode the file", p["read"]),
        ("parse CSV (pandas read_csv, dtype=str)", p["parse"]),
        ("validate chunks", p["validate"]),
        ("  of which units.parse_values", p["parse_values"]),
        ("concatenate chunks + duplicate ids", p["concat"] + p["duplicates"]),
        ("assign countries", p["countries"]),
        ("write", p["write"]),
        ("  wait for the ingest lock", p["lock"]),
        ("  grid cell codes", p["cells"]),
        ("  COPY samples (CSV)", p["copy_samples"]),
        ("  analytes (ORM, 76 get_or_create)", p["analytes"]),
        ("  COPY measurements (binary)", p["copy_measurements"]),
        ("    build binary rows (numpy)", p["blocks"]),
        ("    send + server (COPY FROM STDIN)", p["copy_measurements"] - p["blocks"]),
        ("  BRIN index of the new partition", p["index"]),
        ("  ANALYZE new partition + samples", p["analyze"]),
        ("  attach the partition", p["attach"]),
        ("  rest of write (frames, ORM)", p["write"] - in_write),
        ("commit", p["commit"]),
        ("rest of survey_ingest", child["service_seconds"] - sum(p[k] for k in top)),
        (
            "command wrapper, interpreter exit",
            wall - child["setup_seconds"] - child["service_seconds"],
        ),
    ]


@contextmanager
def step(label: str):
    print(f"… {label}", end="", flush=True)
    started = time.perf_counter()
    yield
    print(f" {time.perf_counter() - started:.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--samples", type=int, default=100_000, help="samples (rows); default 100000")
    add("--seed", type=int, default=20240601, help="random seed")
    add("--database", default="chemearth_bench", help="benchmark database (re-created)")
    add("--out", type=Path, default=ROOT / "benchmarks" / "out", help="for the generated file")
    add("--keep", action="store_true", help="keep the generated file and the database")
    add(
        "--elements",
        help="comma-separated element symbols to generate (default: all 76), e.g. Cu,Zn",
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="time `manage.py ingest` itself (no split of the ingest time)",
    )
    parser.add_argument(
        "--no-schema-reference",
        action="store_true",
        help="skip the insight COPY into a copy of the real table (indexes, FKs)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return
    if args.samples < 1:
        parser.error("--samples must be at least 1")
    if args.database.lower() in PROTECTED_DATABASES:
        parser.error(f"--database {args.database!r} is not a benchmark database")

    cmd = command_line()
    print(f"command: {cmd}")
    os.environ.update(deployment_env(args.database))  # its database, cache keys and queue
    os.environ["DJANGO_SETTINGS_MODULE"] = "chemearth.settings"
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{args.database}_{args.samples}.csv"
    result_path = args.out / f"{args.database}_{args.samples}.json"

    # Two runs on one database would drop it under each other: the second one stops here.
    import psycopg

    lock = psycopg.connect(dsn("postgres"), autocommit=True)
    key = zlib.crc32(f"chemearth benchmark {args.database}".encode()) - 2**31
    if not lock.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()[0]:
        lock.close()
        raise SystemExit(
            f"another benchmark run is using database {args.database}; wait for it to finish "
            "or give another --database"
        )
    try:
        bench(args, path, result_path, cmd)
    finally:
        result_path.unlink(missing_ok=True)
        if args.keep:
            print(f"(kept database {args.database} and {path})")
        else:
            path.unlink(missing_ok=True)
            if "django.db" in sys.modules:
                from django.db import connections

                connections.close_all()
            drop_database(args.database)
            print(f"(database {args.database} dropped, file deleted; --keep keeps both)")
        lock.close()


def bench(args: argparse.Namespace, path: Path, result_path: Path, cmd: str) -> None:
    import psycopg

    with step(f"re-creating database {args.database}"):
        recreate_database(args.database)
    with step("migrate"):
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", verbosity=0, interactive=False)
        connections.close_all()
    facts = server_facts(args.database)

    started = time.perf_counter()
    symbols = args.elements.split(",") if args.elements else None
    n_elements = len(symbols) if symbols else len(ELEMENTS)
    with step(f"generating {args.samples:,} samples × {n_elements} elements"):
        generated = generate_csv(path, args.samples, args.seed, symbols)
    generate_seconds = time.perf_counter() - started
    size_mb = path.stat().st_size / 1e6
    print(
        f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {size_mb:,.0f} MB, "
        f"{generated['censored'] / generated['cells']:.1%} of cells censored"
    )

    checkpoint(args.database)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if args.plain:
        argv = [
            sys.executable,
            str(ROOT / "manage.py"),
            "ingest",
            str(path),
            "--survey",
            SURVEY_NAME,
            "--medium",
            MEDIUM,
            "--scale",
            SCALE_KM,
            "--no-progress",
        ]
        how = "subprocess `manage.py ingest FILE --no-progress`"
    else:
        argv = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            str(path),
            "--child-result",
            str(result_path),
        ]
        how = (
            "subprocess: fresh Python → django.setup() → "
            "call_command('ingest', FILE, no_progress=True), with step timers"
        )
    with psycopg.connect(dsn(args.database), autocommit=True) as conn:
        # The same start as the raw COPY below: no dirty pages from set-up left to flush.
        conn.execute("CHECKPOINT")
    load_before = os.getloadavg()[0]
    with step("ingest (timed)"):
        t = time.perf_counter()
        proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
        ingest_seconds = time.perf_counter() - t
    load_after = os.getloadavg()[0]
    if proc.returncode:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"ingest failed (exit {proc.returncode})")
    child = json.loads(result_path.read_text()) if not args.plain else None
    if child:
        result_path.unlink()

    with psycopg.connect(dsn(args.database)) as conn:
        measurements = conn.execute("SELECT count(*) FROM baselines_measurement").fetchone()[0]
        samples = conn.execute("SELECT count(*) FROM baselines_sample").fetchone()[0]
        censored = conn.execute(
            "SELECT count(*) FROM baselines_measurement WHERE censored"
        ).fetchone()[0]
    if child and child["report"]["measurements_added"] != measurements:
        raise SystemExit("the ingest report and the table disagree on the measurement count")
    if measurements != generated["cells"] or censored != generated["censored"]:
        print(
            f"  WARNING: generated {generated['cells']:,} cells ({generated['censored']:,} "
            f"censored) but the table holds {measurements:,} ({censored:,} censored)"
        )

    with step("exporting the ingested rows for the raw COPY reference (untimed)"):
        data = export_measurements(args.database)
    with step("raw COPY into a bare table (timed)"):
        raw_seconds, raw_rows = timed_copy(
            args.database, data, "bare_measurement", bare_table_sql("bare_measurement")
        )
    schema_seconds = None
    if not args.no_schema_reference:
        with step("COPY into a copy of the real table, indexes and FKs (timed)"):
            statements, schema_text = schema_table_sql(args.database, "schema_measurement")
            schema_seconds, _ = timed_copy(args.database, data, "schema_measurement", statements)
    del data
    if raw_rows != measurements:
        raise SystemExit(f"raw COPY wrote {raw_rows:,} rows, expected {measurements:,}")

    ingest_rate = measurements / ingest_seconds
    raw_rate = raw_rows / raw_seconds
    print()
    print(f"Ingest benchmark — {time.strftime('%Y-%m-%d %H:%M')}, git {git_revision()}")
    print(
        f"  machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, PostgreSQL "
        f"{facts['server_version'].split()[0]} (shared_buffers {facts['shared_buffers']}, "
        f"max_wal_size {facts['max_wal_size']}, synchronous_commit "
        f"{facts['synchronous_commit']})"
    )
    print(
        f"  load average (1 min) before/after the ingest: {load_before:.1f} / {load_after:.1f} "
        f"(other work on the machine slows every figure)"
    )
    print(
        f"  file: {args.samples:,} rows × {generated['columns']} columns, {size_mb:,.0f} MB, "
        f"generated in {generate_seconds:.1f} s; {censored / measurements:.1%} censored"
    )
    print(f"  ingest timed as: {how}")
    print(
        f"  raw reference: COPY FROM STDIN (FORMAT binary) of the same {raw_rows:,} rows into a "
        f"table without indexes or constraints, {COPY_BLOCK >> 20} MiB writes, commit included"
    )
    print()
    head = (
        f"{'samples':>10}  {'measurements':>13}  {'ingest s':>9}  {'samples/s':>10}  "
        f"{'ingest rows/s':>14}  {'raw COPY s':>10}  {'raw COPY rows/s':>16}  {'ratio':>6}"
    )
    print(head)
    print(
        f"{samples:>10,}  {measurements:>13,}  {ingest_seconds:>9.1f}  "
        f"{samples / ingest_seconds:>10,.0f}  {ingest_rate:>14,.0f}  {raw_seconds:>10.1f}  "
        f"{raw_rate:>16,.0f}  {ingest_rate / raw_rate:>6.2f}"
    )
    print()
    if schema_seconds is not None:
        print(
            f"  insight: the same COPY into a copy of the real table ({schema_text}): "
            f"{schema_seconds:.1f} s, "
            f"{raw_rows / schema_seconds:,.0f} rows/s "
            f"(ratio to raw {raw_seconds / schema_seconds:.2f})"
        )
    if child:
        print()
        print(f"  where the ingest's {ingest_seconds:.1f} s go (step timers in the child process):")
        for label, seconds in phase_rows(child, ingest_seconds):
            print(f"    {label:<46} {seconds:>8.2f} s  {seconds / ingest_seconds:>6.1%}")
    print()
    print(f"command: {cmd}")


if __name__ == "__main__":
    main()
