"""Building a download package: the data, what it means, whose it is, and its checksums.

A package is a zip holding

- the data: ``measurements.csv`` (long: one row per measurement), ``samples.csv`` (wide: one row
  per sample, two columns per element), ``samples.gpkg`` (GeoPackage layer ``samples``, the wide
  table with point geometry) or ``samples.parquet`` (GeoParquet 1.1, WKB points);
- ``README.txt`` (columns, units, detection limits, the DL/2 rule, CRS, the precision each
  country's locations were snapped to), ``LICENSE.txt`` (the licences under which the rows were
  granted), ``CITATION.cff`` and ``CITATION.bib`` (the package and one entry per survey),
  ``datapackage.json`` (Frictionless Data Package: schema, byte count and SHA-256 of the data),
  ``datacite.json`` (DataCite metadata without a DOI, for an operator to mint one),
  ``manifest.json`` (the query, the policy and data versions, rows per survey and country) and
  ``SHA256SUMS`` (``sha256sum -c`` checks every other file).

The rows come from ``downloads.selectors`` (the gate's rows) and are streamed by PostgreSQL
``COPY (…) TO STDOUT`` from the SQL Django compiles for the gated queryset: no row cap, no
per-row Python. The zip is written under ``DOWNLOAD_ROOT/tmp`` and moved into place when
complete, so a package appears whole or not at all.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone

from baselines import units
from baselines.models import Country, Survey
from chemearth.files import file_sha256
from sharing.access import Scope
from sharing.models import Agreement, LicenceAcceptance, ReleasePolicy, Stewardship

from . import storage
from .models import DownloadJob
from .query import DownloadQuery
from .selectors import Contents, Table, long_rows, surveys_of, wide_rows

# How often the build writes its progress to the job row.
PROGRESS_SECONDS = 0.5
# COPY sends one message per row; rows are gathered into blocks this big before being written.
BLOCK_BYTES = 1 << 20

KNOWN_LICENCES = {
    "CC BY 4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC0 1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "CC0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "CC BY-SA 4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
    "CC BY-NC 4.0": "https://creativecommons.org/licenses/by-nc/4.0/",
    "ODbL": "https://opendatacommons.org/licenses/odbl/1-0/",
}

# Column descriptions: (name, Frictionless type, OGR type, description).
SAMPLE_FIELDS = [
    ("sample_id", "integer", "Integer64", "The portal's id of the sample (/api/v1/samples/<id>)."),
    ("sample", "string", "String", "The sample's code in its survey."),
    ("site_code", "string", "String", "The site's code; later rounds at the site keep it."),
    ("survey", "string", "String", "The survey's slug (see CITATION.cff)."),
    ("country", "string", "String", "ISO 3166 alpha-3 code of the sample's country."),
    ("medium", "string", "String", "Sampled medium (topsoil, stream sediment, ...)."),
    ("survey_year", "integer", "Integer", "Campaign year of the survey."),
    ("monitoring_round", "integer", "Integer", "Monitoring round of the survey (1 = first)."),
    ("sampled_on", "date", "Date", "Sampling date, where reported."),
    ("depth", "string", "String", "Sampling depth as reported."),
    (
        "longitude", "number", "Real",
        "Degrees east, WGS84 (EPSG:4326), as you may see it: exact, or the centre of 'cell'.",
    ),
    (
        "latitude", "number", "Real",
        "Degrees north, WGS84 (EPSG:4326), as you may see it: exact, or the centre of 'cell'.",
    ),
    (
        "location_precision_km", "number", "Real",
        "Empty: exact location. Else the size in km of the cell whose centre is given.",
    ),
    (
        "cell", "string", "String",
        "The grid cell (the portal's nested equal-area grid) the location was snapped to; "
        "empty if exact.",
    ),
]  # fmt: skip
MEASUREMENT_FIELDS = [
    ("measurement_id", "integer", "Integer64", "The portal's id of the measurement."),
    *SAMPLE_FIELDS,
    ("element", "string", "String", "Element symbol."),
    ("method", "string", "String", "Analytical method as the survey names it."),
    (
        "value_mg_kg", "number", "Real",
        "Concentration in mg/kg of the element; empty when below the detection limit.",
    ),
    (
        "censored", "boolean", "String",
        "true: below the detection limit (value_mg_kg empty, detection_limit_mg_kg set).",
    ),
    (
        "detection_limit_mg_kg", "number", "Real",
        "Detection limit in mg/kg of the element that applied to the value (a censored value's "
        "own, else the method's for the survey), where one is known.",
    ),
    (
        "reported_value", "number", "Real",
        "The number as reported, in reported_unit and reported_species (the limit if censored).",
    ),
    ("reported_unit", "string", "String", "Unit as reported (converted to mg/kg in value_mg_kg)."),
    (
        "reported_species", "string", "String",
        "Element or oxide as reported (e.g. Fe2O3); values are converted to the element.",
    ),
]  # fmt: skip


class PackageRefused(Exception):
    """A build that must not go on (over the limit, licence not accepted at run time); its
    message is shown to the viewer."""


@dataclass
class Built:
    file_name: str
    size_bytes: int
    sha256: str
    rows_written: int


# --- streaming the rows --------------------------------------------------------------------------


class HashingWriter:
    """Writes to a binary file object while counting bytes and computing the SHA-256."""

    def __init__(self, handle) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data) -> None:
        self.digest.update(data)
        self.size += len(data)
        self.handle.write(data)


def copy_table(table: Table, out, progress: Callable[[int], None] | None = None) -> int:
    """Write ``table`` as CSV (header, then ``COPY … TO STDOUT``) to ``out``; returns the rows.

    The statement is the gated querysets' own SQL (``sql_with_params``) with its parameters
    bound by psycopg (``mogrify``, the driver's quoting), never ``str(queryset.query)``
    (``Table.statement``).
    """
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(table.columns)
    out.write(header.getvalue().encode())
    rows = 0
    next_report = time.monotonic() + PROGRESS_SECONDS
    with connection.cursor() as cursor:
        statement = table.statement(cursor.cursor)
        block = bytearray()
        with cursor.cursor.copy(f"COPY ({statement}) TO STDOUT WITH (FORMAT csv)") as copy:
            for data in copy:  # one row per message
                block += data
                rows += 1
                if len(block) >= BLOCK_BYTES:
                    out.write(bytes(block))
                    block.clear()
                    if progress is not None and time.monotonic() >= next_report:
                        progress(rows)
                        next_report = time.monotonic() + PROGRESS_SECONDS
        if block:
            out.write(bytes(block))
    if progress is not None:
        progress(rows)
    return rows


# --- the package ---------------------------------------------------------------------------------


def build(job: DownloadJob, scope: Scope, contents: Contents, progress) -> Built:
    """Write the package of ``job`` for ``scope`` (its rows counted in ``contents``)."""
    query = DownloadQuery.from_json(job.query)

    def write(archive, work: Path) -> int:
        written = _write_data(archive, work, query, scope, contents, progress)
        _write_documents(archive, job, query, scope, contents, written)
        return written.rows

    return assemble(job, write)


def assemble(job: DownloadJob, write: Callable[[zipfile.ZipFile, Path], int]) -> Built:
    """The zip of ``job``: ``write(archive, work)`` fills it (``work`` is a scratch directory of
    this build) and returns the rows written. Written under ``DOWNLOAD_ROOT/tmp`` and published
    to the package storage when complete (``downloads/storage.py``: moved into place, or uploaded
    to S3), so a package appears whole or not at all."""
    root = Path(settings.DOWNLOAD_ROOT)
    work = root / "tmp" / str(job.public_id)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    partial = work / job.download_name
    try:
        with zipfile.ZipFile(
            partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True
        ) as archive:
            rows = write(archive, work)
        digest = file_sha256(partial)
        size = partial.stat().st_size
        file_name = storage.publish(partial, f"packages/{job.download_name}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Built(file_name=file_name, size_bytes=size, sha256=digest, rows_written=rows)


@dataclass
class DataFile:
    name: str
    kind: str  # "table" (CSV) or "file" (GeoPackage, Parquet, GeoTIFF)
    mediatype: str
    size: int
    sha256: str
    fields: list[tuple[str, str, str, str]]
    rows: int
    # A file that is not a table of rows says what it is (datapackage.json) and how big it is
    # (datacite.json); empty: the defaults of the table formats.
    description: str = ""
    extent: str = ""


def _element_fields(contents: Contents) -> list[tuple[str, str, str, str]]:
    fields = []
    for element in contents.elements:
        fields.append(
            (f"{element.symbol}_mg_kg", "number", "Real",
             f"{element.name_en} ({element.symbol}) in mg/kg; empty when below the detection "
             f"limit or not measured.")
        )  # fmt: skip
        fields.append(
            (f"{element.symbol}_dl_mg_kg", "number", "Real",
             f"Detection limit of {element.symbol} in mg/kg, set only where {element.symbol} was "
             f"below it.")
        )  # fmt: skip
    return fields


def _write_data(archive, work: Path, query: DownloadQuery, scope, contents, progress) -> DataFile:
    if query.format == "csv":
        table = long_rows(scope, query)
        with archive.open("measurements.csv", "w", force_zip64=True) as entry:
            out = HashingWriter(entry)
            rows = copy_table(table, out, progress)
        return DataFile("measurements.csv", "table", "text/csv", out.size,
                        out.digest.hexdigest(), MEASUREMENT_FIELDS, rows)  # fmt: skip
    table = wide_rows(scope, query, contents.elements)
    fields = SAMPLE_FIELDS + _element_fields(contents)
    if query.format == "csv-wide":
        with archive.open("samples.csv", "w", force_zip64=True) as entry:
            out = HashingWriter(entry)
            rows = copy_table(table, out, progress)
        return DataFile("samples.csv", "table", "text/csv", out.size,
                        out.digest.hexdigest(), fields, rows)  # fmt: skip
    source = work / "samples.csv"
    with source.open("wb") as handle:
        rows = copy_table(table, handle, progress)
    if query.format == "gpkg":
        target, mediatype = work / "samples.gpkg", "application/geopackage+sqlite3"
        _csv_to_gpkg(source, target, fields)
    else:
        target, mediatype = work / "samples.parquet", "application/vnd.apache.parquet"
        _csv_to_geoparquet(source, target, fields)
    archive.write(target, target.name)
    return DataFile(target.name, "file", mediatype, target.stat().st_size, file_sha256(target),
                    fields, rows)  # fmt: skip


def _csv_to_gpkg(source: Path, target: Path, fields) -> None:
    """GDAL's ogr2ogr reads the wide CSV (column types from a .csvt beside it) into a point
    layer ``samples`` in EPSG:4326, with a spatial index."""
    source.with_suffix(".csvt").write_text(",".join(f'"{f[2]}"' for f in fields) + "\n")
    result = subprocess.run(
        [
            "ogr2ogr", "-f", "GPKG", str(target), str(source),
            "-nln", "samples", "-a_srs", "EPSG:4326", "-gt", "65536",
            "-oo", "X_POSSIBLE_NAMES=longitude", "-oo", "Y_POSSIBLE_NAMES=latitude",
            "-oo", "KEEP_GEOM_COLUMNS=YES", "-oo", "EMPTY_STRING_AS_NULL=YES",
            "-lco", "SPATIAL_INDEX=YES", "-lco", "IDENTIFIER=Chemical Earth samples",
        ],
        capture_output=True,
        text=True,
        timeout=settings.DOWNLOAD_TASK_TIME_LIMIT,
        env={**os.environ, "OGR_SQLITE_SYNCHRONOUS": "OFF"},
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"ogr2ogr failed ({result.returncode}): {result.stderr[-1000:]}")


def _csv_to_geoparquet(source: Path, target: Path, fields) -> None:
    """pyarrow reads the wide CSV in blocks (typed by ``fields``) and writes GeoParquet 1.1:
    a WKB point column ``geometry`` in OGC:CRS84 (longitude, latitude)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    arrow_types = {
        "integer": pa.int64(), "number": pa.float64(), "string": pa.string(),
        "date": pa.date32(), "boolean": pa.bool_(),
    }  # fmt: skip
    column_types = {name: arrow_types[kind] for name, kind, _, _ in fields}
    reader = pacsv.open_csv(
        source,
        read_options=pacsv.ReadOptions(block_size=1 << 24),
        convert_options=pacsv.ConvertOptions(
            column_types=column_types, strings_can_be_null=True, quoted_strings_can_be_null=False
        ),
    )
    geo = {
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"]}},
    }
    schema = reader.schema.append(pa.field("geometry", pa.binary()))
    schema = schema.with_metadata({b"geo": json.dumps(geo).encode()})
    point = np.dtype([("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])
    with pq.ParquetWriter(target, schema, compression="zstd") as writer:
        for batch in reader:
            n = batch.num_rows
            wkb = np.zeros(n, dtype=point)
            wkb["order"], wkb["type"] = 1, 1  # little-endian Point
            wkb["x"] = batch.column("longitude").to_numpy(zero_copy_only=False)
            wkb["y"] = batch.column("latitude").to_numpy(zero_copy_only=False)
            offsets = np.arange(0, (n + 1) * point.itemsize, point.itemsize, dtype=np.int32)
            geometry = pa.Array.from_buffers(
                pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(wkb.tobytes())]
            )
            columns = [*batch.columns, geometry]
            writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=schema))


# --- the documents -------------------------------------------------------------------------------


def _country_codes(contents: Contents) -> dict[int, Country]:
    """The countries whose rows made the package (pre-release ones of a layer included)."""
    return {c.pk: c for c in Country.objects.filter(pk__in=contents.cited_country_ids)}


def row_counts(contents: Contents, scope: Scope) -> dict:
    """Rows per survey, per country and per (survey, country) with its location precision."""
    surveys = dict(Survey.objects.filter(pk__in=contents.survey_ids).values_list("pk", "slug"))
    countries = {pk: c.code for pk, c in _country_codes(contents).items()}
    by_survey: dict[str, dict[str, int]] = {}
    by_country: dict[str, dict[str, int]] = {}
    pairs = []
    for (survey_id, country_id), n in sorted(contents.by_survey_country.items()):
        slug, code = surveys[survey_id], countries[country_id]
        for bucket, key in ((by_survey, slug), (by_country, code)):
            entry = bucket.setdefault(key, {"measurements": 0, "samples": 0})
            entry["measurements"] += n["measurements"]
            entry["samples"] += n["samples"]
        precision = scope.precision_for_sample(country_id, survey_id)
        pairs.append(
            {
                "survey": slug,
                "country": code,
                **n,
                "location_precision_km": None if not precision else precision / 1000,
            }
        )
    return {
        "measurements": contents.measurements,
        "samples": contents.samples,
        "by_survey": by_survey,
        "by_country": by_country,
        "by_survey_and_country": pairs,
    }


def _write_documents(
    archive,
    job,
    query,
    scope,
    contents,
    data: DataFile,
    *,
    readme_text: Callable[..., str] | None = None,
    manifest_extra: dict | None = None,
) -> None:
    """The companions of the data file and SHA256SUMS. A format whose data is not rows gives its
    own README (``readme_text``, called like ``readme``) and adds to the manifest."""
    surveys = surveys_of(contents)
    counts = row_counts(contents, scope)
    licences = licences_of(job, scope, contents)
    created = timezone.now().replace(microsecond=0)
    documents = {
        "README.txt": (readme_text or readme)(job, query, contents, counts, data, created, surveys),
        "LICENSE.txt": licence_text(job, licences, surveys, created),
        "CITATION.cff": citation_cff(job, surveys, created),
        "CITATION.bib": citation_bib(job, surveys, created),
        "manifest.json": json.dumps(
            manifest(job, query, scope, counts, contents, data, created) | (manifest_extra or {}),
            indent=2,
            ensure_ascii=False,
        )
        + "\n",
    }
    documents["datacite.json"] = json.dumps(
        {"data": {"type": "dois", "attributes": datacite(job, query, surveys, licences, counts,
                                                         data, created)}},
        indent=2,
        ensure_ascii=False,
    ) + "\n"  # fmt: skip
    documents["datapackage.json"] = (
        json.dumps(datapackage(job, data, surveys, licences, created), indent=2, ensure_ascii=False)
        + "\n"
    )
    job.datacite = json.loads(documents["datacite.json"])["data"]["attributes"]
    sums = {data.name: data.sha256}
    for name, text in documents.items():
        raw = text.encode()
        sums[name] = hashlib.sha256(raw).hexdigest()
        archive.writestr(name, raw)
    archive.writestr(
        "SHA256SUMS", "".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items()))
    )


