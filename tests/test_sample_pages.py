"""The sample list's JSON pages are built by PostgreSQL (``portal.api.sample_feature_sql``) while
a single sample is written by ``SampleSerializer`` from ``sharing.access.shown_point``: the two must
say the same thing of every sample, for every mix of precisions a viewer can have."""

from __future__ import annotations

import datetime as dt

import pytest

from baselines.ingest import IngestOptions, survey_ingest
from baselines.models import Country
from sharing.models import ReleasePolicy
from tests.worlds import partner_with_agreement


@pytest.fixture
def mixed(write_csv):
    header = ["sample_id", "site_id", "longitude", "latitude", "collection_date", "Cu_ppm"]
    for country, lon, lat in (("FIN", 25.0, 62.0), ("USA", -100.0, 40.0), ("NOR", 10.0, 60.0)):
        rows = [
            [
                f"{country}-{i}",
                f"S{i}",
                lon + i * 0.137,
                lat + i * 0.071,
                f"2010-05-0{i + 1}",
                i,
            ]
            for i in range(5)
        ]
        survey_ingest(
            path=write_csv([header, *rows], f"{country}.csv"),
            options=IngestOptions(survey=country, medium="topsoil", scale_km=10, country=country),
        )
    ReleasePolicy.objects.create(
        country=Country.objects.by_code("FIN"), in_force=True, public_precision_m=20_000
    )
    ReleasePolicy.objects.create(country=Country.objects.by_code("USA"), in_force=True)
    ReleasePolicy.objects.create(
        country=Country.objects.by_code("NOR"), in_force=True, public_precision_m=40_000,
        available_on=dt.date(2099, 1, 1),
    )  # fmt: skip
    partner, _ = partner_with_agreement(["NOR"], precision_m=10_000)
    return partner


def same_feature(listed: dict, single: dict) -> None:
    assert listed["id"] == single["id"] and listed["type"] == single["type"] == "Feature"
    assert listed["properties"] == single["properties"]
    assert listed["geometry"]["type"] == single["geometry"]["type"] == "Point"
    assert listed["geometry"]["coordinates"] == pytest.approx(
        single["geometry"]["coordinates"], abs=1.5e-6
    )


@pytest.mark.django_db
@pytest.mark.parametrize("viewer", ["anonymous", "partner"])
def test_listed_features_equal_the_serialisers(client, mixed, viewer):
    if viewer == "partner":
        client.force_login(mixed)
    page = client.get("/api/v1/samples/", {"limit": 100})
    assert page.status_code == 200 and page["Content-Type"] == "application/json"
    features = page.json()["features"]
    precisions = {f["properties"]["location_precision_km"] for f in features}
    # anonymous: Finland snapped to 20 km, the USA exact, Norway hidden; the partner also sees
    # Norway at 10 km: each page mixes precisions in one CASE.
    assert precisions == ({20.0, None} if viewer == "anonymous" else {20.0, None, 10.0})
    assert len(features) == (10 if viewer == "anonymous" else 15)
    for listed in features:
        single = client.get(f"/api/v1/samples/{listed['id']}/").json()
        same_feature(listed, single)
