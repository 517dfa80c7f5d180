"""Writing a validated file: under the writers' lock, its new samples by CSV ``COPY`` (ids in
nested cell order) and its measurements by binary ``COPY`` (a big file's into a fresh partition),
rows for samples already stored only where they lack that analyte, and the ``Ingestion`` record."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection, transaction
from psycopg.copy import QueuedLibpqWriter

from chemearth import metrics

from .. import grid, storage, units
from ..models import Analyte, Element, Ingestion, Measurement, Sample, Survey
from . import binary, classify, surveys
from .classify import Columns
from .options import IngestReport, Progress
from .problems import Problems
from .validate import Parsed


@dataclass(frozen=True)
class ValidFile:
    """A file validated completely: its name, checksum, rows, column roles and detection limits."""

    name: str
    sha256: str
    parsed: Parsed
    cols: Columns
    limits: dict[str, float]


def write_survey(
    *,
    target: surveys.Target,
    file: ValidFile,
    countries: np.ndarray,
    report: IngestReport,
    progress: Progress,
) -> None:
    """Write the file into its survey, in the caller's transaction (the package's doc)."""
    # One writer of samples and measurements at a time (reads go on): the id blocks reserved
    # below stay this ingest's, and an ingest that waited here sees what the one before it
    # wrote (the survey it created, its file, its samples: Measurement keeps no unique index).
    with connection.cursor() as cursor:
        storage.lock_for_writing(cursor)
    problems = Problems(file.name, target.options.max_errors)
    survey = surveys.survey_for(target, problems)
    problems.raise_if_any()
    if survey is not None and survey.ingestions.filter(sha256=file.sha256).exists():
        report.already_ingested = True
        report.samples_skipped = len(file.parsed.codes)
        return
    survey = surveys.create_or_update(target, survey)

    with connection.cursor() as cursor:
        load = _Load(cursor, survey, file, report, progress)
        load.number_samples()
        load.make_analytes(target.options.prefer_methods)
        # New samples: their rows go straight in with ids (a big file's into a fresh partition).
        # Rows for samples already present (a later file adding elements) go in only where that
        # sample lacks that analyte.
        if load.n_new:
            load.add_new_samples(countries)
        if load.skip_checks:
            cursor.execute("SET LOCAL session_replication_role = origin")
        if report.samples_skipped:
            load.add_to_present_samples()
        cursor.execute(f"ANALYZE {Sample._meta.db_table}")

    report.samples_added = load.n_new
    _record(survey, file, countries, report)


def existing_samples(survey: Survey) -> dict[str, int]:
    """The survey's samples already stored: sample code → id."""
    return dict(Sample.objects.filter(survey=survey).values_list("code", "pk"))


class _Counter:
    """Measurement rows written so far, reported to ``progress``."""

    def __init__(self, total: int, progress: Progress):
        self.total, self.done, self.progress = total, 0, progress

    def add(self, count: int) -> None:
        self.done += count
        self.progress("measurements", self.done, self.total)


