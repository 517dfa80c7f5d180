"""Hardening (issue #19): the Content-Security-Policy and the other security headers on every page,
no inline script left for the policy to refuse, sign-in and password-reset throttling with a clear
message, and API throttles answering 429 with Retry-After and the API's error body."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import mail
from django.core.cache import cache
from rest_framework.throttling import AnonRateThrottle

from baselines.ingest import IngestOptions, survey_ingest
from baselines.models import Country
from sharing.models import ReleasePolicy

REPO = Path(__file__).resolve().parent.parent
PAGES = (
    "/", "/map/", "/surveys/", "/surveys/usa/", "/downloads/", "/docs/api/", "/api/docs/",
    "/accounts/login/", "/accounts/register/", "/accounts/password_reset/", "/dashboards/",
    "/dashboards/coverage/", "/dashboards/exceedance/", "/ogcapi/?f=html",
    "/ogcapi/collections/samples/items?f=html&limit=5",
)  # fmt: skip


@pytest.fixture
def usa(write_csv):
    header = ["sample_id", "longitude", "latitude", "Cu_ppm"]
    rows = [[f"U-{i}", -100 + i * 0.5, 40, 10 + i] for i in range(5)]
    survey_ingest(
        path=write_csv([header, *rows], "usa.csv"),
        options=IngestOptions(survey="usa", medium="topsoil", scale_km=40, country="USA"),
    )
    ReleasePolicy.objects.create(country=Country.objects.by_code("USA"), in_force=True)


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {
        part.split()[0]: part.split()[1:] for part in (p.strip() for p in policy.split(";")) if part
    }


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_every_page_carries_the_policy_and_no_inline_script(client, usa, path):
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    policy = directives(response)
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    html = response.content.decode()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, (path, tag)
    assert not re.search(r"<style\b", html), path
    assert not re.search(r"\son[a-z]+=\"", html), path  # no inline event handler


@pytest.mark.django_db
def test_the_admin_alone_may_run_inline_scripts(admin_client):
    response = admin_client.get("/admin/")
    assert "'unsafe-inline'" in directives(response)["script-src"]


@pytest.mark.django_db
def test_the_21st_wrong_password_in_a_minute_is_refused_with_a_clear_message(
    client, django_user_model
):
    django_user_model.objects.create_user("ana", password="the-right-password-1")
    for _ in range(20):
        wrong = client.post("/accounts/login/", {"username": "ana", "password": "nope"})
        assert wrong.status_code == 200  # the form again, with its error
    refused = client.post("/accounts/login/", {"username": "ana", "password": "nope"})
    assert refused.status_code == 429
    assert "Too many attempts" in refused.content.decode()
    # Locked out, even the right password is refused until the cool-off ends.
    right = client.post("/accounts/login/", {"username": "ana", "password": "the-right-password-1"})
    assert right.status_code == 429 and "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_password_reset_requests_are_limited_per_address(client, settings, django_user_model):
    settings.PASSWORD_RESET_LIMIT_PER_HOUR = 3
    cache.clear()
    django_user_model.objects.create_user("ana", email="ana@example.org", password="x" * 12)
    for _ in range(3):
        sent = client.post("/accounts/password_reset/", {"email": "ana@example.org"})
        assert sent.status_code == 302
    refused = client.post("/accounts/password_reset/", {"email": "ana@example.org"})
    assert refused.status_code == 200
    assert "Too many password reset requests" in refused.content.decode()
    assert len(mail.outbox) == 3


@pytest.mark.django_db
def test_over_the_api_rate_is_a_429_with_retry_after(client, usa, monkeypatch):
    cache.clear()
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "3/minute"})
    for _ in range(3):
        assert client.get("/api/v1/samples/?limit=1").status_code == 200
    refused = client.get("/api/v1/samples/?limit=1")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    body = refused.json()
    assert body["error"] == "throttled" and body["status"] == 429 and body["reason"]
    # OGC API and dashboards answer through the same throttle.
    assert client.get("/ogcapi/collections").status_code == 429


def _production_check(secret: str, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "CHEMEARTH_ENV": "production",
        "DJANGO_SECRET_KEY": secret,
        "DJANGO_ALLOWED_HOSTS": "portal.example.org",
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args], cwd=REPO, env=env,
        capture_output=True, text=True,
    )  # fmt: skip


def test_a_short_production_secret_key_is_refused_at_start():
    result = _production_check("short-key")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be at least 50 varied characters" in result.stderr


def test_the_deploy_check_finds_no_security_issue():
    result = _production_check(secrets.token_urlsafe(50), "--deploy", "--fail-level", "WARNING",
                               "--tag", "security")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
