"""The Kola nickel map at 20 km in a real browser: its cells look square (issue #17).

Debian's Chromium (Playwright) opens the viewer on the demo data with the 20 km cells pinned,
everything but the element's tiles is hidden, and the screenshot's cells are measured: along
pixel rows and columns, the colour edges either side of the view's centre bound the cell there
(edges of touching cells of one class show on other lines). Its width and height in pixels are
compared with what the grid says for the cell at the centre in Web Mercator, and the aspect
with 1 (Web Mercator is conformal, so a cell square on the ground looks square). On the previous
grid (EPSG:6933 squares) a 20 km cell here was 5.7 times as tall as wide on the ground, and so
on the map.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from baselines import grid

from .test_browser_viewer import ARTIFACTS, browser, demo, open_page, wait_for_tiles  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAT, LON, ZOOM = 68.6, 26.5, 7  # Finnish Lapland in the Kola survey: samples about every 18 km


def mercator_y(lat: float, zoom: int) -> float:
    world = 256 * 2**zoom
    return (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * world


def edges(lines: np.ndarray) -> np.ndarray:
    """Sorted positions along lines (pixels × RGB) where the colour changes on any of them."""
    found: set[int] = set()
    for line in lines:
        found.update((np.flatnonzero(np.any(line[1:] != line[:-1], axis=1)) + 1).tolist())
    return np.array(sorted(found))


def span_around(positions: np.ndarray, at: float) -> int:
    """The distance between the edges on either side of ``at``."""
    i = int(np.searchsorted(positions, at))
    assert 0 < i < positions.size, "edges on both sides of the centre"
    return int(positions[i] - positions[i - 1])


def test_kola_nickel_cells_at_20_km_look_square(browser, live_server):  # noqa: F811
    path = (
        f"/map/?element=Ni&medium=subsoil&scale=20&pin=1&style=cells&opacity=100"
        f"&lat={LAT}&lng={LON}&z={ZOOM}"
    )
    page, watch = open_page(browser, live_server, path)
    wait_for_tiles(page)
    page.wait_for_load_state("networkidle")
    # Only the element's tiles: no boundaries, markers, popups or controls over them.
    page.evaluate(
        """() => {
            const map = document.getElementById("map");
            map.querySelectorAll(".leaflet-pane").forEach((pane) => {
                if (!pane.matches(".leaflet-map-pane, .leaflet-tile-pane")) {
                    pane.style.visibility = "hidden";
                }
            });
            map.querySelectorAll(".leaflet-layer").forEach((layer) => {
                if (!layer.classList.contains("element-tiles")) layer.style.visibility = "hidden";
            });
            map.querySelector(".leaflet-control-container").style.visibility = "hidden";
        }"""
    )
    centre = page.evaluate(
        "(() => { const m = window.chemearthViewer.map; const c = m.getCenter();"
        " const p = m.latLngToContainerPoint(c); return [c.lat, c.lng, m.getZoom(), p.x, p.y]; })()"
    )
    lat, lon, zoom, cx, cy = centre
    assert zoom == ZOOM
    png = page.locator("#map").screenshot(path=str(ARTIFACTS / "grid-kola-ni-20km.png"))
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)
    colours = {tuple(c) for c in image.reshape(-1, 3)[::97].tolist()}
    assert len(colours) >= 3, "the cells are drawn"

    # What the grid says: the 20 km cell under the centre, in Web Mercator pixels at this zoom.
    cell = grid.cell_at(lon, lat, 20_000)
    west, south, east, north = cell.bounds
    width = (east - west) / 360 * 256 * 2**zoom
    height = mercator_y(south, zoom) - mercator_y(north, zoom)
    # Pixel rows of the centre cell's 80 km band: every 20 km cell there has the same columns.
    band = cell.parent(80_000).bounds
    band_top = cy - (mercator_y(lat, zoom) - mercator_y(band[3], zoom))
    band_bottom = cy + (mercator_y(band[1], zoom) - mercator_y(lat, zoom))
    rows = [
        y
        for y in range(math.ceil(band_top) + 1, int(band_bottom) - 1, 3)
        if 0 <= y < image.shape[0]
    ]

    # Measured: the colour edges crossing those pixel rows, and crossing pixel columns all over
    # the view (cells of one class touch, so one line shows only some edges; many lines together
    # show all of them). The cell at the centre spans from the edge before it to the one after.
    measured_w = span_around(edges(image[rows]), cx)
    measured_h = span_around(edges(image[:, ::5].transpose(1, 0, 2)), cy)

    assert measured_w == pytest.approx(width, abs=1.5), (measured_w, width)
    assert measured_h == pytest.approx(height, abs=1.5), (measured_h, height)
    aspect = measured_w / measured_h
    assert aspect == pytest.approx(width / height, rel=0.05)
    assert 1 / 1.1 <= aspect <= 1.1, f"a 20 km cell drawn {measured_w} × {measured_h} px"
    assert watch.problems == []
