"""The deploy path, as an operator runs it (#19): ``collectstatic`` with production settings (the
hashed, compressed manifest storage), then gunicorn with the same settings — every page answers
200 with its security headers, and every style sheet and script a page names is served. (A
gunicorn started without the manifest once answered ``/`` with a 500.)"""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from baselines.ingest import IngestOptions, survey_ingest
from baselines.models import Country
from sharing.models import ReleasePolicy

from .conftest import TEST_REDIS_URL

REPO = Path(__file__).resolve().parent.parent
PAGES = (
    "/", "/map/", "/surveys/", "/surveys/usa/", "/dashboards/", "/dashboards/coverage/",
    "/dashboards/exceedance/", "/dashboards/volume/", "/downloads/", "/docs/api/", "/api/docs/",
    "/accounts/login/", "/accounts/register/", "/ogcapi/?f=html", "/api/v1/",
)  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.mark.django_db(transaction=True)
def test_collectstatic_then_gunicorn_with_production_settings_serves_every_page(
    write_csv, tmp_path
):
    header = ["sample_id", "longitude", "latitude", "Cu_ppm"]
    survey_ingest(
        path=write_csv([header, *[[f"P-{i}", -100 + i, 40, i + 1] for i in range(12)]], "p.csv"),
        options=IngestOptions(survey="usa", medium="topsoil", scale_km=40, country="USA"),
    )
    ReleasePolicy.objects.create(country=Country.objects.by_code("USA"), in_force=True)
    db = connection.settings_dict
    env = {
        **os.environ,
        "CHEMEARTH_ENV": "production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": f"postgis://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": TEST_REDIS_URL,
        "STATIC_ROOT": str(tmp_path / "static"),
        "CHEMEARTH_VAR_DIR": str(tmp_path / "var"),
    }
    collect = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=REPO, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert collect.returncode == 0, collect.stderr[-2000:]
    assert (tmp_path / "static" / "staticfiles.json").exists()  # the manifest

    port = free_port()
    log = (tmp_path / "gunicorn.log").open("wb")
    server = subprocess.Popen(
        [str(REPO / ".venv" / "bin" / "gunicorn"), "chemearth.wsgi:application",
         "-b", f"127.0.0.1:{port}", "--workers", "2"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert server.poll() is None, (tmp_path / "gunicorn.log").read_text()[-3000:]
            try:
                fetch(base + "/health/")
                break
            except OSError:
                time.sleep(0.3)
        assets: set[str] = set()
        for page in PAGES:
            status, headers, body = fetch(base + page)
            assert status == 200, (page, status, body[:300])
            assert "script-src 'self'" in headers["Content-Security-Policy"], page
            assets.update(re.findall(rb'(?:href|src)="(/static/[^"]+)"', body))
        # Pages name their assets by hashed names, and every one of them is served.
        assert any(re.search(rb"\.[0-9a-f]{12}\.(css|js)$", a) for a in assets), assets
        for asset in sorted(assets):
            status, headers, _ = fetch(base + asset.decode())
            assert status == 200, asset
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
