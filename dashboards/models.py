"""Soil standards as data (limits by element, land use and pH band) and zones to cut dashboards by.

A standard's numbers live in rows, not code: GB 15618-2018 is loaded by a data migration from
``dashboards/data/gb15618_2018.json``; stewards and admins add others in the admin.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.gis.db import models
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from baselines.models import Element, localised


class SoilStandard(models.Model):
    """A soil quality standard: screening (risk) and intervention (control) values in mg/kg."""

    code = models.SlugField(max_length=60, unique=True)
    name_en = models.CharField(max_length=200)
    name_zh = models.CharField(max_length=200, blank=True)
    source = models.TextField(help_text=_("Where the numbers come from (publication, table)."))
    created = models.DateTimeField(auto_now_add=True)
    # Cached dashboards name it: editing a standard (or its limits, see admin) renews them.
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    @property
    def name(self) -> str:
        return localised(self.name_en, self.name_zh)


class LandUse(models.TextChoices):
    OTHER = "other", _("other (dry land)")
    PADDY = "paddy", _("paddy field")
    ORCHARD = "orchard", _("orchard")


class StandardLimit(models.Model):
    """One row of a standard: an element's limits for one land use in one pH band.

    The band is ``ph_above < pH ≤ ph_up_to`` (an open end is NULL). A land use without a row for
    an element uses the "other" row; an unknown pH uses the strictest band (dashboards say how
    many samples that affected)."""

    standard = models.ForeignKey(SoilStandard, on_delete=models.CASCADE, related_name="limits")
    element = models.ForeignKey(Element, on_delete=models.PROTECT, related_name="+")
    land_use = models.CharField(max_length=20, choices=LandUse.choices, default=LandUse.OTHER)
    ph_above = models.FloatField(null=True, blank=True)
    ph_up_to = models.FloatField(null=True, blank=True)
    screening = models.FloatField(_("screening value (mg/kg)"))
    intervention = models.FloatField(_("intervention value (mg/kg)"), null=True, blank=True)

    class Meta:
        ordering = ["standard", "element__atomic_number", "land_use", "ph_above"]
        constraints = [
            models.UniqueConstraint(
                fields=["standard", "element", "land_use", "ph_above"],
                name="standard_limit_unique_band",
                nulls_distinct=False,
            ),
            models.CheckConstraint(
                condition=models.Q(screening__gt=0), name="standard_limit_screening_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.standard_id} {self.element_id} {self.land_use} pH>{self.ph_above}"

    def clean(self) -> None:
        if self.intervention is not None and self.intervention < self.screening:
            raise ValidationError({"intervention": _("must not be below the screening value")})
        if (
            self.ph_above is not None
            and self.ph_up_to is not None
            and self.ph_up_to <= self.ph_above
        ):
            raise ValidationError({"ph_up_to": _("must be above the band's lower pH")})


class ZoneKind(models.TextChoices):
    MINING = "mining", _("mining area")
    CITY = "city", _("city cluster")
    GRAIN = "grain", _("grain-producing area")
    COUNTY = "county", _("county")
    OTHER = "other", _("other")


class Zone(models.Model):
    """A region stewards upload (mining areas, city clusters, grain-producing areas…)."""

    name_en = models.CharField(max_length=200)
    name_zh = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=20, choices=ZoneKind.choices, default=ZoneKind.OTHER)
    geom = models.MultiPolygonField(srid=4326)
    area_km2 = models.FloatField(help_text=_("Geodesic area of the polygon."))
    source = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "name_en"]

    def __str__(self) -> str:
        return self.name_en

    @property
    def name(self) -> str:
        return localised(self.name_en, self.name_zh)