@dataclass
class Licence:
    title: str
    text: str
    url: str | None
    countries: list[str]


def licences_of(job: DownloadJob, scope: Scope, contents: Contents) -> list[Licence]:
    """The licences under which the package's rows were granted: each country's public release
    licence (policy in force), and the viewer's accepted agreements covering its countries, in
    the version accepted; rows seen as steward or staff are marked as such."""
    countries = _country_codes(contents)
    found: list[Licence] = []
    for policy in ReleasePolicy.objects.filter(country_id__in=countries, in_force=True):
        code = countries[policy.country_id].code
        text = f"Public release of {countries[policy.country_id].name_en}: {policy.licence}."
        if policy.citation:
            text += f"\nCite as: {policy.citation}"
        found.append(Licence(policy.licence, text, KNOWN_LICENCES.get(policy.licence), [code]))
    user = job.user
    if user is not None and user.is_active:
        accepted = {
            (a.agreement_id, a.licence_version): a
            for a in LicenceAcceptance.objects.filter(user=user)
        }
        agreements = Agreement.objects.filter(
            organisation__membership__user=user, countries__in=list(countries)
        ).distinct()
        for agreement in agreements.select_related("organisation").prefetch_related("countries"):
            acceptance = accepted.get((agreement.pk, agreement.licence_version))
            if acceptance is None or not agreement.is_valid_at(scope.now):
                continue
            codes = [c.code for c in agreement.countries.all() if c.pk in countries]
            found.append(
                Licence(
                    f"{agreement.title} ({agreement.organisation.name}), licence version "
                    f"{acceptance.licence_version}, accepted {acceptance.accepted_at:%Y-%m-%d}",
                    acceptance.licence_text,
                    None,
                    codes,
                )
            )
        stewarded = Stewardship.objects.filter(user=user, country_id__in=list(countries))
        for stewardship in stewarded:
            code = countries[stewardship.country_id].code
            found.append(
                Licence(
                    f"Stewardship of {code}",
                    "Rows seen as the country's data steward: not released beyond the "
                    "country's release policy; do not redistribute what the public may not see.",
                    None,
                    [code],
                )
            )
        if user.is_staff:
            found.append(
                Licence(
                    "Portal staff",
                    "Rows seen as portal staff (every row): not for redistribution beyond each "
                    "country's release policy.",
                    None,
                    sorted(c.code for c in countries.values()),
                )
            )
    return found


