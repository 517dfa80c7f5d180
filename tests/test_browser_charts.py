"""Charts drawn by ChemCharts (static/charts/charts.js over the vendored ECharts) in a real
browser: the map viewer's histogram and cumulative-probability plot, their PNG, SVG and CSV
downloads, Chinese labels and a phone's width.

Debian's Chromium driven by Playwright against the live server, with the demo data and a Celery
worker, as in ``test_browser_viewer.py`` (whose fixtures these tests share). Console errors,
failed requests and requests to other hosts fail a test (``Watch``).
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from . import test_browser_viewer as viewer
from .test_browser_steward import PHONE_WIDTH
from .test_browser_viewer import ARTIFACTS, RENDER_TIMEOUT_MS, open_page

# The viewer tests' fixtures, shared rather than copied: the demo world with a Celery worker
# rendering layers, and Debian's Chromium.
demo = viewer.demo
browser = viewer.browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEW = "/map/?element=Cu&medium=topsoil&lat=39&lng=-97&z=4"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BOM = "\ufeff"


def wait_for_chart(page, box: str) -> None:
    """The chart's SVG is drawn with marks in it (axes alone are a few paths)."""
    page.wait_for_function(
        """(box) => {
            const svg = document.querySelector(box + " .chart-canvas svg");
            return svg && svg.querySelectorAll("path").length > 5;
        }""",
        arg=box,
        timeout=RENDER_TIMEOUT_MS,
    )


def download(page, box: str, kind: str) -> tuple[str, bytes]:
    with page.expect_download() as info:
        page.locator(f"{box} .chart-export[data-export='{kind}']").click()
    d = info.value
    return d.suggested_filename, Path(d.path()).read_bytes()


def csv_rows(data: bytes) -> list[list[str]]:
    text = data.decode("utf-8")
    assert text.startswith(BOM), "CSV without a UTF-8 byte-order mark (Excel would misread Chinese)"
    assert "\r\n" in text and "\n" not in text.replace("\r\n", ""), "RFC 4180 lines end in CRLF"
    return list(csv.reader(io.StringIO(text[1:], newline="")))


def test_viewer_charts_download_png_svg_and_csv(browser, live_server):
    from playwright.sync_api import expect

    page, watch = open_page(browser, live_server, VIEW)
    wait_for_chart(page, "#histogram")
    wait_for_chart(page, "#probability")
    canvas = page.locator("#histogram .chart-canvas")
    expect(canvas).to_have_attribute("role", "img")
    title = re.compile(r"^Histogram \(log scale\) · Cu Copper · ")
    expect(canvas).to_have_attribute("aria-label", title)
    expect(page.locator("#histogram .chart-export")).to_have_text(["PNG", "SVG", "CSV"])
    # The bars are drawn from the API's bins: one filled rectangle per non-empty bin.
    bins = page.evaluate(
        "ChemCharts.chartOf(document.getElementById('histogram')).getOption().series[0].data"
    )
    assert len(bins) == 24
    filled = page.locator("#histogram svg path[fill='#0b6e99']")
    assert filled.count() == sum(1 for b in bins if b[2] > 0)
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#charts").screenshot(path=str(ARTIFACTS / "charts-1-viewer.png"))

    name, png = download(page, "#histogram", "png")
    assert name == "chemearth-histogram-Cu-topsoil-40km.png"
    assert png.startswith(PNG_MAGIC)
    image = Image.open(io.BytesIO(png))
    assert image.width >= 1280 and image.height >= 720  # 640 × 360 at least, at pixel ratio 2
    # Not a blank image: the white background plus the bars' blue and the axes' grey.
    assert len(image.convert("RGB").getcolors(1 << 20) or []) > 10
    (ARTIFACTS / "charts-2-histogram.png").write_bytes(png)

    name, svg = download(page, "#histogram", "svg")
    assert name.endswith(".svg")
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    text = "".join(root.itertext())
    assert "Histogram (log scale)" in text and "Copper" in text  # the download carries its title
    assert svg.count(b"<path") > len(bins)

    name, data = download(page, "#histogram", "csv")
    assert name == "chemearth-histogram-Cu-topsoil-40km.csv"
    rows = csv_rows(data)
    assert rows[0] == ["Lower bound (mg/kg)", "Upper bound (mg/kg)", "Count"]
    values = [[float(v) for v in row] for row in rows[1:]]
    assert len(values) == 24
    assert all(lo < hi for lo, hi, _ in values)
    assert all(a[1] == b[0] for a, b in zip(values, values[1:], strict=False))  # contiguous bins
    assert sum(c for _, _, c in values) > 0 and all(c == int(c) for _, _, c in values)

    name, data = download(page, "#probability", "csv")
    rows = csv_rows(data)
    assert rows[0] == ["Value (mg/kg)", "Cumulative probability (%)", "z"]
    probabilities = [float(row[1]) for row in rows[1:]]
    assert probabilities == sorted(probabilities) and 0 < probabilities[0] < probabilities[-1] < 100
    name, png = download(page, "#probability", "png")
    assert png.startswith(PNG_MAGIC)
    name, svg = download(page, "#probability", "svg")
    assert b"<svg" in svg and b"Cumulative probability" in svg
    assert watch.problems == []


def test_chart_csv_and_labels_follow_the_chinese_page(browser, live_server):
    from playwright.sync_api import expect

    page, watch = open_page(browser, live_server, VIEW)
    page.locator("#language").select_option("zh-hans")
    page.wait_for_selector("body[data-viewer-ready='1']")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    wait_for_chart(page, "#probability")
    expect(page.locator("#probability .chart-canvas")).to_have_attribute(
        "aria-label", re.compile(r"^累积概率 · Cu 铜")
    )
    expect(page.locator("#probability .chart-exports")).to_have_attribute("aria-label", "下载")
    _, data = download(page, "#probability", "csv")
    header = csv_rows(data)[0]
    assert header[1] == "累积概率（%）" and header[0].startswith("数值")
    _, svg = download(page, "#probability", "svg")
    assert "累积概率" in svg.decode("utf-8")
    assert watch.problems == []


def test_charts_fit_a_phone_without_horizontal_scrolling(browser, live_server):
    from playwright.sync_api import expect

    page, watch = open_page(browser, live_server, VIEW, width=PHONE_WIDTH, height=844)
    page.locator("#panel-toggle").click()
    wait_for_chart(page, "#histogram")
    page.locator("#probability .chart-exports").scroll_into_view_if_needed()
    expect(page.locator("#probability .chart-export[data-export='csv']")).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH
    widths = page.evaluate(
        """[...document.querySelectorAll('.chem-chart .chart-canvas svg')]
            .map((svg) => svg.getBoundingClientRect().right)"""
    )
    assert widths and max(widths) <= PHONE_WIDTH
    page.locator("#histogram .chart-table summary").click()
    expect(page.locator("#histogram .chart-table tbody tr")).to_have_count(24)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH
    page.screenshot(path=str(ARTIFACTS / "charts-3-phone.png"))
    assert watch.problems == []
