"""THE access module: the one place that turns (viewer, time) into visible samples and measurements.

Every path that reveals sample data — API, tiles, legends, cell statistics, dashboards, exports, OGC
endpoints, search, steward lists — starts from a queryset made here:

    scope = viewer_scope(request.user)
    visible_measurements(scope)                      # rows the viewer may see
    visible_measurements(scope, scale_m=20_000)      # ... in products at 20 km cells
    aggregate_rows(scope, scale_m=..., element=..., medium=...)  # released + pre-release (rule 4)
    shown_location(scope, sample)                              # exact or snapped coordinates

The rules are those of docs/architecture.md §7:
1. a country with no policy publishes nothing;
2. public: policy in force, the survey's "available on" date (else the country's) reached at
   00:00 UTC, element not confidential;
3. public precision: locations only as cell centroids of the policy's scale, and no derived product
   at a finer scale for viewers limited by it;
4. optional public maps before release: embargoed, non-confidential values feed aggregates at the
   stated scale or coarser, only in cells with at least k samples, and only as the cell's colour
   class and sample count (never a value, statistic, class break, point or export);
5. partner agreements grant their members countries (optionally surveys), elements (confidential
   ones only when named), precision, between valid_from and valid_to — and only once the member
   has accepted the agreement's current licence version (until then: ``Scope.pending_licences``);
6. stewards see all of their country; staff see everything.

A viewer's rights are computed once per request into a ``Scope``: a list of grants, each a
(countries, surveys, elements, precision) rectangle. Querysets are the union of the grants'
conditions, merged by shape so the SQL has one clause per kind of grant rather than per country.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections import defaultdict
from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from django.db.models import BigIntegerField, Count, ExpressionWrapper, F, Q, QuerySet
from django.utils import timezone

from baselines import grid
from baselines.models import Element, Measurement, Medium, Sample, Survey
from baselines.paging import id_ranges_q
from chemearth.caching import cached

from .models import (
    Agreement,
    LicenceAcceptance,
    ReleasePolicy,
    Stewardship,
    SurveyEmbargo,
    released_by,
)
from .versioning import policy_version

EXACT = 0  # precision of a grant that shows exact locations


@dataclass(frozen=True)
class Grant:
    """Rows of some countries a viewer may see.

    ``surveys``/``elements`` of None mean "all"; ``excluded_*`` are removed from that.
    ``precision_m`` is EXACT or the cell size locations are snapped to.
    """

    countries: frozenset[int]
    surveys: frozenset[int] | None = None
    excluded_surveys: frozenset[int] = frozenset()
    elements: frozenset[int] | None = None
    excluded_elements: frozenset[int] = frozenset()
    precision_m: int = EXACT
    source: str = "public"

    def shape(self) -> tuple:
        return (self.surveys, self.excluded_surveys, self.elements, self.excluded_elements)

    def covers(self, country_id: int, survey_id: int) -> bool:
        """The grant reaches some rows of this country's part of this survey."""
        return (
            country_id in self.countries
            and (self.surveys is None or survey_id in self.surveys)
            and survey_id not in self.excluded_surveys
        )


@dataclass(frozen=True)
class PrereleaseGrant:
    """Embargoed rows that may feed public aggregates at ``scale_m`` or coarser (rule 4)."""

    country: int
    surveys: frozenset[int] | None
    excluded_surveys: frozenset[int]
    excluded_elements: frozenset[int]
    scale_m: int
    min_samples: int


@dataclass(frozen=True)
class PendingLicence:
    """An agreement valid now whose current licence version the viewer has not accepted: it
    grants nothing yet (rule 5), and requests for its data are told so."""

    agreement_id: int
    title: str
    countries: frozenset[int]
    surveys: frozenset[int] | None

    def covers(self, *, countries: frozenset[int], survey_id: int | None = None) -> bool:
        """The agreement would grant data of one of ``countries`` (and of the survey, if
        given: a survey's data lies in its own countries)."""
        return bool(countries & self.countries) and (
            survey_id is None or self.surveys is None or survey_id in self.surveys
        )