def readme(job, query, contents, counts, data: DataFile, created, surveys=()) -> str:
    lines = [
        "Chemical Earth download package",
        "=" * 31,
        "",
        f"Package: {job.public_id}",
        f"Created: {created.isoformat()}",
        f"Format: {query.format} ({data.name})",
        f"Policy version: {job.policy_version}   Data version: {job.data_version}",
        f"Rows: {data.rows:,} ({counts['measurements']:,} values of {counts['samples']:,} samples)",
        "",
        "Only the rows your access allowed when the package was built are included: each",
        "country's data-release policy, your agreements (after acceptance of their licence) and",
        "your other rights. Confidential elements you may not see are absent.",
        "",
        *synthetic_notice(surveys),
        "Files",
        "-----",
        f"{data.name:<18} the data",
        "README.txt         this file",
        "LICENSE.txt        the licences under which the rows were granted to you",
        "CITATION.cff/.bib  how to cite the package and each survey",
        "datapackage.json   Frictionless Data Package descriptor (schema, size, SHA-256)",
        "manifest.json      the query, policy and data versions, rows per survey and country",
        "datacite.json      DataCite metadata of the package (for minting a DOI)",
        "SHA256SUMS         checksums of every other file: sha256sum -c SHA256SUMS",
        "",
        "Units and detection limits",
        "--------------------------",
        f"Every concentration is in {units.CANONICAL_UNIT} of the element (ppm), converted from",
        "the unit and species each survey reported (oxides by stoichiometric factor, e.g.",
        "Fe2O3 -> Fe x 0.6994). Values below the detection limit are not given as numbers:",
    ]
    if query.wide:
        lines += [
            "the element's <El>_mg_kg column is empty and <El>_dl_mg_kg holds the limit. An",
            "element's columns are both empty where the sample has no value you may see.",
        ]
    else:
        lines += [
            "value_mg_kg is empty, censored is true and detection_limit_mg_kg holds the limit;",
            "reported_value keeps the number as reported (the limit, in the reported unit).",
        ]
    fraction = units.CENSORED_SUBSTITUTE_FRACTION
    lines += [
        f"The portal's statistics and maps substitute DL x {fraction:g} (DL/2) for such values",
        "and report how many were censored; this package substitutes nothing, so you may",
        "choose another rule.",
        "",
        "Coordinates",
        "-----------",
        "longitude and latitude are in degrees, WGS84 (EPSG:4326; GeoParquet: OGC:CRS84),",
        "rounded to 6 decimals. Where a country's policy or your agreement allows locations",
        "only at a grid precision, the location is the centre of the sample's grid cell of",
        "that size (the cell is named in 'cell'; cells are longitude/latitude rectangles of the",
        "portal's equal-area grid, about as wide as tall on the ground, see the portal's",
        "documentation). Precision by survey and country:",
        "",
    ]
    for pair in counts["by_survey_and_country"]:
        km = pair["location_precision_km"]
        shown = "exact" if km is None else f"{km:g} km cell centres"
        lines.append(
            f"  {pair['survey']} / {pair['country']}: {shown} "
            f"({pair['samples']:,} samples, {pair['measurements']:,} values)"
        )
    if not counts["by_survey_and_country"]:
        lines.append("  (no rows)")
    lines += ["", "Columns", "-------"]
    for name, kind, _, description in data.fields:
        lines.append(f"{name} ({kind}): {description}")
    if not query.wide:
        lines += ["", "One row per measurement (each survey's preferred method per element"]
        lines += ["unless every method was asked for)."]
    else:
        lines += ["", "One row per sample; each survey's preferred method per element."]
    if not contents.elements:
        lines += ["", "No element columns: the query selected no rows you may see."]
    return "\n".join(lines) + "\n"


