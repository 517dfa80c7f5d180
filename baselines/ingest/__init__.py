"""Survey ingestion: a CSV or GeoPackage of samples becomes samples and measurements in PostGIS.

The service validates the whole file before it writes anything, and writes in one transaction, so a
file either loads completely or not at all. Every problem names the file, the row (counted as in a
spreadsheet: the header is row 1), the column and the reason. Loading uses PostgreSQL COPY; values
are parsed column by column with numpy, so Python does no per-cell work on the hot path.

Ingesting a file again adds nothing: samples already in the survey are skipped, and an identical
file (same SHA-256) is recognised before it is read.

Stages, one module each: ``read`` → ``classify`` → ``validate`` → ``countries`` → ``summary``
→ ``write`` (``surveys`` and ``binary`` serve it; partitions live in ``baselines.storage``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from django.db import transaction

from .. import grid
from ..models import Medium, Survey
from ..storage import PARTITION_PREFIX
from . import classify, countries, read, summary, surveys, validate, write
from .binary import ColumnRows, measurement_copy_blocks
from .classify import describe_column
from .options import IngestOptions, IngestReport, Progress, no_progress
from .problems import IngestError, Problem, Problems
from .read import file_sha256
from .validate import Parsed

__all__ = [
    "PARTITION_PREFIX",
    "ColumnRows",
    "IngestError",
    "IngestOptions",
    "IngestReport",
    "Problem",
    "Progress",
    "describe_column",
    "file_sha256",
    "measurement_copy_blocks",
    "survey_ingest",
]


def survey_ingest(
    *, path: Path, options: IngestOptions, progress: Progress = no_progress
) -> IngestReport:
    """Validate a survey file completely, then load it in one transaction (module doc)."""
    path = Path(path)
    problems = Problems(path.name, options.max_errors)
    report = IngestReport(file=path.name, survey=options.survey, dry_run=options.dry_run)
    if not path.exists():
        problems.add("no such file")
        problems.raise_if_any()
    target = _target(options, problems)
    survey = surveys.survey_for(target, problems)
    problems.raise_if_any()

    sha256 = read.file_sha256(path)
    if survey is not None and survey.ingestions.filter(sha256=sha256).exists():
        report.already_ingested = True
        report.rows = survey.ingestions.filter(sha256=sha256).first().rows
        report.samples_skipped = report.rows
        return report

    file = _read_and_validate(path, sha256, options, problems, report, progress)
    with transaction.atomic():
        country_ids = countries.assign_countries(file.parsed, file.cols, options, problems, report)
        problems.raise_if_any()
        # What the file holds, said the same way by a dry run and a real one.
        summary.describe(
            survey=survey,
            cols=file.cols,
            parsed=file.parsed,
            countries=country_ids,
            options=options,
            report=report,
        )
        if options.dry_run:
            _dry_run(survey, file.parsed, report)
            return report
        write.write_survey(
            target=target, file=file, countries=country_ids, report=report, progress=progress
        )
    return report


def _target(options: IngestOptions, problems: Problems) -> surveys.Target:
    """The medium and scale the options name, checked, and the survey's own fields."""
    for name, value in (
        ("--survey", options.survey),
        ("--method", options.method),
        ("--laboratory", options.laboratory),
        ("--licence", options.licence),
    ):
        field = Survey._meta.get_field("name" if name == "--survey" else name[2:])
        if len(value) > field.max_length:
            problems.add(f"{name} is longer than {field.max_length} characters")
        if read.CONTROL_CHARACTERS.search(value):
            problems.add(f"{name} holds a control character")
    medium = Medium.objects.filter(code=options.medium).first()
    if medium is None:
        known = ", ".join(Medium.objects.values_list("code", flat=True))
        problems.add(f"unknown medium {options.medium!r}; known media: {known}")
    try:
        scale_m = grid.scale_from_km(options.scale_km)
    except ValueError as exc:
        problems.add(str(exc))
        scale_m = 0
    problems.raise_if_any()
    return surveys.Target(options=options, medium=medium, scale_m=scale_m)