@dataclass(frozen=True)
class Scope:
    """What one viewer may see at one instant. Build it with ``viewer_scope``."""

    user_id: int | None
    now: dt.datetime
    version: str
    everything: bool = False
    grants: tuple[Grant, ...] = ()
    prerelease: tuple[PrereleaseGrant, ...] = ()
    # Countries of which the viewer may see more than the public (agreements, stewardship);
    # taken before grants are merged, since merging forgets where a grant came from.
    non_public_countries: frozenset[int] = frozenset()
    # Agreements that would grant more once their licence is accepted (not part of the rights,
    # so not of the cache key: until then the viewer sees what the public sees).
    pending_licences: tuple[PendingLicence, ...] = ()

    @property
    def cache_key(self) -> str:
        """Viewers with equal rights share cached products: the key names the rights (and the
        policy version), not the user. Sets are sorted so every process computes the same key."""
        if self.everything:
            return f"all:{self.version}"

        def canon(value):
            if isinstance(value, frozenset):
                return sorted(value)
            return value

        grants = sorted(
            repr([canon(getattr(g, f.name)) for f in dataclasses.fields(g) if f.name != "source"])
            for g in self.grants
        )
        prerelease = sorted(
            repr([canon(getattr(p, f.name)) for f in dataclasses.fields(p)])
            for p in self.prerelease
        )
        digest = hashlib.sha1(repr((grants, prerelease)).encode()).hexdigest()[:16]
        return f"{digest}:{self.version}"

    @property
    def audience(self) -> str:
        """The rights part of ``cache_key`` (without the policy version): viewers with equal
        audiences see the same rows, so they share map layers."""
        return self.cache_key.split(":", 1)[0]

    @property
    def sees_exact_locations(self) -> bool:
        """Some rows are shown at their exact location (point maps need this)."""
        return self.everything or any(g.precision_m == EXACT for g in self.grants)

    @property
    def is_public_only(self) -> bool:
        return not self.everything and not self.non_public_countries

    def precision_for_sample(self, country_id: int, survey_id: int) -> int | None:
        """The precision of one sample's location: the finest among the grants covering its
        country AND survey (an exact agreement for one survey says nothing about another)."""
        if self.everything:
            return EXACT
        precisions = [g.precision_m for g in self.grants if g.covers(country_id, survey_id)]
        return min(precisions) if precisions else None


def viewer_scope(viewer, now: dt.datetime | None = None) -> Scope:
    """The rights of a user (or AnonymousUser, or None) at ``now`` (default: this instant)."""
    if isinstance(viewer, Scope):
        return viewer
    now = now or timezone.now()
    version = policy_version(now)
    user = viewer if viewer is not None and viewer.is_authenticated else AnonymousUser()
    user_id = user.pk if user.is_authenticated else None
    if user.is_authenticated and user.is_active and user.is_staff:
        return Scope(user_id=user_id, now=now, version=version, everything=True)
    # The version names every input of the rules (module versioning), so a scope computed under
    # it holds for the same user until it changes; Redis keeps it across requests and workers.
    scope = cached(
        f"scope:{user_id or 0}:{version}",
        lambda: _compute_scope(user, user_id, now, version),
        timeout=3600,
    )
    return dataclasses.replace(scope, now=now)


def _compute_scope(user, user_id: int | None, now: dt.datetime, version: str) -> Scope:
    all_policies = list(ReleasePolicy.objects.prefetch_related("confidential_elements"))
    # A country's confidential list binds agreements even while its public release is not in
    # force: confidentiality is the country's rule, not a part of publishing.
    confidential = {
        p.country_id: frozenset(e.pk for e in p.confidential_elements.all()) for p in all_policies
    }
    grants, prerelease = _public_grants([p for p in all_policies if p.in_force], confidential, now)
    pending: list[PendingLicence] = []
    if user.is_authenticated and user.is_active:
        agreement_grants, pending = _agreement_grants(user, confidential, now)
        grants += agreement_grants
        stewarded = Stewardship.objects.filter(user=user).values_list("country_id", flat=True)
        grants += [Grant(countries=frozenset([c]), source="steward") for c in stewarded]
    return Scope(
        user_id=user_id,
        now=now,
        version=version,
        grants=_merge(grants),
        prerelease=tuple(prerelease),
        non_public_countries=frozenset(
            c for g in grants if g.source != "public" for c in g.countries
        ),
        pending_licences=tuple(pending),
    )