def synthetic_notice(surveys) -> list[str]:
    """README lines naming the package's synthetic surveys (none if it has none)."""
    synthetic = [survey for survey in surveys if survey.synthetic]
    if not synthetic:
        return []
    lines = [
        "SYNTHETIC DATA",
        "--------------",
        "Rows of these surveys are generated values, not measurements (for demonstration",
        "only); do not use them for any assessment:",
    ]
    lines += [f"  {survey.slug}: {survey.name}" for survey in synthetic]
    return [*lines, ""]


def _title(survey: Survey) -> str:
    """A survey's name for citations, marked if synthetic and its name does not say so."""
    if survey.synthetic and "synthetic" not in survey.name.lower():
        return f"{survey.name} [SYNTHETIC DATA]"
    return survey.name


def licence_text(job, licences: list[Licence], surveys: list[Survey], created) -> str:
    lines = [
        "Licences of Chemical Earth download package " + str(job.public_id),
        "",
        "The rows of this package were granted to you under the following licences. Each",
        "applies to the rows of the countries it names.",
        "",
    ]
    for licence in licences:
        lines += [f"== {licence.title} [{', '.join(licence.countries)}]", licence.text.strip()]
        if licence.url:
            lines.append(licence.url)
        lines.append("")
    if not licences:
        lines += ["(no rows)", ""]
    lines += ["Surveys", "-------"]
    for survey in surveys:
        lines.append(f"{survey.name}: {survey.licence or 'licence as above'}")
    return "\n".join(lines) + "\n"


