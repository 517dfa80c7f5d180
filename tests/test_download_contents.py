"""A package's counts (``downloads.selectors.package_contents``): one scan of the gated rows gives
measurements per (survey, country) and samples per (survey, country), equal to counts made in
the test from the gate's own rows; a build reuses the request's counts only while the policy and
data versions are those they were made at."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from downloads import package, selectors, services
from downloads.models import DownloadJob
from downloads.query import DownloadQuery
from sharing.access import viewer_scope, visible_measurements
from sharing.models import SurveyEmbargo
from tests.test_downloads import world  # noqa: F401  (the fixture)


def oracle(user, query: DownloadQuery) -> dict[tuple[int, int], dict[str, int]]:
    """Counts from the gate's rows, in Python."""
    rows = selectors.package_measurements(viewer_scope(user), query).values_list(
        "sample__survey_id", "sample__country_id", "sample_id"
    )
    measurements, samples = Counter(), {}
    for survey, country, sample in rows:
        measurements[survey, country] += 1
        samples.setdefault((survey, country), set()).add(sample)
    return {k: {"measurements": n, "samples": len(samples[k])} for k, n in measurements.items()}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [{}, {"elements": ["Cu"]}, {"countries": ["NOR", "FIN"]}, {"bbox": [10, 59, 26, 63]},
     {"format": "csv-wide"}],
)  # fmt: skip
@pytest.mark.parametrize("viewer", ["anonymous", "partner"])
def test_one_scan_counts_what_the_gate_shows(world, body, viewer):  # noqa: F811
    user = None
    if viewer == "partner":
        from tests.worlds import accept_licences

        user = world["partner"]
        accept_licences(user)
    query = DownloadQuery.from_json(body)
    contents = selectors.package_contents(viewer_scope(user), query)
    expected = oracle(user, query)
    assert contents.by_survey_country == expected and expected
    assert contents.measurements == sum(v["measurements"] for v in expected.values())
    assert contents.samples == sum(v["samples"] for v in expected.values())
    symbols = {
        s
        for s in visible_measurements(viewer_scope(user))
        .filter(pk__in=selectors.package_measurements(viewer_scope(user), query))
        .values_list("element__symbol", flat=True)
    }
    assert [e.symbol for e in contents.elements] == sorted(symbols, key=["Ni", "Cu"].index)
    assert selectors.Contents.from_json(contents.as_json("rights")) == contents


def build_now(job: DownloadJob) -> DownloadJob:
    assert services.claim(job.pk)
    return services.download_build(job_id=job.pk)


@pytest.mark.django_db
def test_the_build_reuses_the_requests_counts_while_the_versions_hold(
    world,  # noqa: F811
    monkeypatch,
    tmp_path,
    settings,
):
    settings.DOWNLOAD_ROOT = tmp_path
    monkeypatch.setattr(services, "queue_build", lambda job: None)
    job = services.download_request(user=None, query=DownloadQuery.from_json({"format": "csv"}))
    assert job.contents and job.rows_total == 4
    recounts = []
    real = selectors.package_contents
    monkeypatch.setattr(services, "package_contents", lambda *a: recounts.append(1) or real(*a))
    built = build_now(job)
    assert built.state == DownloadJob.State.READY and not recounts
    assert built.measurement_rows == built.rows_written == 4

    # An embargo between the request and the build: the counts are made again, and they are
    # those of the rows written.
    job = services.download_request(
        user=None, query=DownloadQuery.from_json({"format": "csv", "elements": ["Cu"]})
    )
    recounts.clear()  # the request's own count
    SurveyEmbargo.objects.create(survey=world["surveys"]["NOR"], available_on=dt.date(2099, 1, 1))
    built = build_now(job)
    assert recounts == [1]
    assert built.measurement_rows == built.rows_written == 2
    assert set(built.row_counts["by_country"]) == {"FIN"}
    assert package.PROGRESS_SECONDS > 0


@pytest.mark.django_db
def test_counts_made_for_other_rights_are_made_again(world, monkeypatch, tmp_path, settings):  # noqa: F811
    """A partner deactivated between the request and the build builds as the public under the
    same policy version: the partner's counts are not reused for the public's rows."""
    from tests.worlds import accept_licences

    settings.DOWNLOAD_ROOT = tmp_path
    monkeypatch.setattr(services, "queue_build", lambda job: None)
    partner = world["partner"]
    accept_licences(partner)
    job = services.download_request(user=partner, query=DownloadQuery.from_json({"format": "csv"}))
    assert job.rows_total == 8  # the public's 4 and EST's 4
    type(partner).objects.filter(pk=partner.pk).update(is_active=False)
    recounts = []
    real = selectors.package_contents
    monkeypatch.setattr(services, "package_contents", lambda *a: recounts.append(1) or real(*a))
    built = build_now(job)
    assert recounts == [1]
    assert built.measurement_rows == built.rows_written == 4
