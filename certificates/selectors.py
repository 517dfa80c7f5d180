"""Reads of the certificates domain: a unit's rating (through the gate, with the dashboards'
judging of values against a soil standard), a certificate's status, and which of its values a
viewer may see now.

The rating reuses ``dashboards.selectors``: ``exceedance_rows`` (the gated rows, cut by the unit's
polygon at the viewer's shown locations, so a viewer limited to 20 km cells rates with the cells
whose centres fall in the unit), ``classified_sql`` (each row against its land use's and pH band's
limits, the strictest band where pH is unknown) and ``ROW_CLASS_SQL`` (the class of a row).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count, Q
from django.db.models.expressions import RawSQL
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from baselines import grid, units
from baselines.models import Country, Element, Medium, Survey
from chemearth.caching import cached
from dashboards.models import LandUse, SoilStandard
from dashboards.regions import Region
from dashboards.selectors import ROW_CLASS_SQL, classified_sql, exceedance_rows, fetch
from sharing.access import EXACT, Scope, survey_availability, viewer_scope, visible_measurements

from .models import AdminUnit, Certificate
from .signing import verify

GRADES = ("priority_protection", "safe_use", "strict_control")
TOO_FEW = "too_few"
GRADE_LABELS = {
    "priority_protection": _("priority protection: meets the standard"),
    "safe_use": _("safe use: does not meet the standard"),
    "strict_control": _("strict control: does not meet the standard"),
    TOO_FEW: _("too few samples to rate"),
}
CLASS_LABELS = {
    "priority_protection": _("priority protection"),
    "safe_use": _("safe use"),
    "strict_control": _("strict control"),
}
# The rule every grade is made by, in words (the page and the certificate print it).
RULE = _(
    "Each sample's value is judged against the standard's limits for its land use and pH band "
    "(the strictest band where its pH is unknown; a value below the detection limit exceeds "
    "nothing). An element's class is the worst class any of its samples reaches, and the unit's "
    "grade is the worst class among its elements: priority protection (meets the standard) when "
    "every value is at or below its screening value; safe use (does not meet) when a value is "
    "above its screening value but none above its intervention value; strict control (does not "
    "meet) when a value is above its intervention value. With fewer than %(n)d samples the unit "
    "is not rated: too few samples to rate."
)
CACHE_SECONDS = 600

# Per element, from the judged rows ``m`` (``classified_sql``): count, censored, pH unknown,
# median and maximum of the statistics value (censored at DL × ½, as every statistic of the
# portal), the largest value/screening ratio, the worst class, censored values whose limit is
# above the screening value, and whose rows they were.
_RATING_SQL = f"""
SELECT element_id, count(*), count(*) FILTER (WHERE censored), count(*) FILTER (WHERE ph_unknown),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY stat), max(stat), max(ratio), max(cls),
       count(*) FILTER (WHERE censored AND detection_limit > screening),
       array_agg(DISTINCT country_id || ':' || survey_id),
       array_agg(sample_id ORDER BY sample_id),
       array_agg(sample_id) FILTER (WHERE ph_unknown)
FROM (SELECT m.*, CASE WHEN censored THEN detection_limit * %s ELSE value END AS stat,
             {ROW_CLASS_SQL} AS cls
      FROM m) j
GROUP BY element_id
"""


def min_samples() -> int:
    return int(getattr(settings, "CERTIFICATE_MIN_SAMPLES", 3))


def unit_region(unit: AdminUnit) -> Region:
    """The unit as a dashboards region (a polygon), versioned by its last edit."""
    return Region(
        "unit", str(unit.pk), unit.name, unit.area_km2, shape=unit.geom,
        version=unit.updated.isoformat(),
    )  # fmt: skip


def unit_scale_m(unit: AdminUnit) -> int:
    """The grid scale a unit's statistics amount to: the finest cell at least as wide as the
    unit. Values of a 1 km² plot are a 1 km product, which a viewer limited to 20 km cells may
    not see (rule 3)."""
    side_m = math.sqrt(max(unit.area_km2, 0.0)) * 1000
    fitting = [s for s in grid.SCALES_M if s >= side_m]
    return min(fitting) if fitting else grid.SCALES_M[0]


@dataclass(frozen=True)
class Rating:
    """A unit's rating against one standard, and whose rows made it."""

    data: dict
    countries: frozenset[int] = frozenset()
    surveys: frozenset[int] = frozenset()
    # element symbol → sample ids of the rows used
    rows: dict = field(default_factory=dict)

    @property
    def grade(self) -> str:
        return self.data["grade"]


