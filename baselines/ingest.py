"""Survey ingestion: a CSV or GeoPackage of samples becomes samples and measurements in PostGIS.

The service validates the whole file before it writes anything, and writes in one transaction, so a
file either loads completely or not at all. Every problem names the file, the row (counted as in a
spreadsheet: the header is row 1), the column and the reason. Loading uses PostgreSQL COPY; values
are parsed column by column with numpy, so Python does no per-cell work on the hot path.

Ingesting a file again adds nothing: samples already in the survey are skipped, and an identical
file (same SHA-256) is recognised before it is read.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection, transaction
from django.utils.text import slugify
from psycopg.copy import QueuedLibpqWriter

from . import grid, units
from .models import (
    Analyte,
    Country,
    CountryPart,
    Element,
    Ingestion,
    Measurement,
    Medium,
    Sample,
    Survey,
)
from .storage import PARTITION_PREFIX, lock_for_writing

CHUNK_ROWS = 50_000

# Header names recognised for the non-element columns (compared in lower case).
ID_COLUMNS = ("sample_id", "sample", "sampleid", "sample_code", "sample_no", "lab_id", "id")
SITE_COLUMNS = ("site_id", "site", "site_code", "siteid", "station")
LON_COLUMNS = ("longitude", "lon", "long", "lng", "x_wgs84")
LAT_COLUMNS = ("latitude", "lat", "y_wgs84")
X_COLUMNS = ("x", "easting", "east", "e", "x_m", "xcoo")
Y_COLUMNS = ("y", "northing", "north", "n", "y_m", "ycoo")
COUNTRY_COLUMNS = ("country_iso3", "country", "iso3", "country_code", "iso_a3")
DEPTH_COLUMNS = ("depth", "depth_cm", "sample_depth")
DATE_COLUMNS = ("collection_date", "sampled_on", "sample_date", "sampling_date", "date")
FLAG_SUFFIXES = ("_flag", "_qual", "_qualifier", " flag", "_dl_flag", "_q")
# Methods that give totals; preferred over partial extractions when an element has several.
TOTAL_METHODS = ("XRF", "INAA", "FA", "ICP-MS_4ACID", "ICPMS", "ICP-MS", "ICP-AES", "ICPAES")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a file, precise enough to fix it."""

    file: str
    reason: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return ", ".join(where) + ": " + self.reason


class IngestError(Exception):
    """The file cannot be loaded; nothing was written. ``problems`` lists why."""

    def __init__(self, problems: list[Problem], total: int | None = None):
        self.problems = problems
        self.total = total if total is not None else len(problems)
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class IngestOptions:
    survey: str
    medium: str
    scale_km: float
    country: str | None = None
    year: int | None = None
    monitoring_round: int = 1
    citation: str = ""
    licence: str = ""
    crs: str | None = None
    encoding: str = "utf-8"
    detection_limits: Path | None = None
    skip_columns: tuple[str, ...] = ()
    prefer_methods: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False
    max_errors: int = settings.INGEST_MAX_ERRORS


@dataclass
class IngestReport:
    file: str
    survey: str
    rows: int = 0
    samples_added: int = 0
    samples_skipped: int = 0
    measurements_added: int = 0
    censored: int = 0
    element_columns: dict[str, str] = field(default_factory=dict)  # header → "Cu (XRF, %)"
    preferred: dict[str, str] = field(default_factory=dict)  # symbol → method
    attribute_columns: list[str] = field(default_factory=list)
    skipped_columns: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    countries: dict[str, int] = field(default_factory=dict)
    already_ingested: bool = False
    dry_run: bool = False

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


Progress = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int, total: int) -> None:
    pass


class _Problems:
    """Collects problems up to a limit, counting the rest."""

    def __init__(self, file: str, limit: int):
        self.file, self.limit, self.items, self.total = file, limit, [], 0

    def add(self, reason: str, row: int | None = None, column: str | None = None) -> None:
        self.total += 1
        if len(self.items) < self.limit:
            self.items.append(Problem(self.file, reason, row, column))

    def add_rows(self, mask: np.ndarray, first_row: int, column: str, reason: Callable) -> None:
        """One problem per flagged row of a chunk; ``reason(i)`` words it for chunk index i."""
        idx = np.flatnonzero(mask)
        self.total += len(idx)
        room = self.limit - len(self.items)
        for i in idx[: max(room, 0)]:
            self.items.append(Problem(self.file, reason(int(i)), first_row + int(i), column))

    def raise_if_any(self) -> None:
        if self.total:
            raise IngestError(self.items, self.total)


# --- reading -------------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_text(path: Path, encoding: str, problems: _Problems) -> str:
    data = path.read_bytes()
    if not data.strip():
        problems.add("the file is empty")
        problems.raise_if_any()
    try:
        # utf-8-sig drops a byte-order mark, which spreadsheet programs like to write.
        text = data.decode("utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problems.add(
            f"the file is not valid {encoding} (byte 0x{data[exc.start]:02x} at line {line}); "
            "re-save it as UTF-8 or give its encoding with --encoding, e.g. --encoding latin-1",
            row=line,
        )
        problems.raise_if_any()
    except LookupError:
        problems.add(f"unknown encoding {encoding!r}")
        problems.raise_if_any()
    return text


