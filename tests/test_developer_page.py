"""/docs/api/: the developer page's examples run as printed, against a live server.

The Python examples (requests, OWSLib) and the GDAL commands are taken from the page itself
(``data-runnable`` blocks), unescaped, and run in a fresh process, anonymously (no
``CHEMEARTH_TOKEN``): what a newcomer copying them would see.
"""

from __future__ import annotations

import html
import os
import re
import shlex
import subprocess
import sys

import pytest

from baselines.models import Country
from sharing.models import ReleasePolicy
from tests.worlds import ingest_survey

ROWS = [[f"US-{i}", -100 + 0.5 * i, 38 + 0.2 * i, 15.0 + 4 * i] for i in range(8)]


def runnable_examples(page: str) -> dict[str, str]:
    blocks = re.findall(
        r'<code class="language-\w+" data-example="([\w-]+)" data-runnable="1">(.*?)</code>',
        page,
        re.S,
    )
    return {key: html.unescape(code) for key, code in blocks}


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k != "CHEMEARTH_TOKEN"}
    return {**clean, "GDAL_HTTP_TIMEOUT": "60"}


@pytest.mark.django_db(transaction=True)
def test_the_python_and_gdal_examples_run_as_printed(live_server, write_csv, tmp_path, client):
    ingest_survey(write_csv, ROWS, country="USA")
    ReleasePolicy.objects.create(country=Country.objects.by_code("USA"), in_force=True)
    page = client.get("/docs/api/", HTTP_HOST=live_server.url.split("//")[1]).content.decode()
    examples = runnable_examples(page)
    assert set(examples) == {"python-requests", "python-owslib", "gdal"}, sorted(examples)
    assert live_server.url in examples["gdal"]

    def python(code: str) -> str:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=120, env=env(), cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert python(examples["python-requests"]).strip() == "8 Cu values in mg/kg"
    owslib = python(examples["python-owslib"])
    assert "'samples'" in owslib and "6 samples with more than 20 mg/kg Cu" in owslib
    for line in examples["gdal"].splitlines():
        if line.strip() and not line.startswith("#"):
            done = subprocess.run(shlex.split(line), capture_output=True, text=True, timeout=120,
                                  env=env(), cwd=tmp_path)  # fmt: skip
            assert done.returncode == 0, (line, done.stderr)
    assert (tmp_path / "samples.gpkg").stat().st_size > 0


def test_the_page_speaks_both_languages(client):
    english = client.get("/docs/api/").content.decode()
    assert "The API for developers" in english and "Authorization: Token" in english
    chinese = client.get("/docs/api/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "开发者" in chinese
