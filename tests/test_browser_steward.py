"""The steward's policy page in a real browser: Debian's Chromium driven by Playwright against
pytest-django's live server.

The steward is signed in by a session cookie made with ``client.force_login`` (no dependence on
the login page). Every step saves a screenshot to ``test-artifacts/``; console errors, failed or
4xx/5xx requests and requests to any other host fail the test.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.urls import reverse

from baselines.ingest import IngestOptions, survey_ingest
from baselines.models import Country, Survey
from sharing.models import AuditEvent, ReleasePolicy, Stewardship
from sharing.services import access_request_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE_WIDTH = 390


def _is_tile(url: str) -> bool:
    path = urlsplit(url).path
    return path.startswith("/tiles/") and path.endswith(".png")


class Watch:
    """Console errors, page errors, failed requests and foreign hosts seen by a page."""

    def __init__(self, page, allowed_host: str) -> None:
        self._problems: list[str] = []
        self._aborted: list[tuple[str, int]] = []
        self.allowed_host = allowed_host
        self.page = page
        self.navigations = 0
        self.started: dict[object, int] = {}
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self._problems.append(f"page error: {exc}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)
        page.on("request", self._request)

    @property
    def problems(self) -> list[str]:
        # Leaving a page aborts the requests it still had in flight (a poll, say): that is the
        # browser's doing, not a failed request. Judged at the end, because the abort may be
        # reported before the navigation request that caused it.
        late = [url for url, started in self._aborted if started == self.navigations]
        return self._problems + [f"failed: {url} net::ERR_ABORTED" for url in late]

    def _failed(self, request) -> None:
        if request.failure == "net::ERR_ABORTED" and _is_tile(request.url):
            return  # Leaflet cancels tiles still loading when the view moves on (zoom, history)
        if request.failure == "net::ERR_ABORTED":
            self._aborted.append((request.url, self.started.get(request, self.navigations)))
            return
        self._problems.append(f"failed: {request.url} {request.failure}")

    def _console(self, message) -> None:
        # Chromium asks for /favicon.ico on its own; the site has none yet (base.html names no
        # icon), which is not this page's fault.
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            self._problems.append(f"console: {message.text} at {message.location.get('url')}")

    def _response(self, response) -> None:
        if response.status >= 400:
            self._problems.append(f"HTTP {response.status}: {response.url}")

    def _request(self, request) -> None:
        if request.is_navigation_request() and request.frame == self.page.main_frame:
            self.navigations += 1  # from here the previous document's requests may be aborted
        self.started[request] = self.navigations
        host = urlsplit(request.url).netloc
        if request.url.startswith(("data:", "about:")) or host == self.allowed_host:
            return
        self._problems.append(f"request to another host: {request.url}")


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"steward-{name}.png"), full_page=True)


@pytest.fixture
def steward_session(client, django_user_model, write_csv):
    """Norway with one survey and an open policy, and a signed-in steward's session id."""
    norway = Country.objects.by_code("NOR")
    path = write_csv(
        [
            ["sample_id", "longitude", "latitude", "Cu_ppm", "Ni_ppm"],
            ["N-1", 10.70, 59.90, 21.0, 14.0],
            ["N-2", 10.80, 60.00, 18.5, 11.0],
            ["N-3", 10.60, 59.95, 30.2, 25.0],
        ]
    )
    survey_ingest(
        path=path,
        options=IngestOptions(survey="Oslo topsoil", medium="topsoil", scale_km=10, country="NOR"),
    )
    ReleasePolicy.objects.create(country=norway, in_force=True)
    steward = django_user_model.objects.create_user("nora", "nora@example.org", "pw-steward-1")
    Stewardship.objects.create(user=steward, country=norway)
    requester = django_user_model.objects.create_user("rolf", "rolf@example.org", "pw-rolf-1")
    access_request_create(
        user=requester,
        survey=Survey.objects.get(name="Oslo topsoil"),
        message="For a regional study of Cu and Ni in topsoil around the Oslo fjord.",
    )
    client.force_login(steward)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def test_steward_previews_saves_and_audits_a_policy(live_server, steward_session, monkeypatch):
    from playwright.sync_api import expect, sync_playwright

    # Playwright's sync API runs an event loop in this thread; the checks below read the ORM.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    host = urlsplit(live_server.url).netloc
    cookie = {
        "name": settings.SESSION_COOKIE_NAME,
        "value": steward_session,
        "url": live_server.url,
    }
    policy_url = live_server.url + reverse("sharing:policy-edit", kwargs={"country": "NOR"})

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.add_cookies([cookie])
            page = context.new_page()
            watch = Watch(page, host)

            page.goto(live_server.url + reverse("sharing:steward-home"))
            expect(page.locator("h1")).to_have_text("Stewardship")
            expect(page.locator(".card", has_text="rolf")).to_contain_text("Oslo topsoil")
            shot(page, "1-home")

            page.get_by_role("link", name="Edit policy").click()
            expect(page).to_have_url(policy_url)
            expect(page.locator("#current-figures")).to_contain_text("3")
            shot(page, "2-policy")

            page.get_by_label("Cu — Copper").check()
            page.get_by_role("button", name="Preview").click()
            preview = page.locator("#preview")
            expect(preview).to_contain_text(
                "With this policy, the public would see 3 samples / 3 measurements of these "
                "elements: Ni (3)"
            )
            expect(page.get_by_label("Cu — Copper")).to_be_checked()
            shot(page, "3-preview")
            policy = ReleasePolicy.objects.get(country__iso_a3="NOR")
            assert not policy.confidential_elements.exists()  # the preview saved nothing

            page.get_by_role("button", name="Save").click()
            expect(page.locator(".messages")).to_contain_text("was saved")
            expect(page.locator("#preview")).to_have_count(0)
            shot(page, "4-saved")
            assert [e.symbol for e in policy.confidential_elements.all()] == ["Cu"]

            page.get_by_role("link", name="Audit log").first.click()
            events = page.locator("#audit-events")
            expect(events).to_contain_text("Release policy of NOR changed: confidential_elements")
            change = events.locator("table.changes tr", has_text="confidential elements")
            expect(change.locator("td")).to_have_text(["confidential elements", "—", "Cu"])
            shot(page, "5-audit")
            assert AuditEvent.objects.filter(kind="policy", user__username="nora").count() == 1

            assert watch.problems == []

            # The same pages on a phone: no horizontal scrolling of the page.
            phone = browser.new_context(
                viewport={"width": PHONE_WIDTH, "height": 844}, device_scale_factor=2
            )
            phone.add_cookies([cookie])
            page = phone.new_page()
            watch = Watch(page, host)
            for name, url in [
                ("home", reverse("sharing:steward-home")),
                ("policy", reverse("sharing:policy-edit", kwargs={"country": "NOR"})),
                ("audit", reverse("sharing:audit-log", kwargs={"country": "NOR"})),
            ]:
                page.goto(live_server.url + url)
                if name == "policy":
                    page.get_by_role("button", name="Preview").click()
                    expect(page.locator("#preview")).to_be_visible()
                shot(page, f"390-{name}")
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= PHONE_WIDTH, f"{name} page is {width} px wide"
            assert watch.problems == []
        finally:
            browser.close()
    assert Survey.objects.filter(name="Oslo topsoil").exists()