def _public_grants(
    policies: list[ReleasePolicy], confidential: dict[int, frozenset[int]], now: dt.datetime
) -> tuple[list[Grant], list[PrereleaseGrant]]:
    """Rules 1–4: what each policy in force publishes now, and what it lets into maps early."""
    # A survey's own date holds for every sample of the survey, whichever countries it lists, so
    # the overrides are global rather than looked up through survey.countries.
    embargo_days = dict(SurveyEmbargo.objects.values_list("survey_id", "available_on"))
    open_overrides = frozenset(s for s, day in embargo_days.items() if released_by(day, now))
    closed_overrides = frozenset(embargo_days.keys() - open_overrides)
    grants: list[Grant] = []
    prerelease: list[PrereleaseGrant] = []
    for policy in policies:
        country, default_open = policy.country_id, policy.is_open_at(now)
        if default_open or open_overrides:
            grants.append(
                Grant(
                    countries=frozenset([country]),
                    surveys=None if default_open else open_overrides,
                    excluded_surveys=closed_overrides if default_open else frozenset(),
                    excluded_elements=confidential[country],
                    precision_m=policy.public_precision_m or EXACT,
                )
            )
        if policy.prerelease_scale_m:
            prerelease.append(
                PrereleaseGrant(
                    country=country,
                    surveys=closed_overrides if default_open else None,
                    excluded_surveys=frozenset() if default_open else open_overrides,
                    excluded_elements=confidential[country],
                    # Never finer than the public location precision (the form checks this too;
                    # the gate must not depend on it).
                    scale_m=max(policy.prerelease_scale_m, policy.public_precision_m or 0),
                    min_samples=policy.prerelease_min_samples,
                )
            )
    return grants, prerelease


def _agreement_grants(
    user, confidential: dict[int, frozenset[int]], now: dt.datetime
) -> tuple[list[Grant], list[PendingLicence]]:
    """Rule 5: the grants of the user's agreements valid now whose current licence version the
    user accepted; the others valid now are pending."""
    agreements = Agreement.objects.filter(
        organisation__membership__user=user,
        valid_from__lte=now.astimezone(dt.UTC).date(),
    ).prefetch_related("countries", "surveys", "elements")
    accepted = set(
        LicenceAcceptance.objects.filter(user=user).values_list("agreement_id", "licence_version")
    )
    grants: list[Grant] = []
    pending: list[PendingLicence] = []
    for agreement in agreements:
        if not agreement.is_valid_at(now):
            continue
        if (agreement.pk, agreement.licence_version) not in accepted:
            pending.append(_pending(agreement))
            continue
        named = frozenset(e.pk for e in agreement.elements.all())
        surveys = frozenset(s.pk for s in agreement.surveys.all()) or None
        for country in agreement.countries.all():
            excluded = confidential.get(country.pk, frozenset()) - named
            grants.append(
                Grant(
                    countries=frozenset([country.pk]),
                    surveys=surveys,
                    elements=None if agreement.all_elements else named,
                    excluded_elements=excluded if agreement.all_elements else frozenset(),
                    precision_m=agreement.precision_m or EXACT,
                    source="agreement",
                )
            )
    return grants, pending


def _pending(agreement: Agreement) -> PendingLicence:
    return PendingLicence(
        agreement_id=agreement.pk,
        title=agreement.title,
        countries=frozenset(c.pk for c in agreement.countries.all()),
        surveys=frozenset(s.pk for s in agreement.surveys.all()) or None,
    )


def pending_licence(
    scope: Scope, *, country_id: int | None = None, survey: Survey | None = None
) -> PendingLicence | None:
    """The not-yet-accepted agreement that would grant this country's (or survey's) data, if
    any: a request naming such data is refused with the licence to accept, not answered with the
    public subset as if nothing more existed for this viewer."""
    if country_id is None and survey is None:
        return None
    countries = (
        frozenset([country_id])
        if country_id is not None
        else frozenset(survey.countries.values_list("pk", flat=True))
    )
    survey_id = survey.pk if survey is not None else None
    for licence in viewer_scope(scope).pending_licences:
        if licence.covers(countries=countries, survey_id=survey_id):
            return licence
    return None


