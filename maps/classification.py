"""Class breaks, classification and legends for map layers (architecture guide §8).

Pure functions over numpy arrays; nothing here touches the database. The caller passes only the
values the viewer may see (the cell medians or samples of one layer), so every break and count is
computed from visible data.

Statistics use :func:`stat_values`: a measured value as is, a censored one (below the detection
limit, DL) as ``DL × CENSORED_SUBSTITUTE_FRACTION`` (DL/2) from :mod:`baselines.units`. Values are
in mg/kg of the element; legends also carry the element's display unit, converted only through
:func:`baselines.units.to_display`.

Schemes (``build_legend(scheme=...)``):

``"percentiles"`` (default)
    Breaks at cumulative-frequency percentiles, as in geochemical atlases:
    :data:`DEFAULT_PERCENTILES` = 5, 10, 25, 50, 75, 90, 95, 98. Each class carries its band
    (``P5–P10``, :func:`class_bands`); quantile classes too.
``"quantiles"``
    ``n`` classes holding (about) equal numbers of values.
``"boxplot"``
    Tukey boxplot classes: lower whisker, Q1, median, Q3, upper whisker; computed on log10 values
    by default, since geochemical data are close to log-normal.
``"log_equal"``
    ``n`` classes of equal width in log10 between the smallest and the largest value.

Every percentile is :func:`numpy.percentile` with ``method="linear"`` (numpy's default, R's type 7).

**Breaks and classes.** The break functions return the inner class boundaries, ascending, with
duplicates kept (they compare one-to-one with numpy). ``k`` breaks make ``k + 1`` classes, and
intervals are right-closed: class 0 holds ``x <= breaks[0]``, class ``i`` holds
``breaks[i-1] < x <= breaks[i]`` and the last class ``x > breaks[-1]`` — a value equal to a break
belongs to the class below it. :func:`build_legend` then makes the breaks usable when many values
are equal (typically censored values, all at the same DL/2): it removes duplicate breaks and
breaks at or above the largest value (which would head an empty top class). A break equal to the
smallest value is kept: its class holds exactly the values equal to it, e.g. every censored value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from baselines.statistics import stat_values
from baselines.units import CANONICAL_UNIT, display_unit, to_display

from .ramps import DEFAULT_RAMP, ramp_colours

DEFAULT_PERCENTILES: tuple[float, ...] = (5, 10, 25, 50, 75, 90, 95, 98)
DEFAULT_N_CLASSES = 5
TUKEY_K = 1.5
SCHEMES = ("percentiles", "quantiles", "boxplot", "log_equal")


# --- statistics values ---------------------------------------------------------------------------


def _finite(x: np.ndarray) -> np.ndarray:
    """``x`` as a flat float array without NaN or infinite values."""
    x = np.asarray(x, dtype=float).ravel()
    return x[np.isfinite(x)]


def _positive_log10(x: np.ndarray, what: str) -> np.ndarray:
    if np.any(x <= 0):
        raise ValueError(f"{what} needs positive values; got min {x.min()!r}")
    return np.log10(x)


def _check_n(n: int) -> int:
    if int(n) != n or n < 1:
        raise ValueError(f"number of classes must be a positive integer, got {n!r}")
    return int(n)


# --- breaks --------------------------------------------------------------------------------------


def percentile_breaks(
    x: np.ndarray, percentiles: Sequence[float] = DEFAULT_PERCENTILES
) -> np.ndarray:
    """Breaks at the given percentiles (0–100, strictly increasing) of the finite values of ``x``.

    Equal to ``np.percentile(x, percentiles, method="linear")`` on the finite values; an empty
    array when there are none.
    """
    q = np.asarray(percentiles, dtype=float)
    if q.ndim != 1 or np.any(np.diff(q) <= 0) or np.any((q < 0) | (q > 100)):
        raise ValueError(f"percentiles must be strictly increasing within 0–100, got {percentiles}")
    x = _finite(x)
    if x.size == 0:
        return np.empty(0)
    return np.percentile(x, q, method="linear")


def quantile_breaks(x: np.ndarray, n: int) -> np.ndarray:
    """The ``n - 1`` breaks that divide the finite values of ``x`` into ``n`` quantile classes.

    The breaks are the percentiles ``100·i/n`` for ``i = 1 … n-1`` (``np.percentile``, linear).
    """
    n = _check_n(n)
    return percentile_breaks(x, [100.0 * i / n for i in range(1, n)])


def boxplot_breaks(x: np.ndarray, *, log: bool = True) -> np.ndarray:
    """Tukey boxplot breaks: lower whisker, Q1, median, Q3, upper whisker.

    Q1, median and Q3 are linear percentiles. The lower whisker is the smallest value
    ``>= Q1 − 1.5·IQR`` and the upper whisker the largest value ``<= Q3 + 1.5·IQR``; both are data
    values. With ``log=True`` (the default, as geochemical data are close to log-normal) the
    quartiles and fences are computed on ``log10(x)`` and the quartiles are transformed back
    (``10**Q``) — so the "median" of an even count is then the geometric mean of the middle pair;
    the whiskers are returned as the original values. ``log=True`` raises ValueError on
    non-positive values. An empty array when ``x`` has no finite values.
    """
    x = _finite(x)
    if x.size == 0:
        return np.empty(0)
    t = _positive_log10(x, "a log-scale boxplot") if log else x
    q1, med, q3 = np.percentile(t, [25, 50, 75], method="linear")
    iqr = q3 - q1
    inside = (t >= q1 - TUKEY_K * iqr) & (t <= q3 + TUKEY_K * iqr)
    # Q1 and Q3 lie between data values, so at least one value is within the fences.
    lower_whisker = x[inside].min()
    upper_whisker = x[inside].max()
    quartiles = 10.0 ** np.array([q1, med, q3]) if log else np.array([q1, med, q3])
    return np.array([lower_whisker, *quartiles, upper_whisker])


def log_equal_interval_breaks(x: np.ndarray, n: int) -> np.ndarray:
    """The ``n - 1`` breaks of ``n`` classes of equal width in log10 from ``min(x)`` to ``max(x)``.

    Breaks are ``10**(log10(min) + i·w)`` with ``w = (log10(max) − log10(min)) / n``,
    ``i = 1 … n-1``. Raises ValueError if any finite value is zero or negative; an empty array
    when ``x`` has no finite values.
    """
    n = _check_n(n)
    x = _finite(x)
    if x.size == 0:
        return np.empty(0)
    t = _positive_log10(x, "log equal intervals")
    lo, hi = t.min(), t.max()
    return 10.0 ** (lo + (hi - lo) * np.arange(1, n) / n)


# --- classification ------------------------------------------------------------------------------


def classify(x: np.ndarray, breaks: np.ndarray) -> np.ndarray:
    """Class index (0 … ``len(breaks)``) of each value; −1 for NaN.

    Intervals are right-closed: a value equal to a break goes to the class below it
    (``np.searchsorted(breaks, x, side="left")``). ``breaks`` must be ascending (ties allowed;
    a tie makes an empty class). ±inf fall in the first and last class.
    """
    breaks = np.asarray(breaks, dtype=float)
    if breaks.ndim != 1 or np.any(np.isnan(breaks)) or np.any(np.diff(breaks) < 0):
        raise ValueError("breaks must be a one-dimensional ascending array without NaN")
    x = np.asarray(x, dtype=float)
    index = np.searchsorted(breaks, x, side="left")
    return np.where(np.isnan(x), -1, index)


def legend_breaks(x: np.ndarray, breaks: np.ndarray) -> np.ndarray:
    """``breaks`` made fit for a legend of the finite values of ``x``.

    Duplicates are removed (many equal values make percentiles coincide) and so are breaks below
    the smallest value or at or above the largest (they would bound empty end classes). Every
    remaining class but an inner one is non-empty; inner classes may still be empty where linear
    interpolation puts two breaks between neighbouring values.
    """
    x = _finite(x)
    if x.size == 0:
        return np.empty(0)
    b = np.unique(np.asarray(breaks, dtype=float))
    return b[(b >= x.min()) & (b < x.max())]


# --- legends -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LegendClass:
    """One class: bounds in mg/kg and in the display unit, colour and number of values.

    The class holds ``lower < x <= upper`` (the first class ``lower <= x <= upper``); ``lower`` of
    the first class and ``upper`` of the last are the smallest and largest values.
    """

    lower: float
    upper: float
    lower_display: float
    upper_display: float
    colour: str
    count: int
    # The cumulative-frequency band the class spans under a percentile scheme ((5, 10) is
    # "P5–P10"); None under boxplot and log-equal classes, whose bounds are not percentiles.
    percentiles: tuple[float, float] | None = None

    @property
    def band(self) -> str | None:
        """``"P5–P10"``, as atlases label their classes (None without percentiles)."""
        if self.percentiles is None:
            return None
        low, high = self.percentiles
        return f"P{low:g}–P{high:g}"

    def to_json(self) -> dict[str, Any]:
        data = {
            "lower": self.lower,
            "upper": self.upper,
            "lower_display": self.lower_display,
            "upper_display": self.upper_display,
            "colour": self.colour,
            "count": self.count,
        }
        if self.percentiles is not None:  # scalars only: a class is a flat record
            data["band"] = self.band
            data["percentile_lower"], data["percentile_upper"] = self.percentiles
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LegendClass:
        """The class :meth:`to_json` wrote (its ``band`` is derived, not read)."""
        low, high = data.get("percentile_lower"), data.get("percentile_upper")
        return cls(
            lower=data["lower"], upper=data["upper"], lower_display=data["lower_display"],
            upper_display=data["upper_display"], colour=data["colour"], count=data["count"],
            percentiles=None if low is None else (low, high),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Legend:
    """A layer's legend. ``n`` counts the values classified (finite statistics values) and
    ``censored_count`` how many of them were censored. ``unit`` and ``species`` are the element's
    display unit and species (``"%"``, ``"Fe2O3"``); ``breaks`` are in mg/kg of the element.
    """

    scheme: str
    symbol: str
    unit: str
    species: str
    ramp: str
    n: int
    censored_count: int
    classes: list[LegendClass] = field(default_factory=list)
    breaks: list[float] = field(default_factory=list)
    storage_unit: str = CANONICAL_UNIT
    # Cells holding embargoed rows a policy lets into maps before release, and how many such
    # rows: they are drawn in a class and counted here, never in ``n``, ``classes`` or ``breaks``.
    prerelease_cells: int = 0
    prerelease_values: int = 0
    breaks_from: str = "released values"

    def with_prerelease(self, *, cells: int, values: int) -> Legend:
        return replace(self, prerelease_cells=cells, prerelease_values=values)

    @property
    def censored_pct(self) -> float | None:
        """The share of the classified values below the detection limit, in percent (one
        decimal); None for an empty legend."""
        return round(100 * self.censored_count / self.n, 1) if self.n else None

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (plain ``int``, ``float``, ``str`` and lists; no NaN)."""
        return {
            "scheme": self.scheme,
            "symbol": self.symbol,
            "unit": self.unit,
            "species": self.species,
            "storage_unit": self.storage_unit,
            "ramp": self.ramp,
            "n": self.n,
            "censored_count": self.censored_count,
            "censored_pct": self.censored_pct,
            "breaks": list(self.breaks),
            "classes": [c.to_json() for c in self.classes],
            "breaks_from": self.breaks_from,
            "before_release": {
                "cells": self.prerelease_cells,
                "values": self.prerelease_values,
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Legend:
        """The legend a layer stored with :meth:`to_json` (``MapLayer.legend``)."""
        before = data.get("before_release") or {}
        return cls(
            scheme=data["scheme"],
            symbol=data["symbol"],
            unit=data["unit"],
            species=data.get("species", ""),
            ramp=data["ramp"],
            n=data["n"],
            censored_count=data["censored_count"],
            classes=[LegendClass.from_json(c) for c in data["classes"]],
            breaks=list(data["breaks"]),
            storage_unit=data.get("storage_unit", CANONICAL_UNIT),
            prerelease_cells=before.get("cells", 0),
            prerelease_values=before.get("values", 0),
            breaks_from=data.get("breaks_from", "released values"),
        )


def scheme_breaks(
    x: np.ndarray,
    scheme: str,
    n: int | None = None,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
) -> np.ndarray:
    """Raw breaks of ``scheme`` for the values ``x`` (``n`` for quantiles and log_equal)."""
    if scheme == "percentiles":
        return percentile_breaks(x, percentiles)
    if scheme == "quantiles":
        return quantile_breaks(x, n or DEFAULT_N_CLASSES)
    if scheme == "boxplot":
        return boxplot_breaks(x)
    if scheme == "log_equal":
        return log_equal_interval_breaks(x, n or DEFAULT_N_CLASSES)
    raise ValueError(f"unknown classification scheme {scheme!r}; known: {', '.join(SCHEMES)}")


def scheme_percentiles(
    scheme: str, n: int | None = None, percentiles: Sequence[float] = DEFAULT_PERCENTILES
) -> list[float] | None:
    """The percentile of each raw break of ``scheme`` (``scheme_breaks``), or None when its
    breaks are not percentiles (boxplot, log-equal)."""
    if scheme == "percentiles":
        return [float(p) for p in percentiles]
    if scheme == "quantiles":
        k = n or DEFAULT_N_CLASSES
        return [100.0 * i / k for i in range(1, k)]
    return None


def class_bands(
    raw: np.ndarray, kept: np.ndarray, at: Sequence[float] | None
) -> list[tuple[float, float] | None]:
    """The percentile band of each class once ``legend_breaks`` kept ``kept`` of the ``raw``
    breaks (at percentiles ``at``). Breaks that coincide are one break at the highest of their
    percentiles (the class below holds every value up to it); a dropped top break leaves the last
    class reaching P100."""
    if at is None:
        return [None] * (len(kept) + 1)
    raw = np.asarray(raw, dtype=float)
    edges = [0.0]
    for b in kept:
        edges.append(max(p for p, r in zip(at, raw, strict=True) if r == b))
    edges.append(100.0)
    return [(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]


def build_legend(
    values: np.ndarray,
    censored: np.ndarray,
    detection_limit: np.ndarray,
    *,
    scheme: str = "percentiles",
    n: int | None = None,
    ramp: str = DEFAULT_RAMP,
    symbol: str = "Cu",
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
) -> Legend:
    """Classify the visible values of one element and describe the classes.

    ``values``, ``censored`` and ``detection_limit`` are as stored (mg/kg; see
    :func:`stat_values`); values without a finite statistics value are left out. ``n`` is the
    number of classes for ``"quantiles"`` and ``"log_equal"`` (default :data:`DEFAULT_N_CLASSES`).
    Breaks go through :func:`legend_breaks`, so the legend may have fewer classes than the scheme
    asks for; the colours are then spread over the classes that remain. No visible values give a
    legend with no classes and ``n == 0``. Raises ValueError for an unknown scheme or ramp, and
    for a log scheme on non-positive values.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown classification scheme {scheme!r}; known: {', '.join(SCHEMES)}")
    ramp_colours(ramp, 0)  # fail early on an unknown ramp, even for an empty legend
    unit, species = display_unit(symbol)
    stats = np.broadcast_to(stat_values(values, censored, detection_limit), np.shape(values))
    cens = np.broadcast_to(np.asarray(censored, dtype=bool), stats.shape)
    keep = np.isfinite(stats)
    x = stats[keep].astype(float)
    legend = {
        "scheme": scheme,
        "symbol": symbol,
        "unit": unit,
        "species": species,
        "ramp": ramp,
    }
    if x.size == 0:
        return Legend(n=0, censored_count=0, **legend)

    raw = scheme_breaks(x, scheme, n, percentiles)
    breaks = legend_breaks(x, raw)
    bands = class_bands(raw, breaks, scheme_percentiles(scheme, n, percentiles))
    counts = np.bincount(classify(x, breaks), minlength=breaks.size + 1)
    bounds = np.concatenate([[x.min()], breaks, [x.max()]])
    shown = np.asarray(to_display(bounds, symbol), dtype=float)
    colours = ramp_colours(ramp, breaks.size + 1)
    classes = [
        LegendClass(
            lower=float(bounds[i]),
            upper=float(bounds[i + 1]),
            lower_display=float(shown[i]),
            upper_display=float(shown[i + 1]),
            colour=colours[i],
            count=int(counts[i]),
            percentiles=bands[i],
        )
        for i in range(breaks.size + 1)
    ]
    return Legend(
        n=int(x.size),
        censored_count=int(np.count_nonzero(cens[keep])),
        classes=classes,
        breaks=[float(b) for b in breaks],
        **legend,
    )


# --- pre-release cells: a class, never a value ---------------------------------------------------

SERIES_STEPS = (1.0, 2.0, 5.0)


def _series(lo: float, hi: float) -> np.ndarray:
    """The 1-2-5 series (…, 0.1, 0.2, 0.5, 1, 2, 5, 10, …) from the step at or below ``lo`` to
    the step at or above ``hi`` (both > 0)."""
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    steps = np.array([m * 10.0**e for e in range(first, last + 1) for m in SERIES_STEPS])
    below = steps[steps <= lo].max()
    above = steps[steps >= hi].min()
    return steps[(steps >= below) & (steps <= above)]


def series_legend(
    medians: np.ndarray, *, scheme: str, ramp: str = DEFAULT_RAMP, symbol: str = "Cu"
) -> Legend:
    """Classes on the fixed 1-2-5 series for cells with no released value to compute breaks from
    (only pre-release cells): the breaks come from no datum, the outer bounds are series steps,
    and every count is 0 — a cell's class is all it shows."""
    unit, species = display_unit(symbol)
    x = _finite(medians)
    base = dict(scheme=scheme, symbol=symbol, unit=unit, species=species, ramp=ramp)
    if x.size == 0:
        return Legend(n=0, censored_count=0, breaks_from="1-2-5 series", **base)
    positive = x[x > 0]
    steps = _series(float(positive.min()), float(positive.max())) if positive.size else [1.0]
    if len(steps) < 2 and positive.size:  # every median on one step: one class around it
        steps = [steps[0] / 2, steps[0]]
    if (x <= 0).any():  # a zero median (an uncensored 0) needs a class from 0
        steps = [0.0, *steps]
    steps = np.asarray(steps, dtype=float)
    breaks, bounds = steps[1:-1], steps
    shown = np.asarray(to_display(bounds, symbol), dtype=float)
    colours = ramp_colours(ramp, breaks.size + 1)
    classes = [
        LegendClass(float(bounds[i]), float(bounds[i + 1]), float(shown[i]),
                    float(shown[i + 1]), colours[i], 0)
        for i in range(breaks.size + 1)
    ]  # fmt: skip
    return Legend(
        n=0, censored_count=0, classes=classes, breaks=[float(b) for b in breaks],
        breaks_from="1-2-5 series", **base,
    )  # fmt: skip


def class_representatives(x: np.ndarray, legend: Legend) -> np.ndarray:
    """For each value, the representative of the legend class it falls in: the geometric middle
    of the class bounds (the arithmetic one when a bound is not positive). What a pre-release
    cell enters a raster with: classifying it gives the value's class back, and nothing finer
    than the class survives into interpolation."""
    if not legend.classes:
        return np.full(np.shape(x), np.nan)
    lower = np.array([c.lower for c in legend.classes])
    upper = np.array([c.upper for c in legend.classes])
    middle = np.where(
        (lower > 0) & (upper > 0),
        np.sqrt(np.abs(lower * upper)),
        (lower + upper) / 2,
    )
    index = classify(np.asarray(x, dtype=float), np.asarray(legend.breaks, dtype=float))
    return np.where(index >= 0, middle[np.clip(index, 0, middle.size - 1)], np.nan)