def test_axe_finds_nothing_serious_on_the_survey_sign_in_and_steward_pages(
    live_server, steward_session, monkeypatch
):
    """axe-core (#18) on the pages a newcomer and a steward use, in English and Chinese: no serious
    or critical violation; the steward's pages with the steward signed in."""
    from playwright.sync_api import sync_playwright

    from .test_browser_dashboards import serious_violations

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    survey = Survey.objects.get(name="Oslo topsoil")
    public = ["/surveys/", reverse("portal:survey-detail", kwargs={"slug": survey.slug}),
              "/accounts/login/", "/accounts/register/", "/accounts/password_reset/"]  # fmt: skip
    steward = [reverse("sharing:steward-home"),
               reverse("sharing:policy-edit", kwargs={"country": "NOR"}),
               reverse("sharing:audit-log", kwargs={"country": "NOR"})]  # fmt: skip
    found = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for language in ("en", "zh-hans"):
                for signed_in, paths in ((False, public), (True, steward)):
                    context = browser.new_context(viewport={"width": 1280, "height": 900})
                    names = [settings.LANGUAGE_COOKIE_NAME]
                    values = [language]
                    if signed_in:
                        names.append(settings.SESSION_COOKIE_NAME)
                        values.append(steward_session)
                    cookies = [
                        {"name": n, "value": v, "url": live_server.url}
                        for n, v in zip(names, values, strict=True)
                    ]
                    context.add_cookies(cookies)
                    page = context.new_page()
                    watch = Watch(page, urlsplit(live_server.url).netloc)
                    for path in paths:
                        page.goto(live_server.url + path)
                        assert page.locator("html").get_attribute("lang") == language, path
                        violations = serious_violations(page)
                        if violations:
                            found[f"{language} {path}"] = violations
                    assert watch.problems == [], watch.problems
                    context.close()
        finally:
            browser.close()
    assert found == {}, found