def _merge(grants: list[Grant]) -> tuple[Grant, ...]:
    """Grants of the same shape and precision become one grant over all their countries."""
    merged: dict[tuple, set[int]] = defaultdict(set)
    source: dict[tuple, str] = {}
    for grant in grants:
        key = (grant.shape(), grant.precision_m)
        merged[key] |= grant.countries
        source[key] = grant.source if source.get(key, grant.source) == grant.source else "mixed"
    return tuple(
        Grant(
            countries=frozenset(countries),
            surveys=shape[0],
            excluded_surveys=shape[1],
            elements=shape[2],
            excluded_elements=shape[3],
            precision_m=precision_m,
            source=source[(shape, precision_m)],
        )
        for (shape, precision_m), countries in sorted(merged.items(), key=lambda kv: repr(kv[0]))
    )


def _grant_q(grant: Grant, prefix: str, with_elements: bool) -> Q:
    q = Q(**{f"{prefix}country_id__in": sorted(grant.countries)})
    if grant.surveys is not None:
        q &= Q(**{f"{prefix}survey_id__in": sorted(grant.surveys)})
    if grant.excluded_surveys:
        q &= ~Q(**{f"{prefix}survey_id__in": sorted(grant.excluded_surveys)})
    if with_elements:
        q &= _element_q(grant)
    return q


def precision_groups(scope: Scope, prefix: str = "") -> list[tuple[int, Q]]:
    """(precision, the samples its grants cover) for each precision among the scope's grants,
    finest first: the SQL form of ``Scope.precision_for_sample`` (a sample is shown at the
    first group it falls in), for products that locate rows in SQL (downloads)."""
    groups: dict[int, Q] = {}
    for grant in viewer_scope(scope).grants:
        q = _grant_q(grant, prefix, with_elements=False)
        groups[grant.precision_m] = (
            groups[grant.precision_m] | q if grant.precision_m in groups else q
        )
    return sorted(groups.items(), key=lambda item: item[0])


def _usable(grant: Grant, scale_m: int | None) -> bool:
    """Rule 3: a grant limited to cells of size P feeds no product finer than P."""
    return scale_m is None or grant.precision_m == EXACT or grant.precision_m <= scale_m


def measurement_condition(scope: Scope, *, scale_m: int | None = None) -> Q | None:
    """The Q over Measurement for ``scope`` (None: everything); an empty OR matches nothing."""
    if scope.everything:
        return None
    q = Q(pk__in=[])
    for grant in scope.grants:
        if _usable(grant, scale_m):
            q |= _grant_q(grant, "sample__", with_elements=True)
    return q


def sample_condition(scope: Scope, *, scale_m: int | None = None) -> Q | None:
    """The Q over Sample: a sample is visible when a grant covers its country and survey."""
    if scope.everything:
        return None
    q = Q(pk__in=[])
    for grant in scope.grants:
        if _usable(grant, scale_m):
            q |= _grant_q(grant, "", with_elements=False)
    return q


def visible_measurements(
    scope: Scope, queryset: QuerySet[Measurement] | None = None, *, scale_m: int | None = None
) -> QuerySet[Measurement]:
    queryset = Measurement.objects.all() if queryset is None else queryset
    condition = measurement_condition(viewer_scope(scope), scale_m=scale_m)
    return queryset if condition is None else queryset.filter(condition)


