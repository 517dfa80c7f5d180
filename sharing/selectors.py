"""Reads that pages and endpoints share, each starting from the viewer's scope.

Every selector that returns sample data also returns the countries whose rows it used
(``countries``), so the caller records the audit for exactly what went out. Figures that only
count (home page) are cached per set of rights and data version.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from django.db.models import Count, Min, Q, QuerySet

from baselines import units
from baselines.models import Element, Measurement, Survey
from baselines.provenance import reported_limit
from baselines.statistics import Summary, stat_values, summary_of
from chemearth.caching import cached

from .access import Scope, pending_licence, visible_measurements, visible_samples
from .models import AccessRequest


@dataclass(frozen=True)
class VisibleValues:
    """Values of one element as stored (mg/kg) with what statistics need, and whose they are."""

    symbol: str
    value: np.ndarray
    censored: np.ndarray
    detection_limit: np.ndarray
    countries: frozenset[int]

    @classmethod
    def of(cls, rows: QuerySet[Measurement], symbol: str) -> VisibleValues:
        """Read (value, censored, detection limit, country) rows into arrays."""
        data = np.array(
            list(rows.values_list("value", "censored", "detection_limit", "sample__country_id")),
            dtype=object,
        ).reshape(-1, 4)
        return cls(
            symbol=symbol,
            value=data[:, 0].astype("f8"),
            censored=data[:, 1].astype(bool),
            detection_limit=data[:, 2].astype("f8"),
            countries=frozenset(int(c) for c in data[:, 3]),
        )

    @cached_property
    def stats(self) -> np.ndarray:
        """Statistics values: each value, censored ones at DL/2 (computed once)."""
        return stat_values(self.value, self.censored, self.detection_limit)

    @cached_property
    def summary(self) -> Summary:
        return summary_of(self.stats, self.censored)

    def display_statistics(self, summary: Summary | None = None) -> dict:
        """The summary with every concentration in the element's display unit."""
        summary = summary or self.summary
        return summary.converted(lambda v: float(units.to_display(v, self.symbol)))

    def display_values(self) -> np.ndarray:
        """Finite statistics values (censored at DL/2) in the display unit, for charts."""
        x = self.stats
        return np.asarray(units.to_display(x[np.isfinite(x)], self.symbol), dtype="f8")


def visible_figures(scope: Scope) -> dict[str, int]:
    """Countries, samples and elements a viewer may see: full scans of the largest tables, so
    cached per set of rights (not per user) and per data version."""
    samples = visible_samples(scope)
    return cached(
        f"home-figures:{scope.cache_key}:{Survey.objects.data_version()}",
        lambda: {
            "countries": samples.values("country").distinct().count(),
            "samples": samples.count(),
            "elements": visible_measurements(scope).values("element").distinct().count(),
        },
        timeout=600,
    )


def elements_with_data(scope: Scope, medium: str) -> list[dict]:
    """Per element, the visible measurements in a medium and the finest scale of their surveys.
    Cached per set of rights and data version (a scan of the measurements)."""

    def compute() -> list[dict]:
        rows = (
            visible_measurements(scope)
            .preferred()
            .filter(sample__survey__medium__code=medium)
            .values("element__symbol")
            .annotate(n=Count("id"), finest=Min("sample__survey__scale_m"))
            .order_by("element__atomic_number")
        )
        return [
            {"symbol": r["element__symbol"], "n": r["n"], "finest_scale_km": r["finest"] / 1000}
            for r in rows
        ]

    key = f"viewer-elements:{scope.cache_key}:{Survey.objects.data_version()}:{medium}"
    return cached(key, compute, timeout=600)


def elements_of_survey(survey: Survey) -> QuerySet[Element]:
    """The elements a survey measured (public metadata)."""
    return Element.objects.filter(analytes__survey=survey).distinct().order_by("atomic_number")


def survey_analytes(scope: Scope, survey: Survey) -> list[dict]:
    """A survey's elements as measured, one row per element and method: the method (its own, or
    the survey's default: ``method_from`` says which), laboratory, detection limit (mg/kg and as
    reported), unit and species as reported, and among the values the viewer may see, ``n`` and
    how many (and what share) were below the detection limit. When an element was measured by
    several methods, ``preferred`` marks the one maps and statistics use and ``methods`` counts
    them. The page and the API's survey detail both show this.

    The metadata is public, as the survey's is; the counts come from visible rows only (cached per
    set of rights and data version)."""

    def counts() -> dict[int, tuple[int, int]]:
        rows = (
            visible_measurements(scope)
            .filter(sample__survey=survey)
            .values("analyte_id")
            .annotate(n=Count("id"), below=Count("id", filter=Q(censored=True)))
        )
        return {r["analyte_id"]: (r["n"], r["below"]) for r in rows}

    seen = cached(
        f"survey-analytes:{scope.cache_key}:{Survey.objects.data_version()}:{survey.pk}",
        counts,
        timeout=600,
    )
    analytes = list(
        survey.analytes.select_related("element").order_by(
            "element__atomic_number", "-preferred", "method"
        )
    )
    methods_of: dict[int, int] = {}
    for a in analytes:
        methods_of[a.element_id] = methods_of.get(a.element_id, 0) + 1
    rows = []
    for a in analytes:
        n, below = seen.get(a.pk, (0, 0))
        method = a.method or survey.method
        method_from = "reported" if a.method else ("survey" if survey.method else "")
        rows.append(
            {
                "element": a.element.symbol,
                "name": a.element.name,
                "method": method,
                "method_from": method_from,
                "laboratory": survey.laboratory,
                "detection_limit_mg_kg": a.detection_limit,
                "detection_limit_reported": reported_limit(a),
                "reported_unit": a.reported_unit,
                "reported_species": a.reported_species or a.element.symbol,
                "source_column": a.source_column,
                "n": n,
                "below_detection_limit": below,
                "below_detection_limit_pct": round(100 * below / n, 1) if n else None,
                "methods": methods_of[a.element_id],
                "preferred": a.preferred,
            }
        )
    return rows


def covers_survey(scope: Scope, survey: Survey) -> bool:
    """The viewer already sees the survey beyond its public release in every one of its countries
    (an agreement, stewardship or staff): nothing to request."""
    if scope.everything:
        return True
    countries = list(survey.countries.values_list("pk", flat=True))
    return bool(countries) and all(
        any(g.source != "public" and g.covers(c, survey.pk) for g in scope.grants)
        for c in countries
    )


def pending_licence_for_survey(scope: Scope, survey: Survey):
    """The viewer's not-yet-accepted agreement that would grant this survey, if any."""
    return pending_licence(scope, survey=survey)


def has_pending_request(user, survey: Survey) -> bool:
    """The user has asked for the survey's data and no steward has decided yet."""
    return (
        user is not None
        and user.is_authenticated
        and AccessRequest.objects.filter(
            user=user, survey=survey, status=AccessRequest.Status.PENDING
        ).exists()
    )
