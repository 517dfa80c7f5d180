"""The map viewer in a real browser: Debian's Chromium driven by Playwright against pytest-django's
live server, with the demo data (USGS DS 801 and Kola, the demo policies) and a real Celery worker
rendering the layers.

Every test saves screenshots to ``test-artifacts/``; console errors, failed or 4xx/5xx requests
and requests to any host other than the portal fail it (``Watch``).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from baselines import grid
from baselines.demo import DEMO_DATASETS, demo_dataset_load
from sharing.demo import demo_policies_load

from .conftest import USGS_CSV
from .test_browser_steward import CHROMIUM, CHROMIUM_ARGS, PHONE_WIDTH, Watch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
# Rendering a demo layer takes a few seconds on two shared cores; waits allow for a busy machine.
RENDER_TIMEOUT_MS = 90_000


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"viewer-{name}.png"))


@pytest.fixture
def demo(celery_worker_process):
    """The demo surveys (with their methods, laboratories and limits) and policies, committed
    (the live server and the worker read them)."""
    for dataset in DEMO_DATASETS:
        demo_dataset_load(dataset)
    demo_policies_load()


@pytest.fixture
def browser(live_server, demo, monkeypatch):
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def open_page(browser, live_server, path: str, *, width: int = 1280, height: int = 860):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    watch = Watch(page, urlsplit(live_server.url).netloc)
    page.goto(live_server.url + path)
    page.wait_for_selector("body[data-viewer-ready='1']")
    return page, watch


def container_point(page, lon: float, lat: float) -> tuple[float, float]:
    """Page coordinates of a place on the main map."""
    return page.evaluate(
        """([lon, lat]) => {
            const map = window.chemearthViewer.map;
            const p = map.latLngToContainerPoint([lat, lon]);
            const r = map.getContainer().getBoundingClientRect();
            return [r.left + p.x, r.top + p.y];
        }""",
        [lon, lat],
    )


def wait_for_tiles(page, selector: str = "#map") -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_selector(
            f"{selector} .element-tiles img.leaflet-tile-loaded", timeout=RENDER_TIMEOUT_MS
        )
    except PlaywrightTimeout:
        slot = "2" if selector == "#map2" else "1"
        layer = page.evaluate(f"window.chemearthViewer.layer{slot}")
        raise AssertionError(f"no tile of {selector} within the timeout; layer: {layer}") from None


def test_the_home_page_leads_to_a_painted_map_without_a_click(browser, live_server):
    """A newcomer with an empty cache: the home page previews the featured map, its map link opens
    the viewer on it — tiles painted, legend drawn — and its address names it (a permalink);
    axe-core finds no serious or critical violation on either page; at 390 px the map and
    legend show without sideways scrolling."""
    from playwright.sync_api import expect

    from .test_browser_dashboards import serious_violations  # it imports this module

    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    watch = Watch(page, urlsplit(live_server.url).netloc)
    page.goto(live_server.url + "/")
    preview_tile = page.locator("#featured-map .element-tiles img.leaflet-tile-loaded").first
    expect(preview_tile).to_be_attached(timeout=RENDER_TIMEOUT_MS)
    expect(page.locator(".featured-map figcaption")).to_contain_text("Copper")
    assert serious_violations(page) == []
    shot(page, "0-home-preview")
    page.locator(".hero a.button").click()
    page.wait_for_selector("body[data-viewer-ready='1']")
    expect(page.locator("#element-symbol")).to_have_text("Cu")
    wait_for_tiles(page)
    expect(page.locator("#legend-body .swatch").first).to_be_visible()
    query = parse_qs(urlsplit(page.url).query)
    assert query["element"] == ["Cu"] and query["medium"] == ["topsoil"]
    assert serious_violations(page) == []
    shot(page, "0-featured")
    assert watch.problems == []

    phone = browser.new_context(viewport={"width": PHONE_WIDTH, "height": 800}).new_page()
    phone.goto(live_server.url + "/map/")
    phone.wait_for_selector("body[data-viewer-ready='1']")
    wait_for_tiles(phone)
    expect(phone.locator("#map")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH


def test_map_page_loads_clean_offline(browser, live_server):
    page, watch = open_page(browser, live_server, "/map/?lat=40&lng=-30&z=2")
    from playwright.sync_api import expect

    # The country boundaries (offline base layer) are drawn on a canvas of the map's own pane.
    expect(page.locator("#map .leaflet-base-pane canvas")).to_have_count(1)
    # An address naming a view without an element opens exactly that: no element chosen.
    expect(page.locator("#element-name")).to_have_text("Choose an element")
    # No base layer from a tile server: the boundaries are the only one, so no layer switcher.
    expect(page.locator(".leaflet-control-layers")).to_have_count(0)
    expect(page.locator(".leaflet-control-scale-line")).to_have_count(1)
    page.wait_for_load_state("networkidle")
    shot(page, "1-empty")
    assert watch.problems == []


def test_choosing_an_element_shows_tiles_legend_charts_and_cell_statistics(browser, live_server):
    from playwright.sync_api import expect

    page, watch = open_page(browser, live_server, "/map/?lat=39&lng=-97&z=4")
    page.locator("#element-button").click()
    expect(page.locator("#ptable")).to_be_visible()
    # Active elements have data in topsoil (USGS); Os has none anywhere.
    expect(page.locator(".pt-el[data-symbol='Cu']")).to_have_class(re.compile(r"\bactive\b"))
    expect(page.locator(".pt-el[data-symbol='Os']")).to_have_class(re.compile(r"\binactive\b"))
    expect(page.locator(".pt-el[data-symbol='Cu'] .unit")).to_have_text("mg/kg")
    page.locator("#element-search").fill("copper")
    expect(page.locator(".pt-el.match")).to_have_count(1)
    shot(page, "2-periodic-table")
    page.locator("#element-search").press("Enter")
    expect(page.locator("#element-symbol")).to_have_text("Cu")
    wait_for_tiles(page)
    expect(page.locator("#legend")).to_be_visible()
    expect(page.locator("#legend-body .swatch").first).to_be_visible()
    expect(page.locator("#legend-body")).to_contain_text("mg/kg")
    expect(page.locator("#render-status")).to_be_hidden()
    # The charts of the view (ChemCharts over ECharts' SVG renderer; their downloads are checked
    # in test_browser_charts.py): the histogram's bars and the probability curve are drawn.
    expect(page.locator("#histogram .chart-canvas svg path[fill='#0b6e99']").first).to_be_attached()
    expect(page.locator("#probability .chart-canvas svg path[stroke='#0b6e99']")).to_have_count(1)
    expect(page.locator("#histogram .chart-export")).to_have_count(3)
    metrics = page.evaluate("window.chemearthViewer.metrics")
    assert metrics["firstTileAt"] >= metrics["chosenAt"]
    query = parse_qs(urlsplit(page.url).query)
    assert query["element"] == ["Cu"] and query["scale"] == ["40"]
    shot(page, "3-copper")

    # A click on Kansas: the popup names the cell and shows its statistics.
    x, y = container_point(page, -98.5, 38.5)
    page.mouse.click(x, y)
    popup = page.locator(".cell-popup[data-cell]")
    expect(popup).to_be_visible()
    expect(popup.locator("h3")).to_contain_text(re.compile(r"40K-\d{5}-\d{5}"))
    expect(popup.locator("td.median")).to_have_text(re.compile(r"\d"))
    assert int(popup.locator("td.n").inner_text()) >= 1
    expect(popup.locator(".samples tr")).not_to_have_count(0)
    # Each sample names its method (USGS DS 801: Cu by 4-acid digestion, ICP-AES/ICP-MS).
    expect(popup.locator(".samples td.method").first).to_have_text(
        "4-acid digestion, ICP-AES/ICP-MS"
    )
    # The USA publishes exact locations: the samples are drawn as points.
    expect(page.locator("#map path.leaflet-interactive").first).to_be_attached()
    shot(page, "4-cell-popup")
    assert watch.problems == []


def test_an_element_held_in_another_medium_switches_to_it(browser, live_server):
    """The picker tells this medium's elements from those held in another; choosing one of those
    (samarium: only the Kola C-horizon, subsoil) switches the medium and paints it."""
    from playwright.sync_api import expect

    page, watch = open_page(browser, live_server, "/map/?medium=topsoil&lat=69&lng=28&z=5")
    page.locator("#element-button").click()
    samarium = page.locator(".pt-el[data-symbol='Sm']")
    expect(samarium).to_have_class(re.compile(r"\belsewhere\b"))
    expect(samarium).to_have_attribute("title", re.compile(r"Subsoil / deep soil \d"))
    expect(page.locator(".pt-el[data-symbol='Cu']")).to_have_class(re.compile(r"\bactive\b"))
    expect(page.locator(".pt-el[data-symbol='Os']")).to_have_class(re.compile(r"\binactive\b"))
    samarium.click()
    expect(page.locator("#element-symbol")).to_have_text("Sm")
    expect(page.locator("#medium")).to_have_value("subsoil")
    wait_for_tiles(page)
    assert parse_qs(urlsplit(page.url).query)["medium"] == ["subsoil"]
    assert watch.problems == []


def test_permalink_restores_the_view_and_history_works(browser, live_server):
    from playwright.sync_api import expect

    path = "/map/?element=Zn&medium=topsoil&scale=80&pin=1&style=cells&lat=38.5&lng=-100&z=5"
    page, watch = open_page(browser, live_server, path)
    expect(page.locator("#element-symbol")).to_have_text("Zn")
    expect(page.locator("#scale")).to_have_value("80")
    expect(page.locator("#pin-scale")).to_be_checked()
    view = page.evaluate(
        "(() => { const m = window.chemearthViewer.map; const c = m.getCenter();"
        " return [c.lat, c.lng, m.getZoom()]; })()"
    )
    # Leaflet centres on whole pixels: at zoom 5 a pixel is 0.044° of longitude.
    assert view == [pytest.approx(38.5, abs=0.05), pytest.approx(-100, abs=0.05), 5]
    wait_for_tiles(page)
    shot(page, "5-permalink")
    # "Download the data of this view" names the element, medium, box and the layer on screen.
    href = page.locator("#download-view").get_attribute("href")
    assert re.search(r"element=Zn.*medium=topsoil.*bbox=-?\d", href), href
    assert "layer_scale=80" in href and "style=cells" in href, href

    page.evaluate("window.chemearthViewer.chooseElement('Pb')")
    expect(page).to_have_url(re.compile(r"element=Pb"))
    page.go_back()
    expect(page.locator("#element-symbol")).to_have_text("Zn")
    expect(page).to_have_url(re.compile(r"element=Zn"))
    page.go_forward()
    expect(page.locator("#element-symbol")).to_have_text("Pb")

    # Compare: two synchronised maps side by side.
    page.locator("#compare").select_option("Zn")
    expect(page.locator("#map2")).to_be_visible()
    wait_for_tiles(page, "#map2")
    page.evaluate("() => { window.chemearthViewer.map.setView([45, -110], 6, {animate: false}); }")
    centre2 = page.evaluate(
        "(() => { const m = window.chemearthViewer.map2; const c = m.getCenter();"
        " return [c.lat, c.lng, m.getZoom()]; })()"
    )
    assert centre2 == [pytest.approx(45, abs=0.01), pytest.approx(-110, abs=0.01), 6]
    expect(page).to_have_url(re.compile(r"compare=Zn"))
    shot(page, "6-compare")
    assert watch.problems == []


def test_the_cell_popup_opens_from_the_keyboard(browser, live_server):
    """Tab to the map, Enter: the statistics of the cell at its centre, as a click gives them."""
    from playwright.sync_api import expect

    page, watch = open_page(
        browser, live_server, "/map/?element=Cu&medium=topsoil&lat=38.5&lng=-98.5&z=5"
    )
    wait_for_tiles(page)
    page.locator("#map").focus()
    page.keyboard.press("Enter")
    popup = page.locator(".cell-popup[data-cell]")
    expect(popup).to_be_visible()
    expect(popup.locator("td.median")).to_have_text(re.compile(r"\d"))
    assert watch.problems == []


def test_chinese_version_shows_chinese_text(browser, live_server):
    from playwright.sync_api import expect

    page, watch = open_page(browser, live_server, "/map/?element=Cu&lat=39&lng=-97&z=4")
    page.locator("#language").select_option("zh-hans")
    page.wait_for_selector("body[data-viewer-ready='1']")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page).to_have_url(re.compile(r"element=Cu"))  # the switch keeps the view
    expect(page.locator("#element-name")).to_contain_text("铜")
    wait_for_tiles(page)
    expect(page.locator("#legend-body")).to_contain_text("铜")
    text = page.locator("body").inner_text()
    for english in ("Element", "Medium", "Cell size", "Opacity", "Legend", "Map viewer", "Sign in"):
        assert english not in text, english
    # Leaflet's own controls speak Chinese too.
    expect(page.locator("#map .leaflet-control-zoom-in")).to_have_attribute("title", "放大")
    expect(page.locator("#map .leaflet-control-zoom-out")).to_have_attribute("title", "缩小")
    page.locator("#element-button").click()
    page.locator("#element-search").fill("锌")
    expect(page.locator(".pt-el.match")).to_have_count(1)
    expect(page.locator(".pt-el.match")).to_have_attribute("data-symbol", "Zn")
    shot(page, "7-chinese")
    page.keyboard.press("Escape")
    page.goto(live_server.url + "/")  # the choice is remembered on the next page
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    shot(page, "8-chinese-home")
    assert watch.problems == []


def test_phone_width_has_no_horizontal_scrolling(browser, live_server):
    from playwright.sync_api import expect

    page, watch = open_page(
        browser, live_server, "/map/?element=Cu&lat=39&lng=-97&z=3", width=PHONE_WIDTH, height=844
    )
    wait_for_tiles(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH
    shot(page, "9-phone-map")
    page.locator("#panel-toggle").click()
    expect(page.locator("#medium")).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH
    shot(page, "10-phone-drawer")
    page.locator("#element-button").click()
    expect(page.locator("#ptable")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH
    shot(page, "11-phone-table")
    page.keyboard.press("Escape")
    page.locator("#panel-close").click()
    expect(page.locator("#panel-toggle")).to_be_in_viewport()
    page.goto(live_server.url + "/")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH
    page.screenshot(path=str(ARTIFACTS / "viewer-12-phone-home.png"), full_page=True)
    assert watch.problems == []


def test_classes_and_colours_are_keyboard_pickers_carried_by_the_permalink(browser, live_server):
    """The legend labels the atlas classes with their percentile bands and the share below the
    detection limit; the Classes and Colours pickers work from the keyboard, repaint the map and
    its legend, and the address carries them; a censored value in a cell popup reads "< DL"."""
    from playwright.sync_api import expect

    page, watch = open_page(
        browser, live_server, "/map/?element=Cd&medium=topsoil&lat=38.5&lng=-98.5&z=5"
    )
    wait_for_tiles(page)
    legend = page.locator("#legend-body")
    expect(legend.locator("td.band").first).to_have_text(re.compile(r"^P\d+–P100$"))
    expect(legend.locator("td.band").last).to_have_text(re.compile(r"^P0–P\d+$"))
    # USGS Cd: 1,054 of 4,841 below the detection limit, about a fifth.
    expect(legend.locator(".legend-n")).to_contain_text(re.compile(r"\(\d+(\.\d)? %\) below"))
    expect(page.locator("#scheme")).to_have_value("percentiles")
    page.locator("#scheme").focus()
    page.keyboard.press("ArrowDown")
    expect(page.locator("#scheme")).to_have_value("quantiles")
    expect(page).to_have_url(re.compile(r"scheme=quantiles"))
    expect(legend.locator("td.band").first).to_have_text("P80–P100", timeout=RENDER_TIMEOUT_MS)
    page.locator("#ramp").focus()
    page.keyboard.press("End")
    expect(page.locator("#ramp")).to_have_value("viridis")
    expect(page).to_have_url(re.compile(r"ramp=viridis"))
    wait_for_tiles(page)
    shot(page, "13-quantiles-viridis")

    # The permalink restores both.
    again, watch2 = open_page(
        browser, live_server, urlsplit(page.url).path + "?" + urlsplit(page.url).query
    )
    expect(again.locator("#scheme")).to_have_value("quantiles")
    expect(again.locator("#ramp")).to_have_value("viridis")
    layer = again.evaluate("window.chemearthViewer.layer1")
    assert layer is None or (layer["scheme"], layer["ramp"]) == ("quantiles", "viridis")
    wait_for_tiles(again)
    layer = again.evaluate("window.chemearthViewer.layer1")
    assert (layer["scheme"], layer["ramp"]) == ("quantiles", "viridis")

    # A USGS sample whose Cd is below the detection limit: its cell's popup reads "< DL 0.1".
    with USGS_CSV.open(encoding="utf-8", newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["Cd_mg_kg"].startswith("<"))
    lon, lat = float(row["longitude"]), float(row["latitude"])
    again.evaluate(
        "([lat, lon]) => { window.chemearthViewer.map.setView([lat, lon], 5, {animate: false}); }",
        [lat, lon],
    )
    # Click the centre of the sample's cell, not the sample: a pixel at zoom 5 is ~4 km, and a
    # sample near its cell's edge would open the neighbour's popup.
    scale_m = round(again.evaluate("window.chemearthViewer.layer1.scale_km") * 1000)
    x, y = container_point(again, *grid.cell_at(lon, lat, scale_m).centroid_lonlat)
    again.mouse.click(x, y)
    popup = again.locator(".cell-popup[data-cell]")
    expect(popup).to_be_visible()
    values = popup.locator(".samples td.value")
    expect(values.first).to_be_visible()
    texts = values.all_inner_texts()
    censored = [t for t in texts if t.startswith("<")]
    assert censored and all(re.fullmatch(r"< DL \d+(\.\d+)?", t) for t in censored), texts
    assert watch.problems == [] and watch2.problems == []