def visible_measurements_of(
    scope: Scope,
    samples: list[tuple[int, int, int]],
    queryset: QuerySet[Measurement] | None = None,
) -> QuerySet[Measurement]:
    """The visible measurements of known samples, given as (id, country id, survey id): the
    rows ``visible_measurements`` gives for them, found without joining the sample table. Each
    grant's country and survey test is decided here per sample, so the SQL is sample ids (a few
    ranges for the BRIN index, and the exact ids) and the grant's elements; joining the samples
    made the planner hash the whole sample table for a 1,000-feature page."""
    scope = viewer_scope(scope)
    queryset = Measurement.objects.all() if queryset is None else queryset
    if not samples:
        return queryset.none()
    ids = sorted({sample_id for sample_id, _, _ in samples})
    # The exact ids are tested on ``sample_id + 0``, which no index can answer: as an index
    # condition the list made BRIN test every block range against 1,000 ids (116 ms); as a
    # filter on the rows the ranges found it is a hash lookup.
    queryset = queryset.filter(id_ranges_q(ids, "sample_id")).alias(
        page_sample=ExpressionWrapper(F("sample_id") + 0, output_field=BigIntegerField())
    )
    if scope.everything:
        return queryset.filter(page_sample__in=ids)
    condition = Q(pk__in=[])
    for grant in scope.grants:
        covered = sorted({i for i, country, survey in samples if grant.covers(country, survey)})
        if covered:
            condition |= Q(page_sample__in=covered) & _element_q(grant)
    return queryset.filter(condition)


def _element_q(grant: Grant) -> Q:
    q = Q()
    if grant.elements is not None:
        q &= Q(element_id__in=sorted(grant.elements))
    if grant.excluded_elements:
        q &= ~Q(element_id__in=sorted(grant.excluded_elements))
    return q


def visible_exact_measurements(
    scope: Scope, queryset: QuerySet[Measurement] | None = None
) -> QuerySet[Measurement]:
    """Visible measurements of samples the viewer may see at their exact location (point maps):
    only grants with exact precision contribute, so snapped samples never become points."""
    scope = viewer_scope(scope)
    queryset = Measurement.objects.all() if queryset is None else queryset
    if scope.everything:
        return queryset
    q = Q(pk__in=[])
    for grant in scope.grants:
        if grant.precision_m == EXACT:
            q |= _grant_q(grant, "sample__", with_elements=True)
    return queryset.filter(q)


def visible_samples(
    scope: Scope, queryset: QuerySet[Sample] | None = None, *, scale_m: int | None = None
) -> QuerySet[Sample]:
    queryset = Sample.objects.all() if queryset is None else queryset
    condition = sample_condition(viewer_scope(scope), scale_m=scale_m)
    return queryset if condition is None else queryset.filter(condition)


@dataclass(frozen=True)
class AggregateRows:
    """The two kinds of rows an aggregate (map cell, legend, statistic) at one scale may use.

    ``released``: rows the viewer may see at this scale; they may be shown as values.
    ``prerelease``: rule 4's embargoed rows (dense cells only), never visible to the viewer. They
    may enter a product only as **their cell's colour class and sample count** (the pre-release
    rule, docs/security.md): never in statistics, class breaks, legends, charts, lists or exports,
    and a surface interpolates their cell as its class, not its median.
    """

    released: QuerySet[Measurement]
    prerelease: QuerySet[Measurement]


def aggregate_rows(
    scope: Scope,
    *,
    scale_m: int,
    element: Element | int,
    medium: Medium | int,
    cell: str | None = None,
) -> AggregateRows:
    """Rows of one element in one medium that may feed aggregates at ``scale_m`` for this
    viewer, each survey's preferred method only, split by what a product may reveal of them (see
    ``AggregateRows``).

    A pre-release cell must hold at least ``min_samples`` such rows *in the product's medium and
    method*: counted across media, a cell with one topsoil sample and many stream sediments
    passed the rule and showed that one value's class. With the preferred method a sample has one
    row per element, so rows are counted, not distinct samples (no sort).

    ``cell`` (a code at ``scale_m``) limits both to one cell, bounded by the cell's sample ids:
    without the bound a cell's query read every row of the element in the table."""
    scope = viewer_scope(scope)
    element_id = element if isinstance(element, int) else element.pk
    medium_id = medium if isinstance(medium, int) else medium.pk
    cell_field = grid.cell_field_name(scale_m)
    product = Q(element_id=element_id, analyte__preferred=True, sample__survey__medium_id=medium_id)
    if cell is not None:
        product &= _in_cell(cell_field, cell, medium_id)
    released = visible_measurements(scope, scale_m=scale_m).filter(product)
    extra = Q(pk__in=[])
    for pre in scope.prerelease:
        if scale_m < pre.scale_m or element_id in pre.excluded_elements:
            continue
        condition = product & Q(sample__country_id=pre.country)
        if pre.surveys is not None:
            condition &= Q(sample__survey_id__in=sorted(pre.surveys))
        if pre.excluded_surveys:
            condition &= ~Q(sample__survey_id__in=sorted(pre.excluded_surveys))
        dense_cells = (
            Measurement.objects.filter(condition)
            .values(f"sample__{cell_field}")
            .annotate(n=Count("pk"))
            .filter(n__gte=pre.min_samples)
            .values(f"sample__{cell_field}")
        )
        extra |= condition & Q(**{f"sample__{cell_field}__in": dense_cells})
    if extra == Q(pk__in=[]):
        return AggregateRows(released, Measurement.objects.none())
    # A row an agreement already shows is released to this viewer, not pre-release.
    condition = measurement_condition(scope, scale_m=scale_m)
    if condition is not None:
        extra &= ~condition
    return AggregateRows(released, Measurement.objects.filter(extra))