class _Load:
    """One validated file's rows going into one survey: the steps of ``write_survey``."""

    def __init__(self, cursor, survey: Survey, file: ValidFile, report: IngestReport, progress):
        self.cursor, self.survey, self.file = cursor, survey, file
        self.report, self.progress = report, progress
        self.parsed, self.cols = file.parsed, file.cols

    def number_samples(self) -> None:
        """Which file rows are new samples, and every row's sample id: existing ids for
        samples already stored, one reserved block for the new ones, in nested cell order."""
        parsed = self.parsed
        existing = existing_samples(self.survey)
        is_new = np.array([code not in existing for code in parsed.codes], dtype=bool)
        self.is_new, self.n_new = is_new, int(is_new.sum())
        self.report.samples_skipped = len(parsed.codes) - self.n_new
        self.skip_checks = _skip_reference_checks(self.cursor)

        self.sample_ids = np.zeros(len(parsed.codes), dtype=np.int64)
        if self.report.samples_skipped:
            self.sample_ids[~is_new] = [existing[c] for c in parsed.codes[~is_new]]
        self.new_rows = np.flatnonzero(is_new)
        self.cells: dict[int, np.ndarray] = {}
        if self.n_new:
            cells = grid.cell_codes(parsed.lon[self.new_rows], parsed.lat[self.new_rows])
            # Ids in nested cell order: a cell's samples, and their measurements within each
            # element's run, sit together on disk.
            order = grid.nested_order(cells)
            self.new_rows = self.new_rows[order]
            self.cells = {size: codes[order] for size, codes in cells.items()}
            self.sample_ids[self.new_rows] = reserve_ids(
                self.cursor, Sample._meta.db_table, self.n_new
            )

    def make_analytes(self, prefer_methods: dict[str, str]) -> None:
        """The survey's analyte for every element column, one preferred per element."""
        cols = self.cols
        preferred = classify.choose_preferred(cols.elements, prefer_methods)
        self.elements = {e.symbol: e.pk for e in Element.objects.all()}
        self.analytes: dict[str, Analyte] = {}
        for column in cols.elements:
            self.analytes[column.header] = surveys.analyte_for(
                self.survey, column, preferred, self.file.limits
            )
        total_cells = sum(int(self.parsed.values[c.header].present.sum()) for c in cols.elements)
        self.counted = _Counter(total_cells, self.progress)
        # Columns in element order: element_id then rises with the rows' position, so the
        # planner's correlation statistic tells it the BRIN index narrows an element well.
        self.in_element_order = sorted(
            cols.elements, key=lambda c: (self.elements[c.symbol], self.analytes[c.header].pk)
        )

    def blocks_for(self, rows: np.ndarray, first_id: int | None) -> Iterator[bytes]:
        """Every column's rows for these file rows, element by element, samples in id order."""
        sample_ids = self.sample_ids
        rows = rows[np.argsort(sample_ids[rows], kind="stable")]
        for c in self.in_element_order:
            values = self.parsed.values[c.header]
            column = binary.ColumnRows(
                analyte_id=self.analytes[c.header].pk,
                element_id=self.elements[c.symbol],
                values=units.ParsedValues(
                    *(getattr(values, f)[rows] for f in units.ParsedValues.__slots__)
                ),
                factor=c.factor,
            )
            yield from binary.measurement_copy_blocks(sample_ids[rows], [column], first_id=first_id)
            count = int(column.values.present.sum())
            if first_id is not None:
                first_id += count
            self.counted.add(count)

    def add_new_samples(self, countries: np.ndarray) -> None:
        """The new samples by CSV COPY, then their measurements with ids from one block: into
        a fresh partition when there are at least INGEST_PARTITION_MIN_ROWS of them."""
        cursor, parsed, new_rows, n_new = self.cursor, self.parsed, self.new_rows, self.n_new
        self.progress("samples", 0, n_new)
        frame = _sample_frame(parsed, new_rows, self.sample_ids, self.survey, countries, self.cells)
        _copy_samples(cursor, frame)
        self.progress("samples", n_new, n_new)
        count = sum(
            int(parsed.values[c.header].present[new_rows].sum()) for c in self.cols.elements
        )
        first_id = int(reserve_ids(cursor, Measurement._meta.db_table, count)[0])
        blocks = self.blocks_for(new_rows, first_id)
        if count >= settings.INGEST_PARTITION_MIN_ROWS:
            ids = self.sample_ids[new_rows]
            added = load_partition(cursor, int(ids.min()), int(ids.max()) + 1, blocks)
        else:
            added = copy_rows(cursor, Measurement._meta.db_table, blocks)
        self.report.measurements_added += added
        self.report.censored += sum(
            int(parsed.values[c.header].censored[new_rows].sum()) for c in self.cols.elements
        )

    def add_to_present_samples(self) -> None:
        """Rows for samples already stored, where they lack that analyte."""
        present = np.flatnonzero(~self.is_new)
        self.report.measurements_added += _add_missing_measurements(
            self.cursor,
            self.blocks_for(present, None),
            self.sample_ids[present],
            [self.analytes[c.header].pk for c in self.cols.elements],
        )


def _record(survey: Survey, file: ValidFile, countries: np.ndarray, report: IngestReport) -> None:
    """The survey's new data version and countries, the Ingestion row."""
    survey.data_version += 1
    survey.save(update_fields=["data_version", "updated"])
    survey.countries.add(*set(countries.tolist()))
    samples, measurements = report.samples_added, report.measurements_added
    transaction.on_commit(
        lambda: (
            metrics.INGESTED_ROWS.labels("samples").inc(samples),
            metrics.INGESTED_ROWS.labels("measurements").inc(measurements),
        )
    )
    Ingestion.objects.create(
        survey=survey,
        file_name=file.name,
        sha256=file.sha256,
        rows=len(file.parsed.codes),
        samples_added=report.samples_added,
        measurements_added=report.measurements_added,
        summary={
            "element_columns": report.element_columns,
            "without_method": report.without_method,
            "preferred": report.preferred,
            "countries": report.countries,
            "sites": report.sites,
            "samples_per_site": report.samples_per_site,
            "fraction": report.fraction,
            "attribute_columns": report.attribute_columns,
            "skipped_columns": report.skipped_columns,
            "warnings": report.warnings,
        },
    )


def reserve_ids(cursor, table: str, count: int) -> np.ndarray:
    """``count`` consecutive ids from ``table``'s identity sequence, in one round trip.

    The caller holds a lock that keeps other writers of ``table`` from drawing ids meanwhile
    (``write_survey``); the sequence then hands out numbers after the block.
    """
    if not count:
        return np.zeros(0, dtype=np.int64)
    cursor.execute(
        "WITH seq AS (SELECT pg_get_serial_sequence(%s, 'id') AS name) "
        "SELECT setval(seq.name, nextval(seq.name) + %s - 1) - %s + 1 FROM seq",
        [table, count, count],
    )
    first = cursor.fetchone()[0]
    return np.arange(first, first + count, dtype=np.int64)


