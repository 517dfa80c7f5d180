""" "Save image" on the map viewer in Chromium: the dialog saves a PNG and a PDF of the view in
English and Chinese (Playwright's download event), is usable at 390 px, and axe-core finds no
serious or critical violation on /map/ with it open. Demo data and a real worker, as in
test_browser_viewer."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image

from .test_browser_steward import PHONE_WIDTH
from .test_browser_viewer import (
    ARTIFACTS,
    RENDER_TIMEOUT_MS,
    demo,  # noqa: F401 (the fixture browser uses)
    open_page,
    shot,
    wait_for_tiles,
)
from .test_browser_viewer import browser as _browser  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
VIEW = "/map/?element=Cu&medium=topsoil&lat=39&lng=-97&z=4"


@pytest.fixture
def chromium(request):
    return request.getfixturevalue("_browser")


def save(page, fmt: str, paper: str, dpi: str, orientation: str = "landscape"):
    """Open the dialog, choose, save; the download Playwright saw."""
    from playwright.sync_api import expect

    page.locator("#save-image").click()
    expect(page.locator("#save-image-dialog")).to_be_visible()
    page.locator(f"input[name=format][value={fmt}]").check()
    page.locator("#save-image-paper").select_option(paper)
    page.locator(f"input[name=orientation][value={orientation}]").check()
    page.locator("#save-image-dpi").select_option(dpi)
    with page.expect_download(timeout=RENDER_TIMEOUT_MS) as info:
        page.locator("#save-image-go").click()
    expect(page.locator("#save-image-dialog")).to_be_hidden()
    return info.value


def test_save_image_in_both_languages(chromium, live_server):
    from playwright.sync_api import expect

    from .test_browser_dashboards import serious_violations

    page, watch = open_page(chromium, live_server, VIEW)
    wait_for_tiles(page)
    page.locator("#save-image").click()
    expect(page.locator("#save-image-dialog")).to_be_visible()
    # The modal dialog holds the keyboard focus; Escape closes it.
    assert page.evaluate(
        "document.getElementById('save-image-dialog').contains(document.activeElement)"
    )
    assert serious_violations(page) == []
    shot(page, "save-image-dialog")
    page.keyboard.press("Escape")
    expect(page.locator("#save-image-dialog")).to_be_hidden()

    download = save(page, "png", "screen", "96")
    assert download.suggested_filename.startswith("chemearth-Cu-topsoil-")
    path = ARTIFACTS / f"viewer-save-image-{download.suggested_filename}"
    download.save_as(path)  # kept with the screenshots, for a look
    image = Image.open(path)
    assert image.format == "PNG" and image.size == (1280, 800)
    asked = urlsplit(page.evaluate("window.chemearthViewer.lastImage"))
    west, south, east, north = (float(v) for v in parse_qs(asked.query)["bbox"][0].split(","))
    assert west < -97 < east and south < 39 < north  # the view on screen

    page.locator("#language").select_option("zh-hans")
    page.wait_for_selector("body[data-viewer-ready='1']")
    wait_for_tiles(page)
    expect(page.locator("#save-image")).to_have_text("保存图片")
    download = save(page, "pdf", "a4", "96", "portrait")
    data = download.path().read_bytes()
    (ARTIFACTS / f"viewer-save-image-zh-{download.suggested_filename}").write_bytes(data)
    assert data.startswith(b"%PDF")
    assert "lang=zh-hans" in page.evaluate("window.chemearthViewer.lastImage")
    assert watch.problems == []


def test_the_dialog_is_usable_on_a_phone(chromium, live_server):
    from playwright.sync_api import expect

    page, watch = open_page(chromium, live_server, VIEW, width=PHONE_WIDTH, height=844)
    wait_for_tiles(page)
    page.locator("#panel-toggle").click()
    page.locator("#save-image").click()
    dialog = page.locator("#save-image-dialog")
    expect(dialog).to_be_visible()
    box = dialog.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE_WIDTH
    expect(page.locator("#save-image-go")).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH
    shot(page, "save-image-phone")
    page.locator("#save-image-cancel").click()
    expect(dialog).to_be_hidden()
    assert watch.problems == []