def _in_cell(cell_field: str, cell: str, medium_id: int) -> Q:
    """Measurements of the cell's samples in a medium: the cell condition plus ranges of the
    cell's sample ids (samples are numbered in nested cell order, so a cell is a few runs)."""
    ids = Sample.objects.filter(**{cell_field: cell}, survey__medium_id=medium_id).values_list(
        "pk", flat=True
    )
    return Q(**{f"sample__{cell_field}": cell}) & id_ranges_q(list(ids), "sample_id")


def shown_location(scope: Scope, sample: Sample) -> tuple[float, float, int] | None:
    """(lon, lat, precision) the viewer may see for a sample: exact, or snapped to its cell's
    centroid at the precision of the grants covering it; None when not visible."""
    return shown_point(
        scope,
        country_id=sample.country_id,
        survey_id=sample.survey_id,
        lon=sample.geom.x,
        lat=sample.geom.y,
        cell_code=sample.cell_code,
    )


def shown_point(
    scope: Scope, *, country_id: int, survey_id: int, lon: float, lat: float, cell_code
) -> tuple[float, float, int] | None:
    """``shown_location`` of a sample read as plain values (a list of thousands of rows need not
    build a model instance per row); ``cell_code(size_m)`` gives the sample's cell code."""
    precision = viewer_scope(scope).precision_for_sample(country_id, survey_id)
    if precision is None:
        return None
    if precision == EXACT:
        return lon, lat, EXACT
    return (*_centroid(cell_code(precision)), precision)


# Cell centroids already computed: a page's snapped locations are computed in one transform
# (``prime_centroids``), then looked up per row. Bounded: cleared when full.
_CENTROIDS: dict[str, tuple[float, float]] = {}
_CENTROIDS_MAX = 200_000


def _centroid(code: str) -> tuple[float, float]:
    if code not in _CENTROIDS:
        prime_centroids([code])
    return _CENTROIDS[code]


def prime_centroids(codes) -> None:
    """Compute the centroids of these cell codes at once, for the rows of a page."""
    missing = sorted({c for c in codes if c and c not in _CENTROIDS})
    if not missing:
        return
    if len(_CENTROIDS) + len(missing) > _CENTROIDS_MAX:
        _CENTROIDS.clear()
    cells = [grid.parse_code(code) for code in missing]
    _CENTROIDS.update(zip(missing, grid.centroids_lonlat(cells), strict=True))


def snapped_precisions(scope: Scope) -> frozenset[int]:
    """The cell sizes this viewer's grants snap locations to (none for exact-only viewers)."""
    scope = viewer_scope(scope)
    if scope.everything:
        return frozenset()
    return frozenset(g.precision_m for g in scope.grants if g.precision_m != EXACT)