def _yaml(text) -> str:
    """A YAML double-quoted scalar (JSON strings are YAML)."""
    return json.dumps(str(text), ensure_ascii=False)


def citation_cff(job, surveys: list[Survey], created) -> str:
    lines = [
        "cff-version: 1.2.0",
        "message: If you use these data, cite this package and the surveys it draws on.",
        "type: dataset",
        f"title: {_yaml(f'Chemical Earth download package {job.public_id}')}",
        "authors:",
        "  - name: Chemical Earth",
        f"date-released: {created.date().isoformat()}",
        "identifiers:",
        "  - type: other",
        f"    value: {_yaml(f'urn:uuid:{job.public_id}')}",
        "    description: The package's id",
    ]
    if surveys:
        lines.append("references:")
    for survey in surveys:
        lines += [
            "  - type: dataset",
            f"    title: {_yaml(_title(survey))}",
            "    authors:",
            f"      - name: {_yaml(survey.laboratory or survey.name)}",
        ]
        if survey.year:
            lines.append(f"    year: {survey.year}")
        if survey.citation:
            lines.append(f"    notes: {_yaml(survey.citation)}")
        if survey.licence:
            lines.append(f"    license-url: {_yaml(survey.licence)}" if "://" in survey.licence
                         else f"    abstract: {_yaml('Licence: ' + survey.licence)}")  # fmt: skip
    return "\n".join(lines) + "\n"