def _csv_chunks(text: str, problems: _Problems) -> tuple[list[str], Iterator[pd.DataFrame]]:
    first_line = text.split("\n", 1)[0]
    header = next(csv.reader([first_line]))
    if not any(h.strip() for h in header):
        problems.add("the file has no header row", row=1)
        problems.raise_if_any()
    reader = pd.read_csv(
        io.StringIO(text),
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        chunksize=CHUNK_ROWS,
        skipinitialspace=True,
    )

    def chunks() -> Iterator[pd.DataFrame]:
        try:
            for frame in reader:
                frame.columns = [str(c).strip() for c in frame.columns]
                yield frame
        except pd.errors.ParserError as exc:
            match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
            if match:
                problems.add(
                    f"expected {match[1]} fields, found {match[3]} (a stray comma or quote?)",
                    row=int(match[2]),
                )
            else:
                problems.add(f"the file is not valid CSV: {exc}")
            problems.raise_if_any()

    return [h.strip() for h in header], chunks()


def _geopackage_chunks(path: Path, problems: _Problems) -> tuple[list[str], Iterator[pd.DataFrame]]:
    from django.contrib.gis.gdal import CoordTransform, DataSource, SpatialReference
    from django.contrib.gis.gdal.error import GDALException

    try:
        layer = DataSource(str(path))[0]
    except (GDALException, IndexError) as exc:
        problems.add(f"cannot open as a GeoPackage: {exc}")
        problems.raise_if_any()
    transform = None
    if layer.srs is not None and layer.srs.srid != 4326:
        transform = CoordTransform(layer.srs, SpatialReference(4326))
    names = list(layer.fields)
    # The geometry is the location; attribute columns of the same name (as ogr2ogr keeps from a
    # CSV) are overwritten by it rather than read twice.
    coordinate_names = [n for n in ("longitude", "latitude") if n not in names]
    records = []
    for feature in layer:
        geom = feature.geom
        if transform is not None:
            geom.transform(transform)
        row = {
            name: "" if feature[name].value is None else str(feature[name].value) for name in names
        }
        row["longitude"], row["latitude"] = repr(geom.x), repr(geom.y)
        records.append(row)
    frame = pd.DataFrame.from_records(records, columns=[*names, *coordinate_names])
    return list(frame.columns), iter([frame] if len(frame) else [])


def _read_detection_limits(path: Path, problems: _Problems) -> dict[str, float]:
    """A table of detection limits: columns ``column`` and ``detection_limit`` (in its unit)."""
    limits: dict[str, float] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for n, row in enumerate(csv.DictReader(handle), start=2):
            try:
                limits[row["column"].strip()] = float(row["detection_limit"])
            except (KeyError, TypeError, ValueError):
                problems.add(
                    "needs columns 'column' and 'detection_limit' with a number",
                    row=n,
                    column="detection_limit",
                )
    return limits


# --- column roles --------------------------------------------------------------------------------


@dataclass
class _Columns:
    sample_id: str
    site: str | None
    x: str
    y: str
    country: str | None
    depth: str | None
    date: str | None
    elements: list[units.ElementColumn]
    flags: dict[str, str]  # element header → its flag column
    attributes: list[str]
    skipped: list[str]


def _pick(header: list[str], names: tuple[str, ...]) -> str | None:
    by_lower = {h.lower(): h for h in header}
    for name in names:
        if name in by_lower:
            return by_lower[name]
    return None


def _classify(header: list[str], options: IngestOptions, problems: _Problems) -> _Columns:
    seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        if not name:
            problems.add(f"column {position} has no name", row=1)
        elif name in seen:
            problems.add(f"column name repeated (columns {seen[name]} and {position})", 1, name)
        seen.setdefault(name, position)

    sample_id = _pick(header, ID_COLUMNS)
    if sample_id is None:
        problems.add("no sample id column (expected one of: " + ", ".join(ID_COLUMNS) + ")", 1)
    if options.crs:
        x, y = (
            _pick(header, X_COLUMNS) or _pick(header, LON_COLUMNS),
            _pick(header, Y_COLUMNS) or _pick(header, LAT_COLUMNS),
        )
    else:
        x, y = _pick(header, LON_COLUMNS), _pick(header, LAT_COLUMNS)
    if x is None or y is None:
        if not options.crs and _pick(header, X_COLUMNS) and _pick(header, Y_COLUMNS):
            problems.add("coordinates are in x/y columns: give their CRS with --crs EPSG:n", 1)
        else:
            problems.add("no coordinate columns (expected longitude and latitude)", 1)

    taken = {sample_id, x, y}
    roles = {
        "site": _pick(header, SITE_COLUMNS),
        "country": _pick(header, COUNTRY_COLUMNS),
        "depth": _pick(header, DEPTH_COLUMNS),
        "date": _pick(header, DATE_COLUMNS),
    }
    taken |= set(roles.values())
    skip = {s.strip() for s in options.skip_columns}
    unknown_skips = skip - set(header)
    for name in sorted(unknown_skips):
        problems.add("--skip-columns names a column the file does not have", 1, name)

    elements: list[units.ElementColumn] = []
    attributes: list[str] = []
    skipped: list[str] = []
    flags: dict[str, str] = {}
    lower_to_header = {h.lower(): h for h in header}
    for name in header:
        if not name or name in taken:
            continue
        if name in skip:
            skipped.append(name)
            continue
        if any(name.lower().endswith(suffix) for suffix in FLAG_SUFFIXES):
            continue  # paired with its value column below
        try:
            column = units.parse_element_header(name)
        except units.UnknownElementColumn as exc:
            problems.add(str(exc).replace(f"column {name!r} ", ""), 1, name)
            continue
        except units.UnitError as exc:
            problems.add(str(exc).replace(f"column {name!r} ", ""), 1, name)
            continue
        if column is None:
            attributes.append(name)
            continue
        elements.append(column)
        for suffix in FLAG_SUFFIXES:
            flag = lower_to_header.get((name + suffix).lower()) or lower_to_header.get(
                (column.symbol + suffix).lower()
            )
            if flag:
                flags[name] = flag
                break
    for name in header:
        if (
            name
            and name not in taken
            and name not in skip
            and any(name.lower().endswith(s) for s in FLAG_SUFFIXES)
            and name not in flags.values()
        ):
            attributes.append(name)

    pairs: dict[tuple[str, str], str] = {}
    for column in elements:
        key = (column.symbol, column.method)
        if key in pairs:
            problems.add(
                f"{column.symbol} by method {column.method or '(none)'} is also in column "
                f"{pairs[key]!r}; give one of them a method suffix (e.g. {column.symbol}_XRF_pct) "
                "or skip it",
                1,
                column.header,
            )
        pairs[key] = column.header
    if not elements and sample_id:
        problems.add("no element columns recognised (headers such as Cu_ppm or SiO2_pct)", 1)

    return _Columns(
        sample_id=sample_id or "",
        site=roles["site"],
        x=x or "",
        y=y or "",
        country=roles["country"],
        depth=roles["depth"],
        date=roles["date"],
        elements=elements,
        flags=flags,
        attributes=attributes,
        skipped=skipped,
    )


