"""Writes of the dashboards domain: zones uploaded by stewards (keyword-only, all or nothing)."""

from __future__ import annotations

from pathlib import Path

from django.contrib.gis.gdal import DataSource, GDALException, SpatialReference
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.db import transaction

from .models import Zone, ZoneKind
from .regions import geodesic_area_km2

MAX_ZONES_PER_FILE = 2_000
MAX_VERTICES_PER_ZONE = 200_000
WGS84 = SpatialReference(4326)


class ZoneUploadError(ValueError):
    """Why a zone file was refused, naming the feature (1-based) and the attribute."""


def zones_upload(
    *,
    path: Path,
    kind: str,
    user,
    name_field: str = "name",
    name_zh_field: str = "name_zh",
    source: str = "",
) -> list[Zone]:
    """Store every polygon of a GeoJSON or GeoPackage file (first layer) as a zone of ``kind``,
    named from ``name_field`` (and ``name_zh_field`` when present); any bad feature refuses the
    whole file and nothing is stored."""
    if kind not in ZoneKind.values:
        raise ZoneUploadError(f"unknown kind {kind!r}; known: {', '.join(ZoneKind.values)}")
    try:
        layer = DataSource(str(path))[0]
    except (GDALException, IndexError) as error:
        raise ZoneUploadError(f"not a GeoJSON or GeoPackage file GDAL can read ({error})") from None
    if layer.num_feat > MAX_ZONES_PER_FILE:
        raise ZoneUploadError(f"{layer.num_feat} features; at most {MAX_ZONES_PER_FILE} a file")
    if name_field not in layer.fields:
        raise ZoneUploadError(f"no {name_field!r} attribute; the file has {layer.fields}")
    zones = [
        _zone(feature, index, kind, user, name_field, name_zh_field, layer.fields, source)
        for index, feature in enumerate(layer, start=1)
    ]
    if not zones:
        raise ZoneUploadError("the file holds no features")
    with transaction.atomic():
        return Zone.objects.bulk_create(zones)


def _zone(feature, index, kind, user, name_field, name_zh_field, fields, source) -> Zone:
    name = str(feature.get(name_field) or "").strip()
    if not name:
        raise ZoneUploadError(f"feature {index}: empty {name_field!r}")
    name_zh = str(feature.get(name_zh_field) or "").strip() if name_zh_field in fields else ""
    shape = feature_polygon(feature, f"feature {index} ({name})")
    return Zone(
        name_en=name[:200], name_zh=name_zh[:200], kind=kind, geom=shape,
        area_km2=geodesic_area_km2(shape), source=source, created_by=user,
    )  # fmt: skip


def feature_polygon(feature, label: str) -> MultiPolygon:
    """A GDAL feature's geometry as a valid WGS84 multipolygon (transformed from the layer's
    CRS), or ``ZoneUploadError`` starting with ``label``: not a polygon, empty, invalid (e.g.
    self-intersecting), too many vertices, or outside ±180/±90 — a file whose declared CRS is
    not that of its coordinates. Zones and certificates' administrative units share it."""
    try:
        geometry = feature.geom
    except GDALException:  # GDAL reads "coordinates": [] (and a null geometry) as no geometry
        raise ZoneUploadError(f"{label}: an empty polygon (no geometry)") from None
    if geometry.srs is not None and geometry.srs.srid != 4326:
        try:
            geometry.transform(WGS84)
        except GDALException as error:
            message = f"{label}: cannot transform from the file's CRS ({error})"
            raise ZoneUploadError(message) from None
    shape = geometry.geos
    if isinstance(shape, Polygon):
        shape = MultiPolygon(shape)
    if not isinstance(shape, MultiPolygon):
        raise ZoneUploadError(f"{label}: a {shape.geom_type}, not a polygon")
    shape.srid = 4326
    if shape.empty:
        raise ZoneUploadError(f"{label}: an empty polygon")
    if not shape.valid:
        raise ZoneUploadError(f"{label}: invalid polygon: {shape.valid_reason}")
    if not shape.area:
        raise ZoneUploadError(f"{label}: an empty polygon (no area)")
    if shape.num_coords > MAX_VERTICES_PER_ZONE:
        raise ZoneUploadError(f"{label}: over {MAX_VERTICES_PER_ZONE} vertices")
    west, south, east, north = shape.extent
    if west < -180 or east > 180 or south < -90 or north > 90:
        raise ZoneUploadError(
            f"{label}: coordinates outside ±180, ±90 in WGS84 (a wrong or missing CRS?)"
        )
    return shape
