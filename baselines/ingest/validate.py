"""Validation: every chunk of rows checked and parsed column by column with numpy, every problem
naming its row and column, then the chunks joined and the sample ids checked for repeats.

Besides what each column must be (a number, a date, a known element's unit), every field is
checked against what the database can hold and what can be true, so a file is refused with its
rows named rather than by a database error: text no longer than its column (sample and site ids
80 characters, depth 40), no control characters (NUL and the like), numbers no longer than
``MAX_NUMBER_CHARS`` (checked before parsing), finite, detection limits above zero, and no
concentration above 100 % or the element's plausible maximum (``plausible_max``).
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings

from .. import units
from .classify import Columns
from .problems import Problems
from .read import CONTROL_CHARACTERS

# Text columns' lengths, as the sample table holds them.
MAX_ID_CHARS = 80  # Sample.code and Sample.site_code
MAX_DEPTH_CHARS = 40  # Sample.depth
# No number, coordinate or date is longer; longer cells are refused before they are parsed.
MAX_NUMBER_CHARS = 64
# A sample attribute is a short note or a class, not a document.
MAX_ATTRIBUTE_CHARS = 2000
# 100 % by mass, the bound no concentration can pass.
ALL_OF_IT_MG_KG = 1_000_000.0


@dataclass
class Parsed:
    """The whole file (or one chunk), validated, as arrays (one entry per data row)."""

    rows: np.ndarray  # each entry's row in the file (the header is row 1)
    codes: np.ndarray
    sites: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    country_text: np.ndarray
    depth: np.ndarray
    dates: np.ndarray
    attributes: pd.DataFrame
    values: dict[str, units.ParsedValues]


@dataclass(frozen=True)
class Checks:
    """What every chunk is checked against."""

    cols: Columns
    limits: dict[str, float]  # element header → detection limit, in the column's unit
    crs_name: str | None  # --crs as given, for messages
    crs: tuple | None  # (source CRS, transformer to WGS84) when --crs is given
    problems: Problems
    # False when a scan of the whole file found no control character: no column need look.
    control_characters: bool = True


def validate_chunk(frame: pd.DataFrame, checks: Checks) -> Parsed:
    """One chunk's rows parsed; its problems go to ``checks.problems`` (row numbers from the
    frame's index: the file's row is the index + 2)."""
    cols, problems = checks.cols, checks.problems
    rows = frame.index.to_numpy(dtype=np.int64) + 2
    if checks.control_characters:
        _control_characters(frame, rows, problems)
    codes = _text(frame, cols.sample_id, MAX_ID_CHARS, rows, problems, "sample id")
    problems.add_rows(codes == "", rows, cols.sample_id, lambda i: "sample id is empty")
    sites = _text(frame, cols.site, MAX_ID_CHARS, rows, problems, "site id") if cols.site else codes
    depth = _text(frame, cols.depth, MAX_DEPTH_CHARS, rows, problems, "depth")
    country = _text(frame, cols.country, MAX_NUMBER_CHARS, rows, problems, "country code")
    for name in cols.attributes:
        _too_long(frame[name], MAX_ATTRIBUTE_CHARS, rows, name, problems, "attribute")
    lon, lat = _coordinates(frame, rows, checks)
    dates = _dates(frame, rows, checks)
    values = _element_values(frame, rows, checks)
    return Parsed(
        rows=rows,
        codes=codes,
        sites=sites,
        lon=lon,
        lat=lat,
        country_text=pd.Series(country, dtype=object).str.upper().to_numpy(dtype=object),
        depth=depth,
        dates=dates,
        attributes=frame[cols.attributes],
        values=values,
    )


def shown(cell: str, limit: int = 40) -> str:
    """A cell as a message quotes it: its repr, cut short (a cell may be megabytes long)."""
    if len(cell) <= limit:
        return repr(cell)
    return f"{cell[:limit]!r}… ({len(cell):,} characters)"


def _too_long(
    raw: pd.Series, limit: int, rows: np.ndarray, column: str, problems: Problems, what: str
) -> np.ndarray:
    long = (raw.str.len() > limit).to_numpy()
    problems.add_rows(
        long,
        rows,
        column,
        lambda i: f"{what} {shown(raw.iloc[i])} is longer than {limit} characters",
    )
    return long


def _text(
    frame: pd.DataFrame,
    column: str | None,
    limit: int,
    rows: np.ndarray,
    problems: Problems,
    what: str,
) -> np.ndarray:
    """A text column, stripped, its cells checked against the length the database holds."""
    if not column:
        return np.full(len(frame), "", dtype=object)
    text = frame[column].str.strip()
    _too_long(text, limit, rows, column, problems, what)
    return text.to_numpy(dtype=object)


def _control_characters(frame: pd.DataFrame, rows: np.ndarray, problems: Problems) -> None:
    """A problem for every field holding a control character (NUL, …), naming the first."""
    for column in frame.columns:
        raw = frame[column]
        found = raw.str.contains(CONTROL_CHARACTERS, regex=True).to_numpy(dtype=bool)
        problems.add_rows(
            found,
            rows,
            column,
            lambda i, r=raw: _control_reason(r.iloc[i]),
        )


def _control_reason(cell: str) -> str:
    code = ord(CONTROL_CHARACTERS.search(cell)[0])
    hint = " (a Windows-1252 file? give --encoding cp1252)" if code >= 0x80 else ""
    return f"control character U+{code:04X} in {shown(cell)}: remove it{hint}"


def _coordinates(
    frame: pd.DataFrame, rows: np.ndarray, checks: Checks
) -> tuple[np.ndarray, np.ndarray]:
    """(longitude, latitude) of each row, transformed from ``--crs`` if given."""
    cols, problems = checks.cols, checks.problems
    raw_x, raw_y = frame[cols.x].str.strip(), frame[cols.y].str.strip()
    x, y = _numbers(raw_x, rows, cols.x, problems), _numbers(raw_y, rows, cols.y, problems)
    if checks.crs is None:
        lon, lat = x, y
        _check_degrees(x, y, rows, checks)
    else:
        lon, lat = _transform(x, y, rows, checks)
    zero = (lon == 0) & (lat == 0)
    problems.add_rows(
        zero, rows, f"{cols.x}/{cols.y}", lambda i: "(0, 0) is a placeholder, not a location"
    )
    return lon, lat


def _numbers(raw: pd.Series, rows: np.ndarray, column: str, problems: Problems) -> np.ndarray:
    """A column of plain numbers (coordinates): NaN, and a problem, where a cell is none or is
    too long to be one (refused before it is parsed)."""
    long = _too_long(raw, MAX_NUMBER_CHARS, rows, column, problems, "value")
    if long.any():
        raw = raw.where(~long, "")
    numbers = pd.to_numeric(raw, errors="coerce").to_numpy(dtype="f8")
    problems.add_rows(
        np.isnan(numbers) & ~long, rows, column, lambda i: f"not a number: {shown(raw.iloc[i])}"
    )
    return numbers


def _check_degrees(x: np.ndarray, y: np.ndarray, rows: np.ndarray, checks: Checks) -> None:
    cols, problems = checks.cols, checks.problems
    bad_lon = ~np.isnan(x) & ((x < -180) | (x > 180))
    bad_lat = ~np.isnan(y) & ((y < -90) | (y > 90))
    hint = "; projected coordinates? give their CRS with --crs EPSG:n"
    problems.add_rows(
        bad_lon, rows, cols.x, lambda i: f"longitude {x[i]:g} is outside −180…180{hint}"
    )
    problems.add_rows(bad_lat, rows, cols.y, lambda i: f"latitude {y[i]:g} is outside −90…90{hint}")


def _transform(
    x: np.ndarray, y: np.ndarray, rows: np.ndarray, checks: Checks
) -> tuple[np.ndarray, np.ndarray]:
    """x/y in ``--crs`` to longitude/latitude, with the usual mistakes named."""
    source, transformer = checks.crs
    where, crs = f"{checks.cols.x}/{checks.cols.y}", checks.crs_name
    lon, lat = transformer.transform(x, y)
    lon, lat = np.asarray(lon, dtype="f8"), np.asarray(lat, dtype="f8")
    given = ~np.isnan(x) & ~np.isnan(y)
    bad = given & ~(np.isfinite(lon) & np.isfinite(lat))
    looks_like_degrees = np.zeros_like(given)
    if source.is_projected:
        # Degrees in the x/y columns of a projected CRS: the classic wrong-CRS mistake.
        looks_like_degrees = given & (np.abs(x) <= 180) & (np.abs(y) <= 90)
        checks.problems.add_rows(
            looks_like_degrees,
            rows,
            where,
            lambda i: (
                f"({x[i]:g}, {y[i]:g}) look like longitude/latitude in degrees, not "
                f"metres of {crs}; drop --crs if they are degrees"
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
        area_text = f"{area.west:g}…{area.east:g}°E, {area.south:g}…{area.north:g}°N"
        checks.problems.add_rows(
            outside,
            rows,
            where,
            lambda i: (
                f"({x[i]:g}, {y[i]:g}) in {crs} is at ({lon[i]:.2f}°, "
                f"{lat[i]:.2f}°), far outside its area of use ({area_text}): is the CRS right?"
            ),
        )
    checks.problems.add_rows(
        bad,
        rows,
        where,
        lambda i: f"({x[i]:g}, {y[i]:g}) cannot be transformed from {crs}",
    )
    return lon, lat


def _dates(frame: pd.DataFrame, rows: np.ndarray, checks: Checks) -> np.ndarray:
    date = checks.cols.date
    if not date:
        return np.full(len(frame), None, dtype=object)
    raw_dates = frame[date].str.strip()
    long = _too_long(raw_dates, MAX_NUMBER_CHARS, rows, date, checks.problems, "date")
    if long.any():
        raw_dates = raw_dates.where(~long, "")
    parsed = pd.to_datetime(raw_dates, errors="coerce", format="ISO8601")
    bad = (raw_dates != "").to_numpy() & parsed.isna().to_numpy()
    checks.problems.add_rows(
        bad,
        rows,
        date,
        lambda i: f"not a date: {shown(raw_dates.iloc[i])} (expected YYYY-MM-DD)",
    )
    return np.where(parsed.isna(), None, parsed.dt.date.astype(object)).astype(object)


def _element_values(
    frame: pd.DataFrame, rows: np.ndarray, checks: Checks
) -> dict[str, units.ParsedValues]:
    values: dict[str, units.ParsedValues] = {}
    for column in checks.cols.elements:
        flag_name = checks.cols.flags.get(column.header)
        raw = frame[column.header]
        parsed_values = units.parse_values(
            raw,
            flags=frame[flag_name] if flag_name else None,
            detection_limit=checks.limits.get(column.header),
            zero_is_below_dl=column.header in checks.limits,
            max_chars=MAX_NUMBER_CHARS,
        )
        checks.problems.add_rows(
            parsed_values.invalid,
            rows,
            column.header,
            lambda i, r=raw: _not_a_number(r.iloc[i]),
        )
        _impossible(column, parsed_values, raw, rows, checks.problems)
        values[column.header] = parsed_values
    return values


def _impossible(
    column: units.ElementColumn,
    parsed: units.ParsedValues,
    raw: pd.Series,
    rows: np.ndarray,
    problems: Problems,
) -> None:
    """Problems for values read as numbers that cannot be true: infinite, a detection limit of
    zero or below, a concentration above 100 % or the element's plausible maximum."""
    censored = parsed.censored
    value, limit = parsed.value, parsed.detection_limit
    # The number that stands for the cell: its value, or its limit when censored.
    number = np.where(censored, limit, value)
    infinite = parsed.present & ~np.isfinite(number)
    problems.add_rows(
        infinite,
        rows,
        column.header,
        lambda i: f"{shown(raw.iloc[i].strip())} is not a finite number",
    )
    not_positive = censored & ~infinite & (limit <= 0)
    problems.add_rows(
        not_positive,
        rows,
        column.header,
        lambda i: (
            f"detection limit {shown(raw.iloc[i].strip())} is not above 0: a limit is the "
            "smallest concentration the method can tell from none"
        ),
    )
    bound, source = plausible_bound(column)
    over = parsed.present & ~infinite & (number * column.factor > bound)
    problems.add_rows(
        over,
        rows,
        column.header,
        lambda i: (
            f"{shown(raw.iloc[i].strip())} {column.unit}"
            + (f" {column.species}" if column.species else "")
            + f" is {number[i] * column.factor:,.6g} mg/kg of {column.symbol}, more than "
            + source
        ),
    )