# --- validation ----------------------------------------------------------------------------------


@dataclass
class _Parsed:
    """The whole file, validated, as arrays (one entry per data row)."""

    codes: np.ndarray
    sites: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    country_text: np.ndarray
    depth: np.ndarray
    dates: np.ndarray
    attributes: pd.DataFrame
    values: dict[str, units.ParsedValues]


def _country_lookup() -> dict[str, int]:
    lookup: dict[str, int] = {}
    for pk, a3, iso3, iso2 in Country.objects.values_list("pk", "adm0_a3", "iso_a3", "iso_a2"):
        for code in (a3, iso3, iso2):
            if code:
                lookup[code.upper()] = pk
    return lookup


def _transformer(crs: str, problems: _Problems):
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError

    try:
        source = CRS.from_user_input(crs)
    except CRSError:
        problems.add(f"--crs {crs!r} is not a coordinate reference system (e.g. EPSG:32635)")
        problems.raise_if_any()
    return source, Transformer.from_crs(source, 4326, always_xy=True)


def _validate_chunk(
    frame: pd.DataFrame,
    first_row: int,
    cols: _Columns,
    options: IngestOptions,
    limits: dict[str, float],
    crs,
    problems: _Problems,
) -> dict:
    n = len(frame)
    codes = frame[cols.sample_id].str.strip().to_numpy(dtype=object)
    problems.add_rows(codes == "", first_row, cols.sample_id, lambda i: "sample id is empty")

    raw_x, raw_y = frame[cols.x].str.strip(), frame[cols.y].str.strip()
    x = pd.to_numeric(raw_x, errors="coerce").to_numpy(dtype="f8")
    y = pd.to_numeric(raw_y, errors="coerce").to_numpy(dtype="f8")
    for name, raw, arr in ((cols.x, raw_x, x), (cols.y, raw_y, y)):
        bad = np.isnan(arr)
        problems.add_rows(bad, first_row, name, lambda i, r=raw: f"not a number: {r.iloc[i]!r}")
    if crs is None:
        lon, lat = x, y
        bad_lon = ~np.isnan(x) & ((x < -180) | (x > 180))
        bad_lat = ~np.isnan(y) & ((y < -90) | (y > 90))
        hint = "; projected coordinates? give their CRS with --crs EPSG:n"
        problems.add_rows(
            bad_lon, first_row, cols.x, lambda i: f"longitude {x[i]:g} is outside −180…180{hint}"
        )
        problems.add_rows(
            bad_lat, first_row, cols.y, lambda i: f"latitude {y[i]:g} is outside −90…90{hint}"
        )
    else:
        source, transformer = crs
        lon, lat = transformer.transform(x, y)
        lon, lat = np.asarray(lon, dtype="f8"), np.asarray(lat, dtype="f8")
        given = ~np.isnan(x) & ~np.isnan(y)
        bad = given & ~(np.isfinite(lon) & np.isfinite(lat))
        looks_like_degrees = np.zeros_like(given)
        if source.is_projected:
            # Degrees in the x/y columns of a projected CRS: the classic wrong-CRS mistake.
            looks_like_degrees = given & (np.abs(x) <= 180) & (np.abs(y) <= 90)
            problems.add_rows(
                looks_like_degrees,
                first_row,
                f"{cols.x}/{cols.y}",
                lambda i: (
                    f"({x[i]:g}, {y[i]:g}) look like longitude/latitude in degrees, not "
                    f"metres of {options.crs}; drop --crs if they are degrees"
                ),
            )
            bad &= ~looks_like_degrees
        area = source.area_of_use
        if area is not None:
            # Surveys use a UTM zone well beyond its 6° band (Kola's zone 35 runs to 35.4°E), so
            # allow a zone's width either side before calling the CRS wrong.
            margin = 6.0
            outside = (
                given
                & ~bad
                & ~looks_like_degrees
                & (
                    (lon < area.west - margin)
                    | (lon > area.east + margin)
                    | (lat < area.south - margin)
                    | (lat > area.north + margin)
                )
            )
            where = f"{area.west:g}…{area.east:g}°E, {area.south:g}…{area.north:g}°N"
            problems.add_rows(
                outside,
                first_row,
                f"{cols.x}/{cols.y}",
                lambda i: (
                    f"({x[i]:g}, {y[i]:g}) in {options.crs} is at ({lon[i]:.2f}°, "
                    f"{lat[i]:.2f}°), far outside its area of use ({where}): is the CRS right?"
                ),
            )
        problems.add_rows(
            bad,
            first_row,
            f"{cols.x}/{cols.y}",
            lambda i: f"({x[i]:g}, {y[i]:g}) cannot be transformed from {options.crs}",
        )
    zero = (lon == 0) & (lat == 0)
    problems.add_rows(
        zero, first_row, f"{cols.x}/{cols.y}", lambda i: "(0, 0) is a placeholder, not a location"
    )

    dates = np.full(n, None, dtype=object)
    if cols.date:
        raw_dates = frame[cols.date].str.strip()
        parsed = pd.to_datetime(raw_dates, errors="coerce", format="ISO8601")
        bad = (raw_dates != "").to_numpy() & parsed.isna().to_numpy()
        problems.add_rows(
            bad,
            first_row,
            cols.date,
            lambda i: f"not a date: {raw_dates.iloc[i]!r} (expected YYYY-MM-DD)",
        )
        dates = np.where(parsed.isna(), None, parsed.dt.date.astype(object)).astype(object)

    values: dict[str, units.ParsedValues] = {}
    for column in cols.elements:
        flag_name = cols.flags.get(column.header)
        parsed_values = units.parse_values(
            frame[column.header],
            flags=frame[flag_name] if flag_name else None,
            detection_limit=limits.get(column.header),
            zero_is_below_dl=column.header in limits,
        )
        raw = frame[column.header]
        problems.add_rows(
            parsed_values.invalid,
            first_row,
            column.header,
            lambda i, r=raw: (
                f"not a number: {r.iloc[i]!r}"
                + (" (use a decimal point)" if re.fullmatch(r"\d+,\d+", r.iloc[i].strip()) else "")
                + (
                    " (below detection without a limit: write <DL or give --detection-limits)"
                    if r.iloc[i].strip().lower() in units.BELOW_DL_WORDS
                    else ""
                )
            ),
        )
        values[column.header] = parsed_values

    return {
        "codes": codes,
        "sites": (frame[cols.site].str.strip().to_numpy(dtype=object) if cols.site else codes),
        "lon": lon,
        "lat": lat,
        "country_text": (
            frame[cols.country].str.strip().str.upper().to_numpy(dtype=object)
            if cols.country
            else np.full(n, "", dtype=object)
        ),
        "depth": (
            frame[cols.depth].str.strip().to_numpy(dtype=object)
            if cols.depth
            else np.full(n, "", dtype=object)
        ),
        "dates": dates,
        "attributes": frame[cols.attributes],
        "values": values,
    }


