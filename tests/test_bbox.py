"""Bbox filters through the gate: each sample is tested at the finest precision the viewer has
for it, so snapped samples cannot be located and exactly shown ones are not returned from
outside the box."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User

from baselines import grid
from baselines.ingest import IngestOptions, survey_ingest
from baselines.models import Country
from sharing.models import Agreement, Membership, Organisation, ReleasePolicy
from tests.worlds import accept_licences

# A sample 0.05° west of a small box, inside the same 20 km cell as the box.
LON, LAT = grid.cell_at(25.0, 62.0, 20_000).centroid_lonlat
BOX = f"{LON - 0.02},{LAT - 0.02},{LON + 0.02},{LAT + 0.02}"


@pytest.fixture
def finland(write_csv):
    path = write_csv(
        [
            ["sample_id", "longitude", "latitude", "Cu_ppm"],
            ["IN-BOX", LON, LAT, 10],
            ["NEAR-BOX", LON - 0.05, LAT, 20],
        ]
    )
    survey_ingest(
        path=path,
        options=IngestOptions(survey="Finland", medium="topsoil", scale_km=10, country="FIN"),
    )
    fin = Country.objects.by_code("FIN")
    ReleasePolicy.objects.create(country=fin, in_force=True, public_precision_m=20_000)
    return fin


def codes(client) -> set[str]:
    features = client.get("/api/v1/samples/", {"bbox": BOX}).json()["features"]
    return {f["properties"]["code"] for f in features}


@pytest.mark.django_db
def test_the_public_finds_samples_by_their_cell_not_their_point(client, finland):
    assert grid.cell_at(LON - 0.05, LAT, 20_000) == grid.cell_at(LON, LAT, 20_000)
    assert codes(client) == {"IN-BOX", "NEAR-BOX"}


@pytest.mark.django_db
def test_a_partner_with_exact_locations_gets_only_samples_inside_the_box(client, finland):
    partner = User.objects.create_user("p", password="x")
    organisation = Organisation.objects.create(name="O", slug="o")
    Membership.objects.create(organisation=organisation, user=partner)
    agreement = Agreement.objects.create(
        organisation=organisation, title="A", valid_from=dt.date(2000, 1, 1), licence_text="L"
    )
    agreement.countries.add(finland)
    accept_licences(partner)
    client.force_login(partner)
    assert codes(client) == {"IN-BOX"}
