"""Column roles: which header is the sample id, the coordinates, the country, depth and date, and
which are elements (with unit, species and method), their flag columns, attributes or skipped."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .. import units
from .options import IngestOptions
from .problems import Problems
from .read import CONTROL_CHARACTERS

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
# A size fraction (or other split of one site's material) per row: kept as a sample attribute,
# and ``--fraction`` takes one of its values (``ingest._validate_rows``).
FRACTION_COLUMNS = ("fraction", "size_fraction", "grain_size_fraction", "sieve_fraction")
FLAG_SUFFIXES = ("_flag", "_qual", "_qualifier", " flag", "_dl_flag", "_q")
# What the analyte table holds (Analyte.method, Analyte.source_column).
MAX_METHOD_CHARS = 40
MAX_HEADER_CHARS = 120
# Methods that give totals; preferred over partial extractions when an element has several.
TOTAL_METHODS = ("XRF", "INAA", "FA", "ICP-MS_4ACID", "ICPMS", "ICP-MS", "ICP-AES", "ICPAES")


@dataclass
class Columns:
    sample_id: str
    site: str | None
    x: str
    y: str
    country: str | None
    depth: str | None
    date: str | None
    fraction: str | None  # also an attribute column
    elements: list[units.ElementColumn]
    flags: dict[str, str]  # element header → its flag column
    attributes: list[str]
    skipped: list[str]


@dataclass
class _Rest:
    """The columns after the id, coordinates and other roles: elements and the others."""

    elements: list[units.ElementColumn]
    flags: dict[str, str]
    attributes: list[str]
    skipped: list[str]


def _pick(header: list[str], names: tuple[str, ...]) -> str | None:
    by_lower = {h.lower(): h for h in header}
    for name in names:
        if name in by_lower:
            return by_lower[name]
    return None


def _is_flag(name: str) -> bool:
    return any(name.lower().endswith(suffix) for suffix in FLAG_SUFFIXES)


def classify_columns(header: list[str], options: IngestOptions, problems: Problems) -> Columns:
    """Every column's role; problems for unnamed, repeated, missing or unreadable columns."""
    _check_names(header, problems)
    sample_id = _pick(header, ID_COLUMNS)
    if sample_id is None:
        problems.add("no sample id column (expected one of: " + ", ".join(ID_COLUMNS) + ")", 1)
    x, y = _coordinate_columns(header, options, problems)
    roles = {
        "site": _pick(header, SITE_COLUMNS),
        "country": _pick(header, COUNTRY_COLUMNS),
        "depth": _pick(header, DEPTH_COLUMNS),
        "date": _pick(header, DATE_COLUMNS),
    }
    taken = {sample_id, x, y} | set(roles.values())
    skip = {s.strip() for s in options.skip_columns}
    for name in sorted(skip - set(header)):
        problems.add("--skip-columns names a column the file does not have", 1, name)
    rest = _other_columns(header, taken, skip, problems)
    rest.elements = _mapped_methods(rest.elements, options.column_methods, header, problems)
    _check_methods(rest.elements, problems)
    if not rest.elements and sample_id:
        problems.add("no element columns recognised (headers such as Cu_ppm or SiO2_pct)", 1)
    return Columns(
        sample_id=sample_id or "",
        site=roles["site"],
        x=x or "",
        y=y or "",
        country=roles["country"],
        depth=roles["depth"],
        date=roles["date"],
        fraction=_pick(rest.attributes, FRACTION_COLUMNS),
        elements=rest.elements,
        flags=rest.flags,
        attributes=rest.attributes,
        skipped=rest.skipped,
    )


def _check_names(header: list[str], problems: Problems) -> None:
    seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        if CONTROL_CHARACTERS.search(name):
            problems.add(f"the name of column {position} holds a control character", row=1)
        elif not name:
            problems.add(f"column {position} has no name", row=1)
        elif name in seen:
            problems.add(f"column name repeated (columns {seen[name]} and {position})", 1, name)
        seen.setdefault(name, position)


def _coordinate_columns(
    header: list[str], options: IngestOptions, problems: Problems
) -> tuple[str | None, str | None]:
    """(x, y): longitude/latitude, or with ``--crs`` projected x/y (else longitude/latitude)."""
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
    return x, y


def _other_columns(header: list[str], taken: set, skip: set[str], problems: Problems) -> _Rest:
    """Element columns (each with its flag column, if any), attributes and skipped columns."""
    rest = _Rest(elements=[], flags={}, attributes=[], skipped=[])
    lower_to_header = {h.lower(): h for h in header}
    for name in header:
        if not name or name in taken:
            continue
        if name in skip:
            rest.skipped.append(name)
            continue
        if _is_flag(name):
            continue  # paired with its value column below
        try:
            column = units.parse_element_header(name)
        except units.UnitError as exc:  # UnknownElementColumn too
            problems.add(str(exc).replace(f"column {name!r} ", ""), 1, name)
            continue
        if column is None:
            rest.attributes.append(name)
            continue
        rest.elements.append(column)
        for suffix in FLAG_SUFFIXES:
            flag = lower_to_header.get((name + suffix).lower()) or lower_to_header.get(
                (column.symbol + suffix).lower()
            )
            if flag:
                rest.flags[name] = flag
                break
    # Flag-like columns paired with no element column are attributes.
    paired = set(rest.flags.values())
    rest.attributes += [
        name
        for name in header
        if name and name not in taken and name not in skip and _is_flag(name) and name not in paired
    ]
    return rest


def _mapped_methods(
    elements: list[units.ElementColumn],
    methods: dict[str, str],
    header: list[str],
    problems: Problems,
) -> list[units.ElementColumn]:
    """The element columns with the method ``--column-methods`` gives them (over their
    header's); problems for a map naming no element column of the file."""
    by_header = {c.header: c for c in elements}
    for name, method in methods.items():
        if name not in by_header:
            where = "is not an element column" if name in header else "is not in the file"
            problems.add(f"--column-methods names a column that {where}", 1, name)
        elif not method.strip():
            problems.add("--column-methods gives this column an empty method", 1, name)
    return [
        dataclasses.replace(c, method=methods[c.header].strip())
        if methods.get(c.header, "").strip()
        else c
        for c in elements
    ]


def _check_methods(elements: list[units.ElementColumn], problems: Problems) -> None:
    """One column per element and method: a second one would be a second analyte row. Methods
    and headers fit the analyte table."""
    pairs: dict[tuple[str, str], str] = {}
    for column in elements:
        if len(column.method) > MAX_METHOD_CHARS:
            problems.add(
                f"method {column.method[:60]!r} is longer than {MAX_METHOD_CHARS} characters",
                1,
                column.header,
            )
        if len(column.header) > MAX_HEADER_CHARS:
            problems.add(f"the column name is longer than {MAX_HEADER_CHARS} characters", 1)
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


def choose_preferred(elements: list[units.ElementColumn], prefer: dict[str, str]) -> dict[str, str]:
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


def describe_column(column: units.ElementColumn, default_method: str = "") -> str:
    """e.g. "Fe by XRF, reported as Fe2O3 in %", "Cu by ICP-MS (the survey's method), reported
    in mg/kg" or "Cu, reported in mg/kg" (no method known)."""
    if column.method:
        method = f" by {column.method}"
    elif default_method:
        method = f" by {default_method} (the survey's method)"
    else:
        method = ""
    species = f" as {column.species}" if column.species else ""
    return f"{column.symbol}{method}, reported{species} in {column.unit}"