def _concat(parts: list[dict], cols: _Columns) -> _Parsed:
    def cat(key: str) -> np.ndarray:
        return np.concatenate([p[key] for p in parts]) if parts else np.array([], dtype=object)

    values = {}
    for column in cols.elements:
        chunks = [p["values"][column.header] for p in parts]
        values[column.header] = units.ParsedValues(
            *(np.concatenate([getattr(c, f) for c in chunks]) for f in units.ParsedValues.__slots__)
        )
    return _Parsed(
        codes=cat("codes"),
        sites=cat("sites"),
        lon=cat("lon"),
        lat=cat("lat"),
        country_text=cat("country_text"),
        depth=cat("depth"),
        dates=cat("dates"),
        attributes=(
            pd.concat([p["attributes"] for p in parts], ignore_index=True)
            if parts
            else pd.DataFrame()
        ),
        values=values,
    )


def _check_duplicates(codes: np.ndarray, column: str, problems: _Problems) -> None:
    series = pd.Series(codes)
    duplicated = series.duplicated(keep=False) & (series != "")
    if duplicated.any():
        first_seen: dict[str, int] = {}
        for i in np.flatnonzero(duplicated.to_numpy()):
            code = codes[i]
            if code in first_seen:
                problems.add(
                    f"sample id {code!r} repeats row {first_seen[code]}",
                    row=int(i) + 2,
                    column=column,
                )
            else:
                first_seen[code] = int(i) + 2


def _assign_countries(
    parsed: _Parsed, cols: _Columns, options: IngestOptions, problems: _Problems, report
) -> np.ndarray:
    """Country id per row: --country, else the file's column, else the location (module doc)."""
    lookup = _country_lookup()
    n = len(parsed.codes)
    country = np.zeros(n, dtype=np.int64)
    if options.country:
        pk = lookup.get(options.country.strip().upper())
        if pk is None:
            problems.add(f"--country {options.country!r} is not a known ISO 3166 code")
            return country
        country[:] = pk
        return country
    need = np.ones(n, dtype=bool)
    if cols.country:
        given = parsed.country_text
        known = np.array([lookup.get(code, 0) for code in given], dtype=np.int64)
        unknown = (given != "") & (known == 0)
        problems.add_rows(unknown, 2, cols.country, lambda i: f"unknown country code {given[i]!r}")
        country = known
        need = given == ""
    if not need.any():
        return country
    rows = np.flatnonzero(need)
    tolerance = settings.INGEST_COUNTRY_TOLERANCE_M
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE ingest_points (idx int, geom geometry(Point, 4326))")
        with cursor.copy("COPY ingest_points (idx, geom) FROM STDIN") as copy:
            for i in rows:
                lon, lat = float(parsed.lon[i]), float(parsed.lat[i])
                copy.write_row((int(i), f"SRID=4326;POINT({lon!r} {lat!r})"))
        cursor.execute("CREATE INDEX ON ingest_points USING gist (geom); ANALYZE ingest_points")
        # Inside a (subdivided) boundary first; if none, the nearest country within the
        # tolerance, because generalised 1:50m coasts and borders leave real sites just outside.
        cursor.execute(
            """
            WITH inside AS (
              SELECT DISTINCT ON (p.idx) p.idx, cp.country_id, 0.0::float AS distance
              FROM ingest_points p JOIN {CountryPartTable} cp ON ST_Intersects(cp.geom, p.geom)
              ORDER BY p.idx, cp.country_id
            ), nearest AS (
              SELECT p.idx, n.country_id, n.distance FROM ingest_points p
              CROSS JOIN LATERAL (
                SELECT cp.country_id, ST_Distance(cp.geom::geography, p.geom::geography) AS distance
                FROM {CountryPartTable} cp
                WHERE ST_DWithin(cp.geom, p.geom,
                                 %s / 111000.0 / greatest(cos(radians(ST_Y(p.geom))), 0.05))
                ORDER BY distance LIMIT 1
              ) n
              WHERE p.idx NOT IN (SELECT idx FROM inside)
            )
            SELECT idx, country_id, distance FROM inside
            UNION ALL SELECT idx, country_id, distance FROM nearest WHERE distance <= %s
            """.replace("{CountryPartTable}", CountryPart._meta.db_table),
            [tolerance, tolerance],
        )
        found = cursor.fetchall()
        cursor.execute("DROP TABLE ingest_points")
    codes_by_pk = {pk: code for code, pk in lookup.items() if len(code) == 3}
    matched = np.zeros(n, dtype=bool)
    near = []
    for idx, pk, distance in found:
        country[idx] = pk
        matched[idx] = True
        if distance > 0:
            near.append((idx, pk, distance))
    missing = need & ~matched
    problems.add_rows(
        missing,
        2,
        f"{cols.x}/{cols.y}",
        lambda i: (
            f"({parsed.lon[i]:g}, {parsed.lat[i]:g}) is not within "
            f"{tolerance / 1000:g} km of any country; give --country or a country column"
        ),
    )
    for idx, pk, distance in near[:20]:
        report.warnings.append(
            f"row {idx + 2}: outside every country polygon; assigned to "
            f"{codes_by_pk.get(pk, pk)}, {distance / 1000:.1f} km away"
        )
    if len(near) > 20:
        report.warnings.append(f"… and {len(near) - 20} more rows assigned to the nearest country")
    return country


