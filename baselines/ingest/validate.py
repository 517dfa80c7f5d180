"""Validation: every chunk of rows checked and parsed column by column with numpy, every problem
naming its row and column, then the chunks joined and the sample ids checked for repeats."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from .. import units
from .classify import Columns
from .problems import Problems


@dataclass
class Parsed:
    """The whole file (or one chunk), validated, as arrays (one entry per data row)."""

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


def validate_chunk(frame: pd.DataFrame, first_row: int, checks: Checks) -> Parsed:
    """One chunk's rows parsed; its problems go to ``checks.problems`` (row numbers from
    ``first_row``, the file's row of the chunk's first line)."""
    cols, n = checks.cols, len(frame)
    codes = frame[cols.sample_id].str.strip().to_numpy(dtype=object)
    checks.problems.add_rows(codes == "", first_row, cols.sample_id, lambda i: "sample id is empty")
    lon, lat = _coordinates(frame, first_row, checks)
    dates = _dates(frame, first_row, checks)
    values = _element_values(frame, first_row, checks)
    return Parsed(
        codes=codes,
        sites=(frame[cols.site].str.strip().to_numpy(dtype=object) if cols.site else codes),
        lon=lon,
        lat=lat,
        country_text=(
            frame[cols.country].str.strip().str.upper().to_numpy(dtype=object)
            if cols.country
            else np.full(n, "", dtype=object)
        ),
        depth=(
            frame[cols.depth].str.strip().to_numpy(dtype=object)
            if cols.depth
            else np.full(n, "", dtype=object)
        ),
        dates=dates,
        attributes=frame[cols.attributes],
        values=values,
    )


def _coordinates(
    frame: pd.DataFrame, first_row: int, checks: Checks
) -> tuple[np.ndarray, np.ndarray]:
    """(longitude, latitude) of each row, transformed from ``--crs`` if given."""
    cols, problems = checks.cols, checks.problems
    raw_x, raw_y = frame[cols.x].str.strip(), frame[cols.y].str.strip()
    x = pd.to_numeric(raw_x, errors="coerce").to_numpy(dtype="f8")
    y = pd.to_numeric(raw_y, errors="coerce").to_numpy(dtype="f8")
    for name, raw, arr in ((cols.x, raw_x, x), (cols.y, raw_y, y)):
        bad = np.isnan(arr)
        problems.add_rows(bad, first_row, name, lambda i, r=raw: f"not a number: {r.iloc[i]!r}")
    if checks.crs is None:
        lon, lat = x, y
        _check_degrees(x, y, first_row, checks)
    else:
        lon, lat = _transform(x, y, first_row, checks)
    zero = (lon == 0) & (lat == 0)
    problems.add_rows(
        zero, first_row, f"{cols.x}/{cols.y}", lambda i: "(0, 0) is a placeholder, not a location"
    )
    return lon, lat


def _check_degrees(x: np.ndarray, y: np.ndarray, first_row: int, checks: Checks) -> None:
    cols, problems = checks.cols, checks.problems
    bad_lon = ~np.isnan(x) & ((x < -180) | (x > 180))
    bad_lat = ~np.isnan(y) & ((y < -90) | (y > 90))
    hint = "; projected coordinates? give their CRS with --crs EPSG:n"
    problems.add_rows(
        bad_lon, first_row, cols.x, lambda i: f"longitude {x[i]:g} is outside −180…180{hint}"
    )
    problems.add_rows(
        bad_lat, first_row, cols.y, lambda i: f"latitude {y[i]:g} is outside −90…90{hint}"
    )


def _transform(
    x: np.ndarray, y: np.ndarray, first_row: int, checks: Checks
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
            first_row,
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
            first_row,
            where,
            lambda i: (
                f"({x[i]:g}, {y[i]:g}) in {crs} is at ({lon[i]:.2f}°, "
                f"{lat[i]:.2f}°), far outside its area of use ({area_text}): is the CRS right?"
            ),
        )
    checks.problems.add_rows(
        bad,
        first_row,
        where,
        lambda i: f"({x[i]:g}, {y[i]:g}) cannot be transformed from {crs}",
    )
    return lon, lat


def _dates(frame: pd.DataFrame, first_row: int, checks: Checks) -> np.ndarray:
    date = checks.cols.date
    if not date:
        return np.full(len(frame), None, dtype=object)
    raw_dates = frame[date].str.strip()
    parsed = pd.to_datetime(raw_dates, errors="coerce", format="ISO8601")
    bad = (raw_dates != "").to_numpy() & parsed.isna().to_numpy()
    checks.problems.add_rows(
        bad,
        first_row,
        date,
        lambda i: f"not a date: {raw_dates.iloc[i]!r} (expected YYYY-MM-DD)",
    )
    return np.where(parsed.isna(), None, parsed.dt.date.astype(object)).astype(object)


def _element_values(
    frame: pd.DataFrame, first_row: int, checks: Checks
) -> dict[str, units.ParsedValues]:
    values: dict[str, units.ParsedValues] = {}
    for column in checks.cols.elements:
        flag_name = checks.cols.flags.get(column.header)
        parsed_values = units.parse_values(
            frame[column.header],
            flags=frame[flag_name] if flag_name else None,
            detection_limit=checks.limits.get(column.header),
            zero_is_below_dl=column.header in checks.limits,
        )
        raw = frame[column.header]
        checks.problems.add_rows(
            parsed_values.invalid,
            first_row,
            column.header,
            lambda i, r=raw: _not_a_number(r.iloc[i]),
        )
        values[column.header] = parsed_values
    return values


def _not_a_number(cell: str) -> str:
    return (
        f"not a number: {cell!r}"
        + (" (use a decimal point)" if re.fullmatch(r"\d+,\d+", cell.strip()) else "")
        + (
            " (below detection without a limit: write <DL or give --detection-limits)"
            if cell.strip().lower() in units.BELOW_DL_WORDS
            else ""
        )
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


def check_duplicates(codes: np.ndarray, column: str, problems: Problems) -> None:
    """A problem for every repeat of a sample id, naming the row where it first appears."""
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
