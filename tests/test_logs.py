"""Structured logs (``chemearth.logs``): one JSON line per request with its id, the user's id,
duration and status, and no secret in any line — not a signed download link, an API token, a
password or a query value under a secret-sounding name."""

from __future__ import annotations

import io
import json
import logging

import pytest

from downloads.models import DownloadJob
from downloads.services import sign_job
from portal import tile_capabilities
from sharing.models import ApiToken
from tests.worlds import api_token


@pytest.fixture
def log_lines():
    """What the console handler writes, as it writes it (JSON, scrubbed), during the test."""
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "name", "") == "console")
    stream = io.StringIO()
    old = handler.setStream(stream)
    try:
        yield lambda: stream.getvalue().splitlines()
    finally:
        handler.setStream(old)


def requests_logged(lines: list[str]) -> list[dict]:
    found = [json.loads(line) for line in lines]
    return [r for r in found if r["logger"] == "chemearth.requests"]


@pytest.mark.django_db
def test_every_request_is_one_json_line_with_its_id_and_no_secret(
    client, django_user_model, log_lines
):
    user = django_user_model.objects.create_user("secret-name", password="pw-Secret-123456")
    key = api_token(user, name="scripts")
    job = DownloadJob.objects.create(user=user, query={}, format="csv")
    link = f"/downloads/file/{sign_job(job)}"

    client.get("/api/v1/samples/?limit=1", HTTP_AUTHORIZATION=f"Token {key}")
    client.get(
        "/api/v1/elements/?token=query-secret-value&api_key=another-secret",
        HTTP_X_REQUEST_ID="proxy-id-12345",
    )
    client.post("/accounts/login/", {"username": "secret-name", "password": "pw-Secret-123456"})
    client.get(link)
    expires, capability = tile_capabilities.issue("0" * 24)
    client.get(f"/tiles/c/{'0' * 24}/{expires}/{capability}/1/0/0.png")
    lines = log_lines()
    text = "\n".join(lines)
    for secret in (key, sign_job(job), "pw-Secret-123456", "query-secret-value", "another-secret",
                   "secret-name", capability):  # fmt: skip
        assert secret not in text, secret

    logged = requests_logged(lines)
    assert [r["path"].split("?")[0] for r in logged] == [
        "/api/v1/samples/", "/api/v1/elements/", "/accounts/login/", "/downloads/file/[redacted]",
        f"/tiles/c/{'0' * 24}/{expires}/[redacted]/1/0/0.png",
    ]  # fmt: skip
    token_request, named, login, download, _tile = logged
    assert token_request["user_id"] == user.pk and token_request["status"] == 200
    assert named["request_id"] == "proxy-id-12345"  # a proxy's id follows the request
    assert login["status"] == 302 and download["status"] in (404, 410)
    for line in logged:
        assert len(line["request_id"]) >= 8 and line["duration_ms"] >= 0
        assert set(line) >= {"time", "level", "method", "path", "status", "user_id"}
    assert ApiToken.objects.filter(user=user).exists()


@pytest.mark.django_db
def test_the_request_id_is_answered_and_a_malformed_one_replaced(client):
    given = client.get("/health/", HTTP_X_REQUEST_ID="abc-123-def-456")
    assert given["X-Request-ID"] == "abc-123-def-456"
    bad = client.get("/health/", HTTP_X_REQUEST_ID="x\nInjected: header")
    assert bad["X-Request-ID"] != "x\nInjected: header" and len(bad["X-Request-ID"]) == 32
