"""Green-land certificates in a real browser: a steward issues a certificate for a plot, the QR
code on the printable certificate decodes (zbarimg) to the verification URL, and an anonymous
visitor opens it — in English and in Chinese, at 1280 px and on a 390 px phone without sideways
scrolling, with no console error, no request to another host and no serious or critical axe-core
violation. The map of rated units draws them, coloured by grade.

Debian's Chromium driven by Playwright against the live server, with the fixtures and checks of
``test_browser_dashboards.py`` (one browser per module, the world built per test because the live
server's transactional tests flush the tables).
"""

from __future__ import annotations

import base64
import json
import re
import subprocess

import pytest
from django.conf import settings
from playwright.sync_api import expect

from baselines.ingest import IngestOptions, survey_ingest
from baselines.models import Country
from certificates.models import Certificate
from certificates.services import units_upload
from sharing.models import ReleasePolicy, Stewardship

from .test_browser_dashboards import (
    CJK,
    OUTLINE,
    SCROLLERS,
    WIDEST,
    browser,  # noqa: F401 (the module's Chromium)
    open_page,
    serious_violations,
)
from .test_browser_steward import PHONE_WIDTH
from .test_browser_viewer import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LANGUAGES = ("en", "zh-hans")
PLOT = (10.0, 10.6, 59.8, 60.1)


