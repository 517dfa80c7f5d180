"""Class breaks, classification, legends and colour ramps (maps/classification.py, maps/ramps.py).

Breaks are checked against numpy on the same data: statistics values substitute
DL × CENSORED_SUBSTITUTE_FRACTION for censored values, and every percentile must equal
``np.percentile(..., method="linear")`` exactly.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baselines.units import CENSORED_SUBSTITUTE_FRACTION, oxide_factor, to_display
from maps.classification import (
    DEFAULT_N_CLASSES,
    DEFAULT_PERCENTILES,
    Legend,
    boxplot_breaks,
    build_legend,
    classify,
    legend_breaks,
    log_equal_interval_breaks,
    percentile_breaks,
    quantile_breaks,
    stat_values,
)
from maps.ramps import RAMPS, ramp_colours, rgb_to_hex

PROPERTY = settings(max_examples=150, deadline=None)
HEX = re.compile(r"^#[0-9a-f]{6}$")


@st.composite
def censored_lognormal(draw, min_size: int = 1, max_size: int = 300):
    """(values, censored, detection_limit) as stored: log-normal values, random censoring.

    Censored rows carry NaN as the value and their limit, as ``parse_values`` stores them; the
    limits take one or two values (surveys have one DL per element and lab), so ties are common.
    """
    size = draw(st.integers(min_size, max_size))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mu = draw(st.floats(-2, 4))
    sigma = draw(st.floats(0.05, 2))
    raw = rng.lognormal(mean=mu, sigma=sigma, size=size)
    limits = draw(st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=2))
    dl = rng.choice(np.array(limits), size=size)
    mode = draw(st.sampled_from(["below_dl", "random", "none", "all"]))
    if mode == "below_dl":
        censored = raw < dl
    elif mode == "random":
        censored = rng.random(size) < draw(st.floats(0, 1))
    elif mode == "none":
        censored = np.zeros(size, dtype=bool)
    else:
        censored = np.ones(size, dtype=bool)
    values = np.where(censored, np.nan, raw)
    return values, censored, dl


def substituted(values, censored, dl):
    """The reference substitution, written out independently of stat_values."""
    out = np.array(values, dtype=float)
    out[censored] = dl[censored] * CENSORED_SUBSTITUTE_FRACTION
    return out


def assert_valid_legend(legend: Legend) -> None:
    assert sum(c.count for c in legend.classes) == legend.n
    assert 0 <= legend.censored_count <= legend.n
    if legend.n == 0:
        assert legend.classes == [] and legend.breaks == []
        return
    assert len(legend.classes) == len(legend.breaks) + 1
    assert all(a < b for a, b in zip(legend.breaks, legend.breaks[1:], strict=False))
    for c in legend.classes:
        assert c.lower <= c.upper
        assert HEX.match(c.colour)
    for a, b in zip(legend.classes, legend.classes[1:], strict=False):
        assert a.upper == b.lower
    # Only the first class may be a single value: a break at the minimum (say, all the censored
    # values at DL/2), or a single class when every value is equal.
    assert all(c.lower < c.upper for c in legend.classes[1:])
    assert legend.classes[0].count > 0 and legend.classes[-1].count > 0
    json.dumps(legend.to_json(), allow_nan=False)


# --- statistics values ---------------------------------------------------------------------------


def test_stat_values_substitute_the_censored_fraction_of_the_limit():
    values = np.array([3.0, np.nan, 7.0, np.nan])
    censored = np.array([False, True, False, True])
    dl = np.array([1.0, 2.0, 1.0, np.nan])
    out = stat_values(values, censored, dl)
    assert out[0] == 3.0 and out[2] == 7.0
    assert out[1] == 2.0 * CENSORED_SUBSTITUTE_FRACTION
    assert np.isnan(out[3])  # censored with an unknown limit: no statistics value


def test_stat_values_take_a_scalar_limit():
    out = stat_values(np.array([np.nan, 4.0]), np.array([True, False]), 0.5)
    assert out.tolist() == [0.5 * CENSORED_SUBSTITUTE_FRACTION, 4.0]


# --- breaks against numpy ------------------------------------------------------------------------


@PROPERTY
@given(censored_lognormal())
def test_percentile_breaks_equal_numpy_on_substituted_values(data):
    values, censored, dl = data
    x = stat_values(values, censored, dl)
    reference = substituted(values, censored, dl)
    expected = np.percentile(reference, DEFAULT_PERCENTILES, method="linear")
    assert np.array_equal(percentile_breaks(x), expected)
    assert np.array_equal(
        percentile_breaks(x, [1, 33.3, 99]), np.percentile(reference, [1, 33.3, 99])
    )


@PROPERTY
@given(censored_lognormal(), st.integers(1, 12))
def test_quantile_breaks_equal_numpy(data, n):
    x = stat_values(*data)
    expected = np.percentile(x, [100 * i / n for i in range(1, n)], method="linear")
    breaks = quantile_breaks(x, n)
    assert breaks.shape == (n - 1,)
    assert np.array_equal(breaks, expected)


@PROPERTY
@given(censored_lognormal(), st.sampled_from(["percentiles", "quantiles", "boxplot", "log_equal"]))
def test_legend_counts_and_breaks(data, scheme):
    values, censored, dl = data
    legend = build_legend(values, censored, dl, scheme=scheme)
    x = substituted(values, censored, dl)
    assert legend.n == x.size
    assert legend.censored_count == int(censored.sum())
    assert_valid_legend(legend)
    # Counts per class match counting the right-closed intervals by hand.
    edges = [-np.inf, *legend.breaks, np.inf]
    by_hand = [int(np.sum((x > lo) & (x <= hi))) for lo, hi in zip(edges, edges[1:], strict=False)]
    assert [c.count for c in legend.classes] == by_hand
    assert legend.classes[0].lower == x.min() and legend.classes[-1].upper == x.max()
    if scheme == "percentiles":
        raw = np.percentile(x, DEFAULT_PERCENTILES, method="linear")
        expected = np.unique(raw)
        assert legend.breaks == expected[expected < x.max()].tolist()


@PROPERTY
@given(
    st.lists(st.floats(-1e6, 1e6), max_size=50),
    st.lists(st.floats(-1e6, 1e6), max_size=10),
)
def test_classify_is_monotone_and_right_closed(xs, bs):
    x = np.sort(np.array(xs, dtype=float))
    breaks = np.sort(np.array(bs, dtype=float))
    idx = classify(x, breaks)
    assert np.all(np.diff(idx) >= 0)
    assert np.all((idx >= 0) & (idx <= breaks.size))
    for value, i in zip(x, idx, strict=True):
        if i > 0:
            assert value > breaks[i - 1]
        if i < breaks.size:
            assert value <= breaks[i]


def test_classify_puts_a_value_on_a_break_in_the_class_below():
    breaks = np.array([1.0, 2.0, 3.0])
    x = np.array([0.5, 1.0, 1.5, 2.0, 3.0, 3.5, np.nan])
    assert classify(x, breaks).tolist() == [0, 0, 1, 1, 2, 3, -1]


def test_classify_rejects_unsorted_breaks():
    with pytest.raises(ValueError):
        classify(np.array([1.0]), np.array([2.0, 1.0]))


# --- ties, empty input ---------------------------------------------------------------------------


def test_many_censored_values_give_unique_breaks_and_a_below_dl_class():
    rng = np.random.default_rng(7)
    raw = rng.lognormal(1.0, 0.8, size=1000)
    censored = np.zeros(1000, dtype=bool)
    censored[:400] = True  # 40 % below a DL of 0.5
    values = np.where(censored, np.nan, raw + 0.5)
    legend = build_legend(values, censored, np.full(1000, 0.5))
    assert_valid_legend(legend)
    half_dl = 0.5 * CENSORED_SUBSTITUTE_FRACTION
    # P5, P10 and P25 coincide at DL/2: one class holds exactly the censored values.
    assert legend.breaks[0] == half_dl
    assert legend.classes[0].lower == legend.classes[0].upper == half_dl
    assert legend.classes[0].count == 400
    assert len(legend.classes) == len(DEFAULT_PERCENTILES) + 1 - 2
    assert legend.censored_count == 400


def test_all_values_equal_give_one_class():
    legend = build_legend(np.full(20, 3.0), np.zeros(20, dtype=bool), np.full(20, 1.0))
    assert_valid_legend(legend)
    assert len(legend.classes) == 1
    c = legend.classes[0]
    assert (c.lower, c.upper, c.count) == (3.0, 3.0, 20)
    assert build_legend([3.0] * 5, [False] * 5, [1.0] * 5, scheme="log_equal").n == 5


def test_ties_at_the_top_drop_the_empty_top_class():
    x = np.array([1.0, 2.0] + [9.0] * 30)
    legend = build_legend(x, np.zeros(x.size, dtype=bool), np.ones(x.size))
    assert_valid_legend(legend)
    assert legend.breaks[-1] < 9.0
    assert legend.classes[-1].upper == 9.0


def test_legend_breaks_removes_duplicates_and_out_of_range_breaks():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert legend_breaks(x, np.array([0.5, 1.0, 1.0, 2.5, 2.5, 4.0, 5.0])).tolist() == [1.0, 2.5]
    assert legend_breaks(np.array([]), np.array([1.0])).size == 0


@pytest.mark.parametrize("scheme", ["percentiles", "quantiles", "boxplot", "log_equal"])
def test_empty_input_gives_an_empty_legend(scheme):
    empty = np.array([], dtype=float)
    legend = build_legend(empty, np.array([], dtype=bool), empty, scheme=scheme, symbol="Fe")
    assert (legend.n, legend.censored_count, legend.classes) == (0, 0, [])
    assert legend.unit == "%" and legend.species == "Fe2O3"
    assert json.loads(json.dumps(legend.to_json(), allow_nan=False))["classes"] == []
    # Nothing with a statistics value (missing, or censored without a limit) is empty too.
    nothing = build_legend([np.nan, np.nan], [False, True], [np.nan, np.nan], scheme=scheme)
    assert nothing.n == 0 and nothing.classes == []


def test_break_functions_on_empty_input():
    empty = np.array([])
    assert percentile_breaks(empty).size == 0
    assert quantile_breaks(empty, 4).size == 0
    assert boxplot_breaks(empty).size == 0
    assert log_equal_interval_breaks(empty, 4).size == 0


# --- boxplot and log equal intervals on known data -----------------------------------------------


def test_boxplot_breaks_linear_by_hand():
    # n = 10, positions (n-1)·p: Q1 at 2.25 → 3.25, median at 4.5 → 5.5, Q3 at 6.75 → 7.75.
    # IQR 4.5, fences −3.5 and 14.5: whiskers 1 and 9; 100 is an outlier.
    x = np.array([100, 9, 8, 7, 6, 5, 4, 3, 2, 1], dtype=float)
    assert boxplot_breaks(x, log=False).tolist() == [1.0, 3.25, 5.5, 7.75, 9.0]


def test_boxplot_breaks_log_by_hand():
    # log10: 0 1 2 3 4 9; Q1 at 1.25 → 1.25, median at 2.5 → 2.5, Q3 at 3.75 → 3.75.
    # IQR 2.5, fences −2.5 and 7.5 (log): whiskers 1 and 1e4; 1e9 is an outlier.
    x = np.array([1, 10, 100, 1e3, 1e4, 1e9])
    expected = [1.0, 10**1.25, 10**2.5, 10**3.75, 1e4]
    assert boxplot_breaks(x) == pytest.approx(expected, rel=1e-12)
    assert boxplot_breaks(x)[[0, 4]].tolist() == [1.0, 1e4]  # whiskers are the data values
    legend = build_legend(x, np.zeros(6, dtype=bool), np.ones(6), scheme="boxplot")
    assert_valid_legend(legend)
    # Right-closed: the lower whisker (the minimum here) is alone in the first class.
    assert [c.count for c in legend.classes] == [1, 1, 1, 1, 1, 1]


def test_boxplot_low_outliers():
    x = np.array([0.001, 5, 6, 7, 8, 9, 10], dtype=float)
    lw, q1, med, q3, uw = boxplot_breaks(x, log=True)
    assert lw == 5.0 and uw == 10.0
    assert med == pytest.approx(7.0)
    with pytest.raises(ValueError):
        boxplot_breaks(np.array([0.0, 1.0, 2.0]))
    assert boxplot_breaks(np.array([0.0, 1.0, 2.0]), log=False).tolist() == [0, 0.5, 1, 1.5, 2]


def test_log_equal_interval_breaks_by_hand():
    x = np.array([1, 3, 10, 30, 100, 300, 1000, 1e4])
    breaks = log_equal_interval_breaks(x, 4)
    assert breaks == pytest.approx([10, 100, 1000], rel=1e-12)
    assert log_equal_interval_breaks(np.array([2.0, 2e3]), 3) == pytest.approx([20, 200])
    assert log_equal_interval_breaks(x, 1).size == 0
    legend = build_legend(x, np.zeros(x.size, dtype=bool), np.ones(x.size), scheme="log_equal", n=4)
    assert_valid_legend(legend)
    assert len(legend.classes) == 4


@pytest.mark.parametrize("bad", [[0.0, 1.0, 10.0], [-1.0, 5.0]])
def test_log_equal_intervals_reject_non_positive_values(bad):
    with pytest.raises(ValueError, match="positive"):
        log_equal_interval_breaks(np.array(bad), 3)


def test_invalid_arguments():
    x = np.arange(1.0, 11.0)
    with pytest.raises(ValueError):
        quantile_breaks(x, 0)
    with pytest.raises(ValueError):
        percentile_breaks(x, [50, 25])
    with pytest.raises(ValueError):
        percentile_breaks(x, [50, 101])
    with pytest.raises(ValueError, match="scheme"):
        build_legend(x, np.zeros(10, dtype=bool), np.ones(10), scheme="jenks")
    with pytest.raises(ValueError, match="ramp"):
        build_legend(x, np.zeros(10, dtype=bool), np.ones(10), ramp="rainbow")


def test_quantile_and_log_equal_default_class_count():
    x = np.geomspace(1, 1000, 200)
    for scheme in ("quantiles", "log_equal"):
        legend = build_legend(x, np.zeros(200, dtype=bool), np.ones(200), scheme=scheme)
        assert len(legend.classes) == DEFAULT_N_CLASSES


# --- ramps ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RAMPS))
def test_ramp_lengths_format_and_ends(name):
    for k in range(0, 21):
        colours = ramp_colours(name, k)
        assert len(colours) == k
        assert all(HEX.match(c) for c in colours)
    assert ramp_colours(name, len(RAMPS[name])) == [rgb_to_hex(c) for c in RAMPS[name]]
    ends = ramp_colours(name, 7)
    assert ends[0] == rgb_to_hex(RAMPS[name][0]) and ends[-1] == rgb_to_hex(RAMPS[name][-1])
    assert len(set(ramp_colours(name, 9))) == 9


def test_ramps_run_blue_to_red():
    for name in ("geochem", "colourblind"):
        r0, _, b0 = RAMPS[name][0]
        r1, _, b1 = RAMPS[name][-1]
        assert b0 > r0 and r1 > b1


def test_ramp_interpolates_linearly_in_rgb():
    # Three colours on a two-anchor stretch: the middle one is the anchors' mean.
    anchors = RAMPS["colourblind"]
    mid = ramp_colours("colourblind", 2 * len(anchors) - 1)[1]
    expected = tuple(
        math.floor((a + b) / 2 + 0.5) for a, b in zip(anchors[0], anchors[1], strict=True)
    )
    assert mid == rgb_to_hex(expected)


def test_unknown_ramp_and_negative_count():
    with pytest.raises(ValueError):
        ramp_colours("jet", 3)
    with pytest.raises(ValueError):
        ramp_colours("geochem", -1)


# --- legend JSON and display units ---------------------------------------------------------------


def test_legend_json_round_trip():
    rng = np.random.default_rng(3)
    values = rng.lognormal(3, 1, 500)
    censored = values < 5
    values[censored] = np.nan
    legend = build_legend(values, censored, np.full(500, 5.0), ramp="colourblind", symbol="Pb")
    data = legend.to_json()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data["n"] == 500 and data["censored_count"] == int(censored.sum())
    assert data["unit"] == "mg/kg" and data["storage_unit"] == "mg/kg"
    assert len(data["classes"]) == len(data["breaks"]) + 1
    assert {type(v) for c in data["classes"] for v in c.values()} <= {float, int, str}
    assert [c["colour"] for c in data["classes"]] == ramp_colours(
        "colourblind", len(data["classes"])
    )


def test_legend_shows_iron_as_percent_fe2o3():
    fe = np.array([20_000.0, 30_000.0, 35_000.0, 41_000.0, 52_000.0, 60_000.0, 75_000.0])
    legend = build_legend(fe, np.zeros(fe.size, dtype=bool), np.ones(fe.size), symbol="Fe")
    assert (legend.unit, legend.species) == ("%", "Fe2O3")
    assert oxide_factor("Fe2O3")[1] == pytest.approx(0.6994, abs=1e-4)
    for c in legend.classes:
        assert c.lower_display == pytest.approx(c.lower / 10_000 / 0.6994, rel=1e-3)
        assert c.upper_display == pytest.approx(c.upper / 10_000 / 0.6994, rel=1e-3)
        assert c.upper_display == to_display(c.upper, "Fe")
    # 20,000 mg/kg Fe is 2.86 % Fe2O3.
    assert legend.classes[0].lower_display == pytest.approx(2.8596, abs=1e-3)


def test_legend_display_for_mg_kg_and_ug_kg_elements():
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    cu = build_legend(x, np.zeros(5, dtype=bool), np.ones(5), symbol="Cu")
    assert cu.unit == "mg/kg"
    assert all(c.lower_display == c.lower and c.upper_display == c.upper for c in cu.classes)
    au = build_legend(x * 1e-3, np.zeros(5, dtype=bool), np.ones(5), symbol="Au")
    assert au.unit == "µg/kg"
    assert au.classes[-1].upper_display == pytest.approx(16.0)


def test_pre_release_cells_without_released_values_class_on_the_1_2_5_series():
    """Only pre-release cells: breaks from no datum; zero medians (uncensored 0) get a class from
    0, and every cell's representative falls back into its own class."""
    from maps.classification import class_representatives, classify, series_legend

    for medians in ([0.0], [0.0, 0.0, 3.0], [7.3], [0.013, 4.2, 380.0], [2.0, 2.0]):
        legend = series_legend(np.array(medians), scheme="percentiles")
        assert legend.classes and legend.n == 0 and legend.breaks_from == "1-2-5 series"
        bounds = [c.lower for c in legend.classes] + [legend.classes[-1].upper]
        steps = [b == 0 or round(b / 10 ** np.floor(np.log10(b)), 9) in (1, 2, 5) for b in bounds]
        assert all(steps), bounds
        reps = class_representatives(np.array(medians), legend)
        breaks = np.array(legend.breaks)
        assert (classify(reps, breaks) == classify(np.array(medians), breaks)).all(), medians