def _bands(standard: SoilStandard) -> dict[int, list[dict]]:
    """Per element, the "other" land use's bands (what a certificate prints beside a value)."""
    bands = defaultdict(list)
    for limit in standard.limits.filter(land_use=LandUse.OTHER).order_by("ph_above"):
        bands[limit.element_id].append(
            {"ph_above": limit.ph_above, "ph_up_to": limit.ph_up_to,
             "screening": limit.screening, "intervention": limit.intervention}
        )  # fmt: skip
    return bands


def unit_rating(
    scope: Scope, unit: AdminUnit, standard: SoilStandard, medium: Medium | None = None
) -> Rating:
    """The unit rated with the rows ``scope`` may see (see the module's docstring); the grade
    and its rule, per element the deciding values and class, the precision used."""
    scope = viewer_scope(scope)

    def compute() -> Rating:
        rows = exceedance_rows(scope, unit_region(unit), standard, medium, ())
        classified = classified_sql(rows, standard)
        result = []
        if classified is not None:
            sql, params = classified
            result = fetch(sql + _RATING_SQL, [*params, units.CENSORED_SUBSTITUTE_FRACTION])
        return _rating(scope, unit, standard, medium, result)

    parts = (unit.pk, unit.updated.isoformat(), standard.pk, standard.updated.isoformat(),
             medium.code if medium else "", min_samples())  # fmt: skip
    digest = hashlib.sha1(repr(parts).encode()).hexdigest()[:16]
    key = ":".join(["rating", scope.cache_key, Survey.objects.data_version(), digest])
    return cached(key, compute, timeout=CACHE_SECONDS)


def _rating(scope, unit, standard, medium, result) -> Rating:
    elements = {e.pk: e for e in Element.objects.all()}
    bands = _bands(standard)
    table, rows, pairs, samples, unknown = [], {}, set(), set(), set()
    for (element_id, n, censored, ph_unknown, median, high, ratio, worst, undetermined,
         element_pairs, sample_ids, unknown_ids) in sorted(
        result, key=lambda r: elements[r[0]].atomic_number
    ):  # fmt: skip
        symbol = elements[element_id].symbol
        table.append(
            {"element": symbol, "n": n, "censored": censored,
             "censored_percent": round(100 * censored / n, 1), "ph_unknown": ph_unknown,
             "median": _round(median), "max": _round(high),
             "max_ratio": None if ratio is None else round(ratio, 3),
             "class": GRADES[worst], "undetermined": undetermined,
             "limits": bands.get(element_id, [])}
        )  # fmt: skip
        rows[symbol] = sample_ids
        pairs.update(tuple(int(x) for x in p.split(":")) for p in element_pairs)
        samples.update(sample_ids)
        unknown.update(unknown_ids or ())
    enough = len(samples) >= min_samples()
    grade = GRADES[max(GRADES.index(e["class"]) for e in table)] if enough and table else TOO_FEW
    precisions = sorted({scope.precision_for_sample(c, s) for c, s in pairs} - {None})
    data = {
        "unit": {"id": unit.pk, "code": unit.code, "level": unit.level,
                 "name_en": unit.name_en, "name_zh": unit.name_zh,
                 "area_km2": round(unit.area_km2, 4)},
        "standard": {"code": standard.code, "name_en": standard.name_en,
                     "name_zh": standard.name_zh, "source": standard.source},
        "medium": medium.code if medium else None,
        "min_samples": min_samples(),
        "samples": len(samples),
        "ph_unknown_samples": len(unknown),
        "precision_km": [None if p == EXACT else p / 1000 for p in precisions],
        "elements": table,
        "grade": grade,
        "meets": None if grade == TOO_FEW else grade == "priority_protection",
        # In English whatever the request's language: the data is cached for every viewer of
        # equal rights and signed into certificates; pages print RULE in their own language.
        "rule": _english(RULE) % {"n": min_samples()},
    }  # fmt: skip
    return Rating(
        data=data,
        countries=frozenset(c for c, _s in pairs),
        surveys=frozenset(s for _c, s in pairs),
        rows=rows,
    )


def _english(text) -> str:
    with translation.override("en"):
        return str(text)