def copy_rows(cursor, table: str, blocks: Iterator[bytes], *, with_ids: bool = True) -> int:
    """COPY binary measurement rows (from ``measurement_copy_blocks``) into ``table``."""
    columns = ("id, " if with_ids else "") + ", ".join(binary.MEASUREMENT_COLUMNS)
    sql = f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT binary)"
    # A writer thread sends each block while numpy builds the next one.
    raw = getattr(cursor, "cursor", cursor)  # psycopg's own cursor under Django's wrapper
    with raw.copy(sql, writer=QueuedLibpqWriter(raw)) as copy:
        copy.write(binary.COPY_HEADER)
        for block in blocks:
            copy.write(block)
        copy.write(binary.COPY_TRAILER)
    return cursor.rowcount


def load_partition(cursor, low: int, high: int, blocks: Iterator[bytes]) -> int:
    """COPY the rows of new samples ``low`` … ``high - 1`` into a fresh partition of their own
    (``storage.load_partition``); return the number of rows."""
    return storage.load_partition(
        cursor, low=low, high=high, fill=lambda table: copy_rows(cursor, table, blocks)
    )


def _add_missing_measurements(
    cursor, blocks: Iterator[bytes], sample_ids: np.ndarray, analyte_ids: list[int]
) -> int:
    """COPY rows for samples already stored into a temporary table, then insert those whose
    sample lacks that analyte (a later file adding elements); return how many went in.

    The existing rows are looked up only within these samples' id range and analytes: the
    partition bounds and the BRIN index then read a few of the table's pages, not all of it.
    """
    table, columns = Measurement._meta.db_table, ", ".join(binary.MEASUREMENT_COLUMNS)
    # Only the loaded columns: a LIKE copy would keep id's NOT NULL without its default.
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS ingest_measurements ON COMMIT DROP AS "
        f"SELECT {columns} FROM {table} WITH NO DATA"
    )
    cursor.execute("TRUNCATE ingest_measurements")
    copy_rows(cursor, "ingest_measurements", blocks, with_ids=False)
    cursor.execute("ANALYZE ingest_measurements")
    new_columns = ", ".join("new." + c for c in binary.MEASUREMENT_COLUMNS)
    cursor.execute(
        f"INSERT INTO {table} ({columns}) "
        f"SELECT {new_columns} FROM ingest_measurements new "
        f"WHERE NOT EXISTS (SELECT FROM {table} old "
        "WHERE old.sample_id = new.sample_id AND old.analyte_id = new.analyte_id "
        "AND old.sample_id BETWEEN %s AND %s AND old.analyte_id = ANY(%s))",
        [int(sample_ids.min()), int(sample_ids.max()), analyte_ids],
    )
    return cursor.rowcount


def _sample_frame(
    parsed: Parsed,
    rows: np.ndarray,
    sample_ids: np.ndarray,
    survey: Survey,
    countries: np.ndarray,
    cells: dict[int, np.ndarray],
) -> pd.DataFrame:
    """The new samples' rows (file ``rows`` in id order) as the sample table's columns."""
    attrs = parsed.attributes.iloc[rows] if len(parsed.attributes.columns) else None
    attribute_json = (
        attrs.to_json(orient="records", lines=True, force_ascii=False).splitlines()
        if attrs is not None
        else ["{}"] * len(rows)
    )
    lon, lat = parsed.lon[rows].tolist(), parsed.lat[rows].tolist()
    return pd.DataFrame(
        {
            "id": sample_ids[rows],
            "survey_id": survey.pk,
            "code": parsed.codes[rows],
            "site_code": parsed.sites[rows],
            "geom": [f"SRID=4326;POINT({x!r} {y!r})" for x, y in zip(lon, lat, strict=True)],
            "country_id": countries[rows],
            "depth": parsed.depth[rows],
            "sampled_on": parsed.dates[rows],
            "attributes": attribute_json,
            **{grid.cell_field_name(size): codes for size, codes in cells.items()},
        }
    )


def _copy_samples(cursor, rows: pd.DataFrame) -> None:
    columns = list(rows.columns)
    buffer = io.StringIO()
    rows.to_csv(buffer, index=False, header=False, na_rep="\\N", quoting=csv.QUOTE_MINIMAL)
    sql = (
        f"COPY {Sample._meta.db_table} ({', '.join(columns)}) FROM STDIN "
        "WITH (FORMAT csv, NULL '\\N')"
    )
    with cursor.copy(sql) as copy:
        copy.write(buffer.getvalue())


def _skip_reference_checks(cursor) -> bool:
    """Skip the per-row foreign-key checks of the sample and measurement COPY where the role may.

    Every row references rows this same transaction has just read or written (the survey, its
    countries, the new samples and analytes), so the checks cannot fail; run per row at commit
    they took over half of an ingest's time (benchmarks/ingest.py). ``session_replication_role =
    replica`` is how PostgreSQL's own bulk loaders skip them (pg_restore --disable-triggers); it
    needs a superuser, and without one the checks simply run. It is reset right after the COPY,
    so the policy-version triggers on other tables fire as usual (the sample and measurement
    tables have none).
    """
    cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    row = cursor.fetchone()
    if not (row and row[0]) or not settings.INGEST_SKIP_REFERENCE_CHECKS:
        return False
    cursor.execute("SET LOCAL session_replication_role = replica")
    return True
