"""OGC API items pages in JSON are written by PostgreSQL (``FeatureReader.page_text``) while the
HTML pages and other CRSs take the Python path (``FeatureReader.page``): both must say the same
of every feature, for every viewer, with and without ``properties``."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory

from portal.ogcapi.collections import Catalogue
from portal.ogcapi.items import FeatureReader, items_query
from tests.test_ogcapi import build_world
from tests.worlds import partner_with_agreement


def both_pages(user, params: dict) -> tuple[list[dict], list[dict]]:
    request = RequestFactory().get("/ogcapi/collections/samples/items", params)
    request.user = user
    found = Catalogue(request).get("samples")
    query = items_query(request.GET, found)
    reader = FeatureReader(request, found)
    text = reader.page_text(query)
    assert text is not None
    python = reader.page(query)
    assert text.next_cursor == python.next_cursor
    return [json.loads(f) for f in text.features], python.features


def same(sql: list[dict], python: list[dict]) -> None:
    assert [f["id"] for f in sql] == [f["id"] for f in python] and sql
    for a, b in zip(sql, python, strict=True):
        assert a["type"] == b["type"] == "Feature"
        assert list(a["properties"]) == list(b["properties"])  # same names, same order
        assert a["properties"] == b["properties"], (a, b)
        assert a["geometry"]["coordinates"] == pytest.approx(
            b["geometry"]["coordinates"], abs=1.5e-6
        )


@pytest.mark.django_db
@pytest.mark.parametrize("viewer", ["anonymous", "partner", "staff"])
@pytest.mark.parametrize(
    "params",
    [{"limit": "100"}, {"limit": "3"}, {"limit": "100", "properties": "code,cell,Cu"},
     {"limit": "100", "properties": "cell,code,below_detection_limit,Cu,Ni"},
     {"limit": "100", "sortby": "-sampled_on"}],
)  # fmt: skip
def test_sql_written_features_equal_the_python_ones(write_csv, django_user_model, viewer, params):
    from django.contrib.auth.models import AnonymousUser

    build_world(write_csv)
    if viewer == "anonymous":
        user = AnonymousUser()
    elif viewer == "partner":
        user, _ = partner_with_agreement(["RUS", "FIN"], precision_m=10_000)
    else:
        user = django_user_model.objects.create_user("staff", is_staff=True)
    same(*both_pages(user, params))


@pytest.mark.django_db
def test_properties_in_another_order_take_the_python_path(client, write_csv):
    build_world(write_csv)
    page = client.get("/ogcapi/collections/samples/items?properties=Cu,code")
    assert page.status_code == 200
    assert [list(f["properties"]) for f in page.json()["features"]][0] == ["Cu", "code"]