def plausible_bound(column: units.ElementColumn) -> tuple[float, str]:
    """(mg/kg of the element, words) no value of this column can pass: 100 % of what the column
    reports (the element, or its oxide), or a lower bound for the element from
    ``INGEST_PLAUSIBLE_MAX_FILE``."""
    bound, source = ALL_OF_IT_MG_KG, "100 %"
    if column.species:
        bound *= units.oxide_factor(column.species)[1]
        source = f"100 % {column.species}"
    listed = plausible_max().get(column.symbol)
    if listed is not None and listed < bound:
        bound, source = listed, f"the plausible maximum of {listed:,g} mg/kg for {column.symbol}"
    return bound, source


def plausible_max() -> dict[str, float]:
    """Element symbol → the largest concentration (mg/kg) a deployment accepts, from the CSV
    ``settings.INGEST_PLAUSIBLE_MAX_FILE`` (columns ``symbol,max_mg_kg``; lines starting with
    ``#`` are comments). Elements it does not list are bounded by 100 % alone."""
    return _plausible_max(str(settings.INGEST_PLAUSIBLE_MAX_FILE))


@functools.lru_cache(maxsize=4)
def _plausible_max(path: str) -> dict[str, float]:
    with Path(path).open(encoding="utf-8-sig", newline="") as handle:
        lines = [line for line in handle if line.strip() and not line.lstrip().startswith("#")]
    bounds = {}
    for row in csv.DictReader(lines):
        bounds[row["symbol"].strip()] = float(row["max_mg_kg"])
    return bounds


