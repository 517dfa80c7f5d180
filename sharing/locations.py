"""Where a viewer may see a sample, as SQL: the stored point for exact grants, the centre of the
sample's cell for grants limited to P-km cells (``shown_location``'s rule in one ``CASE``), and
areas (polygons) tested against that shown point so a small polygon cannot locate a sample more
finely than its cell. Downloads write these columns; dashboards cut regions with them."""

from __future__ import annotations

from django.contrib.gis.db.models import PointField
from django.contrib.gis.geos import GEOSGeometry
from django.db.models import Case, CharField, F, FloatField, Func, QuerySet, Value, When

from baselines import grid

from .access import EXACT, Scope, precision_groups, viewer_scope, within_bbox

SAMPLE = "sample__"


class SnappedPoint(Func):
    """The WGS84 centre of the cell whose code is in the given column (``20K-00105-01233``):
    the middle of its lon/lat rectangle, computed in float8 with the same operations, in the same
    order, as ``grid.centres_lonlat`` (so it equals ``grid.Cell.centroid_lonlat`` to the bit).
    The band table (columns per 80 km band) is a literal array: 250 small integers."""

    output_field = PointField(srid=4326)

    def __init__(self, code_column, size_m: int) -> None:
        k = grid.subdivisions(size_m)
        step = grid.UNIT // k
        bands = "ARRAY[" + ",".join(str(int(n)) for n in grid.band_columns()) + "]"
        row = "split_part(%(expressions)s, '-', 2)::int"
        col = "split_part(%(expressions)s, '-', 3)::int"
        width = f"(({bands})[{row} / {k} + 1] * {grid.UNIT})::float8"
        u, c = f"({row} * {step})", f"({col} * {step})"
        lat_edge = "(90.0::float8 - ({}::float8 * 180.0::float8) / {}::float8)"
        lon_edge = "(-180.0::float8 + ({}::float8 * 360.0::float8) / {})"
        north = lat_edge.format(u, float(grid.UNIT_ROWS))
        south = lat_edge.format(f"({u} + {step})", float(grid.UNIT_ROWS))
        west = lon_edge.format(c, width)
        east = lon_edge.format(f"({c} + {step})", width)
        x = f"(({west} + {east}) / 2.0::float8)"
        y = f"(({south} + {north}) / 2.0::float8)"
        super().__init__(code_column, template=f"ST_SetSRID(ST_MakePoint({x}, {y}), 4326)")


def shown_point(scope: Scope, prefix: str = SAMPLE):
    """SQL for ``shown_location``'s point (NULL for a sample no grant covers)."""
    scope = viewer_scope(scope)
    if scope.everything:
        return F(f"{prefix}geom")
    whens = [
        When(
            condition,
            then=F(f"{prefix}geom")
            if precision == EXACT
            else SnappedPoint(F(f"{prefix}{grid.cell_field_name(precision)}"), precision),
        )
        for precision, condition in precision_groups(scope, prefix)
    ]
    if not whens:
        return Value(None, output_field=PointField(srid=4326))
    return Case(*whens, default=Value(None), output_field=PointField(srid=4326))


def shown_precision_km(scope: Scope, prefix: str = SAMPLE):
    """The precision of the shown location in km (NULL: exact)."""
    scope = viewer_scope(scope)
    whens = [
        When(condition, then=Value(None if p == EXACT else p / 1000, output_field=FloatField()))
        for p, condition in precision_groups(scope, prefix)
    ]
    if scope.everything or not whens:
        return Value(None, output_field=FloatField())
    return Case(*whens, default=Value(None), output_field=FloatField())


def shown_cell(scope: Scope, prefix: str = SAMPLE):
    """The code of the cell the location was snapped to (NULL: exact)."""
    scope = viewer_scope(scope)
    whens = [
        When(
            condition,
            then=Value(None, output_field=CharField())
            if p == EXACT
            else F(f"{prefix}{grid.cell_field_name(p)}"),
        )
        for p, condition in precision_groups(scope, prefix)
    ]
    if scope.everything or not whens:
        return Value(None, output_field=CharField())
    return Case(*whens, default=Value(None), output_field=CharField())


def rounded(expression, axis: str) -> Func:
    """Longitude (``X``) or latitude (``Y``) of a point, to 6 decimals. In floating point: the
    nearest double to a 6-decimal number prints as that number (PostgreSQL writes the shortest
    exact form), and a ``numeric`` round trip cost 1.5 µs a value (70 % of a long CSV's time)."""
    return Func(
        expression,
        template=f"round(ST_{axis}(%(expressions)s) * 1e6) / 1e6",
        output_field=FloatField(),
    )


def within_area(scope: Scope, rows: QuerySet, shape: GEOSGeometry, prefix: str = SAMPLE):
    """Narrow gated rows to those whose *shown* location lies in ``shape`` (WGS84): the box
    first (the gate's test, cheap on the index: a sample whose shown point is in the polygon
    has its cell touching the polygon's extent), then the shown point itself."""
    rows = within_bbox(scope, rows, shape.extent, prefix=prefix)
    return rows.alias(shown_point=shown_point(scope, prefix)).filter(shown_point__intersects=shape)
