"""Administrative units (county → township/village → plot) and the certificates issued for them.

A certificate's content is one canonical JSON text (``payload``) signed with Ed25519
(``certificates.signing``); the row's other columns are for lookups and for the verification page
(revocation, the rows the rating used). The payload is never edited after issue: a new rating is
a new certificate, and the old one reads "superseded".
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.gis.db import models
from django.utils.translation import gettext_lazy as _

from baselines.models import localised
from dashboards.models import SoilStandard


class Level(models.TextChoices):
    COUNTY = "county", _("county")
    TOWNSHIP = "township", _("township or village")
    PLOT = "plot", _("plot")


# The level a unit's parent must have (a county has none).
PARENT_LEVEL = {Level.TOWNSHIP: Level.COUNTY, Level.PLOT: Level.TOWNSHIP}


class AdminUnit(models.Model):
    """A county, a township or village, or a plot of an agricultural park, with its polygon."""

    level = models.CharField(max_length=12, choices=Level.choices)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    code = models.CharField(max_length=60, unique=True, help_text=_("The unit's own code."))
    name_en = models.CharField(max_length=200)
    name_zh = models.CharField(max_length=200, blank=True)
    geom = models.MultiPolygonField(srid=4326)
    area_km2 = models.FloatField(help_text=_("Geodesic area of the polygon."))
    source = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created = models.DateTimeField(auto_now_add=True)
    # Cached ratings name it: a redrawn polygon renews them.
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["level", "name_en"]

    def __str__(self) -> str:
        return f"{self.name_en} ({self.level})"

    @property
    def name(self) -> str:
        return localised(self.name_en, self.name_zh)

    def ancestors(self) -> list[AdminUnit]:
        """County first, the unit's parent last."""
        chain, unit = [], self.parent
        while unit is not None:
            chain.insert(0, unit)
            unit = unit.parent
        return chain


def new_public_id() -> str:
    """An unguessable id for the QR code's URL (certificates are not enumerable)."""
    return secrets.token_urlsafe(12)


class Certificate(models.Model):
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id)
    unit = models.ForeignKey(AdminUnit, on_delete=models.PROTECT, related_name="certificates")
    standard = models.ForeignKey(SoilStandard, on_delete=models.PROTECT, related_name="+")
    grade = models.CharField(max_length=30)
    # The signed content, exactly as signed (canonical JSON), the key's id and the signature.
    payload = models.TextField()
    key_id = models.CharField(max_length=64)
    signature = models.CharField(max_length=200)
    # The measurements the rating used, by element symbol → sample ids: the verification page
    # shows an element's values only while the public may see every one of them.
    rows = models.JSONField(default=dict)
    issued_at = models.DateTimeField()
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    revoked_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-issued_at"]
        indexes = [models.Index(fields=["unit", "standard", "-issued_at"])]

    def __str__(self) -> str:
        return self.public_id