def _not_a_number(cell: str) -> str:
    if len(cell) > MAX_NUMBER_CHARS:
        return f"{shown(cell)} is too long to be a number (at most {MAX_NUMBER_CHARS} characters)"
    return (
        f"not a number: {shown(cell)}"
        + (" (use a decimal point)" if re.fullmatch(r"\d+,\d+", cell.strip()) else "")
        + (
            " (below detection without a limit: write <DL or give --detection-limits)"
            if cell.strip().lower() in units.BELOW_DL_WORDS
            else ""
        )
        + (" (leave a missing value empty)" if cell.strip().lower() in ("nan", "-nan") else "")
    )


def concat(parts: list[Parsed], cols: Columns) -> Parsed:
    """The chunks as one ``Parsed``, in file order."""

    def cat(key: str) -> np.ndarray:
        return (
            np.concatenate([getattr(p, key) for p in parts])
            if parts
            else np.array([], dtype=object)
        )

    values = {}
    for column in cols.elements:
        chunks = [p.values[column.header] for p in parts]
        values[column.header] = units.ParsedValues(
            *(np.concatenate([getattr(c, f) for c in chunks]) for f in units.ParsedValues.__slots__)
        )
    arrays = {f.name: cat(f.name) for f in fields(Parsed) if f.name not in ("attributes", "values")}
    return Parsed(
        **arrays,
        attributes=(
            pd.concat([p.attributes for p in parts], ignore_index=True) if parts else pd.DataFrame()
        ),
        values=values,
    )


def check_duplicates(codes: np.ndarray, rows: np.ndarray, column: str, problems: Problems) -> None:
    """A problem for every repeat of a sample id, naming the row where it first appears."""
    series = pd.Series(codes)
    duplicated = series.duplicated(keep=False) & (series != "")
    if duplicated.any():
        first_seen: dict[str, int] = {}
        for i in np.flatnonzero(duplicated.to_numpy()):
            code = codes[i]
            if code in first_seen:
                problems.add(
                    f"sample id {shown(code)} repeats row {first_seen[code]}",
                    row=int(rows[i]),
                    column=column,
                )
            else:
                first_seen[code] = int(rows[i])