def _bib(text) -> str:
    special = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "%": r"\%", "&": r"\&",
               "#": r"\#", "_": r"\_", "$": r"\$", "~": r"\textasciitilde{}",
               "^": r"\textasciicircum{}"}  # fmt: skip
    return "".join(special.get(ch, ch) for ch in str(text))


def citation_bib(job, surveys: list[Survey], created) -> str:
    entries = [
        "@misc{chemearth_" + job.public_id.hex[:12] + ",\n"
        f"  title = {{Chemical Earth download package {job.public_id}}},\n"
        "  author = {{Chemical Earth}},\n"
        f"  year = {{{created.year}}},\n"
        f"  note = {{urn:uuid:{job.public_id}; policy version {_bib(job.policy_version)}, "
        f"data version {_bib(job.data_version)}}}\n"
        "}\n"
    ]
    for survey in surveys:
        fields = [f"  title = {{{_bib(_title(survey))}}}"]
        fields.append(f"  author = {{{{{_bib(survey.laboratory or survey.name)}}}}}")
        if survey.year:
            fields.append(f"  year = {{{survey.year}}}")
        if survey.citation:
            fields.append(f"  note = {{{_bib(survey.citation)}}}")
        if survey.licence:
            fields.append(f"  howpublished = {{Licence: {_bib(survey.licence)}}}")
        key = "".join(ch if ch.isalnum() else "_" for ch in survey.slug)
        entries.append("@misc{" + key + ",\n" + ",\n".join(fields) + "\n}\n")
    return "\n".join(entries)


