"""Paging through ``/api/v1/measurements``: every visible row once, in id order, both ways.

The measurement list reads each page from growing windows of ids (``baselines.pagination``)
because the table has no btree to sort by; these tests walk whole lists with small pages over
two ingested surveys, one of them embargoed so that the anonymous viewer meets a long run of ids
it may not see between the rows it may.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from baselines.models import Country, Element, Measurement, Survey
from baselines.paging import rows_before
from sharing.access import viewer_scope, visible_measurements
from sharing.models import ReleasePolicy, SurveyEmbargo
from tests.test_ingest_storage import ingest, survey_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def surveys(write_csv):
    """Open survey A, embargoed survey B (ingested after A), then open survey C."""
    today = timezone.now().date()
    ReleasePolicy.objects.create(
        country=Country.objects.get(iso_a3="USA"), in_force=True, available_on=today
    )
    slugs = {}
    for name, n, prefix in (("A", 40, "A"), ("B", 300, "B"), ("C", 30, "C")):
        path = write_csv(survey_rows(n, prefix=prefix, seed=ord(name)), f"{name}.csv")
        ingest(path, survey=f"Paging {name}")
        slugs[name] = Survey.objects.get(name=f"Paging {name}").slug
    SurveyEmbargo.objects.create(
        survey=Survey.objects.get(slug=slugs["B"]), available_on=today + dt.timedelta(days=30)
    )
    return slugs


def walk(client, url: str) -> tuple[list[int], str | None]:
    """Follow ``next`` links from ``url``; the ids seen and the last page's ``previous`` link."""
    ids, previous = [], None
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        ids += [row["id"] for row in body["results"]]
        url, previous = body["next"], body["previous"] or previous
    return ids, previous


def walk_back(client, url: str) -> list[int]:
    ids = []
    while url:
        body = client.get(url).json()
        ids = [row["id"] for row in body["results"]] + ids
        url = body["previous"]
    return ids


def expected(viewer, **filters) -> list[int]:
    rows = visible_measurements(viewer_scope(viewer)).preferred().filter(**filters)
    return list(rows.order_by("id").values_list("id", flat=True))


def test_anonymous_pages_skip_the_embargoed_run(client, surveys):
    want = expected(None)
    assert len(want) == 70 * 4, "A and C, four elements each"
    ids, previous = walk(client, "/api/v1/measurements/?limit=7")
    assert ids == want
    # backwards from the last page's previous link: everything before the last page
    assert walk_back(client, previous) == want[: len(want) - (len(want) % 7 or 7)]


def test_filtered_pages(client, surveys):
    ids, _ = walk(client, f"/api/v1/measurements/?element=Zn&survey={surveys['C']}&limit=4")
    assert ids == expected(None, element__symbol="Zn", sample__survey__slug=surveys["C"])
    assert len(ids) == 30


def test_steward_sees_all_in_order(client, surveys):
    admin = get_user_model().objects.create_superuser("pager", "pager@example.org", "x")
    client.force_login(admin)
    ids, _ = walk(client, "/api/v1/measurements/?limit=500")
    assert ids == expected(admin) and len(ids) == 370 * 4


@pytest.mark.parametrize("path", ["/api/v1/measurements/", "/api/v1/samples/"])
def test_a_bad_cursor_is_a_400_with_a_reason(client, surveys, path):
    response = client.get(f"{path}?cursor=not-a-cursor")
    assert response.status_code == 400
    assert response.json()["reason"] == {"cursor": "not a cursor this API gave out"}


@pytest.mark.parametrize("skip", [0, 1, 99, 1000, 1479, 1480, 5000])
def test_rows_before_skips_like_offset(surveys, skip):
    everything = Measurement.objects.order_by("-id")
    want = list(everything.values_list("id", flat=True)[skip : skip + 50])
    got = rows_before(
        Measurement.objects.all(), Measurement.objects.id_ceiling() + 1, 50, skip=skip
    )
    assert [m.pk for m in got] == want


def test_admin_measurement_list_pages_newest_first(client, surveys):
    admin = get_user_model().objects.create_superuser("pager", "pager@example.org", "x")
    client.force_login(admin)
    newest = list(Measurement.objects.order_by("-id").values_list("id", flat=True))
    for page in (1, 2, 15):
        response = client.get("/admin/baselines/measurement/", {"p": page})
        assert response.status_code == 200
        shown = [
            int(pk)
            for pk in re.findall(
                r"/admin/baselines/measurement/(\d+)/change/", response.content.decode()
            )
        ]
        assert shown == newest[(page - 1) * 100 : page * 100]
    zinc = client.get(
        "/admin/baselines/measurement/", {"element__id__exact": Element.objects.get(symbol="Zn").pk}
    )
    shown = [
        int(pk)
        for pk in re.findall(r"/admin/baselines/measurement/(\d+)/change/", zinc.content.decode())
    ]
    assert shown == list(
        Measurement.objects.filter(element__symbol="Zn")
        .order_by("-id")
        .values_list("id", flat=True)[:100]
    )