def _box(code, name, box, parent, name_zh):
    w, e, s, n = box
    return {"type": "Feature",
            "properties": {"code": code, "name": name, "name_zh": name_zh, "parent": parent},
            "geometry": {"type": "Polygon",
                         "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}}  # fmt: skip


@pytest.fixture
def steward_cookie(browser, write_csv, tmp_path, client, django_user_model):  # noqa: F811
    """A public Norwegian survey of six samples in a plot (one without pH, one Pb above the
    screening value), its county → township → plot, and a signed-in steward of Norway."""
    header = ["sample_id", "longitude", "latitude", "ph", "Cd_ppm", "Pb_ppm"]
    rows = [
        [f"N{i}", 10.05 + 0.1 * i, 59.95, ph, cd, pb]
        for i, (ph, cd, pb) in enumerate(
            [("5.0", 0.2, 40), ("6.0", 0.25, 95), ("7.0", 0.1, 60), ("8.0", 0.3, 100),
             ("", 0.15, 50), ("6.2", "<0.05", 30)]
        )
    ]  # fmt: skip
    survey_ingest(
        path=write_csv([header, *rows], "plot.csv"),
        options=IngestOptions(survey="Plot soils", medium="topsoil", scale_km=10, country="NOR"),
    )
    norway = Country.objects.by_code("NOR")
    ReleasePolicy.objects.create(country=norway, in_force=True)
    steward = django_user_model.objects.create_user("nora", "nora@example.org", "pw-steward-1")
    Stewardship.objects.create(user=steward, country=norway)
    for level, feature in (
        ("county", _box("C1", "Example county", (9.5, 11.0, 59.5, 60.5), "", "示例县")),
        ("township", _box("T1", "Example township", (9.9, 10.8, 59.7, 60.2), "C1", "示例乡镇")),
        ("plot", _box("P1", "Example plot", PLOT, "T1", "示例地块")),
    ):
        path = tmp_path / f"{level}.geojson"
        path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
        units_upload(path=path, level=level, user=steward)
    client.force_login(steward)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _check_layout(page, where) -> None:
    """Nothing wider than the phone; axe-core finds nothing serious or critical."""
    if page.viewport_size["width"] == PHONE_WIDTH:
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= PHONE_WIDTH, (where, scroll_width, page.evaluate(WIDEST, SCROLLERS))
    assert serious_violations(page) == [], where


def _qr_target(page) -> str:
    """What the QR code on the page decodes to (zbarimg reads the image's PNG bytes)."""
    src = page.locator("img.qr").get_attribute("src")
    png = base64.b64decode(src.split(",", 1)[1])
    return (
        subprocess.run(["zbarimg", "--raw", "-q", "-"], input=png, capture_output=True, check=True)
        .stdout.decode()
        .strip()
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_steward_issues_and_the_public_verifies(
    browser, live_server, steward_cookie, language  # noqa: F811
):  # fmt: skip
    # The steward rates the plot and issues its certificate.
    page, watch, response = open_page(browser, live_server, "/certificates/units/P1/",
                                      language=language)  # fmt: skip
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": steward_cookie, "url": live_server.url}]
    )
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.locator("p.grade")).to_have_class(re.compile(r"grade-safe_use"))
    _check_layout(page, ("unit", language))
    with page.expect_navigation():
        page.locator("form.card button[type=submit]").click()
    certificate = Certificate.objects.get()
    assert page.url.startswith(f"{live_server.url}/certificates/{certificate.public_id}/print/")
    expect(page.locator("img.qr")).to_be_visible()
    target = _qr_target(page)
    assert target == f"{live_server.url}/certificates/{certificate.public_id}/"
    page.screenshot(path=str(ARTIFACTS / f"certificate-print-{language}.png"), full_page=True)
    assert watch.problems == []
    page.context.close()

    # Anyone who scans it: no session, a desktop and a phone.
    for width in (1280, PHONE_WIDTH):
        path = target.removeprefix(live_server.url)
        page, watch, response = open_page(browser, live_server, path, language=language,
                                          width=width)  # fmt: skip
        where = ("verify", language, width)
        assert response.status == 200, where
        status = page.locator(".certificate-status h2")
        expect(status).to_have_text(
            "Genuine and current" if language == "en" else "真实有效，且为最新"
        )
        headings = page.locator("h1, h2").all_inner_texts()
        if language == "zh-hans":
            assert all(CJK.search(h) for h in headings), (where, headings)
            expect(page.locator(".certificate-facts")).to_contain_text("示例地块")
        else:
            assert not any(CJK.search(h) for h in headings), (where, headings)
        expect(page.locator("table")).to_contain_text("Pb")
        expect(page.locator("form[action$='/revoke/']")).to_have_count(0)
        _check_layout(page, where)
        phone = "-phone" if width == PHONE_WIDTH else ""
        page.screenshot(
            path=str(ARTIFACTS / f"certificate-verify-{language}{phone}.png"), full_page=True
        )
        assert watch.problems == [], where
        page.context.close()


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_map_colours_rated_units(browser, live_server, steward_cookie, language):  # noqa: F811
    for width in (1280, PHONE_WIDTH):
        page, watch, response = open_page(browser, live_server, "/certificates/",
                                          language=language, width=width)  # fmt: skip
        where = ("map", language, width)
        assert response.status == 200, where
        container = page.locator(".certificate-map")
        expect(container).to_have_class(re.compile(r"\bleaflet-container\b"))
        expect(container).not_to_have_attribute("aria-busy", "true")
        units = container.locator(f".leaflet-overlay-pane path.leaflet-interactive:not({OUTLINE})")
        expect(units).to_have_count(3)
        # The plot is safe use (yellow), its county and township too (the same samples).
        fills = {units.nth(i).get_attribute("fill") for i in range(3)}
        assert fills == {"#facc15"}, (where, fills)
        _check_layout(page, where)
        assert watch.problems == [], where
        page.context.close()


def test_a_steward_draws_a_plot_on_the_map(browser, live_server, steward_cookie):  # noqa: F811
    from certificates.models import AdminUnit

    page, watch, _ = open_page(browser, live_server, "/certificates/units/T1/")
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": steward_cookie, "url": live_server.url}]
    )
    page.reload()
    drawing = page.locator(".draw-map")
    expect(drawing).to_have_class(re.compile(r"\bleaflet-container\b"))
    _check_layout(page, "township page")
    box = drawing.bounding_box()
    cx, cy = box["width"] / 2, box["height"] / 2
    # Well inside the township (the map shows it with a margin at a whole zoom level).
    for dx, dy in ((-0.08, -0.08), (0.08, -0.08), (0.08, 0.08), (-0.08, 0.08)):
        drawing.click(position={"x": cx + dx * box["width"], "y": cy + dy * box["height"]})
    polygon = json.loads(page.locator("#id_polygon").input_value())
    assert polygon["type"] == "Polygon" and len(polygon["coordinates"][0]) == 5
    page.fill("#id_code", "P9")
    page.fill("#id_name", "Drawn plot")
    with page.expect_navigation():
        page.get_by_role("button", name="Store the plot").click()
    assert page.url == f"{live_server.url}/certificates/units/P9/", (
        polygon,
        page.locator(".messages").all_inner_texts(),
    )
    drawn = AdminUnit.objects.get(code="P9")
    assert drawn.parent.code == "T1" and drawn.level == "plot"
    expect(page.locator("h1")).to_contain_text("Drawn plot")
    assert watch.problems == []
    page.context.close()