def manifest(job, query, scope, counts, contents, data: DataFile, created) -> dict:
    return {
        "package": str(job.public_id),
        "created": created.isoformat(),
        "format": query.format,
        "data_file": data.name,
        "query": query.as_json(),
        "policy_version": job.policy_version,
        "data_version": job.data_version,
        "viewer": {
            "user": job.user.get_username() if job.user else None,
            "audience": scope.audience,
        },
        "elements": [e.symbol for e in contents.elements],
        "rows": {
            "file": data.rows,
            "measurements": counts["measurements"],
            "samples": counts["samples"],
        },  # fmt: skip
        "by_survey": counts["by_survey"],
        "by_country": counts["by_country"],
        "by_survey_and_country": counts["by_survey_and_country"],
        "pending_licences": [licence.title for licence in scope.pending_licences],
    }


def datapackage(job, data: DataFile, surveys: list[Survey], licences, created) -> dict:
    resource = {
        "name": Path(data.name).stem,
        "path": data.name,
        "type": data.kind,
        "format": Path(data.name).suffix.lstrip("."),
        "mediatype": data.mediatype,
        "bytes": data.size,
        "hash": f"sha256:{data.sha256}",
    }
    if data.kind == "table":
        resource["encoding"] = "utf-8"
        resource["dialect"] = {"delimiter": ",", "quoteChar": '"', "header": True}
        fields = []
        for name, kind, _, description in data.fields:
            field = {"name": name, "type": kind, "description": description}
            if kind == "boolean":
                field["trueValues"], field["falseValues"] = ["true"], ["false"]
            fields.append(field)
        key = "measurement_id" if data.name == "measurements.csv" else "sample_id"
        resource["schema"] = {"fields": fields, "missingValues": [""], "primaryKey": [key]}
    elif data.description:
        resource["description"] = data.description
    else:
        resource["description"] = "Columns as in README.txt; " + (
            "layer 'samples', EPSG:4326." if data.name.endswith(".gpkg") else
            "GeoParquet 1.1, WKB point column 'geometry' (OGC:CRS84)."
        )  # fmt: skip
    seen = set()
    package_licences = []
    for licence in licences:
        if licence.title in seen:
            continue
        seen.add(licence.title)
        package_licences.append({"title": licence.title, "path": licence.url or "LICENSE.txt"})
    return {
        "name": f"chemearth-{job.public_id}",
        "id": f"urn:uuid:{job.public_id}",
        "title": f"Chemical Earth download package {job.public_id}",
        "description": "Geochemical baselines as the requester may see them; see README.txt.",
        "created": created.isoformat().replace("+00:00", "Z"),
        "version": f"policy {job.policy_version}; data {job.data_version}",
        "licenses": package_licences or [{"title": "See LICENSE.txt", "path": "LICENSE.txt"}],
        "sources": [
            {"title": _title(survey) + (f". {survey.citation}" if survey.citation else "")}
            for survey in surveys
        ],
        "resources": [resource],
    }


