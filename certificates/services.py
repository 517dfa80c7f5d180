"""Writes of the certificates domain (keyword-only, atomic, all or nothing): administrative units
uploaded by stewards, certificates issued and revoked (both audited)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from django.contrib.gis.gdal import DataSource, GDALException
from django.db import transaction
from django.utils import timezone

from baselines.models import Country, Medium, Survey
from dashboards.models import SoilStandard
from dashboards.regions import geodesic_area_km2
from dashboards.services import ZoneUploadError, feature_polygon
from sharing.access import viewer_scope, visible_samples
from sharing.audit import audit_record
from sharing.models import AuditEvent
from sharing.versioning import policy_version

from .models import PARENT_LEVEL, AdminUnit, Certificate, Level
from .selectors import TOO_FEW, unit_rating
from .signing import canonical, sign, signing_key

MAX_UNITS_PER_FILE = 2_000
# A unit may stick out of its parent by this share of its area (boundaries digitised apart).
PARENT_TOLERANCE = 0.01


class UnitUploadError(ValueError):
    """Why a unit file was refused, naming the feature (1-based) and the attribute."""


class CertificateError(ValueError):
    """Why a certificate cannot be issued or revoked (shown to the steward as it is)."""


def units_upload(
    *,
    path: Path,
    level: str,
    user,
    code_field: str = "code",
    name_field: str = "name",
    name_zh_field: str = "name_zh",
    parent_field: str = "parent",
    source: str = "",
) -> list[AdminUnit]:
    """Store every polygon of a GeoJSON or GeoPackage file (first layer, any CRS) as a unit of
    ``level``; a township's or plot's ``parent_field`` names its parent's code (a unit already
    stored or one earlier in the file). Refused whole, nothing stored, naming the feature: not a
    polygon, empty, self-intersecting, wrong CRS, unknown or wrong-level parent, outside its
    parent, a duplicate code, or outside every survey the uploader may see."""
    if level not in Level.values:
        raise UnitUploadError(f"unknown level {level!r}; known: {', '.join(Level.values)}")
    try:
        layer = DataSource(str(path))[0]
    except (GDALException, IndexError) as error:
        raise UnitUploadError(f"not a GeoJSON or GeoPackage file GDAL can read ({error})") from None
    if layer.num_feat > MAX_UNITS_PER_FILE:
        raise UnitUploadError(f"{layer.num_feat} features; at most {MAX_UNITS_PER_FILE} a file")
    fields = list(layer.fields)
    for required in (code_field, name_field) + ((parent_field,) if level in PARENT_LEVEL else ()):
        if required not in fields:
            raise UnitUploadError(f"no {required!r} attribute; the file has {fields}")
    scope = viewer_scope(user)
    units: list[AdminUnit] = []
    codes: dict[str, AdminUnit] = {}
    for index, feature in enumerate(layer, start=1):
        unit = _unit(feature, index, level, user, fields, source, codes, scope,
                     code_field, name_field, name_zh_field, parent_field)  # fmt: skip
        codes[unit.code] = unit
        units.append(unit)
    if not units:
        raise UnitUploadError("the file holds no features")
    with transaction.atomic():
        for unit in units:
            unit.full_clean(exclude=["parent"])
            unit.save()
    return units


def _text(feature, name: str, fields: list[str]) -> str:
    return str(feature.get(name) or "").strip() if name in fields else ""


def _unit(feature, index, level, user, fields, source, codes, scope,
          code_field, name_field, name_zh_field, parent_field) -> AdminUnit:  # fmt: skip
    code = _text(feature, code_field, fields)
    name = _text(feature, name_field, fields)
    if not code or not name:
        empty = code_field if not code else name_field
        raise UnitUploadError(f"feature {index}: empty {empty!r}")
    label = f"feature {index} ({code})"
    if code in codes or AdminUnit.objects.filter(code=code).exists():
        raise UnitUploadError(f"{label}: the code {code!r} is already used")
    try:
        shape = feature_polygon(feature, label)
    except ZoneUploadError as error:
        raise UnitUploadError(str(error)) from None
    parent = None
    parent_code = _text(feature, parent_field, fields)
    if level in PARENT_LEVEL:
        if not parent_code:
            raise UnitUploadError(f"{label}: empty {parent_field!r} (a {level} needs a parent)")
        parent = codes.get(parent_code) or AdminUnit.objects.filter(code=parent_code).first()
        if parent is None:
            raise UnitUploadError(f"{label}: unknown parent {parent_code!r}")
        if parent.level != PARENT_LEVEL[level]:
            raise UnitUploadError(
                f"{label}: parent {parent_code!r} is a {parent.level}, not a {PARENT_LEVEL[level]}"
            )
        outside = shape.difference(parent.geom).area
        if outside > PARENT_TOLERANCE * shape.area:
            raise UnitUploadError(f"{label}: outside its parent {parent_code!r}")
    elif parent_code:
        raise UnitUploadError(f"{label}: a county has no parent (got {parent_code!r})")
    # The gate's samples: a unit no survey the uploader may see reaches is refused, rather than
    # stored to be rated "too few samples" for ever (a unit in the wrong place, or a wrong CRS
    # that still lands inside ±180/±90).
    if not visible_samples(scope).filter(geom__intersects=shape).exists():
        raise UnitUploadError(f"{label}: outside every survey (no sample you may see lies in it)")
    return AdminUnit(
        level=level, parent=parent, code=code[:60], name_en=name[:200],
        name_zh=_text(feature, name_zh_field, fields)[:200], geom=shape,
        area_km2=geodesic_area_km2(shape), source=source, created_by=user,
    )  # fmt: skip


def plot_draw(
    *, parent: AdminUnit, code: str, name_en: str, name_zh: str = "", polygon: str, user
) -> AdminUnit:
    """A plot drawn on the map inside ``parent`` (a township): the GeoJSON polygon goes through
    ``units_upload`` as a one-feature file, so a drawn plot meets every check an uploaded one
    does (valid, inside its parent, inside a survey, a new code)."""
    try:
        geometry = json.loads(polygon)
    except ValueError:
        raise UnitUploadError("the drawn polygon is not GeoJSON") from None
    if isinstance(geometry, dict) and geometry.get("type") == "Feature":
        geometry = geometry.get("geometry")
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise UnitUploadError("draw a polygon: at least three points on the map")
    feature = {"type": "Feature", "geometry": geometry,
               "properties": {"code": code.strip(), "name": name_en.strip(),
                              "name_zh": name_zh.strip(), "parent": parent.code}}  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "drawn.geojson"
        path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
        (unit,) = units_upload(path=path, level=Level.PLOT, user=user, source="drawn on the map")
    return unit


def may_issue(user, rating) -> bool:
    """A steward or staff, or a partner: someone who sees every country the rating used beyond
    the public release (or staff). A registered user with public rights only may not."""
    if not user.is_authenticated:
        return False
    scope = viewer_scope(user)
    if scope.everything:
        return True
    return bool(rating.countries) and rating.countries <= scope.non_public_countries


def certificate_issue(
    *, unit: AdminUnit, standard: SoilStandard, user, medium: Medium | None = None
) -> Certificate:
    """Rate ``unit`` with the issuer's rows, sign the result and store it (audited per country
    whose rows it used). Refuses a unit with too few samples and an issuer without rights."""
    scope = viewer_scope(user)
    rating = unit_rating(scope, unit, standard, medium)
    if not may_issue(user, rating):
        raise CertificateError("only a steward or a partner with rights to the data may issue")
    if rating.grade == TOO_FEW:
        raise CertificateError(
            f"too few samples to rate: {rating.data['samples']} (at least "
            f"{rating.data['min_samples']})"
        )
    key = signing_key()
    now = timezone.now()
    certificate = Certificate(unit=unit, standard=standard, grade=rating.grade, key_id=key.kid,
                              issued_at=now, issued_by=user, rows=rating.rows)  # fmt: skip
    surveys = Survey.objects.filter(pk__in=sorted(rating.surveys)).order_by("pk")
    payload = {
        "v": 1,
        "id": certificate.public_id,
        "kid": key.kid,
        "issued_at": now.isoformat(),
        "issuer": user.get_username(),
        "unit": {**rating.data["unit"],
                 "parents": [{"code": u.code, "name_en": u.name_en, "name_zh": u.name_zh}
                             for u in unit.ancestors()]},
        "standard": rating.data["standard"],
        "medium": rating.data["medium"],
        "grade": rating.grade,
        "meets": rating.data["meets"],
        "rule": rating.data["rule"],
        "min_samples": rating.data["min_samples"],
        "samples": rating.data["samples"],
        "ph_unknown_samples": rating.data["ph_unknown_samples"],
        "precision_km": rating.data["precision_km"],
        "elements": rating.data["elements"],
        "countries": sorted(c.code for c in Country.objects.filter(pk__in=rating.countries)),
        "surveys": [{"id": s.pk, "name": s.name, "data_version": s.data_version}
                    for s in surveys],
        "data_version": surveys.data_version(),
        "policy_version": policy_version(now),
    }  # fmt: skip
    certificate.payload = canonical(payload)
    certificate.signature = sign(certificate.payload, key)
    with transaction.atomic():
        certificate.save()
        for country in Country.objects.filter(pk__in=rating.countries):
            audit_record(
                kind=AuditEvent.Kind.CERTIFICATE, user=user, country=country,
                summary=f"certificate {certificate.public_id} issued for {unit.code}",
                after={"grade": rating.grade, "standard": standard.code},
            )  # fmt: skip
    return certificate


def certificate_revoke(*, certificate: Certificate, user, reason: str) -> Certificate:
    """Revoke (stewards of a country whose rows it used, or staff); audited, never undone."""
    countries = Country.objects.filter(
        pk__in=Survey.objects.filter(
            pk__in=[s["id"] for s in _payload_surveys(certificate)]
        ).values("countries")
    )
    stewarded = user.is_authenticated and (
        user.is_staff or user.stewardships.filter(country__in=countries).exists()
    )
    if not stewarded:
        raise CertificateError("only a steward of the data's country revokes a certificate")
    reason = reason.strip()
    if not reason:
        raise CertificateError("say why the certificate is revoked")
    if certificate.revoked_at is not None:
        raise CertificateError("the certificate is already revoked")
    with transaction.atomic():
        certificate.revoked_at = timezone.now()
        certificate.revoked_by = user
        certificate.revoked_reason = reason[:300]
        certificate.save(update_fields=["revoked_at", "revoked_by", "revoked_reason"])
        for country in countries:
            audit_record(
                kind=AuditEvent.Kind.CERTIFICATE, user=user, country=country,
                summary=f"certificate {certificate.public_id} revoked",
                before={"revoked": False}, after={"revoked": True, "reason": reason[:300]},
            )  # fmt: skip
    return certificate


def _payload_surveys(certificate: Certificate) -> list[dict]:
    return json.loads(certificate.payload).get("surveys", [])
