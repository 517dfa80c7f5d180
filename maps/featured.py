"""The featured map: what ``/map/`` opens on when its address names nothing, and what the home
page previews. An administrator picks it (``FeaturedMap``, newest row); without one it is
``DEFAULT``. Its public layer is rendered ahead of its viewers (``seed_featured``): after every
new policy or data version (``layers.refresh_layers`` calls it) and by ``make demo``.

The layer's cell size is the one the viewer will ask for at the featured zoom: the zoom's scale
(``ZOOM_SCALES_KM``, the table the viewer's script also reads) but never finer than the finest
survey holding the element in that medium (the script's own rule, static/maps/viewer.js).
"""

from __future__ import annotations

from dataclasses import dataclass

from baselines.models import Element, Medium
from sharing.access import Scope, viewer_scope
from sharing.selectors import elements_with_data

from .models import FeaturedMap, MapLayer

# Map zoom → grid scale when the scale follows the zoom: one scale per zoom step from a world
# view (80 km cells are ~1 px at zoom 2) to a town (0.5 km cells are ~20 px at zoom 12).
ZOOM_SCALES_KM = ((3, 80), (4, 40), (5, 20), (6, 10), (7, 4), (8, 2), (9, 1), (99, 0.5))


@dataclass(frozen=True)
class FeaturedView:
    element: str
    medium: str
    style: str
    lat: float
    lng: float
    z: int

    def as_json(self) -> dict:
        return self.__dict__.copy()


DEFAULT = FeaturedView("Cu", "topsoil", "cells", 39.0, -97.0, 4)


def featured_view() -> FeaturedView:
    row = FeaturedMap.objects.select_related("element", "medium").first()
    if row is None:
        return DEFAULT
    return FeaturedView(
        row.element.symbol, row.medium.code, row.style, row.latitude, row.longitude, row.zoom
    )


def scale_for_zoom(z: int, finest_km: float | None = None) -> float:
    km = next(scale for up_to, scale in ZOOM_SCALES_KM if z <= up_to)
    return max(km, finest_km) if finest_km else km


def featured_scale_km(view: FeaturedView, scope: Scope) -> float | None:
    """The cell size the viewer opens the featured view at, for ``scope``; None when it sees no
    data of the element in the medium."""
    info = next(
        (e for e in elements_with_data(scope, view.medium) if e["symbol"] == view.element), None
    )
    return None if info is None else scale_for_zoom(view.z, info["finest_scale_km"])


def featured_spec(scope: Scope):
    """The layer spec the featured view opens on for ``scope`` (None: it sees no such data)."""
    from .layers import LayerSpec

    view = featured_view()
    km = featured_scale_km(view, scope)
    if km is None:
        return None
    return LayerSpec(
        Element.objects.get(symbol=view.element),
        Medium.objects.get(code=view.medium),
        int(km * 1000),
        view.style,
    )


def seed_featured() -> MapLayer | None:
    """Find (creating and queueing when new) the public layer the featured view opens on; None
    when the public sees no data of its element in its medium."""
    from .layers import find_layer

    scope = viewer_scope(None)
    spec = featured_spec(scope)
    return None if spec is None else find_layer(spec, scope)
