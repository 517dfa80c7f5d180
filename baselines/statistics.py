"""Summary statistics of geochemical values, with censored values at DL/2.

One place for the numbers a cell popup, a dashboard or a legend reports; percentiles are numpy's
linear method, the same as map classification uses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .units import CENSORED_SUBSTITUTE_FRACTION

SUMMARY_PERCENTILES = (5, 25, 50, 75, 95)


def stat_values(
    values: np.ndarray, censored: np.ndarray, detection_limit: np.ndarray
) -> np.ndarray:
    """The numbers statistics use: each value, or DL × 1/2 where it is below detection."""
    values = np.asarray(values, dtype="f8")
    censored = np.asarray(censored, dtype=bool)
    limits = np.asarray(detection_limit, dtype="f8")
    return np.where(censored, limits * CENSORED_SUBSTITUTE_FRACTION, values)


@dataclass(frozen=True)
class Summary:
    """n, censored n, min, 5/25/50/75/95th percentiles, max, mean, geometric mean and MAD
    (median absolute deviation from the median, unscaled). All None when n is 0."""

    n: int
    censored: int
    min: float | None = None
    p5: float | None = None
    p25: float | None = None
    median: float | None = None
    p75: float | None = None
    p95: float | None = None
    max: float | None = None
    mean: float | None = None
    geometric_mean: float | None = None
    mad: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    def converted(self, convert) -> dict:
        """The summary with every concentration passed through ``convert`` (counts kept)."""
        data = self.as_dict()
        return {
            key: (convert(value) if value is not None and key not in ("n", "censored") else value)
            for key, value in data.items()
        }


def summarise(values: np.ndarray, censored: np.ndarray, detection_limit: np.ndarray) -> Summary:
    return summary_of(stat_values(values, censored, detection_limit), censored)


def summary_of(x: np.ndarray, censored: np.ndarray) -> Summary:
    """The summary of statistics values already computed by ``stat_values`` (so a caller that
    also draws them computes them once)."""
    x = x[np.isfinite(x)]
    n_censored = int(np.asarray(censored, dtype=bool).sum())
    if x.size == 0:
        return Summary(n=0, censored=0)
    p5, p25, p50, p75, p95 = np.percentile(x, SUMMARY_PERCENTILES, method="linear")
    positive = x[x > 0]
    geometric = float(np.exp(np.log(positive).mean())) if positive.size == x.size else None
    return Summary(
        n=int(x.size),
        censored=n_censored,
        min=float(x.min()),
        p5=float(p5),
        p25=float(p25),
        median=float(p50),
        p75=float(p75),
        p95=float(p95),
        max=float(x.max()),
        mean=float(x.mean()),
        geometric_mean=geometric,
        mad=float(np.median(np.abs(x - p50))),
    )
