"""Coordinate reference systems of ``/ogcapi/`` (OGC API – Features Part 2, CRS by reference).

Samples are stored as WGS 84 longitude/latitude (``storageCrs``: CRS84). A client may ask for the
features in any CRS of ``SUPPORTED`` (``crs=``) and give ``bbox`` in any of them
(``bbox-crs=``); anything else is a 400 naming the parameter.

- **Output** (``Crs.coordinates``): the location a caller may see (``shown_location``: exact, or
  its cell's centre where the policy snaps it) is computed first, in longitude/latitude, and only
  then transformed, so no CRS shows more than CRS84 does. Axis order is the CRS's own: EPSG:4326
  is latitude, longitude (as its definition and Part 2 say); CRS84, EPSG:3857 and EPSG:6933 are
  x (east), y (north). Degrees keep 6 decimals, metres 2. Web Mercator has no pole: latitudes
  beyond ±85.05113° are shown on its edge.
- **bbox** (``Crs.bbox_lonlat``): all four CRSs are cylindrical (x depends on longitude only, y on
  latitude only), so a box in any of them is exactly the longitude/latitude box of its corners;
  it is turned into that box and then filtered like a CRS84 box (snapped samples by their cell).
  A side on or beyond a projection's edge reaches the antimeridian or the pole.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from django.utils.translation import gettext_lazy as _
from pyproj import Transformer

from ..http import BadParameter, parse_bbox

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
# Web Mercator's latitude limit: the square world of EPSG:3857.
MERCATOR_MAX_LAT = 85.0511287798066


@dataclass(frozen=True)
class Crs:
    uri: str
    code: str  # as pyproj names it
    title: str
    lat_lon: bool  # EPSG:4326: latitude first
    decimals: int
    axes: tuple  # labels of the two coordinates, in output order
    max_lat: float = 90.0

    @property
    def projected(self) -> bool:
        return self.decimals < 6

    @property
    def curie(self) -> str:
        return "[" + self.code + "]"

    @property
    def header(self) -> str:
        """The ``Content-Crs`` header's value."""
        return f"<{self.uri}>"

    def coordinates(self, lons, lats) -> list[list[float]]:
        """Shown longitudes/latitudes (degrees) as coordinate pairs of this CRS, rounded."""
        if not len(lons):
            return []
        lon = np.asarray(lons, dtype="f8")
        lat = np.clip(np.asarray(lats, dtype="f8"), -self.max_lat, self.max_lat)
        if self.projected:
            x, y = _from_lonlat(self.code).transform(lon, lat)
        elif self.lat_lon:
            x, y = lat, lon
        else:
            x, y = lon, lat
        x = np.round(np.asarray(x, dtype="f8"), self.decimals).tolist()
        y = np.round(np.asarray(y, dtype="f8"), self.decimals).tolist()
        return [[a, b] for a, b in zip(x, y, strict=True)]

    def bbox_lonlat(self, text: str, name: str = "bbox") -> tuple[float, float, float, float]:
        """A ``bbox`` given in this CRS (4 numbers, or 6 with heights) as the kit's
        west, south, east, north box in degrees."""
        values = text.split(",")
        if len(values) == 6:  # a box with heights: samples have none, so only the plane counts
            values = [values[0], values[1], values[3], values[4]]
        if not self.projected:
            if self.lat_lon and len(values) == 4:
                values = [values[1], values[0], values[3], values[2]]
            return parse_bbox(",".join(values), name)
        try:
            xmin, ymin, xmax, ymax = (float(v) for v in values)
        except ValueError:
            raise BadParameter(
                name, f"expected xmin,ymin,xmax,ymax in metres ({self.code})"
            ) from None
        if not all(math.isfinite(v) for v in (xmin, ymin, xmax, ymax)):
            raise BadParameter(name, "expected finite numbers")
        if not (xmin < xmax and ymin < ymax):
            raise BadParameter(name, "expected xmin < xmax and ymin < ymax")
        x_edge, y_edge = _edges(self.code)
        west, east = (
            -180.0 if xmin <= -x_edge else None,
            180.0 if xmax >= x_edge else None,
        )
        south, north = (
            -90.0 if ymin <= -y_edge else None,
            90.0 if ymax >= y_edge else None,
        )
        to_lonlat = _to_lonlat(self.code)
        lon0, lat0 = to_lonlat.transform(max(xmin, -x_edge), max(ymin, -y_edge))
        lon1, lat1 = to_lonlat.transform(min(xmax, x_edge), min(ymax, y_edge))
        box = (
            west if west is not None else lon0,
            south if south is not None else lat0,
            east if east is not None else lon1,
            north if north is not None else lat1,
        )
        if not all(math.isfinite(v) for v in box):
            raise BadParameter(name, f"the box lies outside the world of {self.code}")
        return parse_bbox(",".join(repr(float(v)) for v in box), name)


SUPPORTED: dict[str, Crs] = {
    c.uri: c
    for c in (
        Crs(CRS84, "OGC:CRS84", "WGS 84 longitude, latitude", False, 6,
            (_("Longitude"), _("Latitude"))),
        Crs(EPSG + "4326", "EPSG:4326", "WGS 84 latitude, longitude", True, 6,
            (_("Latitude"), _("Longitude"))),
        Crs(EPSG + "3857", "EPSG:3857", "WGS 84 / Pseudo-Mercator (web maps)", False, 2,
            (_("Easting (m)"), _("Northing (m)")), MERCATOR_MAX_LAT),
        Crs(EPSG + "6933", "EPSG:6933", "WGS 84 / NSIDC EASE-Grid 2.0 Global (equal area)",
            False, 2, (_("Easting (m)"), _("Northing (m)"))),
    )
}  # fmt: skip
DEFAULT = SUPPORTED[CRS84]
# Safe CURIEs (OGC API – Common) name the same CRSs: [EPSG:3857].
_BY_CURIE = {c.curie: c for c in SUPPORTED.values()}


def crs_param(params: Mapping, name: str = "crs") -> Crs:
    """The CRS a parameter names (default CRS84), or a 400 naming the parameter."""
    value = params.get(name)
    if value in (None, ""):
        return DEFAULT
    found = SUPPORTED.get(value.strip()) or _BY_CURIE.get(value.strip())
    if found is None:
        raise BadParameter(
            name, f"unsupported CRS {value[:200]!r}; supported: {', '.join(SUPPORTED)}"
        )
    return found


@lru_cache(maxsize=8)
def _from_lonlat(code: str) -> Transformer:
    # always_xy: longitude, latitude in and easting, northing out (both projections' order).
    return Transformer.from_crs("OGC:CRS84", code, always_xy=True)


@lru_cache(maxsize=8)
def _to_lonlat(code: str) -> Transformer:
    return Transformer.from_crs(code, "OGC:CRS84", always_xy=True)


@lru_cache(maxsize=8)
def _edges(code: str) -> tuple[float, float]:
    """(x at 180°, y at the projection's northmost latitude): the half-widths of its world."""
    max_lat = MERCATOR_MAX_LAT if code == "EPSG:3857" else 90.0
    x, y = _from_lonlat(code).transform(180.0, max_lat)
    return float(x), float(y)