def within_bbox(
    scope: Scope,
    queryset: QuerySet,
    bbox: tuple[float, float, float, float],
    *,
    prefix: str = "",
) -> QuerySet:
    """Narrow visible samples (or measurements, with ``prefix="sample__"``) to a bbox without
    revealing more than the viewer's precision: for samples a grant shows at P-km cells the test
    is whether the sample's P-km cell touches the bbox, not where the sample lies in it. Each
    grant tests the samples it covers at its own precision."""
    from django.contrib.gis.geos import Polygon

    scope = viewer_scope(scope)
    # For points and an axis-aligned box, && (bounding boxes overlap) selects exactly the points
    # inside or on the box, and is costed far below ST_Intersects (which pushed plans into JIT).
    field = f"{prefix}geom__bboverlaps"
    if scope.everything:
        return queryset.filter(**{field: Polygon.from_bbox(bbox)})
    precisions = sorted({grant.precision_m for grant in scope.grants})
    if not precisions:
        return queryset.none()

    def touching(p: int) -> Q:
        # The cells a box touches form a staircase of lon/lat boxes (columns differ from one
        # 80 km band to the next): one && test per step, each cheap on the index.
        steps = [bbox] if p == EXACT else grid.cell_aligned_boxes(bbox, p)
        q = Q(pk__in=[])
        for step in steps:
            q |= Q(**{field: Polygon.from_bbox(step)})
        return q

    boxes = {p: touching(p) for p in precisions}
    if len(precisions) == 1:
        # One precision for everything visible (the usual case): the rows are already limited
        # to the viewer's grants, so the boxes are the only condition.
        return queryset.filter(boxes[precisions[0]])
    # Mixed precisions: the coarsest box bounds them all; within it a sample is tested against
    # the box of the finest precision among the grants covering it (a sample an agreement shows
    # exactly must lie in the box itself, even if a public grant covers it at 20 km too).
    condition = Q(pk__in=[])
    finer = Q(pk__in=[])
    for precision in precisions:
        covered = Q(pk__in=[])
        for grant in scope.grants:
            if grant.precision_m == precision:
                covered |= _grant_q(grant, prefix, with_elements=False)
        condition |= covered & ~finer & boxes[precision]
        finer |= covered
    outer = Polygon.from_bbox(grid.cell_aligned_bbox(bbox, precisions[-1]))
    return queryset.filter(Q(**{field: outer}) & condition)


def is_any_steward(user) -> bool:
    """A steward of some country, or staff: may upload zones and units and revoke certificates."""
    return bool(user.is_authenticated and (user.is_staff or user.stewardships.exists()))


def is_steward(user, country) -> bool:
    """May edit the country's policy and decide requests for its data: its stewards and staff."""
    return bool(
        user.is_authenticated
        and (user.is_staff or Stewardship.objects.filter(user=user, country=country).exists())
    )


def request_scope(request) -> Scope:
    """The scope of a request's user, computed once per request."""
    scope = getattr(request, "_chemearth_scope", None)
    if scope is None:
        scope = viewer_scope(getattr(request, "user", None))
        request._chemearth_scope = scope
    return scope


@dataclass(frozen=True)
class Availability:
    """When a survey's data opens to the public in one country."""

    country_id: int
    available_on: dt.date | None  # None with is_open: already open
    is_open: bool
    scheduled: bool  # False: the country has no policy in force, no date is set
    confidential: tuple[str, ...] = ()  # element symbols never public
    precision_km: float | None = None  # public locations as cells of this size


def survey_availability(survey: Survey, now: dt.datetime | None = None) -> list[Availability]:
    """Per country of the survey, whether and from when its data is public (rules 1–2)."""
    now = now or timezone.now()
    embargo = SurveyEmbargo.objects.filter(survey=survey).first()
    policies = {
        p.country_id: p
        for p in ReleasePolicy.objects.filter(
            country__in=survey.countries.all(), in_force=True
        ).prefetch_related("confidential_elements")
    }
    result = []
    for country_id in survey.countries.values_list("pk", flat=True):
        policy = policies.get(country_id)
        if policy is None:
            result.append(Availability(country_id, None, False, False))
            continue
        day = embargo.available_on if embargo else policy.available_on
        result.append(
            Availability(
                country_id,
                day,
                policy.is_open_at(now, survey_day=embargo and embargo.available_on),
                True,
                tuple(sorted(e.symbol for e in policy.confidential_elements.all())),
                policy.public_precision_m / 1000 if policy.public_precision_m else None,
            )
        )
    return result
