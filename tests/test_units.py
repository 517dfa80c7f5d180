"""Units, oxides, column headers and detection limits (baselines/units.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from baselines.statistics import stat_values
from baselines.units import (
    BELOW_DL_FLAGS,
    BELOW_DL_WORDS,
    MISSING_TOKENS,
    UNIT_FACTORS,
    ElementColumn,
    UnitError,
    UnknownElementColumn,
    factor_to_canonical,
    from_canonical,
    is_unit,
    normalise_unit,
    oxide_factor,
    parse_element_header,
    parse_values,
    to_canonical,
)

PROPERTY = settings(max_examples=300, deadline=None)

MICRO_SIGN = "\u00b5"  # µ, the spelling UNIT_FACTORS uses
GREEK_MU = "\u03bc"  # μ, what many keyboards and spreadsheets produce


# --- 1. unit factors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "factor"),
    [
        ("ppm", 1.0),
        ("mg/kg", 1.0),
        ("g/t", 1.0),
        (f"{MICRO_SIGN}g/g", 1.0),
        ("ppb", 0.001),
        (f"{MICRO_SIGN}g/kg", 0.001),
        ("ng/g", 0.001),
        ("%", 10_000.0),
    ],
)
def test_each_unit_converts_to_mg_per_kg_by_its_factor(unit, factor):
    assert factor_to_canonical(unit) == factor
    assert UNIT_FACTORS[unit] == factor
    assert to_canonical(2.5, unit) == pytest.approx(2.5 * factor)
    assert from_canonical(2.5 * factor, unit) == pytest.approx(2.5)


def test_ppb_is_a_thousandth_of_ppm_and_percent_is_ten_thousand_ppm():
    assert to_canonical(1_000.0, "ppb") == pytest.approx(to_canonical(1.0, "ppm"))
    assert to_canonical(1.0, "%") == pytest.approx(to_canonical(10_000.0, "ppm"))
    assert factor_to_canonical("ppb") != factor_to_canonical("ppm")
    assert factor_to_canonical("%") != factor_to_canonical("ppm")


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("pct", "%"),
        ("PCT", "%"),
        ("wt%", "%"),
        ("wt. %", "%"),
        ("wt %", "%"),
        ("percent", "%"),
        ("ug/kg", f"{MICRO_SIGN}g/kg"),
        (f"{GREEK_MU}g/kg", f"{MICRO_SIGN}g/kg"),
        (f"{MICRO_SIGN}g/kg", f"{MICRO_SIGN}g/kg"),
        ("ug/g", f"{MICRO_SIGN}g/g"),
        (f"{GREEK_MU}g/g", f"{MICRO_SIGN}g/g"),
        ("mg_kg", "mg/kg"),
        ("mgkg", "mg/kg"),
        ("MG/KG", "mg/kg"),
        ("Mg/Kg", "mg/kg"),
        (" ppm ", "ppm"),
        ("PPB", "ppb"),
        ("g_t", "g/t"),
    ],
)
def test_survey_spellings_of_a_unit_normalise_to_its_canonical_key(spelling, canonical):
    assert normalise_unit(spelling) == canonical
    assert canonical in UNIT_FACTORS
    assert is_unit(spelling)


def test_greek_mu_and_micro_sign_spellings_give_the_same_factor():
    assert factor_to_canonical(f"{GREEK_MU}g/kg") == factor_to_canonical(f"{MICRO_SIGN}g/kg")
    assert factor_to_canonical(f"{GREEK_MU}g/kg") == 0.001


@pytest.mark.parametrize(
    "unit", ["", "ppt", "mg/l", "mg/L", "kg", "mg", "ppmv", "meq/100g", "cm", "m", "%%", "ug"]
)
def test_unknown_units_raise_unit_error(unit):
    with pytest.raises(UnitError, match="unknown unit"):
        normalise_unit(unit)
    with pytest.raises(UnitError):
        factor_to_canonical(unit)
    assert not is_unit(unit)


def test_unit_error_is_a_value_error():
    assert issubclass(UnitError, ValueError)
    assert issubclass(UnknownElementColumn, UnitError)


# --- 2. oxides -----------------------------------------------------------------------------------

# IUPAC standard atomic weights (abridged), kept here independently of baselines/data/elements.csv.
IUPAC = {
    "O": 15.999,
    "Na": 22.990,
    "Mg": 24.305,
    "Al": 26.982,
    "Si": 28.085,
    "P": 30.974,
    "K": 39.098,
    "Ca": 40.078,
    "Ti": 47.867,
    "Mn": 54.938,
    "Fe": 55.845,
}

# (oxide, element, atoms of element, atoms of O, tabulated factor to 4 decimals).
# TiO2 → Ti is 0.5993 with today's Ti = 47.867 (older tables print 0.5995, from Ti = 47.90);
# K2O → K is 0.830150…, which tables print as 0.8301 or 0.8302.
OXIDES = [
    ("Fe2O3", "Fe", 2, 3, 0.6994),
    ("SiO2", "Si", 1, 2, 0.4674),
    ("Al2O3", "Al", 2, 3, 0.5293),
    ("K2O", "K", 2, 1, 0.8301),
    ("CaO", "Ca", 1, 1, 0.7147),
    ("MgO", "Mg", 1, 1, 0.6030),
    ("Na2O", "Na", 2, 1, 0.7419),
    ("TiO2", "Ti", 1, 2, 0.5993),
    ("P2O5", "P", 2, 5, 0.4364),
    ("MnO", "Mn", 1, 1, 0.7745),
]


@pytest.mark.parametrize(("oxide", "symbol", "n_el", "n_o", "tabulated"), OXIDES)
def test_oxide_factor_is_the_element_mass_fraction_from_atomic_weights(
    oxide, symbol, n_el, n_o, tabulated
):
    got_symbol, factor = oxide_factor(oxide)

    assert got_symbol == symbol
    element = n_el * IUPAC[symbol]
    assert factor == pytest.approx(element / (element + n_o * IUPAC["O"]), rel=1e-12)
    assert factor == pytest.approx(tabulated, abs=1e-4)
    assert 0 < factor < 1
    # 1 % of the oxide is factor × 10,000 mg/kg of the element.
    assert to_canonical(1.0, "%", oxide) == pytest.approx(10_000 * factor)
    assert factor_to_canonical("%", oxide) != factor_to_canonical("%")


def test_the_four_decimal_factors_of_the_common_oxides():
    rounded = {oxide: round(oxide_factor(oxide)[1], 4) for oxide, *_ in OXIDES}
    assert rounded == {
        "Fe2O3": 0.6994,
        "SiO2": 0.4674,
        "Al2O3": 0.5293,
        "K2O": 0.8302,
        "CaO": 0.7147,
        "MgO": 0.6030,
        "Na2O": 0.7419,
        "TiO2": 0.5993,
        "P2O5": 0.4364,
        "MnO": 0.7745,
    }


def test_total_iron_tfe2o3_is_fe2o3():
    assert oxide_factor("TFe2O3") == oxide_factor("Fe2O3")
    assert oxide_factor("TFe2O3")[0] == "Fe"
    assert oxide_factor("FeO")[1] != oxide_factor("Fe2O3")[1]  # FeO is a different oxide


@pytest.mark.parametrize(
    "species", ["Fe", "Cu", "FeS2", "CuSO4", "O2", "O", "Xx2O3", "sio2", "SiO2 ", "", "T", "OH"]
)
def test_oxide_factor_rejects_species_that_are_not_oxides_of_a_known_element(species):
    with pytest.raises(UnitError, match="not an oxide"):
        oxide_factor(species)
    if species:  # an empty species means "reported as the element", not an error
        with pytest.raises(UnitError):
            factor_to_canonical("%", species)
    else:
        assert factor_to_canonical("%", species) == 10_000.0


SPECIES = ["", "Fe2O3", "TFe2O3", "SiO2", "Al2O3", "K2O", "CaO", "MgO", "Na2O", "TiO2", "P2O5"]
UNIT_SPELLINGS = sorted(UNIT_FACTORS) + ["pct", "wt. %", "ug/kg", f"{GREEK_MU}g/kg", "mg_kg"]


@PROPERTY
@given(
    st.floats(min_value=1e-9, max_value=1e9, allow_nan=False),
    st.sampled_from(UNIT_SPELLINGS),
    st.sampled_from(SPECIES),
)
def test_to_canonical_and_from_canonical_are_inverse(value, unit, species):
    canonical = to_canonical(value, unit, species)

    assert from_canonical(canonical, unit, species) == pytest.approx(value, rel=1e-12)
    assert to_canonical(from_canonical(value, unit, species), unit, species) == pytest.approx(
        value, rel=1e-12
    )
    if species:
        # Reporting as an oxide always means less element than the same number as the element.
        assert canonical < to_canonical(value, unit)


def test_conversions_work_on_arrays():
    values = np.array([0.0, 1.0, 2.5])
    assert np.allclose(to_canonical(values, "%", "SiO2"), values * 10_000 * 0.467436712547)
    assert np.allclose(from_canonical(to_canonical(values, "ppb"), "ppb"), values)


# --- 3. column headers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "symbol", "species", "method", "unit"),
    [
        ("Cu_ppm", "Cu", "", "", "ppm"),
        ("Cu_mg_kg", "Cu", "", "", "mg/kg"),
        ("Au_ppb", "Au", "", "", "ppb"),
        ("SiO2_pct", "Si", "SiO2", "", "%"),
        ("Fe2O3 (%)", "Fe", "Fe2O3", "", "%"),
        ("Al_XRF_pct", "Al", "", "XRF", "%"),
        ("Co_INAA_mg_kg", "Co", "", "INAA", "mg/kg"),
        ("Cu (mg/kg)", "Cu", "", "", "mg/kg"),
        ("Cu [mg/kg]", "Cu", "", "", "mg/kg"),
        ("CU_PPM", "Cu", "", "", "ppm"),
        ("SIO2_PCT", "Si", "SiO2", "", "%"),
        ("FE2O3_PCT", "Fe", "Fe2O3", "", "%"),
        ("CAO_PCT", "Ca", "CaO", "", "%"),
        ("K2O_PCT", "K", "K2O", "", "%"),
        ("TFe2O3_pct", "Fe", "Fe2O3", "", "%"),
        ("TFE2O3_PCT", "Fe", "Fe2O3", "", "%"),
        ("Hg_ug_kg", "Hg", "", "", f"{MICRO_SIGN}g/kg"),
        (f"Hg_{GREEK_MU}g_kg", "Hg", "", "", f"{MICRO_SIGN}g/kg"),
        ("Fe2O3_wt%", "Fe", "Fe2O3", "", "%"),
        ("Cu_ICP-MS_ppm", "Cu", "", "ICP-MS", "ppm"),
        ("Th_INAA_mg_kg", "Th", "", "INAA", "mg/kg"),
        ("Ti_XRF_pct", "Ti", "", "XRF", "%"),
    ],
)
def test_element_headers_give_symbol_species_method_and_unit(header, symbol, species, method, unit):
    column = parse_element_header(header)

    assert isinstance(column, ElementColumn)
    assert (column.symbol, column.species, column.method, column.unit) == (
        symbol,
        species,
        method,
        unit,
    )
    assert column.header == header
    assert column.factor == pytest.approx(factor_to_canonical(unit, species))


def test_header_factors_combine_unit_and_oxide():
    assert parse_element_header("Cu_ppm").factor == 1.0
    assert parse_element_header("Au_ppb").factor == 0.001
    assert parse_element_header("Hg_ug_kg").factor == 0.001
    assert parse_element_header("SiO2_pct").factor == pytest.approx(10_000 * 0.467436712547)
    assert parse_element_header("Al_XRF_pct").factor == 10_000.0  # element, not oxide


@pytest.mark.parametrize(
    "header",
    [
        "state",
        "land_cover_1",
        "LOI_pct",
        "pH",
        "depth_cm",
        "elevation_m",
        "sample_id",
        "SAMPLE_ID",
        "TOC_pct",
        "Elev_m",
        "date",
        "Cu_flag",
    ],
)
def test_non_element_columns_are_not_elements(header):
    assert parse_element_header(header) is None


def test_a_unit_on_an_unknown_stem_raises_unknown_element_column():
    with pytest.raises(UnknownElementColumn, match="'Xx' is not an element"):
        parse_element_header("Xx_ppm")
    with pytest.raises(UnknownElementColumn):
        parse_element_header("Foo_mg_kg")


@pytest.mark.parametrize("header", ["Cu", "Fe2O3", "Sb", "As"])
def test_an_element_header_without_a_unit_raises_unit_error_not_unknown_column(header):
    with pytest.raises(UnitError, match="no unit") as caught:
        parse_element_header(header)
    assert not isinstance(caught.value, UnknownElementColumn)


@pytest.mark.parametrize(
    ("header", "symbol", "species"),
    [
        ("TiO2_pct", "Ti", "TiO2"),
        ("TIO2_PCT", "Ti", "TiO2"),
        ("TiO2 (%)", "Ti", "TiO2"),
        ("ThO2_ppm", "Th", "ThO2"),
        ("THO2_PPM", "Th", "ThO2"),
        ("Ta2O5_ppm", "Ta", "Ta2O5"),
        ("Tb4O7_ppm", "Tb", "Tb4O7"),
        ("Tl2O3_ppm", "Tl", "Tl2O3"),
    ],
)
def test_oxides_of_elements_starting_with_t_keep_their_element(header, symbol, species):
    column = parse_element_header(header)
    assert (column.symbol, column.species) == (symbol, species)
    assert column.factor == pytest.approx(factor_to_canonical(column.unit, species))


# --- 4. values and detection limits --------------------------------------------------------------


def _parse(values, **kwargs):
    return parse_values(pd.Series(values, dtype=object), **kwargs)


def _row(parsed, i: int) -> dict:
    return {
        "value": float(parsed.value[i]),
        "censored": bool(parsed.censored[i]),
        "dl": float(parsed.detection_limit[i]),
        "present": bool(parsed.present[i]),
        "invalid": bool(parsed.invalid[i]),
        "above_range": bool(parsed.above_range[i]),
    }


def _assert_censored(row: dict, dl: float) -> None:
    assert row["censored"] and row["present"]
    assert row["dl"] == dl
    assert math.isnan(row["value"])  # no measured value: only the limit
    assert not row["invalid"] and not row["above_range"]


def _assert_value(row: dict, value: float) -> None:
    assert row["value"] == value
    assert row["present"] and not row["censored"] and not row["invalid"]
    assert math.isnan(row["dl"])
    assert not row["above_range"]


def _assert_missing(row: dict) -> None:
    assert not row["present"] and not row["invalid"] and not row["censored"]
    assert math.isnan(row["value"])


def _assert_invalid(row: dict) -> None:
    assert row["invalid"] and not row["present"] and not row["censored"]
    assert math.isnan(row["value"])


@pytest.mark.parametrize("text", ["<0.5", "< 0.5", " <0.5 ", "<0.50", "<5e-1"])
def test_a_less_than_value_is_censored_at_that_limit(text):
    _assert_censored(_row(_parse([text]), 0), 0.5)


def test_a_less_than_value_keeps_its_own_limit_over_the_table_limit():
    _assert_censored(_row(_parse(["<0.5"], detection_limit=2.0), 0), 0.5)


@pytest.mark.parametrize("text", ["-0.5", " -0.5", "-5e-1"])
def test_a_negative_value_is_censored_at_its_absolute_value(text):
    _assert_censored(_row(_parse([text]), 0), 0.5)


@pytest.mark.parametrize("flag", ["<", "BDL", "bdl", "U", "u", "ND", "<DL", "LT", "Y", "1", "true"])
def test_a_flagged_value_is_the_detection_limit(flag):
    parsed = _parse(["0.5", "0.5"], flags=pd.Series([flag, ""]))

    _assert_censored(_row(parsed, 0), 0.5)
    _assert_value(_row(parsed, 1), 0.5)  # the unflagged row is a measurement


@pytest.mark.parametrize("flag", ["", None, "0", "x", "ok", ">"])
def test_a_value_without_a_below_limit_flag_stays_a_value(flag):
    _assert_value(_row(_parse(["0.5"], flags=pd.Series([flag], dtype=object)), 0), 0.5)


def test_a_flag_on_a_missing_value_does_not_make_a_measurement():
    _assert_missing(_row(_parse(["", "NA"], flags=pd.Series(["<", "<"])), 0))
    _assert_missing(_row(_parse(["", "NA"], flags=pd.Series(["<", "<"])), 1))


@pytest.mark.parametrize("text", ["0", "0.0", "0.000"])
def test_zero_with_a_table_limit_and_zero_is_below_dl_is_censored_at_the_table_limit(text):
    _assert_censored(_row(_parse([text], detection_limit=0.7, zero_is_below_dl=True), 0), 0.7)


def test_zero_stays_a_measured_zero_unless_both_a_limit_and_zero_is_below_dl_are_given():
    _assert_value(_row(_parse(["0"]), 0), 0.0)
    _assert_value(_row(_parse(["0"], detection_limit=0.7), 0), 0.0)
    _assert_value(_row(_parse(["0"], zero_is_below_dl=True), 0), 0.0)


def test_zero_is_below_dl_leaves_non_zero_values_alone():
    parsed = _parse(["0", "0.3", "<0.2"], detection_limit=0.7, zero_is_below_dl=True)
    _assert_censored(_row(parsed, 0), 0.7)
    _assert_value(_row(parsed, 1), 0.3)
    _assert_censored(_row(parsed, 2), 0.2)


@pytest.mark.parametrize("word", ["BDL", "bdl", "ND", "n.d.", "<DL", "<LOD", "BD", "<QL"])
def test_a_below_limit_word_is_censored_at_the_table_limit(word):
    _assert_censored(_row(_parse([word], detection_limit=0.7), 0), 0.7)


@pytest.mark.parametrize("word", ["BDL", "ND", "<DL"])
def test_a_below_limit_word_without_a_table_limit_is_invalid(word):
    _assert_invalid(_row(_parse([word]), 0))


@pytest.mark.parametrize("token", ["", "  ", "NA", "na", "N/A", "N.S.", "-", "--", None])
def test_missing_tokens_are_not_present_and_not_invalid(token):
    _assert_missing(_row(_parse([token]), 0))


@pytest.mark.parametrize("token", ["NaN", "nan", "-nan"])
def test_nan_is_not_a_missing_value_but_invalid(token):
    """NaN is what a failed calculation leaves in a cell; ingest refuses it (issue 17)."""
    _assert_invalid(_row(_parse([token]), 0))


def test_cells_longer_than_max_chars_are_invalid_and_not_parsed():
    digits = "9" * 5_000_000
    parsed = parse_values(
        pd.Series(["3.2", digits, "<0.5", "<" + digits], dtype=object), max_chars=64
    )
    assert parsed.invalid.tolist() == [False, True, False, True]
    assert parsed.present.tolist() == [True, False, True, False]
    assert parsed.value[0] == 3.2 and parsed.detection_limit[2] == 0.5
    # Without the bound the same cells are read as before (a number of 5 million digits).
    assert np.isinf(parse_values(pd.Series([digits], dtype=object)).value[0])


def test_max_chars_counts_each_cell_also_when_a_cell_holds_a_line_break():
    parsed = parse_values(pd.Series(["1\n2", "7" * 100, "5"], dtype=object), max_chars=64)
    assert parsed.invalid.tolist() == [True, True, False]
    assert parsed.value[2] == 5


def test_numpy_nan_is_missing():
    _assert_missing(_row(_parse([np.nan]), 0))


@pytest.mark.parametrize("text", ["abc", "1,5", "1.2.3", "<", ">", "<abc", "five", "1 000"])
def test_unreadable_values_are_invalid(text):
    row = _row(_parse([text]), 0)
    _assert_invalid(row)
    assert not row["above_range"]


@pytest.mark.parametrize("text", [">1000", "> 1000", ">1e3"])
def test_a_greater_than_value_is_its_number_flagged_above_range(text):
    row = _row(_parse([text]), 0)
    assert row["value"] == 1000.0
    assert row["above_range"] and row["present"]
    assert not row["censored"] and not row["invalid"]


@pytest.mark.parametrize(
    ("text", "value"),
    [("3.2", 3.2), (" 12 ", 12.0), ("0.004", 0.004), ("1e3", 1000.0), ("1E-3", 0.001), ("7", 7.0)],
)
def test_plain_numbers_keep_their_value(text, value):
    _assert_value(_row(_parse([text]), 0), value)


def test_one_column_mixing_every_encoding_parses_row_by_row():
    raw = ["3.2", "<0.5", "-0.4", "0", "BDL", "", "N.S.", "abc", ">1000"]
    parsed = _parse(raw, detection_limit=0.7, zero_is_below_dl=True)

    for array in (parsed.value, parsed.censored, parsed.detection_limit, parsed.present):
        assert len(array) == len(raw)
    assert parsed.censored.tolist() == [False, True, True, True, True, False, False, False, False]
    assert parsed.present.tolist() == [True, True, True, True, True, False, False, False, True]
    assert parsed.invalid.tolist() == [False] * 7 + [True, False]
    assert parsed.above_range.tolist() == [False] * 8 + [True]
    assert np.array_equal(
        parsed.detection_limit, [np.nan, 0.5, 0.4, 0.7, 0.7] + [np.nan] * 4, equal_nan=True
    )
    assert np.array_equal(parsed.value, [3.2] + [np.nan] * 7 + [1000.0], equal_nan=True)


def test_stat_values_substitute_half_the_limit_for_censored_values():
    stats = stat_values(
        np.array([np.nan, np.nan, 3.2, 3.2, np.nan]),
        np.array([True, True, False, False, True]),
        np.array([0.5, 0.8, np.nan, 0.5, np.nan]),
    )
    # An uncensored value ignores the limit; a censored one with no known limit gives nothing.
    assert np.array_equal(stats, [0.25, 0.4, 3.2, 3.2, np.nan], equal_nan=True)


def test_stat_values_of_parsed_values():
    parsed = _parse(["<0.5", "2.0"])
    stats = stat_values(parsed.value, parsed.censored, parsed.detection_limit)
    assert stats.tolist() == [0.25, 2.0]


positive_floats = st.floats(
    min_value=0.0, exclude_min=True, allow_nan=False, allow_infinity=False, allow_subnormal=True
)


@PROPERTY
@given(positive_floats)
@example(5e-324)
@example(1.7976931348623157e308)
@example(0.1)
@example(1e-05)
@example(123456789.12345679)
def test_any_positive_number_parses_exactly_and_with_a_less_than_sign_is_censored_at_it(v):
    parsed = parse_values(pd.Series([f"<{v!r}", str(v), f"-{v!r}"]))

    less, plain, negative = (_row(parsed, i) for i in range(3))
    _assert_censored(less, v)
    _assert_value(plain, v)
    _assert_censored(negative, v)
    assert stat_values(np.array([np.nan]), np.array([True]), np.array([less["dl"]]))[0] == v / 2


# --- 5. the fast reading agrees with the reference reading, cell by cell --------------------------
#
# parse_values reads plain numbers (optionally behind < or >) in C and everything else with pandas
# string methods. The reference below is the implementation before that split, applied to one cell
# at a time: whatever a column mixes, every cell must come out exactly as it would alone.


def _reference_parse_values(raw, *, flags=None, detection_limit=None, zero_is_below_dl=False):
    """parse_values as it was before the fast path (git 1649a23), for one column."""
    text = raw.fillna("").astype(str).str.strip()
    lower = text.str.lower()
    missing = lower.isin(MISSING_TOKENS).to_numpy()

    less = text.str.startswith("<").to_numpy() & ~lower.isin(BELOW_DL_WORDS).to_numpy()
    more = text.str.startswith(">").to_numpy()
    word_below = lower.isin(BELOW_DL_WORDS).to_numpy()

    body = text.where(~(less | more), text.str[1:].str.strip())
    number = pd.to_numeric(body.where(~missing & ~word_below, None), errors="coerce").to_numpy(
        dtype="f8"
    )
    invalid = ~missing & ~word_below & np.isnan(number)

    censored = less.copy()
    dl = np.where(less, number, np.nan)
    value = np.where(less, np.nan, number)

    negative = ~less & ~invalid & ~missing & ~word_below & (number < 0)
    censored |= negative
    dl = np.where(negative, -number, dl)
    value = np.where(negative, np.nan, value)

    if flags is not None:
        flagged = flags.fillna("").astype(str).str.strip().str.lower().isin(BELOW_DL_FLAGS)
        flagged = flagged.to_numpy() & ~missing & ~invalid
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
    return {
        "value": value,
        "censored": censored & present,
        "detection_limit": dl,
        "present": present,
        "invalid": invalid,
        "above_range": more & present,
    }


def _reference_cell_by_cell(cells, flags=None, **kwargs) -> dict[str, np.ndarray]:
    rows = [
        _reference_parse_values(
            pd.Series([cell], dtype=object),
            flags=None if flags is None else pd.Series([flags[i]], dtype=object),
            **kwargs,
        )
        for i, cell in enumerate(cells)
    ]
    fields = ("value", "censored", "detection_limit", "present", "invalid", "above_range")
    return {f: np.concatenate([r[f] for r in rows]) for f in fields}


def _assert_same_reading(cells, flags=None, **kwargs) -> None:
    got = parse_values(
        pd.Series(cells, dtype=object),
        flags=None if flags is None else pd.Series(flags, dtype=object),
        **kwargs,
    )
    expected = _reference_cell_by_cell(cells, flags, **kwargs)
    for field, want in expected.items():
        have = getattr(got, field)
        assert have.dtype == want.dtype, field
        if want.dtype.kind == "f":
            # Bit for bit: NaN where NaN, and the sign of a zero.
            assert np.array_equal(have.view("u8"), want.view("u8")) or (
                np.array_equal(have, want, equal_nan=True)
                and np.array_equal(np.signbit(have), np.signbit(want))
            ), (field, cells, have, want)
        else:
            assert np.array_equal(have, want), (field, cells, have, want)


def _case_variants(words):
    return st.sampled_from(sorted(words)).flatmap(
        lambda w: st.sampled_from([w, w.upper(), w.title()])
    )


finite_floats = st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=True)
number_texts = st.one_of(
    finite_floats.map(repr),
    finite_floats.map(str),
    st.tuples(finite_floats, st.integers(0, 8)).map(lambda t: f"{t[0]:.{t[1]}f}"),
    st.tuples(finite_floats, st.integers(0, 17)).map(lambda t: f"{t[0]:.{t[1]}e}"),
    finite_floats.map(lambda v: f"{v:E}"),
    st.integers(-(10**25), 10**25).map(str),
    st.integers(0, 10**6).map(lambda i: f"000{i}"),
    st.sampled_from(["0", "-0", "0.0", "-0.0", ".5", "5.", "-.5", "1e+05", "1E-3", "1e400"]),
)
# The ways a survey writes a value: plain numbers, < and > limits, −DL, words and blanks.
survey_cells = st.one_of(
    number_texts,
    number_texts.map(lambda s: "<" + s.lstrip("-")),
    number_texts.map(lambda s: ">" + s.lstrip("-")),
    number_texts.map(lambda s: "-" + s.lstrip("-")),
    _case_variants(MISSING_TOKENS),
    _case_variants(BELOW_DL_WORDS),
    st.none(),
    st.just(np.nan),
)
# Anything else a file may hold, including what is no number at all.
odd_cells = st.one_of(
    st.tuples(
        st.sampled_from(["", " ", "  ", "\t", "\u00a0", "< ", "> ", "<", ">", "+", "-", "<-"]),
        number_texts,
        st.sampled_from(["", " ", "\t", "\u00a0", "\n"]),
    ).map("".join),
    st.text(alphabet="0123456789.eE+-<> ,", max_size=8),
    st.text(max_size=6),
    st.sampled_from(["1,5", "1.2.3", "1 000", "inf", "-inf", "Infinity", "+nan", "nan", "1_000"]),
    st.sampled_from(["\u0661\u0662", "\uff15", "1e5\n2", "0x10", "--5", "1e", "e5", "-", "--"]),
)
flag_cells = st.one_of(_case_variants(BELOW_DL_FLAGS), st.sampled_from(["", " <", "x", "0"]))
limits = st.one_of(st.none(), st.floats(min_value=1e-6, max_value=1e4))


@PROPERTY
@given(
    st.lists(survey_cells, min_size=1, max_size=40),
    limits,
    st.booleans(),
)
@example(["3.2", "<0.5", "-0.4", "0", "BDL", "", "N.S.", ">1000", "-0", "1e400"], 0.7, True)
@example(["+9e91", "9e91", "<+9e91"], None, False)  # to_numeric misreads "+9e91" by one ulp
def test_the_fast_reading_agrees_with_the_reference_on_survey_encodings(cells, limit, zero):
    _assert_same_reading(cells, detection_limit=limit, zero_is_below_dl=zero)


@PROPERTY
@given(
    st.lists(st.one_of(survey_cells, odd_cells), min_size=1, max_size=30),
    limits,
    st.booleans(),
    st.data(),
)
@example(["1,5", "2"], None, False, None)
@example(["1.2.3", "<0.5", "7"], 0.3, True, None)  # a plain-looking non-number in the column
@example(["1\n2", "3"], None, False, None)
def test_the_fast_reading_agrees_with_the_reference_on_anything(cells, limit, zero, data):
    flags = None
    if data is not None and data.draw(st.booleans()):
        flags = data.draw(st.lists(flag_cells, min_size=len(cells), max_size=len(cells)))
    _assert_same_reading(cells, flags, detection_limit=limit, zero_is_below_dl=zero)


def test_the_fast_reading_agrees_with_the_reference_on_every_short_string():
    alphabet = "09.eE+-<> "
    cells = [""] + [a + b + c for a in alphabet for b in ["", *alphabet] for c in ["", *alphabet]]
    cells = sorted(set(cells))
    # One column each, so a cell that is no number cannot send its neighbours the slow way.
    for cell in cells:
        _assert_same_reading([cell])
    # And together: the column that holds them all.
    _assert_same_reading(cells)


def test_a_column_of_plain_numbers_and_limits_is_read_in_c():
    from baselines.units import _plain_numbers

    cells = ["3.2", "<0.5", ">1e3", "-0.4", "0", ".5", "1E-3", "BDL", "", "+1", "-", " 4", "<"]
    number, sign, plain = _plain_numbers("\n".join(cells), len(cells))

    assert plain.tolist() == [True] * 7 + [False] * 6
    assert number[:7].tolist() == [3.2, 0.5, 1000.0, -0.4, 0.0, 0.5, 0.001]
    assert [chr(s) if s else "" for s in sign[:7]] == ["", "<", ">", "", "", "", ""]
    # A cell that looks plain but is no number sends the whole column the reference way.
    assert not _plain_numbers("3.2\n1.2.3", 2)[2].any()
