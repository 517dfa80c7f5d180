"""Areas people draw or upload (GeoJSON polygons in WGS84), checked once for every use: download
selections, dashboard regions, zones stewards upload."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from django.contrib.gis.geos import GEOSException, GEOSGeometry, MultiPolygon, Polygon


class InvalidArea(ValueError):
    """The reason an area cannot be used, in words for the person who sent it."""


def parse_area(value, *, max_vertices: int) -> MultiPolygon:
    """A GeoJSON Polygon or MultiPolygon in WGS84 (a Feature or FeatureCollection of them is
    unwrapped; text is parsed), valid, inside ±180/±90, with area; ``InvalidArea`` says why not."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise InvalidArea("expected GeoJSON") from None
    if not isinstance(value, Mapping):
        raise InvalidArea("expected a GeoJSON object")
    if value.get("type") == "Feature":
        value = value.get("geometry")
    elif value.get("type") == "FeatureCollection":
        features = value.get("features")
        if not isinstance(features, list) or not features:
            raise InvalidArea("expected a FeatureCollection with features")
        geometries = [f.get("geometry") if isinstance(f, Mapping) else None for f in features]
        value = {"type": "GeometryCollection", "geometries": geometries}
    if not isinstance(value, Mapping) or value.get("type") not in (
        "Polygon", "MultiPolygon", "GeometryCollection",
    ):  # fmt: skip
        raise InvalidArea("expected a GeoJSON Polygon or MultiPolygon")
    try:
        geometry = GEOSGeometry(json.dumps(value), srid=4326)
    except (GEOSException, ValueError, TypeError):
        raise InvalidArea("not valid GeoJSON geometry") from None
    parts = list(geometry) if geometry.geom_type == "GeometryCollection" else [geometry]
    polygons: list = []
    for part in parts:
        if isinstance(part, Polygon):
            polygons.append(part)
        elif isinstance(part, MultiPolygon):
            polygons.extend(part)
        else:
            raise InvalidArea(f"expected polygons, not {part.geom_type}")
    if not polygons:
        raise InvalidArea("expected at least one polygon")
    shape = MultiPolygon(polygons, srid=4326)
    if shape.num_coords > max_vertices:
        raise InvalidArea(f"at most {max_vertices} vertices")
    west, south, east, north = shape.extent
    if not all(math.isfinite(v) for v in shape.extent) or (
        west < -180 or east > 180 or south < -90 or north > 90
    ):
        raise InvalidArea("coordinates must be longitude, latitude in ±180, ±90")
    if not shape.valid:
        raise InvalidArea(f"invalid polygon: {shape.valid_reason}")
    if shape.area == 0:
        raise InvalidArea("the polygon has no area")
    return shape
