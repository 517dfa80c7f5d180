"""``sharing.access.visible_measurements_of`` (the visible measurements of known samples, found
without joining the sample table) gives exactly the rows ``visible_measurements`` gives for the
same samples, for every viewer: public grants with a confidential element, an agreement limited
to some elements, staff."""

from __future__ import annotations

import random

import pytest
from django.contrib.auth.models import User

from baselines.ingest import IngestOptions, survey_ingest
from baselines.models import Country, Element, Sample
from sharing.access import viewer_scope, visible_measurements, visible_measurements_of
from sharing.models import ReleasePolicy
from tests.worlds import accept_licences, partner_with_agreement


@pytest.fixture
def world(write_csv):
    header = ["sample_id", "longitude", "latitude", "Cu_ppm", "Zn_ppm", "Pb_ppm"]
    for country, lon, lat in (("FIN", 25.0, 62.0), ("NOR", 10.0, 60.0), ("SWE", 15.0, 60.0)):
        rows = [[f"{country}-{i}", lon + i * 0.1, lat, i, i + 1, i + 2] for i in range(20)]
        survey_ingest(
            path=write_csv([header, *rows], f"{country}.csv"),
            options=IngestOptions(survey=country, medium="topsoil", scale_km=10, country=country),
        )
    fin = ReleasePolicy.objects.create(country=Country.objects.by_code("FIN"), in_force=True)
    fin.confidential_elements.add(Element.objects.get(symbol="Zn"))
    ReleasePolicy.objects.create(country=Country.objects.by_code("NOR"), in_force=True)
    # Sweden has no policy (nothing public); the agreement grants it and names Cu and Pb.
    partner, agreement = partner_with_agreement(["SWE", "FIN"])
    agreement.elements.set(Element.objects.filter(symbol__in=["Cu", "Pb"]))
    accept_licences(partner)
    staff = User.objects.create_user("staff", password="x", is_staff=True)
    return {"anonymous": None, "partner": partner, "staff": staff}


@pytest.mark.django_db
@pytest.mark.parametrize("viewer", ["anonymous", "partner", "staff"])
def test_page_rows_equal_the_gates_rows_for_the_same_samples(world, viewer):
    scope = viewer_scope(world[viewer])
    samples = list(Sample.objects.values_list("pk", "country_id", "survey_id"))
    chooser = random.Random(7)
    for size in (1, 5, 17, len(samples)):
        page = chooser.sample(samples, size)
        ids = [pk for pk, _, _ in page]
        got = set(visible_measurements_of(scope, page).values_list("pk", flat=True))
        want = set(
            visible_measurements(scope).filter(sample_id__in=ids).values_list("pk", flat=True)
        )
        assert got == want, (viewer, size)
    # The world exercises every restriction: Finland's Zn confidential (the agreement does not
    # name it, so the partner does not get it), Sweden unpublished but granted by the agreement.
    total = visible_measurements_of(scope, samples).count()
    assert total == {"anonymous": 40 + 60, "partner": 40 + 60 + 60, "staff": 180}[viewer]