# --- writing -------------------------------------------------------------------------------------


def _survey_for(options: IngestOptions, medium: Medium, scale_m: int, problems: _Problems):
    survey = Survey.objects.filter(name=options.survey).first()
    if survey is None:
        return None
    if survey.medium_id != medium.pk:
        problems.add(f"survey {survey.name!r} exists with medium {survey.medium.code}")
    if survey.scale_m != scale_m:
        problems.add(f"survey {survey.name!r} exists with scale {survey.scale_km:g} km")
    return survey


def _choose_preferred(
    elements: list[units.ElementColumn], prefer: dict[str, str]
) -> dict[str, str]:
    """Preferred method per element: --prefer-method, else a total method, else the first."""
    by_symbol: dict[str, list[str]] = {}
    for column in elements:
        by_symbol.setdefault(column.symbol, []).append(column.method)
    chosen = {}
    for symbol, methods in by_symbol.items():
        if symbol in prefer and prefer[symbol] in methods:
            chosen[symbol] = prefer[symbol]
            continue
        ranked = sorted(
            methods,
            key=lambda m: TOTAL_METHODS.index(m.upper()) if m.upper() in TOTAL_METHODS else 99,
        )
        chosen[symbol] = ranked[0]
    return chosen


def _binary_copy_rows(arrays: dict[str, np.ndarray], layout: list[tuple[str, str]]) -> bytes:
    """PostgreSQL binary COPY rows for fixed-width columns, built in one numpy pass.

    ``layout`` is [(name, kind)] with kind 'i8', 'f8', 'bool' or 'null'; every row has the same
    shape, so the rows are a numpy structured array written out as bytes.
    """
    n = len(next(iter(arrays.values())))
    fields = [("count", ">i2")]
    for name, kind in layout:
        fields.append((name + "_len", ">i4"))
        if kind == "i8":
            fields.append((name, ">i8"))
        elif kind == "f8":
            fields.append((name, ">f8"))
        elif kind == "bool":
            fields.append((name, "u1"))
    rows = np.empty(n, dtype=fields)
    rows["count"] = len(layout)
    for name, kind in layout:
        if kind == "null":
            rows[name + "_len"] = -1
            continue
        rows[name + "_len"] = {"i8": 8, "f8": 8, "bool": 1}[kind]
        rows[name] = arrays[name]
    return rows.tobytes()


COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
COPY_TRAILER = struct.pack(">h", -1)
# Samples per numpy block of COPY rows: a block (~4 MB) stays in the CPU's cache while its
# eight fields are written one after the other.
BLOCK_SAMPLES = 65_536
MEASUREMENT_COLUMNS = (
    "sample_id",
    "analyte_id",
    "element_id",
    "value",
    "censored",
    "detection_limit",
    "reported_value",
)


@dataclass(frozen=True)
class ColumnRows:
    """One element column's values for a set of samples, ready for COPY."""

    analyte_id: int
    element_id: int
    values: units.ParsedValues
    factor: float  # reported unit and species → mg/kg of the element


def measurement_copy_blocks(
    sample_ids: np.ndarray, columns: list[ColumnRows], *, first_id: int | None = None
) -> Iterator[bytes]:
    """Binary COPY rows of element columns for the same samples, element by element.

    ``sample_ids`` must ascend. One column's rows come out together, in sample order, one numpy
    block per NULL pattern (rows of one pattern share a fixed width): the table's BRIN index then
    sees each range of pages hold one element and a narrow run of samples (Measurement's
    docstring). With ``first_id`` the rows carry ids counting up from it, in the order yielded
    (the columns are then ``("id",) + MEASUREMENT_COLUMNS``).
    """
    next_id = first_id
    for column in columns:
        for start in range(0, len(sample_ids), BLOCK_SAMPLES):
            part = slice(start, start + BLOCK_SAMPLES)
            for arrays, layout in _column_blocks(column, part, sample_ids[part]):
                if next_id is not None:
                    count = len(arrays["sample_id"])
                    arrays["id"] = np.arange(next_id, next_id + count, dtype=np.int64)
                    layout.insert(0, ("id", "i8"))
                    next_id += count
                yield _binary_copy_rows(arrays, layout)


