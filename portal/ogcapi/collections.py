"""The collections of the OGC API, as one caller may see them.

- ``samples``: every sample the caller may see;
- one collection per survey holding samples the caller may see, its id the survey's slug.

A survey none of whose samples the caller may see is no collection for them: asking for it
answers exactly like asking for one that does not exist (``Catalogue.get``). Each collection
carries its extent — the box of its samples **as the caller sees them** (a grant that snaps
locations to cells gives the box of the cell centroids, never of the stored points) and the
span of their sampling dates — and its element columns: the elements its surveys measured that
the caller may see somewhere in them (a country's confidential elements are no column for the
public).

The extents come from one aggregate over the caller's visible samples, grouped by (country,
survey), cached under the caller's rights (``Scope.cache_key``, which holds the policy version)
and the data version.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property

from django.contrib.gis.db.models import Extent
from django.db.models import Max, Min
from django.utils.translation import gettext as _
from rest_framework.exceptions import NotFound

from baselines import grid
from baselines.models import Analyte, Element, Survey
from chemearth.caching import cached
from sharing.access import EXACT, Scope, pending_licence, request_scope, visible_samples
from sharing.audit import audit_access, note_country_served

from ..http import LicenceNotAccepted
from .cql import DATE, NUMBER, STRING, Queryable

SAMPLES = "samples"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
# Extents are rounded like the features' coordinates.
DECIMALS = 6

# The properties of every feature besides its element columns: (name, JSON type, title).
BASE_PROPERTIES: tuple[tuple[str, str, str], ...] = (
    ("code", STRING, "sample id"),
    ("site_code", STRING, "site code (kept by the site in later rounds)"),
    ("survey", STRING, "survey (slug)"),
    ("country", STRING, "country (ISO 3166 alpha-3)"),
    ("medium", STRING, "sampled medium (code)"),
    ("sampled_on", DATE, "sampling date"),
    ("depth", STRING, "sampling depth as reported"),
    ("location_precision_km", NUMBER, "cell size the location is snapped to (null: exact)"),
    ("cell", STRING, "grid cell at that precision"),
    ("below_detection_limit", STRING, "elements below detection: symbol<limit in mg/kg"),
)
# Base properties a filter may name, and where each is stored (``shown_*``: aliases in
# items.py, the value as a feature shows it). Not the location's precision or cell: those
# depend on the caller's grants, and a cell code finer than them would locate.
BASE_QUERYABLES: dict[str, str] = {
    "code": "code",
    "site_code": "shown_site_code",  # blank is null, as in the features
    "survey": "survey__slug",
    "country": "shown_country",  # ISO alpha-3, else Natural Earth's code
    "medium": "survey__medium__code",
    "sampled_on": "sampled_on",
    "depth": "shown_depth",  # blank is null, as in the features
}


@dataclass(frozen=True)
class Pair:
    """The visible samples of one survey in one country: their box and dates as stored."""

    country_id: int
    survey_id: int
    extent: tuple[float, float, float, float]
    first: dt.date | None
    last: dt.date | None


@dataclass
class Collection:
    id: str
    title: str
    description: str
    survey: Survey | None  # None: the samples collection
    elements: list[tuple[int, str]] = field(default_factory=list)  # (id, symbol), periodic order
    pairs: list[Pair] = field(default_factory=list)
    bbox: tuple[float, float, float, float] | None = None
    interval: tuple[dt.date, dt.date] | None = None

    @property
    def element_symbols(self) -> list[str]:
        return [symbol for _, symbol in self.elements]

    @property
    def property_names(self) -> list[str]:
        return [name for name, _, _ in BASE_PROPERTIES] + self.element_symbols

    @property
    def queryables(self) -> dict[str, Queryable]:
        kinds = {name: kind for name, kind, _ in BASE_PROPERTIES}
        titles = {name: title for name, _, title in BASE_PROPERTIES}
        found = {
            name: Queryable(name, kinds[name], titles[name], field=path)
            for name, path in BASE_QUERYABLES.items()
        }
        for element_id, symbol in self.elements:
            found[symbol] = Queryable(symbol, NUMBER, f"{symbol} (mg/kg)", element_id=element_id)
        return found


def shown_extent(
    extent: tuple[float, float, float, float], precision_m: int
) -> tuple[float, float, float, float]:
    """The box of samples shown at ``precision_m``: the centroids of the cells of the box's
    south-west and north-east corners. The grid's projection is cylindrical (a cell's column
    depends on longitude only, its row on latitude only), so these are the westmost, southmost,
    eastmost and northmost centroids of the samples themselves."""
    if precision_m == EXACT:
        return extent
    west, south, east, north = extent
    west, south = grid.cell_at(west, south, precision_m).centroid_lonlat
    east, north = grid.cell_at(east, north, precision_m).centroid_lonlat
    return west, south, east, north


def _union(boxes) -> tuple[float, float, float, float] | None:
    boxes = list(boxes)
    if not boxes:
        return None
    return (
        round(min(b[0] for b in boxes), DECIMALS),
        round(min(b[1] for b in boxes), DECIMALS),
        round(max(b[2] for b in boxes), DECIMALS),
        round(max(b[3] for b in boxes), DECIMALS),
    )


def visible_element_ids(scope: Scope, pair: Pair, measured: set[int]) -> set[int]:
    """The elements of ``measured`` the caller may see in this pair, read off the grants the
    same way the gate's measurement condition reads them (values still come only from
    ``visible_measurements``: this only chooses the columns)."""
    if scope.everything:
        return set(measured)
    found: set[int] = set()
    for grant in scope.grants:
        if grant.covers(pair.country_id, pair.survey_id):
            found |= {
                e
                for e in measured
                if (grant.elements is None or e in grant.elements)
                and e not in grant.excluded_elements
            }
    return found


class Catalogue:
    """The collections one request's caller may see (computed once per request)."""

    def __init__(self, request) -> None:
        self.request = request
        self.scope = request_scope(request)

    @cached_property
    def pairs(self) -> list[Pair]:
        scope = self.scope
        key = f"ogcapi:pairs:{scope.cache_key}:{Survey.objects.data_version()}"

        def compute() -> list[Pair]:
            rows = (
                visible_samples(scope)
                .order_by()  # the model's ordering would join the GROUP BY
                .values("country_id", "survey_id")
                .annotate(extent=Extent("geom"), first=Min("sampled_on"), last=Max("sampled_on"))
            )
            return [
                Pair(r["country_id"], r["survey_id"], tuple(r["extent"]), r["first"], r["last"])
                for r in rows
                if r["extent"] is not None
            ]

        return cached(key, compute, timeout=3600)

    @cached_property
    def collections(self) -> dict[str, Collection]:
        pairs = self.pairs
        survey_ids = sorted({p.survey_id for p in pairs})
        surveys = {
            s.pk: s for s in Survey.objects.filter(pk__in=survey_ids).select_related("medium")
        }
        measured: dict[int, set[int]] = {}
        for survey_id, element_id in Analyte.objects.filter(
            survey_id__in=survey_ids, preferred=True
        ).values_list("survey_id", "element_id"):
            measured.setdefault(survey_id, set()).add(element_id)
        elements = {
            pk: (number, symbol)
            for pk, number, symbol in Element.objects.values_list("pk", "atomic_number", "symbol")
        }
        everything = Collection(
            SAMPLES,
            _("Samples"),
            _("Every sample you may see, of every survey, with its element values in mg/kg."),
            None,
        )
        by_survey: dict[int, Collection] = {}
        for survey in sorted(surveys.values(), key=lambda s: s.name):
            if survey.slug == SAMPLES:
                continue  # the id is taken by the collection of all samples
            by_survey[survey.pk] = Collection(
                survey.slug, survey.name, _survey_description(survey), survey
            )
        columns: dict[str, set[int]] = {}
        for pair in pairs:
            shown = visible_element_ids(self.scope, pair, measured.get(pair.survey_id, set()))
            for collection in (everything, by_survey.get(pair.survey_id)):
                if collection is not None:
                    collection.pairs.append(pair)
                    columns.setdefault(collection.id, set()).update(shown)
        result = {SAMPLES: everything}
        for collection in [everything, *by_survey.values()]:
            precision = self.scope.precision_for_sample
            collection.bbox = _union(
                shown_extent(p.extent, precision(p.country_id, p.survey_id))
                for p in collection.pairs
            )
            firsts = [p.first for p in collection.pairs if p.first]
            lasts = [p.last for p in collection.pairs if p.last]
            collection.interval = (min(firsts), max(lasts)) if firsts else None
            collection.elements = [
                (pk, elements[pk][1])
                for pk in sorted(columns.get(collection.id, ()), key=lambda pk: elements[pk][0])
            ]
            if collection.pairs or collection.id == SAMPLES:
                result[collection.id] = collection
        return result

    def get(self, collection_id: str) -> Collection:
        """The collection, or the 404 of a missing one (hidden and missing answer alike)."""
        collection = self.collections.get(collection_id)
        if collection is None:
            # A survey an accepted agreement would show is refused as on /api/v1/, naming the
            # licence (survey metadata is public, so this reveals nothing).
            survey = Survey.objects.filter(slug=collection_id).first()
            licence = survey and pending_licence(self.scope, survey=survey)
            if licence:
                raise LicenceNotAccepted(self.request, licence)
            raise NotFound()
        return collection

    def record_read(self, collections: list[Collection], summary: str) -> None:
        """Extents of collections were shown: they describe the caller's visible samples, so a
        caller seeing more than the public is audited for the countries they cover."""
        for collection in collections:
            for pair in collection.pairs:
                note_country_served(self.request, pair.country_id)
        audit_access(self.request, self.scope, summary)


def _survey_description(survey: Survey) -> str:
    parts = [survey.medium.name, _("sampled at %(km)s km") % {"km": f"{survey.scale_km:g}"}]
    if survey.year:
        parts.append(str(survey.year))
    text = ", ".join(parts) + "."
    if survey.citation:
        text += " " + survey.citation
    return text