def _round(value: float | None) -> float | None:
    """Four significant digits: what a certificate prints (mg/kg)."""
    if value is None:
        return None
    return float(f"{value:.4g}")


# --- certificates --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    """What the verification page says of a certificate."""

    genuine: bool
    reason: str = ""
    revoked: bool = False
    superseded_by: Certificate | None = None
    data_changed: bool = False

    @property
    def state(self) -> str:
        if not self.genuine:
            return "not_genuine"
        if self.revoked:
            return "revoked"
        if self.superseded_by is not None or self.data_changed:
            return "superseded"
        return "current"


def payload_of(certificate: Certificate) -> dict:
    return json.loads(certificate.payload)


def certificate_status(certificate: Certificate) -> Status:
    """Genuine (a trusted key's signature over the stored content, which names this
    certificate), then revoked, superseded (a newer certificate of the unit and standard, or
    the data it used has changed since), or current."""
    genuine, reason = verify(certificate.payload, certificate.signature)
    payload = payload_of(certificate) if genuine else {}
    if genuine and payload.get("id") != certificate.public_id:
        genuine, reason = False, "the content belongs to another certificate"
    if not genuine:
        return Status(genuine=False, reason=reason)
    newer = (
        Certificate.objects.filter(
            unit_id=certificate.unit_id,
            standard_id=certificate.standard_id,
            issued_at__gt=certificate.issued_at,
            revoked_at__isnull=True,
        )  # fmt: skip
        .order_by("-issued_at")
        .first()
    )
    used = {s["id"]: s["data_version"] for s in payload.get("surveys", [])}
    now = dict(Survey.objects.filter(pk__in=list(used)).values_list("pk", "data_version"))
    return Status(
        genuine=True,
        revoked=certificate.revoked_at is not None,
        superseded_by=newer,
        data_changed=now != used,
    )


def shown_values(certificate: Certificate, scope: Scope) -> dict[str, dict]:
    """Per element of the certificate: whether ``scope`` may see every row its values were
    computed from, now, in a product at the unit's scale (``unit_scale_m``); if not, when the
    withheld rows open (None: no date is set, or an element is confidential)."""
    scope = viewer_scope(scope)
    payload = payload_of(certificate)
    wanted = {symbol: set(ids) for symbol, ids in certificate.rows.items()}
    all_ids = sorted(set().union(*wanted.values())) if wanted else []
    seen = defaultdict(int)
    if all_ids:
        visible = (
            visible_measurements(scope, scale_m=unit_scale_m(certificate.unit))
            .preferred()
            # The ids as one array parameter: 50,000 placeholders cost more than the query.
            .filter(
                sample_id__in=RawSQL("SELECT unnest(%s::bigint[])", [all_ids]),
                element__symbol__in=list(wanted),
            )
            .order_by()
            .values_list("element__symbol")
            .annotate(n=Count("id"))
        )
        seen.update(dict(visible))
    shown = {}
    for element in payload.get("elements", []):
        symbol = element["element"]
        if seen[symbol] >= len(wanted.get(symbol, ())):
            shown[symbol] = {"shown": True, "withheld_until": None}
        else:
            shown[symbol] = {
                "shown": False,
                "withheld_until": _release_date(payload, symbol, scope),
            }
    return shown


def _release_date(payload: dict, symbol: str, scope: Scope):
    """The day the last of the certificate's countries opens the element to the public; None
    when one never does by date (no policy in force, or the element is confidential there)."""
    codes = payload.get("countries", [])
    countries = set(
        Country.objects.filter(Q(iso_a3__in=codes) | Q(adm0_a3__in=codes)).values_list(
            "pk", flat=True
        )
    )
    days = []
    for survey in Survey.objects.filter(pk__in=[s["id"] for s in payload.get("surveys", [])]):
        for availability in survey_availability(survey, now=scope.now):
            if availability.country_id not in countries:
                continue
            if symbol in availability.confidential:
                return None
            if availability.is_open:
                continue
            if not availability.scheduled or availability.available_on is None:
                return None
            days.append(availability.available_on)
    return max(days) if days else None


def issued_counts() -> dict[int, int]:
    """Unit id → certificates issued and not revoked (the map's label counts)."""
    return dict(
        Certificate.objects.filter(revoked_at__isnull=True)
        .values("unit_id")
        .annotate(n=Count("id"))
        .values_list("unit_id", "n")
    )
