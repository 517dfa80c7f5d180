"""Units, species and detection limits: the one place where reported values become mg/kg.

Canonical storage is mg/kg of the element. A reported value is converted by its unit's factor
(ppm = mg/kg = g/t; ppb = µg/kg = ng/g = 0.001 mg/kg; % = 10,000 mg/kg) and, when reported as an
oxide, by the stoichiometric factor computed from atomic weights (Fe2O3 → Fe × 0.6994).

Values below the detection limit (DL) arrive as ``<0.5``, as a negative number (−DL), as ``0`` or a
word with the limits in a separate table, or with a flag column; all are stored censored, with the
limit. Statistics substitute DL/2 (``CENSORED_SUBSTITUTE_FRACTION``).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .element_data import atomic_weight, element_records, symbols_by_upper

CANONICAL_UNIT = "mg/kg"
CENSORED_SUBSTITUTE_FRACTION = 0.5

# Factor to mg/kg, by the canonical spelling of each unit.
UNIT_FACTORS: dict[str, float] = {
    "mg/kg": 1.0,
    "ppm": 1.0,
    "g/t": 1.0,
    "µg/g": 1.0,
    "ppb": 0.001,
    "µg/kg": 0.001,
    "ng/g": 0.001,
    "mg/t": 0.001,
    "%": 10_000.0,
    "g/kg": 1_000.0,
    "mg/g": 1_000.0,
}

# Other spellings met in survey files, folded to the keys above.
_UNIT_ALIASES: dict[str, str] = {
    "mg/kg": "mg/kg",
    "mgkg": "mg/kg",
    "mg_kg": "mg/kg",
    "ppm": "ppm",
    "g/t": "g/t",
    "gt": "g/t",
    "g_t": "g/t",
    "µg/g": "µg/g",
    "μg/g": "µg/g",
    "ug/g": "µg/g",
    "ppb": "ppb",
    "µg/kg": "µg/kg",
    "μg/kg": "µg/kg",
    "ug/kg": "µg/kg",
    "ugkg": "µg/kg",
    "ug_kg": "µg/kg",
    "µg_kg": "µg/kg",
    "ug_g": "µg/g",
    "µg_g": "µg/g",
    "ng_g": "ng/g",
    "ng/g": "ng/g",
    "mg/t": "mg/t",
    "%": "%",
    "pct": "%",
    "percent": "%",
    "wt%": "%",
    "wt.%": "%",
    "wt_%": "%",
    "wtpct": "%",
    "wt_pct": "%",
    "g/kg": "g/kg",
    "mg/g": "mg/g",
}

# Column stems that carry a unit but are site attributes, not elements.
ATTRIBUTE_STEMS = frozenset(
    s.lower()
    for s in (
        "LOI", "pH", "EC", "CEC", "TOC", "SOC", "Corg", "OM", "clay", "silt", "sand", "moisture",
        "depth", "elevation", "elev", "altitude", "slope", "temperature", "Eh",
    )
)  # fmt: skip

# "TFe2O3" is total iron reported as Fe2O3; no other element takes the T prefix (TiO2 is titanium).
_OXIDE_RE = re.compile(r"^(?:T(?=Fe))?([A-Z][a-z]?)(\d*)O(\d*)$")


class UnitError(ValueError):
    """A unit, species or column header that cannot be understood."""


def normalise_unit(text: str) -> str:
    """The canonical spelling of a unit (``"ppm"``, ``"mg/kg"``, ``"%"``...); raises UnitError."""
    key = text.strip().replace(" ", "").replace("μ", "µ")
    canonical = _UNIT_ALIASES.get(key) or _UNIT_ALIASES.get(key.lower())
    if canonical is None:
        raise UnitError(f"unknown unit {text!r}; known: {', '.join(sorted(UNIT_FACTORS))}")
    return canonical


def is_unit(text: str) -> bool:
    try:
        normalise_unit(text)
    except UnitError:
        return False
    return True


def oxide_factor(species: str) -> tuple[str, float]:
    """(element symbol, mass fraction of the element) for an oxide such as ``Fe2O3`` or ``TFe2O3``.

    The factor is computed from atomic weights: Fe2O3 → 2·Fe / (2·Fe + 3·O) = 0.6994.
    """
    match = _OXIDE_RE.match(species)
    if not match or match.group(1) not in element_records() or match.group(1) == "O":
        raise UnitError(f"{species!r} is not an oxide of a known element")
    symbol = match.group(1)
    n_el = int(match.group(2) or 1)
    n_o = int(match.group(3) or 1)
    element_mass = n_el * atomic_weight(symbol)
    return symbol, element_mass / (element_mass + n_o * atomic_weight("O"))


def factor_to_canonical(unit: str, species: str = "") -> float:
    """Multiply a value in ``unit`` (of ``species``, if an oxide) by this to get mg/kg element."""
    factor = UNIT_FACTORS[normalise_unit(unit)]
    if species:
        factor *= oxide_factor(species)[1]
    return factor


def to_canonical(value: float | np.ndarray, unit: str, species: str = "") -> float | np.ndarray:
    return value * factor_to_canonical(unit, species)


def from_canonical(value: float | np.ndarray, unit: str, species: str = "") -> float | np.ndarray:
    """mg/kg of the element to ``unit`` of ``species`` (the display conversion)."""
    return value / factor_to_canonical(unit, species)


def display_unit(symbol: str) -> tuple[str, str]:
    """(unit, species) in which an element is displayed, e.g. ("%", "Fe2O3") or ("mg/kg", "")."""
    record = element_records()[symbol]
    return record.display_unit, record.display_species


def to_display(value: float | np.ndarray, symbol: str) -> float | np.ndarray:
    unit, species = display_unit(symbol)
    return from_canonical(value, unit, species)


# --- column headers ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ElementColumn:
    """What an element column header says: element, species if an oxide, method and unit."""

    header: str
    symbol: str
    species: str  # oxide formula as reported, "" when reported as the element
    method: str  # e.g. "XRF", "INAA"; "" when the header names none
    unit: str  # canonical spelling, see UNIT_FACTORS

    @property
    def factor(self) -> float:
        return factor_to_canonical(self.unit, self.species)


class UnknownElementColumn(UnitError):
    """A header that carries a concentration unit but names no known element or oxide."""


def _symbol_or_species(token: str) -> tuple[str, str] | None:
    """(symbol, species) for an element symbol or oxide token, else None."""
    records = element_records()
    if token in records:
        return token, ""
    if token.isupper() and token in symbols_by_upper():
        return symbols_by_upper()[token], ""
    candidates = [token]
    if token.isupper():
        # SIO2 → SiO2, FE2O3 → Fe2O3: try the second letter in lower case.
        candidates.append(
            re.sub(r"^(T?[A-Z])([A-Z])(?=\d*O)", lambda m: m[1] + m[2].lower(), token)
        )
    for candidate in candidates:
        try:
            symbol, _ = oxide_factor(candidate)
        except UnitError:
            continue
        return symbol, candidate.removeprefix("T") if candidate.startswith("TFe") else candidate
    return None


def parse_element_header(header: str) -> ElementColumn | None:
    """The element a column holds, or None for a non-element column (site attribute, id...).

    Recognises ``Cu_ppm``, ``Cu_mg_kg``, ``Au_ppb``, ``SiO2_pct``, ``Fe2O3 (%)``, ``Al_XRF_pct``,
    ``Co_INAA_mg_kg``, ``Cu (mg/kg)``, ``CU_PPM``. Raises UnknownElementColumn for a header with a
    concentration unit whose stem is neither an element nor a known attribute (``Xx_ppm``), and
    UnitError for an element header with no unit (``Cu``).
    """
    cleaned = re.sub(r"[()\[\]]", " ", header).strip()
    tokens = [t for t in re.split(r"[_\s]+", cleaned) if t]
    if not tokens:
        return None
    stem = tokens[0]
    element = _symbol_or_species(stem)
    rest = tokens[1:]
    unit = None
    method_tokens: list[str] = []
    # The unit is usually last (Cu_XRF_ppm) but some files put the method last (Au_ppb_FA):
    # look for the unit's tokens at the end first, then anywhere after the stem.
    spans = [(len(rest) - w, w) for w in (3, 2, 1) if len(rest) >= w]
    spans += [(i, w) for w in (3, 2, 1) for i in range(len(rest) - w - 1, -1, -1)]
    for start, width in spans:
        for joiner in ("/", "", "_"):
            candidate = joiner.join(rest[start : start + width])
            if is_unit(candidate):
                unit = normalise_unit(candidate)
                method_tokens = rest[:start] + rest[start + width :]
                break
        if unit:
            break
    if element is None:
        if unit and stem.lower() not in ATTRIBUTE_STEMS:
            raise UnknownElementColumn(
                f"column {header!r} has a concentration unit but {stem!r} is not an element "
                "symbol or oxide; rename it or list it with --skip-columns"
            )
        return None
    if unit is None:
        if rest:
            # An element stem with a non-unit suffix ("Cu_flag", "B_rank") is a helper column.
            return None
        raise UnitError(
            f"column {header!r} names element {element[0]} but no unit; "
            "rename it e.g. to Cu_mg_kg, Au_ppb or SiO2_pct"
        )
    symbol, species = element
    return ElementColumn(
        header=header, symbol=symbol, species=species, method="_".join(method_tokens), unit=unit
    )


# --- values and detection limits -----------------------------------------------------------------

MISSING_TOKENS = frozenset(
    ["", "na", "n/a", "n.a.", "null", "none", "-", "--", "n.s.", "ns", "is", "i.s.", "nr"]
)
# Words meaning "below detection" without a number; the limit then comes from a DL table.
BELOW_DL_WORDS = frozenset(["bdl", "<dl", "<lod", "nd", "n.d.", "<d.l.", "bd", "<ql"])
# Flag-column values meaning the paired value is a detection limit, not a measurement.
BELOW_DL_FLAGS = frozenset(["<", "bdl", "nd", "u", "<dl", "<lod", "lt", "y", "1", "true"])


@dataclass(slots=True)
class ParsedValues:
    """A column of reported values, parsed. Arrays share the column's length.

    ``value`` is the reported number (NaN when missing or censored), ``censored`` marks values
    below detection, ``detection_limit`` is the reported limit (NaN when unknown), ``present``
    marks rows holding a measurement, and ``invalid`` rows that could not be read.
    """

    value: np.ndarray
    censored: np.ndarray
    detection_limit: np.ndarray
    present: np.ndarray
    invalid: np.ndarray
    above_range: np.ndarray


def parse_values(
    raw: pd.Series,
    *,
    flags: pd.Series | None = None,
    detection_limit: float | None = None,
    zero_is_below_dl: bool = False,
    max_chars: int | None = None,
) -> ParsedValues:
    """Parse one column of reported strings, vectorised.

    With ``max_chars``, a cell longer than that is ``invalid`` and never parsed: a 30 MB string of
    digits would otherwise cost the C reader hundreds of MB (and read as infinity).

    ``detection_limit`` is the column's limit from a separate table: it fills in the limit for
    ``BDL``-style words and, with ``zero_is_below_dl``, turns ``0`` into a censored value.
    ``flags`` is a paired flag column: a flagged row's value is its detection limit.

    Plain numbers, with or without a ``<``/``>`` sign (nearly every cell of a survey), are read
    in C by ``_plain_numbers``; only the other cells go through pandas string methods
    (``_read_words``), once per distinct string. Every cell comes out exactly as the reference
    reading (``_read_words``) gives it for that cell alone: tests/test_units.py checks this on
    random mixtures of every encoding.
    """
    missing, word_below, less, more, number, too_long = _read_cells(raw, max_chars)
    invalid = (~missing & ~word_below & np.isnan(number)) | too_long
    missing &= ~too_long

    censored = less.copy()
    dl = np.where(less, number, np.nan)
    value = np.where(less, np.nan, number)

    negative = ~less & ~invalid & ~missing & ~word_below & (number < 0)
    censored |= negative
    dl = np.where(negative, -number, dl)
    value = np.where(negative, np.nan, value)

    if flags is not None:
        flag_text = flags.fillna("").astype(str)
        codes, distinct = pd.factorize(flag_text.to_numpy(dtype=object))
        below = pd.Series(distinct, dtype=flag_text.dtype).str.strip().str.lower()
        flagged = below.isin(BELOW_DL_FLAGS).to_numpy()[codes]
        flagged = flagged & ~missing & ~invalid
        dl = np.where(flagged & ~censored, np.abs(number), dl)
        censored |= flagged
        value = np.where(flagged, np.nan, value)

    if word_below.any():
        if detection_limit is None:
            invalid |= word_below
        else:
            censored |= word_below
            dl = np.where(word_below, detection_limit, dl)

    if zero_is_below_dl and detection_limit is not None:
        zero = ~censored & ~invalid & ~missing & (number == 0)
        censored |= zero
        dl = np.where(zero, detection_limit, dl)
        value = np.where(zero, np.nan, value)

    if detection_limit is not None:
        dl = np.where(censored & np.isnan(dl), detection_limit, dl)

    present = ~missing & ~invalid
    return ParsedValues(
        value=value,
        censored=censored & present,
        detection_limit=dl,
        present=present,
        invalid=invalid,
        above_range=more & present,
    )


def _read_cells(
    raw: pd.Series, max_chars: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(missing, below-limit word, ``<``, ``>``, number, too long) of each cell: plain numbers
    in C (``_plain_numbers``), the other cells by ``_read_words``, once per distinct string;
    cells longer than ``max_chars`` are read as blanks and marked too long."""
    strings = raw.to_numpy(dtype=object)
    try:
        joined = "\n".join(strings)
    except TypeError:  # not all strings: missing values become "", others their str()
        strings = raw.fillna("").astype(str).to_numpy(dtype=object)
        joined = "\n".join(strings)
    n = len(strings)
    too_long = np.zeros(n, dtype=bool)
    if max_chars is not None and len(joined) > max_chars:
        too_long = _longer_than(strings, joined, max_chars)
        if too_long.any():
            strings = strings.copy()
            strings[too_long] = ""
            joined = "\n".join(strings)
    number, sign, plain = _plain_numbers(joined, n)
    less, more = sign == _LESS, sign == _MORE
    missing = np.zeros(n, dtype=bool)
    word_below = np.zeros(n, dtype=bool)
    other = np.flatnonzero(~plain)
    if len(other):
        codes, distinct = pd.factorize(strings[other])
        words = _read_words(pd.Series(distinct, dtype=str))
        for target, source in zip((missing, word_below, less, more, number), words, strict=True):
            target[other] = source[codes]
    # pandas.to_numeric reads an integer "-0" as 0 alone (as an int) but as -0.0 beside a decimal
    # or a blank; read it as it reads alone, whatever else the column holds.
    for i in np.flatnonzero((number == 0) & np.signbit(number)):
        body = strings[i].strip()
        if body.startswith(("<", ">")):
            body = body[1:].strip()
        if not any(c in body for c in ".eE"):
            number[i] = 0.0
    return missing, word_below, less, more, number, too_long


