"""Provenance on every value (issue 17 §3): the demo surveys' methods and laboratories from their
documentation, the method and detection limit that applied to every measurement (censored or
not), and the survey's table of methods and detection limits on its page and in the API."""

from __future__ import annotations

import csv
import dataclasses

import pytest

from baselines import demo, units
from baselines.models import Analyte, Survey
from baselines.provenance import read_column_methods, survey_provenance_update
from sharing.demo import demo_policies_load

# The USGS file keeps a few columns: every method it has (4-acid, hydride AAS, cold-vapour AAS),
# censored values (Ag, As, Hg) and a % column (Al).
USGS_KEEP = ("Ag_mg_kg", "Al_pct", "As_mg_kg", "Cu_mg_kg", "Hg_mg_kg", "Se_mg_kg")


def element_columns(path) -> list[units.ElementColumn]:
    with open(path, encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle))
    return [c for c in map(units.parse_element_header, header) if c is not None]


@pytest.mark.parametrize("dataset", demo.DEMO_DATASETS, ids=lambda d: d.file.stem)
def test_every_demo_element_column_has_a_documented_method(dataset):
    """No demo element without a method: the methods table names every element column of the
    file, agrees with a method the column's own suffix names, and says where each came from."""
    assert dataset.provenance is not None
    methods = read_column_methods(dataset.provenance.methods)
    columns = element_columns(dataset.file)
    assert columns
    for column in columns:
        assert methods.get(column.header), f"{column.header} has no method"
        if column.method:
            assert methods[column.header] == column.method
    with dataset.provenance.methods.open(encoding="utf-8") as handle:
        assert all(row["source"].strip() for row in csv.DictReader(handle))
    assert dataset.provenance.laboratory and dataset.provenance.method
    # Every synthetic survey is described as the real survey it derives from.
    for synthetic in demo.SYNTHETIC_DATASETS:
        assert synthetic.provenance is not None


def load(dataset: demo.DemoDataset, keep: tuple[str, ...] | None = None):
    if keep is not None:
        skip = tuple(c.header for c in element_columns(dataset.file) if c.header not in keep)
        dataset = dataclasses.replace(
            dataset, options=dataclasses.replace(dataset.options, skip_columns=skip)
        )
    return demo.demo_dataset_load(dataset)


@pytest.fixture
def demo_surveys(db):
    usgs, kola = demo.DEMO_DATASETS
    load(usgs, USGS_KEEP)
    load(kola)
    demo_policies_load()
    return (
        Survey.objects.get(name=usgs.options.survey),
        Survey.objects.get(name=kola.options.survey),
    )


@pytest.mark.django_db
def test_the_demo_loader_gives_every_element_its_method_and_laboratory(demo_surveys):
    usgs, kola = demo_surveys
    analytes = Analyte.objects.filter(survey__in=demo_surveys)
    assert analytes.count() == len(USGS_KEEP) + 52
    assert not analytes.filter(method="").exists()
    assert usgs.laboratory and kola.laboratory and usgs.method and kola.method
    assert Analyte.objects.get(survey=kola, source_column="Cu_mg_kg").method == "Aqua regia"
    assert Analyte.objects.get(survey=kola, source_column="Al_XRF_pct").method == "XRF"
    usgs_methods = {a.source_column: a.method for a in usgs.analytes.all()}
    assert usgs_methods["Hg_mg_kg"] == "Cold-vapour AAS"
    assert usgs_methods["As_mg_kg"] == usgs_methods["Se_mg_kg"] == "Hydride generation AAS"
    assert usgs_methods["Cu_mg_kg"] == "4-acid digestion, ICP-AES/ICP-MS"
    # USGS limits come from the one '<DL' each censored column holds (As <0.6, Cu <0.5); Al has
    # no censored value and so no known limit (none is made up).
    usgs_limits = {a.source_column: a.detection_limit for a in usgs.analytes.all()}
    assert usgs_limits["As_mg_kg"] == pytest.approx(0.6)
    assert usgs_limits["Cu_mg_kg"] == pytest.approx(0.5)
    assert usgs_limits["Al_pct"] is None
    # Loading again changes nothing.
    version = Survey.objects.get(pk=usgs.pk).data_version
    _, changes = load(demo.DEMO_DATASETS[0], USGS_KEEP)
    assert changes == []
    assert Survey.objects.get(pk=usgs.pk).data_version == version


@pytest.mark.django_db
def test_a_method_contradicting_the_file_is_refused(demo_surveys):
    _, kola = demo_surveys
    with pytest.raises(ValueError, match="Al_XRF_pct"):
        survey_provenance_update(survey=kola, column_methods={"Al_XRF_pct": "ICP-MS"})
    assert Analyte.objects.get(survey=kola, source_column="Al_XRF_pct").method == "XRF"