def _column_blocks(column: ColumnRows, part: slice, sample_ids: np.ndarray):
    """(arrays, layout) of one column's rows for one slice of samples, per NULL pattern."""
    v = column.values
    present, value = v.present[part], v.value[part]
    censored = v.censored[part] & present
    detection_limit = v.detection_limit[part]
    has_dl = ~np.isnan(detection_limit)
    masks = {
        ("f8", "null"): present & ~censored & ~has_dl,
        ("f8", "f8"): present & ~censored & has_dl,
        ("null", "f8"): censored,
    }
    for (value_kind, dl_kind), mask in masks.items():
        count = int(mask.sum())
        if not count:
            continue
        arrays = {
            "sample_id": sample_ids[mask],
            "analyte_id": np.full(count, column.analyte_id, dtype=np.int64),
            "element_id": np.full(count, column.element_id, dtype=np.int64),
            "value": value[mask] * column.factor,
            "censored": censored[mask].astype(np.uint8),
            "detection_limit": detection_limit[mask] * column.factor,
            "reported_value": np.where(censored[mask], detection_limit[mask], value[mask]),
        }
        layout = [
            ("sample_id", "i8"),
            ("analyte_id", "i8"),
            ("element_id", "i8"),
            ("value", value_kind),
            ("censored", "bool"),
            ("detection_limit", dl_kind),
            ("reported_value", "f8"),
        ]
        yield arrays, layout


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


def _write(
    *,
    parsed: _Parsed,
    cols: _Columns,
    countries: np.ndarray,
    options: IngestOptions,
    medium: Medium,
    scale_m: int,
    limits: dict[str, float],
    report: IngestReport,
    sha256: str,
    file_name: str,
    progress: Progress,
) -> None:
    # One writer of samples and measurements at a time (reads go on): the id blocks reserved
    # below stay this ingest's, and an ingest that waited here sees what the one before it
    # wrote (the survey it created, its file, its samples: Measurement keeps no unique index).
    with connection.cursor() as cursor:
        lock_for_writing(cursor)
    problems = _Problems(file_name, options.max_errors)
    survey = _survey_for(options, medium, scale_m, problems)
    problems.raise_if_any()
    if survey is not None and survey.ingestions.filter(sha256=sha256).exists():
        report.already_ingested = True
        report.samples_skipped = len(parsed.codes)
        return
    if survey is None:
        survey = Survey.objects.create(
            name=options.survey,
            slug=_unique_slug(options.survey),
            medium=medium,
            scale_m=scale_m,
            year=options.year,
            monitoring_round=options.monitoring_round,
            citation=options.citation,
            licence=options.licence,
        )
    else:
        changed = False
        for attr, value in (
            ("citation", options.citation),
            ("licence", options.licence),
            ("year", options.year),
        ):
            if value and getattr(survey, attr) != value:
                setattr(survey, attr, value)
                changed = True
        if changed:
            survey.save()

    with connection.cursor() as cursor:
        existing = dict(Sample.objects.filter(survey=survey).values_list("code", "pk"))
        is_new = np.array([code not in existing for code in parsed.codes], dtype=bool)
        n_new = int(is_new.sum())
        report.samples_skipped = len(parsed.codes) - n_new
        skip_checks = _skip_reference_checks(cursor)

        sample_ids = np.zeros(len(parsed.codes), dtype=np.int64)
        if report.samples_skipped:
            sample_ids[~is_new] = [existing[c] for c in parsed.codes[~is_new]]
        new_rows = np.flatnonzero(is_new)
        if n_new:
            cells = grid.cell_codes(parsed.lon[new_rows], parsed.lat[new_rows])
            # Ids in nested cell order: a cell's samples, and their measurements within each
            # element's run, sit together on disk.
            order = grid.nested_order(cells)
            new_rows = new_rows[order]
            cells = {size: codes[order] for size, codes in cells.items()}
            sample_ids[new_rows] = _reserve_ids(cursor, Sample._meta.db_table, n_new)

        preferred = _choose_preferred(cols.elements, options.prefer_methods)
        report.preferred = {s: m or "(as reported)" for s, m in preferred.items()}
        elements = {e.symbol: e.pk for e in Element.objects.all()}
        analytes = {}
        for column in cols.elements:
            analytes[column.header] = _analyte_for(survey, column, preferred, limits)
            report.element_columns[column.header] = describe_column(column)
        total_cells = sum(int(parsed.values[c.header].present.sum()) for c in cols.elements)
        counted = _Counter(total_cells, progress)

        # Columns in element order: element_id then rises with the rows' position, so the
        # planner's correlation statistic tells it the BRIN index narrows an element well.
        in_element_order = sorted(
            cols.elements, key=lambda c: (elements[c.symbol], analytes[c.header].pk)
        )

        def blocks_for(rows: np.ndarray, first_id: int | None) -> Iterator[bytes]:
            """Every column's rows for these file rows, element by element, samples in id order."""
            rows = rows[np.argsort(sample_ids[rows], kind="stable")]
            for c in in_element_order:
                values = parsed.values[c.header]
                column = ColumnRows(
                    analyte_id=analytes[c.header].pk,
                    element_id=elements[c.symbol],
                    values=units.ParsedValues(
                        *(getattr(values, f)[rows] for f in units.ParsedValues.__slots__)
                    ),
                    factor=c.factor,
                )
                yield from measurement_copy_blocks(sample_ids[rows], [column], first_id=first_id)
                count = int(column.values.present.sum())
                if first_id is not None:
                    first_id += count
                counted.add(count)

        # New samples: their rows go straight in with ids (a big file's into a fresh partition).
        # Rows for samples already present (a later file adding elements) go in only where that
        # sample lacks that analyte.
        if n_new:
            progress("samples", 0, n_new)
            frame = _sample_frame(parsed, new_rows, sample_ids, survey, countries, cells)
            _copy_samples(cursor, frame)
            progress("samples", n_new, n_new)
            count = sum(int(parsed.values[c.header].present[new_rows].sum()) for c in cols.elements)
            first_id = int(_reserve_ids(cursor, Measurement._meta.db_table, count)[0])
            blocks = blocks_for(new_rows, first_id)
            if count >= settings.INGEST_PARTITION_MIN_ROWS:
                ids = sample_ids[new_rows]
                added = _load_partition(cursor, int(ids.min()), int(ids.max()) + 1, blocks)
            else:
                added = _copy_rows(cursor, Measurement._meta.db_table, blocks)
            report.measurements_added += added
            report.censored += sum(
                int(parsed.values[c.header].censored[new_rows].sum()) for c in cols.elements
            )
        if skip_checks:
            cursor.execute("SET LOCAL session_replication_role = origin")
        if report.samples_skipped:
            present = np.flatnonzero(~is_new)
            report.measurements_added += _add_missing_measurements(
                cursor,
                blocks_for(present, None),
                sample_ids[present],
                [analytes[c.header].pk for c in cols.elements],
            )
        cursor.execute(f"ANALYZE {Sample._meta.db_table}")

    report.samples_added = n_new
    survey.data_version += 1
    survey.save(update_fields=["data_version", "updated"])
    used = set(countries.tolist())
    survey.countries.add(*used)
    names = dict(Country.objects.filter(pk__in=used).values_list("pk", "name_en"))
    report.countries = {
        names[pk]: int((countries == pk).sum()) for pk in sorted(used, key=lambda p: names[p])
    }
    Ingestion.objects.create(
        survey=survey,
        file_name=file_name,
        sha256=sha256,
        rows=len(parsed.codes),
        samples_added=n_new,
        measurements_added=report.measurements_added,
        summary={
            "element_columns": report.element_columns,
            "preferred": report.preferred,
            "attribute_columns": report.attribute_columns,
            "skipped_columns": report.skipped_columns,
            "warnings": report.warnings,
        },
    )