def test_percentile_classes_are_labelled_with_their_bands():
    """Atlas classes name their cumulative-frequency band; breaks that coincide (many censored
    values at DL/2) merge into one band up to the highest of their percentiles."""
    x = np.arange(1.0, 1001.0)
    legend = build_legend(x, np.zeros(x.size, bool), np.full(x.size, np.nan))
    assert [c.band for c in legend.classes] == [
        "P0–P5", "P5–P10", "P10–P25", "P25–P50", "P50–P75", "P75–P90", "P90–P95", "P95–P98",
        "P98–P100",
    ]  # fmt: skip
    data = legend.to_json()["classes"][1]
    assert (data["band"], data["percentile_lower"], data["percentile_upper"]) == ("P5–P10", 5, 10)
    # 15 % censored at one limit: P5 and P10 both fall on DL/2 and make one class P0–P10.
    censored = x <= 150
    values = np.where(censored, np.nan, x)
    legend = build_legend(values, censored, np.full(x.size, 100.0))
    assert [c.band for c in legend.classes][:2] == ["P0–P10", "P10–P25"]
    assert legend.classes[0].count == 150 and legend.censored_pct == 15.0
    assert legend.to_json()["censored_pct"] == 15.0
    quantiles = build_legend(x, np.zeros(x.size, bool), np.full(x.size, np.nan), scheme="quantiles")
    assert [c.band for c in quantiles.classes] == ["P0–P20", "P20–P40", "P40–P60", "P60–P80",
                                                   "P80–P100"]  # fmt: skip
    for scheme in ("boxplot", "log_equal"):
        other = build_legend(x, np.zeros(x.size, bool), np.full(x.size, np.nan), scheme=scheme)
        assert all(c.band is None for c in other.classes)
        assert all("band" not in c for c in other.to_json()["classes"])


def test_the_legend_image_shows_bands_and_the_share_below_detection_limit():
    from maps.legend_image import legend_lines

    x = np.arange(1.0, 201.0)
    censored = x <= 30
    legend = build_legend(np.where(censored, np.nan, x), censored, np.full(x.size, 50.0))
    texts = [text for _, text in legend_lines(legend)]
    assert texts[0].startswith("P98–P100 ")
    assert "n = 200; 30 (15 %) below detection limit (as DL/2)" in texts
