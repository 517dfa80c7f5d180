"""Regions a dashboard is cut by: the world, a country, a continent, a zone or a drawn polygon.

A region names itself as one parameter (``world``, ``country:CHN``, ``continent:Europe``,
``zone:12``; a drawn polygon comes as GeoJSON and is named ``polygon:<digest>``), knows its area,
and narrows gated rows: countries by the sample's country, areas by the sample's *shown* location
(``sharing.locations.within_area``), so a small polygon never locates a snapped sample.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.contrib.gis.geos import GEOSGeometry
from django.db.models import Q, QuerySet, Sum
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pyproj import Geod
from shapely import wkb

from baselines.areas import parse_area
from baselines.models import Country
from sharing.access import Scope
from sharing.locations import within_area

from .models import Zone

# A drawn polygon is a selection, not a boundary data set (the downloads' bound).
MAX_DRAWN_VERTICES = 10_000
KINDS = ("world", "country", "continent", "zone", "polygon")
# Natural Earth's continents, named in the viewer's language.
CONTINENT_NAMES = {
    "Africa": gettext_lazy("Africa"),
    "Antarctica": gettext_lazy("Antarctica"),
    "Asia": gettext_lazy("Asia"),
    "Europe": gettext_lazy("Europe"),
    "North America": gettext_lazy("North America"),
    "Oceania": gettext_lazy("Oceania"),
    "South America": gettext_lazy("South America"),
    "Seven seas (open ocean)": gettext_lazy("Seven seas (open ocean)"),
}


class RegionNotFound(LookupError):
    """No such country, continent or zone."""


@dataclass(frozen=True)
class Region:
    kind: str
    key: str
    name: str
    area_km2: float
    country_ids: frozenset[int] | None = None
    shape: GEOSGeometry | None = None
    # A zone's last edit: cached figures of the zone are renewed when its polygon changes.
    version: str = ""

    @property
    def param(self) -> str:
        """The region as one URL parameter (permalinks, cache keys)."""
        return "world" if self.kind == "world" else f"{self.kind}:{self.key}"

    @property
    def cache_part(self) -> str:
        return f"{self.param}@{self.version}"

    def narrow(self, scope: Scope, rows: QuerySet, prefix: str = "sample__") -> QuerySet:
        """Gated rows (measurements, or samples with ``prefix=""``) inside the region."""
        if self.country_ids is not None:
            rows = rows.filter(**{f"{prefix}country_id__in": sorted(self.country_ids)})
        if self.shape is not None:
            rows = within_area(scope, rows, self.shape, prefix=prefix)
        return rows


def geodesic_area_km2(shape: GEOSGeometry) -> float:
    area, _perimeter = Geod(ellps="WGS84").geometry_area_perimeter(wkb.loads(bytes(shape.wkb)))
    return abs(area) / 1e6


def _countries(condition: Q) -> tuple[frozenset[int], float]:
    found = Country.objects.filter(condition)
    ids = frozenset(found.values_list("pk", flat=True))
    return ids, found.aggregate(total=Sum("land_area_km2"))["total"] or 0.0


def region_of(value: str | None, polygon=None) -> Region:
    """The region a parameter names; a drawn ``polygon`` (GeoJSON) wins over ``value``.
    Raises ``RegionNotFound`` or ``baselines.areas.InvalidArea`` (with the reason)."""
    if polygon:
        shape = parse_area(polygon, max_vertices=MAX_DRAWN_VERTICES)
        digest = hashlib.sha1(shape.wkb).hexdigest()[:12]
        return Region("polygon", digest, _("drawn area"), geodesic_area_km2(shape), shape=shape)
    value = (value or "world").strip()
    if value == "world":
        _ids, area = _countries(Q())
        return Region("world", "", _("World"), area)
    kind, _sep, key = value.partition(":")
    if kind == "country" and key:
        country = Country.objects.filter(Q(iso_a3=key.upper()) | Q(adm0_a3=key.upper())).first()
        if country is None:
            raise RegionNotFound(value)
        return Region(
            "country", country.code, str(country.name), country.land_area_km2,
            country_ids=frozenset([country.pk]),
        )  # fmt: skip
    if kind == "continent" and key:
        ids, area = _countries(Q(continent__iexact=key))
        if not ids:
            raise RegionNotFound(value)
        name = Country.objects.filter(pk__in=ids).values_list("continent", flat=True).first()
        return Region(
            "continent", name, str(CONTINENT_NAMES.get(name, name)), area, country_ids=ids
        )
    if kind == "zone" and key.isdigit():
        zone = Zone.objects.filter(pk=int(key)).first()
        if zone is None:
            raise RegionNotFound(value)
        return Region(
            "zone", str(zone.pk), zone.name, zone.area_km2, shape=zone.geom,
            version=zone.updated.isoformat(),
        )  # fmt: skip
    raise RegionNotFound(value)


def continents() -> list[str]:
    return sorted(c for c in Country.objects.values_list("continent", flat=True).distinct() if c)