def _read_and_validate(
    path: Path,
    sha256: str,
    options: IngestOptions,
    problems: Problems,
    report: IngestReport,
    progress: Progress,
) -> write.ValidFile:
    """The whole file read, its columns classified and every row validated; raises
    ``IngestError`` with every problem found."""
    limits = (
        read.read_detection_limits(options.detection_limits, problems)
        if options.detection_limits
        else {}
    )
    crs = read.transformer(options.crs, problems) if options.crs else None
    control_characters = True
    if path.suffix.lower() in {".gpkg", ".geopackage"}:
        header, chunks = read.geopackage_chunks(path, problems)
    else:
        text = read.read_text(path, options.encoding, problems)
        control_characters = text.control_characters
        header, chunks = read.csv_chunks(text, problems)
    cols = classify.classify_columns(header, options, problems)
    if options.fraction is not None and cols.sample_id and not cols.fraction:
        problems.add(
            "--fraction needs a fraction column (one of: "
            + ", ".join(classify.FRACTION_COLUMNS)
            + ")",
            row=1,
        )
    problems.raise_if_any()
    for name in limits:
        if name not in header:
            report.warnings.append(f"detection-limit table names column {name!r}, not in the file")
    report.attribute_columns = cols.attributes
    report.skipped_columns = cols.skipped

    checks = validate.Checks(
        cols=cols,
        limits=limits,
        crs_name=options.crs,
        crs=crs,
        problems=problems,
        control_characters=control_characters,
    )
    parsed = _validate_rows(chunks, checks, options.fraction, report, progress)
    for column in cols.elements:
        above = int(parsed.values[column.header].above_range.sum())
        if above:
            report.warnings.append(
                f"column {column.header!r}: {above} values above the upper limit ('>') "
                "kept at the limit"
            )
    return write.ValidFile(name=path.name, sha256=sha256, parsed=parsed, cols=cols, limits=limits)


def _validate_rows(
    chunks: Iterator[pd.DataFrame],
    checks: validate.Checks,
    fraction: str | None,
    report: IngestReport,
    progress: Progress,
) -> Parsed:
    """Every chunk validated (only the rows of ``fraction``, when given), then joined and checked
    for repeated sample ids; a file mixing size fractions is refused unless one is chosen."""
    problems, cols = checks.problems, checks.cols
    parts = []
    rows = 0
    fractions = pd.Series(dtype="int64")
    for frame in chunks:
        rows += len(frame)
        progress("validating", rows, 0)
        if cols.fraction:
            found = frame[cols.fraction].str.strip()
            fractions = fractions.add(found.value_counts(), fill_value=0)
            if fraction is not None:
                frame = frame[(found == fraction.strip()).to_numpy()]
        parts.append(validate.validate_chunk(frame, checks))
    report.rows = rows
    if report.rows == 0:
        problems.add("the file has a header but no data rows", row=2)
    _check_fractions(fractions, cols, fraction, problems, report)
    problems.raise_if_any()
    parsed = validate.concat(parts, checks.cols)
    validate.check_duplicates(parsed.codes, parsed.rows, checks.cols.sample_id, problems)
    problems.raise_if_any()
    return parsed


def _check_fractions(
    fractions: pd.Series,
    cols: classify.Columns,
    fraction: str | None,
    problems: Problems,
    report: IngestReport,
) -> None:
    """Fractions are populations of their own: one per survey (docs/architecture.md, ingest)."""
    if not cols.fraction or not len(fractions):
        return
    listed = ", ".join(
        f"{validate.shown(str(name))} ({int(n)} rows)" for name, n in fractions.items()
    )
    if fraction is not None:
        report.fraction = fraction.strip()
        if fraction.strip() not in fractions.index:
            problems.add(
                f"no row of fraction {fraction.strip()!r}; the file holds {listed}",
                column=cols.fraction,
            )
    elif len(fractions) > 1:
        problems.add(
            f"the file holds {len(fractions)} fractions: {listed}. Each is its own "
            "population (one median per cell must not mix them): ingest each into its own "
            "survey, with --fraction VALUE and that fraction's --medium",
            column=cols.fraction,
        )


def _dry_run(survey: Survey | None, parsed: Parsed, report: IngestReport) -> None:
    """What writing would add, counted without writing."""
    existing = write.existing_samples(survey) if survey else {}
    new = np.array([code not in existing for code in parsed.codes], dtype=bool)
    report.samples_added = int(new.sum())
    report.samples_skipped = len(parsed.codes) - report.samples_added
    report.measurements_added = sum(int(v.present[new].sum()) for v in parsed.values.values())
    report.censored = sum(int(v.censored[new].sum()) for v in parsed.values.values())