def _reserve_ids(cursor, table: str, count: int) -> np.ndarray:
    """``count`` consecutive ids from ``table``'s identity sequence, in one round trip.

    The caller holds a lock that keeps other writers of ``table`` from drawing ids meanwhile
    (``_write``); the sequence then hands out numbers after the block.
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


def _copy_rows(cursor, table: str, blocks: Iterator[bytes], *, with_ids: bool = True) -> int:
    """COPY binary measurement rows (from ``measurement_copy_blocks``) into ``table``."""
    columns = ("id, " if with_ids else "") + ", ".join(MEASUREMENT_COLUMNS)
    sql = f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT binary)"
    # A writer thread sends each block while numpy builds the next one.
    raw = getattr(cursor, "cursor", cursor)  # psycopg's own cursor under Django's wrapper
    with raw.copy(sql, writer=QueuedLibpqWriter(raw)) as copy:
        copy.write(COPY_HEADER)
        for block in blocks:
            copy.write(block)
        copy.write(COPY_TRAILER)
    return cursor.rowcount


def _add_missing_measurements(
    cursor, blocks: Iterator[bytes], sample_ids: np.ndarray, analyte_ids: list[int]
) -> int:
    """COPY rows for samples already stored into a temporary table, then insert those whose
    sample lacks that analyte (a later file adding elements); return how many went in.

    The existing rows are looked up only within these samples' id range and analytes: the
    partition bounds and the BRIN index then read a few of the table's pages, not all of it.
    """
    table, columns = Measurement._meta.db_table, ", ".join(MEASUREMENT_COLUMNS)
    # Only the loaded columns: a LIKE copy would keep id's NOT NULL without its default.
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS ingest_measurements ON COMMIT DROP AS "
        f"SELECT {columns} FROM {table} WITH NO DATA"
    )
    cursor.execute("TRUNCATE ingest_measurements")
    _copy_rows(cursor, "ingest_measurements", blocks, with_ids=False)
    cursor.execute("ANALYZE ingest_measurements")
    cursor.execute(
        f"INSERT INTO {table} ({columns}) "
        f"SELECT {', '.join('new.' + c for c in MEASUREMENT_COLUMNS)} FROM ingest_measurements new "
        f"WHERE NOT EXISTS (SELECT FROM {table} old "
        "WHERE old.sample_id = new.sample_id AND old.analyte_id = new.analyte_id "
        "AND old.sample_id BETWEEN %s AND %s AND old.analyte_id = ANY(%s))",
        [int(sample_ids.min()), int(sample_ids.max()), analyte_ids],
    )
    return cursor.rowcount


# --- measurement partitions -----------------------------------------------------------------------


def _brin_definition() -> str:
    """The USING/WITH clause of Measurement's BRIN index, as each new partition must repeat it
    to be attached without a rebuild."""
    (index,) = Measurement._meta.indexes
    columns = ", ".join(Measurement._meta.get_field(f).column for f in index.fields)
    return (
        f"USING brin ({columns}) WITH (pages_per_range = {index.pages_per_range}, "
        f"autosummarize = {'on' if index.autosummarize else 'off'})"
    )


class _Counter:
    """Measurement rows written so far, reported to ``progress``."""

    def __init__(self, total: int, progress: Progress):
        self.total, self.done, self.progress = total, 0, progress

    def add(self, count: int) -> None:
        self.done += count
        self.progress("measurements", self.done, self.total)


def _load_partition(cursor, low: int, high: int, blocks: Iterator[bytes]) -> int:
    """Load the rows of new samples ``low`` … ``high - 1`` into a fresh partition; return the
    number of rows.

    The table is created bare, with a CHECK of its sample-id range, filled by ``COPY``, given
    its BRIN index (built in one pass, every range summarised) and statistics, then attached:
    the CHECK spares the attach a scan of the table, and the index is adopted as this
    partition's part of Measurement's. All of it in the ingest's transaction, so a failed
    ingest leaves no table behind.
    """
    table, name = Measurement._meta.db_table, f"{PARTITION_PREFIX}{low:d}"
    cursor.execute(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    cursor.execute(
        f"ALTER TABLE {name} ADD CONSTRAINT {name}_ids "
        f"CHECK (sample_id >= {low:d} AND sample_id < {high:d})"
    )
    rows = _copy_rows(cursor, name, blocks)
    cursor.execute(f"CREATE INDEX {name}_brin ON {name} {_brin_definition()}")
    cursor.execute(f"ANALYZE {name}")
    cursor.execute(
        f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM ({low:d}) TO ({high:d})"
    )
    return rows


def _sample_frame(
    parsed: _Parsed,
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


def describe_column(column: units.ElementColumn) -> str:
    """e.g. "Fe by XRF, reported as Fe2O3 in %" or "Cu, reported in mg/kg"."""
    method = f" by {column.method}" if column.method else ""
    species = f" as {column.species}" if column.species else ""
    return f"{column.symbol}{method}, reported{species} in {column.unit}"


def _analyte_for(
    survey: Survey, column: units.ElementColumn, preferred: dict[str, str], limits
) -> Analyte:
    element = Element.objects.get(symbol=column.symbol)
    limit = limits.get(column.header)
    analyte, created = Analyte.objects.get_or_create(
        survey=survey,
        element=element,
        method=column.method,
        defaults={
            "reported_unit": column.unit,
            "reported_species": column.species,
            "source_column": column.header,
            "detection_limit": None if limit is None else limit * column.factor,
            "preferred": False,
        },
    )
    if (
        preferred[column.symbol] == column.method
        and not analyte.preferred
        and not Analyte.objects.filter(survey=survey, element=element, preferred=True).exists()
    ):
        analyte.preferred = True
        analyte.save(update_fields=["preferred"])
    return analyte


def _unique_slug(name: str) -> str:
    base = slugify(name)[:180] or "survey"
    slug, n = base, 2
    while Survey.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


# --- the service ---------------------------------------------------------------------------------


def survey_ingest(
    *, path: Path, options: IngestOptions, progress: Progress = _no_progress
) -> IngestReport:
    """Validate a survey file completely, then load it in one transaction (module doc)."""
    path = Path(path)
    name = path.name
    problems = _Problems(name, options.max_errors)
    report = IngestReport(file=name, survey=options.survey, dry_run=options.dry_run)
    if not path.exists():
        problems.add("no such file")
        problems.raise_if_any()

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
    survey = _survey_for(options, medium, scale_m, problems)
    problems.raise_if_any()

    sha256 = file_sha256(path)
    if survey is not None and survey.ingestions.filter(sha256=sha256).exists():
        report.already_ingested = True
        report.rows = survey.ingestions.filter(sha256=sha256).first().rows
        report.samples_skipped = report.rows
        return report

    limits = (
        _read_detection_limits(options.detection_limits, problems)
        if options.detection_limits
        else {}
    )
    crs = _transformer(options.crs, problems) if options.crs else None

    if path.suffix.lower() in {".gpkg", ".geopackage"}:
        header, chunks = _geopackage_chunks(path, problems)
    else:
        text = _read_text(path, options.encoding, problems)
        header, chunks = _csv_chunks(text, problems)
    cols = _classify(header, options, problems)
    problems.raise_if_any()
    for name_ in limits:
        if name_ not in header:
            report.warnings.append(f"detection-limit table names column {name_!r}, not in the file")
    report.attribute_columns = cols.attributes
    report.skipped_columns = cols.skipped

    parts = []
    first_row = 2
    for frame in chunks:
        progress("validating", first_row - 2 + len(frame), 0)
        parts.append(_validate_chunk(frame, first_row, cols, options, limits, crs, problems))
        first_row += len(frame)
    report.rows = first_row - 2
    if report.rows == 0:
        problems.add("the file has a header but no data rows", row=2)
    problems.raise_if_any()
    parsed = _concat(parts, cols)
    _check_duplicates(parsed.codes, cols.sample_id, problems)
    problems.raise_if_any()

    for column in cols.elements:
        above = int(parsed.values[column.header].above_range.sum())
        if above:
            report.warnings.append(
                f"column {column.header!r}: {above} values above the upper limit ('>') "
                "kept at the limit"
            )

    with transaction.atomic():
        countries = _assign_countries(parsed, cols, options, problems, report)
        problems.raise_if_any()
        if options.dry_run:
            existing = set(survey.samples.values_list("code", flat=True)) if survey else set()
            new = np.array([code not in existing for code in parsed.codes], dtype=bool)
            report.samples_added = int(new.sum())
            report.samples_skipped = len(parsed.codes) - report.samples_added
            report.measurements_added = sum(
                int(v.present[new].sum()) for v in parsed.values.values()
            )
            return report
        _write(
            parsed=parsed,
            cols=cols,
            countries=countries,
            options=options,
            medium=medium,
            scale_m=scale_m,
            limits=limits,
            report=report,
            sha256=sha256,
            file_name=name,
            progress=progress,
        )
    return report