def _longer_than(strings: np.ndarray, joined: str, max_chars: int) -> np.ndarray:
    """Which of the strings (joined one a line in ``joined``) are longer than ``max_chars``:
    from the line breaks' positions, without a Python call per string."""
    data = np.frombuffer(joined.encode("ascii", "replace"), dtype=np.uint8)
    ends = np.flatnonzero(data == _NEWLINE)
    if len(ends) != len(strings) - 1:  # a string holds a line break: count them one by one
        return np.fromiter(map(len, strings), dtype=np.int64, count=len(strings)) > max_chars
    bounds = np.concatenate(([-1], ends, [len(data)]))
    return np.diff(bounds) - 1 > max_chars


def _read_words(
    text: pd.Series,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(missing, below-limit word, ``<``, ``>``, number) of each string, with pandas string methods.

    The reference reading of a cell: anything ``_plain_numbers`` does not read comes here.
    """
    text = text.str.strip()
    lower = text.str.lower()
    missing = lower.isin(MISSING_TOKENS).to_numpy()
    word_below = lower.isin(BELOW_DL_WORDS).to_numpy()
    less = text.str.startswith("<").to_numpy() & ~word_below
    more = text.str.startswith(">").to_numpy()
    body = text.where(~(less | more), text.str[1:].str.strip())
    number = pd.to_numeric(body.where(~missing & ~word_below, None), errors="coerce").to_numpy(
        dtype="f8"
    )
    return missing, word_below, less, more, number


def _byte_table(characters: bytes) -> np.ndarray:
    table = np.zeros(256, dtype=bool)
    table[list(characters)] = True
    return table


_LESS, _MORE, _NEWLINE = ord("<"), ord(">"), ord("\n")
# A plain number: an optional < or > sign, then only these bytes, at least one digit, and a first
# byte from _NUMBER_START. Not "+": pandas.to_numeric, the reference reading, is one unit in the
# last place off for some numbers written with a plus sign ("+9e91"), which the C reader is not.
_NOT_NUMBER_BYTES = ~_byte_table(b"0123456789.eE+-")
_DIGITS = _byte_table(b"0123456789")
_NUMBER_START = _byte_table(b"0123456789.-")


def _plain_numbers(joined: str, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(number, sign, plain) of the n strings in ``joined`` (one a line), read in C.

    numpy finds the plain numbers by their bytes and pandas' CSV reader converts those lines to
    floats, the value ``pandas.to_numeric`` gives (see _NOT_NUMBER_BYTES), at about 50 ns a cell
    instead of several hundred. ``plain`` marks the strings read here; ``sign`` is ``_LESS`` or
    ``_MORE`` for a plain number behind ``<`` or ``>``, else 0; ``number`` is NaN where not plain.
    A plain-looking string that is no number ("1.2.3", an error anyway) leaves the whole column
    to ``_read_words``.
    """
    number = np.full(n, np.nan)
    sign = np.zeros(n, dtype=np.uint8)
    plain = np.zeros(n, dtype=bool)
    if n == 0:
        return number, sign, plain
    # Non-ASCII characters become "?", which no plain number holds.
    data = np.frombuffer((joined + "\n").encode("ascii", "replace"), dtype=np.uint8)
    ends = np.flatnonzero(data == _NEWLINE)
    if len(ends) != n:  # a string holds a line break
        return number, sign, plain
    starts = np.empty(n, dtype=np.intp)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    first = data[starts]
    signed = (first == _LESS) | (first == _MORE)
    body = starts + signed
    # Counts of bytes up to each position: outside a number's alphabet, and digits.
    count_type = np.int32 if len(data) < 2**31 else np.int64
    outside = np.zeros(len(data) + 1, dtype=count_type)
    np.cumsum(np.take(_NOT_NUMBER_BYTES, data), dtype=count_type, out=outside[1:])
    digits = np.zeros(len(data) + 1, dtype=count_type)
    np.cumsum(np.take(_DIGITS, data), dtype=count_type, out=digits[1:])
    plain = (
        (outside[ends] == outside[body])
        & (digits[ends] > digits[body])
        & np.take(_NUMBER_START, data[body])  # an empty body's first byte is its newline
    )
    count = int(plain.sum())
    if not count:
        return number, sign, plain
    keep = np.repeat(plain, ends - starts + 1)  # each plain line with its newline
    keep[starts[signed]] = False
    try:
        read = pd.read_csv(
            io.BytesIO(data[keep].tobytes()),
            header=None,
            names=["v"],
            dtype={"v": np.float64},
            na_filter=False,
            engine="c",
        )["v"].to_numpy()
    except ValueError:
        read = None
    if read is None or len(read) != count:
        return number, sign, np.zeros(n, dtype=bool)
    number[plain] = read
    sign[plain & signed] = first[plain & signed]
    return number, sign, plain
