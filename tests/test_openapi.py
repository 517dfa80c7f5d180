"""The API's description (drf-spectacular) and the API checked against it (schemathesis).

Schemathesis generates requests from /api/schema/ for every operation and runs them in process
against the WSGI application, on the test database: no answer may be a 5xx, and status codes and
content types must be those the schema describes. Bounded (``EXAMPLES`` per operation) for CI.
"""

from __future__ import annotations

import json
import re

import pytest
import schemathesis
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from baselines.models import Country
from sharing.models import ReleasePolicy
from tests.worlds import ingest_survey

pytestmark = pytest.mark.django_db
EXAMPLES = 12


def test_the_schema_describes_every_api_endpoint(client: Client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    paths = set(schema["paths"])
    for needed in ("/api/v1/samples/", "/api/v1/measurements/", "/api/v1/cells/{code}/stats",
                   "/api/v1/viewer/values", "/api/v1/layers", "/api/v1/boundaries"):  # fmt: skip
        assert needed in paths, sorted(paths)
    stats = schema["paths"]["/api/v1/cells/{code}/stats"]["get"]
    assert {p["name"] for p in stats["parameters"]} >= {"code", "element", "medium"}
    assert set(stats["responses"]) >= {"200", "400", "401", "404"}
    assert "reason" in schema["components"]["schemas"]["Error"]["properties"]
    assert "Token" in schema["info"]["description"]


def test_the_docs_pages_load_their_assets_from_the_portal(client: Client):
    for url in ("/api/docs/",):
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        external = re.findall(r'(?:src|href)=["\'](https?://[^"\']+)', html)
        assert external == [], external  # no CDN: every script and stylesheet is served here
        assert "/static/drf_spectacular_sidecar/" in html


def _schema():
    # Loaded at import: drf-spectacular builds the schema without the database (path parameter
    # types then default to strings, which the API answers with 404s for non-ids).
    from chemearth.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/schema/", application)


schema = _schema()
# What the issue asks of every answer: no 5xx, and status, content type and body as described.
# (Schemathesis's stricter data-acceptance probes are left out: the API refuses empty
# parameters the schema types only as strings, with the kit's 400.)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@schemathesis.deserializer("application/geo+json")
def geojson(ctx, response):
    return json.loads(response.content)


@pytest.fixture
def some_public_data(write_csv):
    """A few public samples, so that lists, statistics and charts have rows to answer with."""
    rows = [[f"US-{i}", -100 + i * 0.7, 38 + (i % 4) * 0.5, 10.5 + 3 * i] for i in range(12)]
    ingest_survey(write_csv, rows, country="USA")
    ReleasePolicy.objects.create(country=Country.objects.by_code("USA"), in_force=True)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_answers_as_its_schema_says(
    case, some_public_data, wsgi_requests_keep_the_test_connection
):
    # The in-process WSGI client asks for gzip (the boundaries are gzipped) but never inflates.
    case.call_and_validate(checks=CHECKS, headers={"Accept-Encoding": "identity"})