def datacite(job, query, surveys, licences, counts, data: DataFile, created) -> dict:
    """DataCite (REST API) attributes of a package: everything but the DOI and landing URL,
    which an operator adds when minting."""
    attributes = {
        "types": {"resourceTypeGeneral": "Dataset", "resourceType": "Geochemical data package"},
        "titles": [{"title": f"Chemical Earth download package {job.public_id}"}],
        "creators": [{"name": "Chemical Earth", "nameType": "Organizational"}],
        "publisher": "Chemical Earth",
        "publicationYear": created.year,
        "dates": [{"date": created.date().isoformat(), "dateType": "Created"}],
        "alternateIdentifiers": [
            {"alternateIdentifier": f"urn:uuid:{job.public_id}", "alternateIdentifierType": "URN"}
        ],
        "descriptions": [
            {
                "description": (
                    f"{counts['measurements']:,} measurements of {counts['samples']:,} samples "
                    f"from {len(surveys)} survey(s), as released to the requester under each "
                    f"country's data-release policy (policy version {job.policy_version}, data "
                    f"version {job.data_version})."
                ),
                "descriptionType": "Abstract",
            }
        ],
        "subjects": [{"subject": "geochemical baselines"}]
        + [{"subject": symbol} for symbol in (query.elements or [])],
        "rightsList": [
            {"rights": licence.title, **({"rightsUri": licence.url} if licence.url else {})}
            for licence in licences
        ],
        "relatedItems": [
            {
                "relationType": "IsDerivedFrom",
                "relatedItemType": "Dataset",
                "titles": [{"title": survey.name}],
                **({"publicationYear": str(survey.year)} if survey.year else {}),
            }
            for survey in surveys
        ],
        "formats": ["application/zip", data.mediatype],
        "sizes": [data.extent or f"{data.rows} rows"],
        "version": f"policy {job.policy_version}; data {job.data_version}",
    }
    if query.bbox:
        west, south, east, north = query.bbox
        attributes["geoLocations"] = [
            {"geoLocationBox": {"westBoundLongitude": west, "eastBoundLongitude": east,
                                "southBoundLatitude": south, "northBoundLatitude": north}}
        ]  # fmt: skip
    return attributes
