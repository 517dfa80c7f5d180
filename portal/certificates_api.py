"""``/api/v1/certificates/…``: the certificates' API twins — the rated units as GeoJSON (the
map's layer), a unit's rating, and a certificate's verification as JSON (what the public page
says, with the same policy hold: values only while public). Errors are the HTTP kit's body."""

from __future__ import annotations

import json

from django.http import Http404, HttpRequest, JsonResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema

from baselines.models import Survey
from certificates.models import AdminUnit, Certificate
from certificates.selectors import (
    GRADE_LABELS,
    certificate_status,
    issued_counts,
    payload_of,
    shown_values,
    unit_rating,
)
from dashboards.models import SoilStandard
from dashboards.standards import DEFAULT_STANDARD
from sharing.access import request_scope, viewer_scope
from sharing.audit import audit_access, note_country_served

from .dashboards_api import OPTIONAL_MEDIUM, STANDARD, optional_medium, standard_param
from .schema import ERRORS, JSON_OBJECT
from .viewer_api import api_get

UNIT_CODE = OpenApiParameter("code", OpenApiTypes.STR, OpenApiParameter.PATH, True,
                             "administrative unit code, e.g. EX-PASVIK-P1")  # fmt: skip
PUBLIC_ID = OpenApiParameter("public_id", OpenApiTypes.STR, OpenApiParameter.PATH, True,
                             "certificate id (the QR code's URL ends with it)")  # fmt: skip


def served(request: HttpRequest, scope, countries, label: str) -> None:
    """Note whose rows an answer used and record the audit (non-public rows only are logged)."""
    for country_id in countries:
        note_country_served(request, country_id)
    audit_access(request, scope, label)


def rated_units(request: HttpRequest) -> list[dict]:
    """Every unit rated with the viewer's rows against the default standard (audited), with its
    count of issued, unrevoked labels."""
    scope = request_scope(request)
    standard = SoilStandard.objects.filter(code=DEFAULT_STANDARD).first()
    counts = issued_counts()
    rows, countries = [], set()
    for unit in AdminUnit.objects.all() if standard else ():
        rating = unit_rating(scope, unit, standard)
        countries |= rating.countries
        rows.append({"unit": unit, "grade": rating.grade, "samples": rating.data["samples"],
                     "issued": counts.get(unit.pk, 0)})  # fmt: skip
    served(request, scope, countries, "certificates map")
    return rows


@extend_schema(responses={200: JSON_OBJECT, **ERRORS}, tags=["certificates"])
@api_get
def units_view(request: HttpRequest) -> JsonResponse:
    """Every administrative unit as a GeoJSON feature: level, names, the grade of the viewer's
    rating against the default standard, its samples and issued labels."""
    features = [
        {"type": "Feature",
         "geometry": json.loads(r["unit"].geom.simplify(0.0005, preserve_topology=True).geojson),
         "properties": {"code": r["unit"].code, "name": r["unit"].name, "level": r["unit"].level,
                        "parent": r["unit"].parent.code if r["unit"].parent_id else None,
                        "grade": r["grade"], "grade_label": str(GRADE_LABELS[r["grade"]]),
                        "samples": r["samples"], "issued": r["issued"],
                        "url": reverse("portal:certificate-unit", args=[r["unit"].code])}}
        for r in rated_units(request)
    ]  # fmt: skip
    return JsonResponse({"type": "FeatureCollection", "features": features})


@extend_schema(parameters=[UNIT_CODE, STANDARD, OPTIONAL_MEDIUM],
               responses={200: JSON_OBJECT, **ERRORS}, tags=["certificates"])  # fmt: skip
@api_get
def rating_view(request: HttpRequest, code: str) -> JsonResponse:
    """A unit rated with the viewer's rows: per element the deciding values and class, the grade
    and the rule that made it."""
    unit = AdminUnit.objects.filter(code=code).first()
    if unit is None:
        raise Http404
    standard = standard_param(request.GET)
    medium = optional_medium(request.GET)
    scope = request_scope(request)
    rating = unit_rating(scope, unit, standard, medium)
    served(request, scope, rating.countries, f"rating of {unit.code}")
    return JsonResponse(rating.data)


def verification(request: HttpRequest, certificate: Certificate) -> dict:
    """What the public verification page says, as data: status, verdict, and per element the
    values only while the public may see them (else when they open)."""
    status = certificate_status(certificate)
    body = {
        "id": certificate.public_id,
        "url": request.build_absolute_uri(
            reverse("portal:certificate-verify", args=[certificate.public_id])
        ),
        "state": status.state,
        "genuine": status.genuine,
    }
    if not status.genuine:
        return body | {"reason": status.reason}
    payload = payload_of(certificate)
    shown = shown_values(certificate, viewer_scope(None))
    elements = []
    for element in payload["elements"]:
        hold = shown[element["element"]]
        if hold["shown"]:
            elements.append(element)
        else:
            until = hold["withheld_until"]
            elements.append({"element": element["element"], "withheld": True,
                             "withheld_until": until.isoformat() if until else None})  # fmt: skip
    return body | {
        "revoked_at": certificate.revoked_at.isoformat() if certificate.revoked_at else None,
        "revoked_reason": certificate.revoked_reason or None,
        "superseded_by": (status.superseded_by.public_id if status.superseded_by else None),
        "data_changed": status.data_changed,
        "grade": payload["grade"],
        "meets": payload["meets"],
        "rule": payload["rule"],
        "unit": {k: payload["unit"][k] for k in ("code", "level", "name_en", "name_zh")},
        "standard": {k: payload["standard"][k] for k in ("code", "name_en", "name_zh")},
        "issued_at": payload["issued_at"],
        "kid": payload["kid"],
        "data_version": payload["data_version"],
        "policy_version": payload["policy_version"],
        # How many samples lie in the unit says that data exists: only when every value shows.
        "samples": None if any(not h["shown"] for h in shown.values()) else payload["samples"],
        "elements": elements,
        "surveys": [s["name"] for s in payload["surveys"]
                    if Survey.objects.filter(pk=s["id"]).exists()],
    }  # fmt: skip


@extend_schema(parameters=[PUBLIC_ID], responses={200: JSON_OBJECT, **ERRORS},
               tags=["certificates"])  # fmt: skip
@api_get
def certificate_view(request: HttpRequest, public_id: str) -> JsonResponse:
    """A certificate's verification (public): genuine, current, superseded or revoked, the
    verdict, and the values public now."""
    certificate = Certificate.objects.filter(public_id=public_id).first()
    if certificate is None:
        raise Http404
    body = verification(request, certificate)
    audit_access(request, viewer_scope(None), f"certificate {public_id}")  # public only
    return JsonResponse(body)