@pytest.mark.django_db
def test_every_measurement_in_the_api_carries_its_method_and_applied_limit(
    admin_client, demo_surveys
):
    client = admin_client  # staff: every Kola sample
    usgs, kola = demo_surveys
    rows = client.get(
        "/api/v1/measurements/", {"survey": kola.slug, "element": "Cu", "limit": 1000}
    ).json()["results"]
    assert len(rows) == 606
    for row in rows:
        assert row["method"] == "Aqua regia"
        assert not row["censored"] and row["detection_limit_mg_kg"] == pytest.approx(0.5)
    rows = client.get(
        "/api/v1/measurements/", {"survey": usgs.slug, "element": "As", "limit": 10000}
    ).json()["results"]
    censored = [r for r in rows if r["censored"]]
    measured = [r for r in rows if not r["censored"]]
    assert censored and measured
    assert [r["detection_limit_mg_kg"] for r in rows] == pytest.approx([0.6] * len(rows))
    assert {r["method"] for r in rows} == {"Hydride generation AAS"}
    # A survey without its own method per analyte falls back to the survey's default method.
    Analyte.objects.filter(survey=usgs, element__symbol="Al").update(method="")
    Survey.objects.filter(pk=usgs.pk).update(data_version=usgs.data_version + 1)
    row = client.get(
        "/api/v1/measurements/", {"survey": usgs.slug, "element": "Al", "limit": 1}
    ).json()["results"][0]
    assert row["method"] == usgs.method and row["detection_limit_mg_kg"] is None


@pytest.mark.django_db
def test_survey_page_and_api_show_the_methods_and_detection_limits(
    client, admin_client, demo_surveys
):
    usgs, kola = demo_surveys
    page = client.get(f"/surveys/{kola.slug}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Methods and detection limits" in html
    assert 'data-element="Cu" data-method="Aqua regia"' in html
    assert 'data-element="Al" data-method="XRF"' in html
    assert kola.laboratory in html
    detail = admin_client.get(f"/api/v1/surveys/{kola.slug}/").json()
    assert detail["laboratory"] == kola.laboratory and detail["method"] == kola.method
    table = {(r["element"], r["method"]): r for r in detail["analytes"]}
    assert len(table) == 52
    as_ = table[("As", "Aqua regia")]
    assert as_["n"] == 606 and as_["below_detection_limit"] == 10
    assert as_["below_detection_limit_pct"] == pytest.approx(1.7)
    assert as_["detection_limit_mg_kg"] == pytest.approx(0.1)
    al_xrf = table[("Al", "XRF")]
    # 0.03 wt. % as reported is 300 mg/kg stored.
    assert al_xrf["detection_limit_reported"] == pytest.approx(0.03)
    assert al_xrf["detection_limit_mg_kg"] == pytest.approx(300)
    assert al_xrf["methods"] == 2
    assert al_xrf["preferred"] != table[("Al", "Aqua regia")]["preferred"]
    # Counts are of what the viewer may see: anonymous visitors see Finland and Norway (188 +
    # 128 samples), not Russia's embargoed 290; the metadata is the same for everyone.
    public = {(r["element"], r["method"]): r for r in client.get(
        f"/api/v1/surveys/{kola.slug}/").json()["analytes"]}  # fmt: skip
    assert public[("As", "Aqua regia")]["n"] == 316
    assert public[("As", "Aqua regia")]["method"] == as_["method"]
    assert public[("Al", "XRF")]["detection_limit_mg_kg"] == pytest.approx(300)
    # The list of surveys leaves the table out (a count per survey and analyte).
    listed = client.get("/api/v1/surveys/").json()
    assert all("analytes" not in s for s in listed)
    usgs_page = client.get(f"/surveys/{usgs.slug}/").content.decode()
    assert 'data-element="Hg" data-method="Cold-vapour AAS"' in usgs_page


@pytest.mark.django_db
def test_the_synthetic_survey_carries_the_methods_of_the_survey_it_derives_from(
    client, tmp_path, demo_surveys
):
    (synthetic,) = [s.build(tmp_path) for s in demo.SYNTHETIC_DATASETS]
    load(synthetic, USGS_KEEP)
    survey = Survey.objects.get(name=synthetic.options.survey)
    assert survey.synthetic and survey.laboratory == demo.USGS_PROVENANCE.laboratory
    assert not survey.analytes.filter(method="").exists()
    page = client.get(f"/surveys/{survey.slug}/").content.decode()
    assert 'data-element="Hg" data-method="Cold-vapour AAS"' in page


@pytest.mark.django_db
def test_download_packages_carry_the_same_method_and_applied_limit(admin_user, demo_surveys):
    """The package's long table reads the method and limit as the API does (one definition)."""
    from downloads.query import DownloadQuery
    from downloads.selectors import long_rows
    from sharing.access import viewer_scope

    usgs, kola = demo_surveys
    table = long_rows(viewer_scope(admin_user), DownloadQuery(surveys=[kola.slug], elements=["Cu"]))
    rows = [dict(zip(table.columns, row.values(), strict=True)) for row in table.rows]
    assert len(rows) == 606
    for row in rows:
        assert row["method"] == "Aqua regia"
        assert row["censored"] == "false" and row["detection_limit_mg_kg"] == pytest.approx(0.5)
    Analyte.objects.filter(survey=usgs, element__symbol="Al").update(method="")
    table = long_rows(viewer_scope(admin_user), DownloadQuery(surveys=[usgs.slug], elements=["Al"]))
    methods = {dict(zip(table.columns, r.values(), strict=True))["method"] for r in table.rows}
    assert methods == {usgs.method}
