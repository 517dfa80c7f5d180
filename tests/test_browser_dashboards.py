"""The policymakers' dashboards (``/dashboards/…``) in a real browser: every page, in English and
in Chinese, draws its charts and maps with no console error and no request to another host, fits a
390 px phone without sideways scrolling and passes axe-core with no serious or critical violation;
the charts' PNG, SVG and CSV downloads and the baselines' CSV link give the files they promise.

Debian's Chromium driven by Playwright against the live server, as in ``test_browser_viewer.py``
(``Watch`` and the Chromium flags are shared). No Celery worker: the dashboards compute in SQL.
One browser serves the module; the small world (two USA monitoring rounds paired by site, one of
them synthetic, and a Norwegian survey, with soil pH and Cd and Pb above GB 15618's screening
values) is built for each test, because the live server's transactional tests flush the tables.

axe-core (``tests/assets/axe-core/``, see its README) is injected by the tests only.
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from PIL import Image

from baselines.ingest import IngestOptions, survey_ingest
from baselines.models import Country
from sharing.models import ReleasePolicy

from .test_browser_charts import PNG_MAGIC, csv_rows, download
from .test_browser_steward import CHROMIUM, CHROMIUM_ARGS, PHONE_WIDTH, Watch
from .test_browser_viewer import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parent / "assets" / "axe-core" / "axe.min.js"
AXE_VERSION = "4.14.1"  # tests/assets/axe-core/README.md
TIMEOUT_MS = 60_000  # two shared cores, and another job may be running
PAGES = {
    "index": "/dashboards/",
    "coverage": "/dashboards/coverage/",
    "exceedance": "/dashboards/exceedance/",
    "change": "/dashboards/change/?region=country:USA&element=Cd",
    "volume": "/dashboards/volume/",
    "baselines": "/dashboards/baselines/",
    "compare": "/dashboards/compare/?a=country:USA&b=world",
}
# What each page must at least draw: its charts (figure.chem-chart) and Leaflet maps
# (.dashboard-map); any further chart or map a page has must draw too.
CHARTS = {"coverage": 2, "exceedance": 2, "change": 1, "volume": 1, "compare": 1}
MAPS = {"coverage": 1, "change": 1}
LANGUAGES = ("en", "zh-hans")
# For a failure's message: the elements that stick out past the viewport's right edge (those in
# a box that scrolls or clips by itself do not widen the page).
SCROLLERS = ".table-wrap, .chart-table-scroll, .chart-canvas, .leaflet-container, .site-nav"
WIDEST = """(scrollers) => [...document.querySelectorAll("body *")]
    .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 0.5
        && !el.closest(scrollers))
    .slice(0, 8).map((el) => el.tagName.toLowerCase() + "." + [...el.classList].join(".")
        + " " + Math.round(el.getBoundingClientRect().right))"""
OUTLINE = "[fill='#f3f1ea']"  # the country outlines under a dashboard map (dashboards.js)
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the module (each test opens its own context)."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    # Playwright's sync API runs an event loop in this thread; the fixtures read the ORM.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield chromium
            finally:
                chromium.close()


@pytest.fixture
def world(browser, write_csv):
    """Two USA rounds of 15 sites paired by site id (the second synthetic, Cd higher), a public
    Norwegian survey with Cd and Pb well above the screening values, soil pH 6 everywhere. After
    the browser, whose event loop makes the ORM ask for DJANGO_ALLOW_ASYNC_UNSAFE."""
    header = ["sample_id", "site_id", "longitude", "latitude", "ph", "Cd_ppm", "Pb_ppm"]
    for name, country, round_, year, synthetic, lon, lat, cd, pb in (
        ("usa round 1", "USA", 1, 2010, False, -100, 40, (0.2, 0.05), (30, 5)),
        ("usa round 2", "USA", 2, 2020, True, -100, 40, (0.2, 0.1), (30, 10)),
        ("nor", "NOR", 1, 2001, False, 10, 60, (0.1, 0.25), (40, 12)),
    ):
        rows = [
            [f"{name}-{i}", f"{country[0]}{i}", lon + i * 0.3, lat + (i % 3) * 0.4, "6.0",
             round(cd[0] + cd[1] * i, 3), pb[0] + pb[1] * i]
            for i in range(15)
        ]  # fmt: skip
        survey_ingest(
            path=write_csv([header, *rows], f"{name}.csv"),
            options=IngestOptions(
                survey=name, medium="topsoil", scale_km=20, country=country, year=year,
                monitoring_round=round_, synthetic=synthetic,
            ),
        )  # fmt: skip
    for code in ("USA", "NOR"):
        ReleasePolicy.objects.create(country=Country.objects.by_code(code), in_force=True)


def open_page(browser, live_server, path: str, *, language: str = "en", width: int = 1280):
    """A new context in the language (Django's language cookie, as /i18n/setlang/ sets it) with
    the page loaded; returns (page, watch, response)."""
    context = browser.new_context(viewport={"width": width, "height": 860}, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    if language != "en":
        context.add_cookies(
            [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}]
        )
    page = context.new_page()
    watch = Watch(page, urlsplit(live_server.url).netloc)
    response = page.goto(live_server.url + path)
    page.wait_for_load_state("load")
    return page, watch, response


def wait_until_drawn(page, name: str) -> None:
    """Every chart has marks in its SVG; every map is a Leaflet map with its shapes drawn."""
    from playwright.sync_api import expect

    charts = page.locator("figure.chem-chart")
    assert charts.count() >= CHARTS.get(name, 0), f"{name}: {charts.count()} charts"
    page.wait_for_function(
        """() => [...document.querySelectorAll("figure.chem-chart")].every((figure) => {
            const svg = figure.querySelector(".chart-canvas svg");
            return svg && svg.querySelectorAll("path, rect").length > 5;
        })"""
    )
    maps = page.locator(".dashboard-map")
    assert maps.count() >= MAPS.get(name, 0), f"{name}: {maps.count()} maps"
    for i in range(maps.count()):
        one = maps.nth(i)
        expect(one).to_have_class(re.compile(r"\bleaflet-container\b"))
        expect(one).not_to_have_attribute("aria-busy", "true")
        # The cells or the sites: vector shapes besides the country outlines (filled #f3f1ea).
        shapes = one.locator(f".leaflet-overlay-pane path.leaflet-interactive:not({OUTLINE})")
        expect(shapes.first).to_be_attached()
    if maps.count():
        # The country outlines have arrived and are drawn (a failed request would be in Watch).
        page.wait_for_function(
            """() => performance.getEntriesByType("resource")
                .some((e) => e.name.includes("/api/v1/boundaries"))"""
        )
        expect(page.locator(f".dashboard-map path{OUTLINE}").first).to_be_attached()


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each."""
    # Evaluated through the DevTools protocol: a script tag would be inline, which the page's
    # Content-Security-Policy refuses (as it should).
    page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    result = page.evaluate("""() => axe.run(document, {resultTypes: ["violations"]})""")
    assert result["testEngine"]["version"] == AXE_VERSION and result["passes"]
    return [
        f"{v['impact']} {v['id']}: {v['help']} at "
        + "; ".join(" ".join(node["target"]) for node in v["nodes"][:5])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def check_page(browser, live_server, name: str, language: str, width: int) -> None:
    """Load one dashboard in one language at one width and check everything the issue asks."""
    from playwright.sync_api import expect

    page, watch, response = open_page(
        browser, live_server, PAGES[name], language=language, width=width
    )
    where = (name, language, width)
    assert response.status == 200, where
    expect(page.locator("html")).to_have_attribute("lang", language)
    wait_until_drawn(page, name)
    headings = page.locator("h1, h2").all_inner_texts()
    if language == "zh-hans":
        assert headings and all(CJK.search(h) for h in headings), (where, headings)
        captions = page.locator("figure.chem-chart figcaption").all_inner_texts()
        assert all(CJK.search(c) for c in captions), (where, captions)
    else:
        assert not any(CJK.search(h) for h in headings), (where, headings)
    phone = "-phone" if width == PHONE_WIDTH else ""
    page.screenshot(
        path=str(ARTIFACTS / f"dashboards-{name}-{language}{phone}.png"), full_page=True
    )
    if width == PHONE_WIDTH:
        # Nothing wider than the screen: wide tables scroll inside their own .table-wrap.
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= PHONE_WIDTH, (where, scroll_width, page.evaluate(WIDEST, SCROLLERS))
        rights = page.evaluate(
            """[...document.querySelectorAll(".chem-chart .chart-canvas svg, .dashboard-map")]
                .map((el) => el.getBoundingClientRect().right)"""
        )
        assert all(right <= PHONE_WIDTH for right in rights), (where, rights)
    assert serious_violations(page) == [], where
    assert watch.problems == [], where
    page.context.close()


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_dashboard_on_a_desktop_and_a_phone(browser, live_server, world, subtests, language):
    """Each page at 1280 and 390 px, one subtest each (one test per language, so the world is
    built, and the tables flushed, twice rather than for every page)."""
    from playwright.sync_api import expect

    if language == "zh-hans":
        with subtests.test("the language menu"):
            # The header's menu posts to /i18n/setlang/ and comes back to the same cut.
            page, watch, _ = open_page(browser, live_server, PAGES["change"])
            with page.expect_navigation():
                page.locator("#language").select_option(language)
            expect(page.locator("html")).to_have_attribute("lang", language)
            expect(page).to_have_url(re.compile(r"region=country(%3A|:)USA"))
            expect(page.locator("h1")).to_have_text(CJK)
            assert watch.problems == []
            page.context.close()
    for name in PAGES:
        for width in (1280, PHONE_WIDTH):
            with subtests.test(page=name, width=width):
                check_page(browser, live_server, name, language, width)


def test_chart_and_table_downloads(browser, live_server, world):
    """A chart's PNG, SVG and CSV (the exceedance page) and the baselines' CSV link."""
    page, watch, _ = open_page(browser, live_server, PAGES["exceedance"])
    wait_until_drawn(page, "exceedance")
    box = "figure[data-chart='exceedance-elements']"

    name, png = download(page, box, "png")
    assert name.startswith("exceedance-") and name.endswith(".png")
    assert png.startswith(PNG_MAGIC)
    assert Image.open(io.BytesIO(png)).width >= 1280  # 640 px at least, at pixel ratio 2

    name, svg = download(page, box, "svg")
    assert name.endswith(".svg")
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "Share of samples above the limits" in "".join(root.itertext())

    name, data = download(page, box, "csv")
    assert name.endswith(".csv")
    rows = csv_rows(data)
    assert rows[0] == [
        "element", "n", "above_screening", "above_intervention",
        "percent_above_screening", "percent_above_intervention",
    ]  # fmt: skip
    assert [row[0] for row in rows[1:]] == ["Cd", "Pb"]
    assert all(float(row[4]) > 0 for row in rows[1:])  # both above screening somewhere
    assert watch.problems == []
    page.context.close()

    page, watch, _ = open_page(browser, live_server, PAGES["baselines"])
    with page.expect_download() as info:
        page.get_by_role("link", name="Download this table as CSV").click()
    d = info.value
    assert d.suggested_filename.endswith(".csv")
    text = Path(d.path()).read_bytes().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and "element" in rows[0]
    assert {row["element"] for row in rows} == {"Cd", "Pb"}
    assert watch.problems == []
    page.context.close()
