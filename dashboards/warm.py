"""Dashboards computed before their first viewer asks.

A world figure over a million samples takes seconds to a minute of SQL (benchmarks/RESULTS.md),
and every ingest or policy change makes new cache keys (they name the data and policy versions).
So after such a change a Celery task (``tasks.warm_dashboards``, queued by ``signals``) computes
each page's default figures — for the world and for every country of the audience's rows — for
every audience that exists: the public, each distinct set of rights of agreement members and
stewards (``Scope.cache_key``: rights, not users). The pages then read them from the cache.

The defaults here are the pages' own (``portal/dashboards_pages.py`` reads them from here).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Q

from baselines.models import Country, Element, Medium
from sharing.access import Scope, viewer_scope

from . import selectors
from .models import SoilStandard
from .regions import Region, region_of
from .standards import DEFAULT_STANDARD

log = logging.getLogger(__name__)

DEFAULT_CHANGE_ELEMENT = "Cd"
DEFAULT_BASELINE_MEDIUM = "topsoil"
DEFAULT_COMPARE = ("country:USA", "world")
DEFAULT_MAP_SCALE_M = 80_000  # the coverage and exceedance maps' cells


def audiences() -> list[Scope]:
    """One scope per distinct set of rights: the public, then agreement members' and stewards'
    (staff see everything and are few: their figures are computed when they ask)."""
    users = (
        get_user_model()
        .objects.filter(is_active=True, is_staff=False)
        .filter(Q(membership__isnull=False) | Q(stewardships__isnull=False))
    )
    scopes = {}
    for scope in [viewer_scope(None), *(viewer_scope(u) for u in users.distinct())]:
        scopes.setdefault(scope.cache_key, scope)
    return list(scopes.values())


def default_change_rounds(scope: Scope) -> tuple[int, int] | None:
    """The change page's default rounds: the first and the last the viewer may see."""
    rounds = [r["round"] for r in selectors.monitoring_rounds(scope)]
    return (rounds[0], rounds[-1]) if len(rounds) >= 2 else None


@dataclass(frozen=True)
class Defaults:
    """The pages' default arguments for one audience, looked up once (the rounds read the
    audience's visible samples)."""

    standard: SoilStandard | None
    medium: Medium | None
    element: Element | None
    rounds: tuple[int, int] | None

    @classmethod
    def of(cls, scope: Scope) -> Defaults:
        return cls(
            SoilStandard.objects.filter(code=DEFAULT_STANDARD).first(),
            Medium.objects.filter(code=DEFAULT_BASELINE_MEDIUM).first(),
            Element.objects.filter(symbol=DEFAULT_CHANGE_ELEMENT).first(),
            default_change_rounds(scope),
        )


def figures(
    scope: Scope, region: Region, defaults: Defaults
) -> Iterator[tuple[str, Callable[[], object]]]:
    """The figures a region's pages show by default, each as (name, compute)."""
    standard, medium, element, rounds = (
        defaults.standard, defaults.medium, defaults.element, defaults.rounds,
    )  # fmt: skip
    yield "coverage", lambda: selectors.coverage(scope, region)
    yield "volume", lambda: selectors.data_volume(scope, region)
    if standard is not None:
        yield "exceedance", lambda: selectors.exceedance(scope, region, standard)
        yield (
            "exceedance map",
            lambda: selectors.exceedance_cells(scope, region, standard, DEFAULT_MAP_SCALE_M),
        )
    if medium is not None:
        yield "baselines", lambda: selectors.element_baselines(scope, region, medium)
        if standard is not None:  # the compare page's exceedance is of the baselines' medium
            yield (
                f"exceedance {medium.code}",
                lambda: selectors.exceedance(scope, region, standard, medium),
            )
    if element is not None and rounds is not None:
        yield "change", lambda: selectors.monitoring_change(scope, region, element, rounds)


def regions_of(scope: Scope) -> list[Region]:
    """The world and every country whose rows the audience sees."""
    world = region_of("world")
    volume = selectors.data_volume(scope, world)
    codes = Country.objects.filter(pk__in=volume.countries).order_by("name_en")
    return [world, *(region_of(f"country:{c.code}") for c in codes)]


def plan() -> list[tuple[str, Callable[[], object]]]:
    """Every figure to compute, labelled "audience region figure" (the audiences' regions are
    found from their data volume, itself one of the figures)."""
    todo = []
    for scope in audiences():
        defaults = Defaults.of(scope)
        for region in regions_of(scope):
            for name, compute in figures(scope, region, defaults):
                todo.append((f"{scope.audience[:8]} {region.param} {name}", compute))
    return todo


def warm(
    todo: list[tuple[str, Callable[[], object]]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Compute the figures of ``todo`` (default: ``plan()``) into the cache; returns counts."""
    started, done, failed = time.monotonic(), 0, 0
    todo = plan() if todo is None else todo
    for label, compute in todo:
        try:
            compute()
            done += 1
        except Exception:  # one figure's failure must not stop the others
            failed += 1
            log.exception("dashboard figure %s failed", label)
        if progress is not None:
            progress(label)
    return {"figures": done, "failed": failed, "seconds": round(time.monotonic() - started, 1)}
