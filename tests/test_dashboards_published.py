"""The element-baseline table reproduces published statistics of the demo's USGS 0–5 cm soils.

The publication: the USGS abstract of Smith et al. (Geological Society of America, 2013), as quoted
in demo_data/usgs_ds801_top5cm_soil/README.md ("Checks done"): arsenic "less than 0.6 mg/kg (the
method detection limit)" at its lowest and a "median of 5.2 mg/kg for the 0–5-cm … soils". The
data: Smith, D.B., Cannon, W.F., Woodruff, L.G., Solano, F., Kilburn, J.E., and Fey, D.L. (2013),
USGS Data Series 801, top 5 cm (4,841 samples with As; citation in baselines/demo.py).

The portal's median counts values below detection at DL/2 (docs/architecture.md); 56 of the
4,841 As values are below 0.6 mg/kg, too few to move the median.
"""

from __future__ import annotations

import dataclasses

import pytest

from baselines import demo
from baselines.ingest import survey_ingest
from baselines.models import Medium
from dashboards import selectors
from dashboards.regions import region_of
from sharing.access import viewer_scope

PUBLISHED_AS_MEDIAN_MG_KG = 5.2  # Smith et al. 2013, GSA abstract: 0–5 cm soils
PUBLISHED_AS_DETECTION_LIMIT_MG_KG = 0.6


@pytest.fixture
def usgs(db):
    real = demo.DEMO_DATASETS[0]
    header = real.file.open(encoding="utf-8").readline().strip().split(",")
    keep = ("As_mg_kg", "Pb_mg_kg")
    skip = tuple(c for c in header if c.endswith(("_mg_kg", "_pct")) and c not in keep)
    report = survey_ingest(
        path=real.file, options=dataclasses.replace(real.options, skip_columns=skip)
    )
    assert report.samples_added == 4841


@pytest.mark.django_db
def test_the_arsenic_baseline_is_the_published_one(usgs, django_user_model):
    staff = django_user_model.objects.create_user("staff-published", is_staff=True)
    figure = selectors.element_baselines(
        viewer_scope(staff), region_of("country:USA"), Medium.objects.get(code="topsoil")
    )
    arsenic = next(e for e in figure.data["elements"] if e["element"] == "As")
    assert arsenic["unit"] == "mg/kg"
    assert arsenic["n"] == 4841
    assert arsenic["median"] == pytest.approx(PUBLISHED_AS_MEDIAN_MG_KG, abs=0.05)
    assert arsenic["censored"] == 56
    # Censored values enter at DL/2: the minimum is half the published detection limit.
    assert arsenic["min"] == pytest.approx(PUBLISHED_AS_DETECTION_LIMIT_MG_KG / 2)
    assert arsenic["max"] == pytest.approx(830)
