"""Green-land ratings and certificates: a rating equals an independent computation on a hand-made
plot (values in every pH band, one above a limit, one without pH); certificates are signed and
verified by key id (tampering fails, rotated-out keys still verify, revocation and newer data
are said); an embargoed survey's values never reach the public page (a byte check); the QR code
on the printable page decodes (zbarimg) to the verification URL; bad unit files are refused
whole with the feature named."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import subprocess

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import F
from django.urls import reverse

from baselines.ingest import IngestOptions, survey_ingest
from baselines.models import Country, Survey
from certificates.models import AdminUnit, Certificate
from certificates.selectors import TOO_FEW, certificate_status, unit_rating
from certificates.services import (
    CertificateError,
    UnitUploadError,
    certificate_issue,
    certificate_revoke,
    units_upload,
)
from certificates.signing import new_key_pair
from dashboards.models import SoilStandard
from sharing.access import viewer_scope
from sharing.models import AuditEvent, ReleasePolicy, Stewardship

# GB 15618-2018, "other" land use, by pH band ≤5.5 / 5.5–6.5 / 6.5–7.5 / >7.5 (architecture §10).
SCREENING = {"Cd": [0.3, 0.3, 0.3, 0.6], "Pb": [70, 90, 120, 170]}
INTERVENTION = {"Cd": [1.5, 2.0, 3.0, 4.0], "Pb": [400, 500, 700, 1000]}
# (pH or "", Cd, Pb) inside the plot: every band, a censored Cd, Pb above screening in band 2
# (95 > 90), and a sample without pH whose Cd (0.31) exceeds only the strictest band's 0.3.
PLOT_ROWS = [
    ("5.0", "0.25", "60"),
    ("6.0", "0.28", "85"),
    ("7.0", "0.29", "110"),
    ("8.0", "0.5", "160"),
    ("6.0", "<0.05", "95"),
    ("", "0.31", "50"),
]
# In the county, outside the plot: above the intervention values.
OUTSIDE_ROW = ("5.0", "9.9", "5000")
PLOT = (-100.2, -99.4, 39.9, 40.1)  # west, east, south, north
TOWNSHIP = (-100.5, -99.0, 39.5, 40.5)
COUNTY = (-101.0, -98.0, 39.0, 41.0)


def band(ph: str) -> int | None:
    if not ph:
        return None
    value = float(ph)
    return 0 if value <= 5.5 else 1 if value <= 6.5 else 2 if value <= 7.5 else 3


def expected(rows) -> dict:
    """The rating computed from the rule's words, independently of the SQL."""
    out = {}
    for column, symbol in ((1, "Cd"), (2, "Pb")):
        stats, classes, censored = [], [], 0
        for row in rows:
            raw, b = row[column], band(row[0])
            s = min(SCREENING[symbol]) if b is None else SCREENING[symbol][b]
            i = min(INTERVENTION[symbol]) if b is None else INTERVENTION[symbol][b]
            if raw.startswith("<"):
                censored += 1
                stats.append(float(raw[1:]) / 2)
                classes.append(0)
                continue
            value = float(raw)
            stats.append(value)
            classes.append(2 if value > i else 1 if value > s else 0)
        out[symbol] = {
            "n": len(rows), "censored": censored, "median": float(np.median(stats)),
            "max": max(stats), "class": ["priority_protection", "safe_use", "strict_control"][
                max(classes)],
        }  # fmt: skip
    worst = max(["priority_protection", "safe_use", "strict_control"].index(e["class"])
                for e in out.values())  # fmt: skip
    out["grade"] = ["priority_protection", "safe_use", "strict_control"][worst]
    return out


def box_feature(code, name, box, parent="", name_zh=""):
    w, e, s, n = box
    return {"type": "Feature",
            "properties": {"code": code, "name": name, "name_zh": name_zh, "parent": parent},
            "geometry": {"type": "Polygon",
                         "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}}  # fmt: skip


@pytest.fixture
def geojson(tmp_path):
    def write(*features, name="units.geojson", crs=None):
        data = {"type": "FeatureCollection", "features": list(features)}
        if crs:
            data["crs"] = {"type": "name", "properties": {"name": crs}}
        path = tmp_path / name
        path.write_text(json.dumps(data), encoding="utf-8")
        return path

    return write


def ingest(write_csv, name, country, rows, lons, lat=40.0):
    header = ["sample_id", "longitude", "latitude", "ph", "Cd_ppm", "Pb_ppm"]
    body = [
        [f"{name}{i}", lon, lat, *row] for i, (row, lon) in enumerate(zip(rows, lons, strict=True))
    ]
    survey_ingest(
        path=write_csv([header, *body], f"{name}.csv"),
        options=IngestOptions(survey=name, medium="topsoil", scale_km=10, country=country),
    )
    return Survey.objects.get(name=name)


@pytest.fixture
def steward(db):
    user = get_user_model().objects.create_user("steward", password="x")
    Stewardship.objects.create(user=user, country=Country.objects.by_code("USA"))
    return user


@pytest.fixture
def plot(write_csv, geojson, steward):
    """A USA survey (public) with the hand-made rows in the plot and one row outside it, and the
    county → township → plot hierarchy over it; returns the plot."""
    lons = [-100.1 + 0.1 * i for i in range(len(PLOT_ROWS))]
    ingest(write_csv, "plot soils", "USA", [*PLOT_ROWS, OUTSIDE_ROW], [*lons, -98.5])
    ReleasePolicy.objects.create(country=Country.objects.by_code("USA"), in_force=True)
    units_upload(path=geojson(box_feature("C1", "County", COUNTY)), level="county", user=steward)
    units_upload(path=geojson(box_feature("T1", "Township", TOWNSHIP, "C1")), level="township",
                 user=steward)  # fmt: skip
    (unit,) = units_upload(
        path=geojson(box_feature("P1", "Plot", PLOT, "T1", "地块")), level="plot", user=steward
    )
    return unit


def gb15618():
    return SoilStandard.objects.get(code="gb15618-2018")


@pytest.mark.django_db
def test_rating_equals_an_independent_computation(plot):
    rating = unit_rating(viewer_scope(None), plot, gb15618())
    want = expected(PLOT_ROWS)
    by_element = {e["element"]: e for e in rating.data["elements"]}
    assert set(by_element) == {"Cd", "Pb"}
    for symbol in ("Cd", "Pb"):
        got = by_element[symbol]
        assert got["n"] == want[symbol]["n"] == len(PLOT_ROWS)
        assert got["censored"] == want[symbol]["censored"]
        assert got["median"] == pytest.approx(want[symbol]["median"], rel=1e-3)
        assert got["max"] == pytest.approx(want[symbol]["max"], rel=1e-3)
        assert got["class"] == want[symbol]["class"]
    assert rating.grade == want["grade"] == "safe_use"
    # Checked by hand too: Cd's median of (0.025, 0.25, 0.28, 0.29, 0.31, 0.5) is 0.285; the
    # sample without pH (0.31 > 0.3) and Pb 95 in band 5.5–6.5 (> 90) make it safe use.
    assert by_element["Cd"]["median"] == pytest.approx(0.285)
    assert by_element["Cd"]["class"] == "safe_use" and by_element["Pb"]["class"] == "safe_use"
    assert rating.data["ph_unknown_samples"] == 1 and rating.data["samples"] == len(PLOT_ROWS)
    assert rating.data["meets"] is False
    assert "strictest band where its pH is unknown" in rating.data["rule"]
    # The data (cached for every viewer, signed into certificates) keeps the rule in English.
    from django.core.cache import cache
    from django.utils import translation

    cache.clear()
    with translation.override("zh-hans"):
        again = unit_rating(viewer_scope(None), plot, gb15618())
    assert again.data["rule"] == rating.data["rule"]
    # The county holds the row outside the plot, above both intervention values.
    county = unit_rating(viewer_scope(None), AdminUnit.objects.get(code="C1"), gb15618())
    assert county.data["samples"] == len(PLOT_ROWS) + 1 and county.grade == "strict_control"


@pytest.mark.django_db
def test_too_few_samples_is_a_stated_result(plot, steward, settings):
    settings.CERTIFICATE_MIN_SAMPLES = len(PLOT_ROWS) + 1
    rating = unit_rating(viewer_scope(None), plot, gb15618())
    assert rating.grade == TOO_FEW and rating.data["meets"] is None
    with pytest.raises(CertificateError, match="too few samples to rate: 6"):
        certificate_issue(unit=plot, standard=gb15618(), user=steward)
    assert not Certificate.objects.exists()


@pytest.mark.django_db
def test_only_stewards_and_partners_issue(plot):
    someone = get_user_model().objects.create_user("someone", password="x")
    with pytest.raises(CertificateError, match="only a steward or a partner"):
        certificate_issue(unit=plot, standard=gb15618(), user=someone)
    assert not Certificate.objects.exists()


@pytest.mark.django_db
def test_signed_certificate_verifies_and_tampering_fails(plot, steward):
    certificate = certificate_issue(unit=plot, standard=gb15618(), user=steward)
    assert certificate_status(certificate).state == "current"
    payload = json.loads(certificate.payload)
    assert payload["kid"] == certificate.key_id and payload["id"] == certificate.public_id
    assert payload["grade"] == "safe_use" and payload["standard"]["code"] == "gb15618-2018"
    assert payload["data_version"] and payload["policy_version"]
    # One changed character in the stored content: the signature no longer matches.
    Certificate.objects.filter(pk=certificate.pk).update(
        payload=certificate.payload.replace('"grade":"safe_use"', '"grade":"priority_protection"')
    )
    tampered = Certificate.objects.get(pk=certificate.pk)
    status = certificate_status(tampered)
    assert status.state == "not_genuine" and "does not match" in status.reason
    # Another certificate's genuine content pasted into this row is caught by its id.
    other = certificate_issue(unit=plot, standard=gb15618(), user=steward)
    Certificate.objects.filter(pk=certificate.pk).update(
        payload=other.payload, signature=other.signature
    )
    assert certificate_status(Certificate.objects.get(pk=certificate.pk)).state == "not_genuine"


@pytest.mark.django_db
def test_a_rotated_out_key_still_verifies_by_its_kid(plot, steward, settings):
    old_private, old_public = new_key_pair("2025-old")
    new_private, _new_public = new_key_pair("2026-new")
    settings.CERTIFICATE_SIGNING_KEY = old_private
    certificate = certificate_issue(unit=plot, standard=gb15618(), user=steward)
    assert certificate.key_id == "2025-old"
    settings.CERTIFICATE_SIGNING_KEY = new_private
    settings.CERTIFICATE_VERIFY_KEYS = [old_public]
    assert certificate_status(certificate).genuine
    newer = certificate_issue(unit=plot, standard=gb15618(), user=steward)
    assert newer.key_id == "2026-new" and certificate_status(newer).state == "current"
    # The old certificate is superseded by the newer one, still genuine.
    assert certificate_status(certificate).state == "superseded"
    settings.CERTIFICATE_VERIFY_KEYS = []  # the old key no longer trusted
    status = certificate_status(certificate)
    assert not status.genuine and "unknown key '2025-old'" in status.reason


@pytest.mark.django_db
def test_revocation_is_audited_and_said(plot, steward, client):
    certificate = certificate_issue(unit=plot, standard=gb15618(), user=steward)
    someone = get_user_model().objects.create_user("someone", password="x")
    with pytest.raises(CertificateError):
        certificate_revoke(certificate=certificate, user=someone, reason="no")
    with pytest.raises(CertificateError, match="say why"):
        certificate_revoke(certificate=certificate, user=steward, reason=" ")
    certificate_revoke(certificate=certificate, user=steward, reason="survey re-analysed")
    assert certificate_status(certificate).state == "revoked"
    event = AuditEvent.objects.filter(kind="certificate", summary__contains="revoked").get()
    assert event.user == steward and event.country.code == "USA"
    page = client.get(reverse("portal:certificate-verify", args=[certificate.public_id]))
    assert b"revoked" in page.content and b"survey re-analysed" in page.content


@pytest.mark.django_db
def test_newer_data_supersedes(plot, steward):
    certificate = certificate_issue(unit=plot, standard=gb15618(), user=steward)
    Survey.objects.update(data_version=F("data_version") + 1)
    status = certificate_status(certificate)
    assert status.data_changed and status.state == "superseded"


@pytest.mark.django_db
def test_embargoed_values_never_reach_the_public_page(write_csv, geojson, client):
    """A Norwegian survey embargoed until 2099: its steward rates and certifies the plot; the
    public page shows the verdict and "withheld until 2099-01-01", and none of the values."""
    rows = [("6.0", "0.4321", "87.65"), ("6.0", "0.4123", "86.54"), ("", "0.4456", "88.76")]
    ingest(write_csv, "nor soils", "NOR", rows, [10.1, 10.2, 10.3], lat=60.0)
    policy = ReleasePolicy.objects.create(
        country=Country.objects.by_code("NOR"), in_force=True, available_on=dt.date(2099, 1, 1)
    )
    steward = get_user_model().objects.create_user("nor-steward", password="x")
    Stewardship.objects.create(user=steward, country=Country.objects.by_code("NOR"))
    units_upload(path=geojson(box_feature("N1", "Nor county", (9.5, 11, 59.5, 60.5))),
                 level="county", user=steward)  # fmt: skip
    unit = AdminUnit.objects.get(code="N1")
    certificate = certificate_issue(unit=unit, standard=gb15618(), user=steward)
    values = [e for e in json.loads(certificate.payload)["elements"]]
    numbers = {str(v) for e in values for v in (e["median"], e["max"])}
    assert {"0.4456", "88.76", "0.4321", "87.65"} <= numbers
    url = reverse("portal:certificate-verify", args=[certificate.public_id])
    api_url = reverse("api:certificate", args=[certificate.public_id])
    for viewer in (None, steward):  # the public page is public whoever looks
        if viewer:
            client.force_login(viewer)
        answer = client.get(api_url)
        assert answer.status_code == 200 and answer.json()["state"] == "current"
        assert {e["withheld_until"] for e in answer.json()["elements"]} == {"2099-01-01"}
        assert answer.json()["samples"] is None  # not even how many samples there are
        for number in numbers:
            assert number.encode() not in answer.content, number
        body = client.get(url).content
        assert b"withheld until 2099-01-01" in body
        for number in numbers | {"0.4321", "87.65", "0.4456", "88.76", "0.432", "87.6"}:
            assert number.encode() not in body, number
        assert b"safe use" in body or b"priority protection" in body
    client.logout()
    # Anonymous raters see no row of the embargoed survey: too few samples.
    assert unit_rating(viewer_scope(None), unit, gb15618()).grade == TOO_FEW
    # Released: the values appear at the next request.
    policy.available_on = dt.date(2000, 1, 1)
    policy.save()
    body = client.get(url).content
    assert b"withheld" not in body and b"88.76" in body
    assert b"88.76" in client.get(api_url).content
    assert client.get(api_url).json()["samples"] == 3


@pytest.mark.django_db
def test_the_qr_code_decodes_to_the_verification_url(plot, steward, client):
    certificate = certificate_issue(unit=plot, standard=gb15618(), user=steward)
    for language in ("en", "zh-hans"):
        page = client.get(
            reverse("portal:certificate-print", args=[certificate.public_id]), {"lang": language}
        )
        assert page.status_code == 200
        match = re.search(rb'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page.content)
        png = base64.b64decode(match.group(1))
        decoded = (
            subprocess.run(
                ["zbarimg", "--raw", "-q", "-"], input=png, capture_output=True, check=True
            )
            .stdout.decode()
            .strip()
        )
        assert decoded == f"http://testserver/certificates/{certificate.public_id}/"
    assert "地块".encode() in page.content  # the Chinese page names the unit in Chinese


@pytest.mark.django_db
def test_the_pdf_is_made_in_both_languages(plot, steward, client):
    certificate = certificate_issue(unit=plot, standard=gb15618(), user=steward)
    for language in ("en", "zh-hans"):
        response = client.get(
            reverse("portal:certificate-pdf", args=[certificate.public_id]), {"lang": language}
        )
        assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF-")
        # poppler-utils (APT_PACKAGES): the words are in the PDF, Chinese in an embedded Noto CJK.
        text = subprocess.run(
            ["pdftotext", "-", "-"], input=response.content, capture_output=True, check=True
        ).stdout.decode()
        assert ("地块" in text) if language == "zh-hans" else ("Green-land certificate" in text)
        fonts = subprocess.run(
            ["pdffonts", "-"], input=response.content, capture_output=True, check=True
        ).stdout.decode()
        if language == "zh-hans":
            assert "Noto-Sans-CJK" in fonts


# --- bad unit files ------------------------------------------------------------------------------

BOW_TIE = {"type": "Feature", "properties": {"code": "X", "name": "Twisted", "parent": ""},
           "geometry": {"type": "Polygon", "coordinates": [[[-100, 40], [-99, 41], [-99, 40],
                                                             [-100, 41], [-100, 40]]]}}  # fmt: skip
EMPTY = {"type": "Feature", "properties": {"code": "E", "name": "Empty", "parent": ""},
         "geometry": {"type": "Polygon", "coordinates": []}}  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize(
    "features, level, crs, message",
    [
        ([BOW_TIE], "county", None, r"feature 2 \(X\): invalid polygon: Self-intersection"),
        ([EMPTY], "county", None, r"feature 2 \(E\): an empty polygon"),
        ([box_feature("F", "Far", (100, 101, 10, 11))], "county", None,
         r"feature 2 \(F\): outside every survey"),
        ([box_feature("M", "Metres", (-11_000_000, -10_900_000, 4_800_000, 4_900_000))],
         "county", None, r"feature 2 \(M\): coordinates outside ±180, ±90 .*wrong or missing CRS"),
        ([box_feature("T", "Township", TOWNSHIP, "NOPE")], "township", None,
         r"feature 2 \(T\): unknown parent 'NOPE'"),
        ([box_feature("T", "Township", TOWNSHIP, "")], "township", None,
         r"feature 2 \(T\): empty 'parent'"),
    ],
)  # fmt: skip
def test_bad_unit_files_are_refused_whole(write_csv, geojson, steward, features, level, crs,
                                          message):  # fmt: skip
    ingest(write_csv, "s", "USA", PLOT_ROWS, [-100.1 + 0.1 * i for i in range(6)])
    ReleasePolicy.objects.create(country=Country.objects.by_code("USA"), in_force=True)
    good = box_feature("G", "Good county", COUNTY)
    if level == "township":
        units_upload(path=geojson(good), level="county", user=steward)
        good = box_feature("G2", "Good township", TOWNSHIP, "G")
    before = AdminUnit.objects.count()
    with pytest.raises(UnitUploadError, match=message):
        units_upload(path=geojson(good, *features, crs=crs), level=level, user=steward)
    assert AdminUnit.objects.count() == before  # the good first feature is not stored either


@pytest.mark.django_db
def test_a_geopackage_in_a_projected_crs_is_read(write_csv, geojson, steward, tmp_path):
    ingest(write_csv, "s", "USA", PLOT_ROWS, [-100.1 + 0.1 * i for i in range(6)])
    source = geojson(box_feature("C", "County", COUNTY))
    gpkg = tmp_path / "units.gpkg"
    subprocess.run(["ogr2ogr", "-f", "GPKG", "-s_srs", "EPSG:4326", "-t_srs", "EPSG:3857",
                    str(gpkg), str(source)], check=True)  # fmt: skip
    (unit,) = units_upload(path=gpkg, level="county", user=steward)
    assert [round(v, 6) for v in unit.geom.extent] == [-101, 39, -98, 41]


@pytest.mark.django_db
def test_pages_refuse_bad_input_with_a_message(plot, steward, client, geojson):
    unit_url = reverse("portal:certificate-unit", args=["P1"])
    response = client.get(unit_url, {"standard": "ny-t-391"})
    assert response.status_code == 400 and b"unknown standard &#x27;ny-t-391&#x27;" in (
        response.content
    )
    client.force_login(steward)
    response = client.post(reverse("portal:certificate-issue", args=["P1"]),
                           {"standard": "ny-t-391"}, follow=True)  # fmt: skip
    assert b"unknown standard" in response.content and not Certificate.objects.exists()
    data = json.dumps({"type": "FeatureCollection", "features": [BOW_TIE]}).encode()
    response = client.post(
        reverse("portal:certificate-units"),
        {"file": SimpleUploadedFile("u.geojson", data), "level": "county"},
    )
    assert response.status_code == 400 and b"Self-intersection" in response.content
    assert AdminUnit.objects.count() == 3
    client.logout()
    response = client.post(
        reverse("portal:certificate-units"),
        {"file": SimpleUploadedFile("u.geojson", data), "level": "county"},
    )
    assert response.status_code == 403


@pytest.mark.django_db
def test_the_map_counts_issued_labels(plot, steward, client):
    certificate_issue(unit=plot, standard=gb15618(), user=steward)
    body = client.get(reverse("api:certificate-units")).json()
    by_code = {f["properties"]["code"]: f["properties"] for f in body["features"]}
    assert by_code["P1"]["issued"] == 1 and by_code["P1"]["grade"] == "safe_use"
    assert by_code["C1"]["issued"] == 0 and by_code["C1"]["grade"] == "strict_control"
    page = client.get(reverse("portal:certificates"))
    assert page.status_code == 200 and b"1 label issued." in page.content


@pytest.mark.django_db
def test_the_demo_loads_a_labelled_hierarchy_with_two_plot_certificates(client):
    from baselines.demo import DEMO_DATASETS
    from certificates.demo import SOURCE, demo_units_load
    from sharing.demo import demo_policies_load

    kola = DEMO_DATASETS[1]
    survey_ingest(path=kola.file, options=kola.options)
    demo_policies_load()
    made = demo_units_load()
    assert AdminUnit.objects.filter(source=SOURCE).count() == 4
    assert all("example" in u.name_en.lower() for u in AdminUnit.objects.all())
    assert Certificate.objects.count() == 2, made
    assert demo_units_load() == []  # a second run changes nothing
    norway = Certificate.objects.get(unit__code="EX-PASVIK-P1")
    russia = Certificate.objects.get(unit__code="EX-PASVIK-P2")
    body = client.get(reverse("portal:certificate-verify", args=[norway.public_id])).content
    assert b"Genuine and current" in body and b"withheld until" not in body
    # Norway's policy keeps Ni confidential: withheld with no date; Cd is public.
    elements = {e["element"]: e for e in json.loads(norway.payload)["elements"]}
    assert "Ni" in elements and b"withheld: not public" in body
    assert str(elements["Cd"]["median"]).encode() in body
    body = client.get(reverse("portal:certificate-verify", args=[russia.public_id])).content
    assert b"withheld until" in body


@pytest.mark.django_db
def test_the_api_answers_ratings_and_refuses_bad_input_with_a_reason(plot, client):
    url = reverse("api:certificate-rating", args=["P1"])
    body = client.get(url).json()
    assert body["grade"] == "safe_use" and body["samples"] == len(PLOT_ROWS)
    bad = client.get(url, {"standard": "ny-t-391"})
    assert (
        bad.status_code == 400 and "unknown standard 'ny-t-391'" in bad.json()["reason"]["standard"]
    )
    assert client.get(url, {"medium": "lava"}).status_code == 400
    missing = client.get(reverse("api:certificate-rating", args=["NOPE"]))
    assert missing.status_code == 404 and "reason" in missing.json()
    assert client.get(reverse("api:certificate", args=["nope"])).status_code == 404


@pytest.mark.django_db
def test_a_steward_draws_a_plot_inside_a_township(plot, steward, client):
    url = reverse("portal:certificate-draw-plot", args=["T1"])
    ring = [[-100.15, 39.95], [-99.95, 39.95], [-99.95, 40.05], [-100.15, 40.05], [-100.15, 39.95]]
    form = {"code": "P2", "name": "Drawn plot", "name_zh": "绘制地块",
            "polygon": json.dumps({"type": "Polygon", "coordinates": [ring]})}  # fmt: skip
    assert client.post(url, form).status_code == 403  # anonymous: no
    client.force_login(steward)
    twisted = [
        [-100.15, 39.95],
        [-99.95, 40.05],
        [-99.95, 39.95],
        [-100.15, 40.05],
        [-100.15, 39.95],
    ]
    for polygon, message in (
        (json.dumps({"type": "Polygon", "coordinates": [twisted]}), b"Self-intersection"),
        ("not json", b"not GeoJSON"),
        (json.dumps({"type": "Point", "coordinates": [-100, 40]}), b"at least three points"),
        (json.dumps({"type": "Polygon", "coordinates": [[[-100.45, 39.6], [-100.3, 39.6],
                                                         [-100.3, 39.8], [-100.45, 39.6]]]}),
         b"outside every survey"),
        (json.dumps({"type": "Polygon", "coordinates": [[[-97, 39.6], [-96.5, 39.6],
                                                         [-96.5, 39.8], [-97, 39.6]]]}),
         b"outside its parent"),
    ):  # fmt: skip
        response = client.post(url, {**form, "polygon": polygon}, follow=True)
        assert message in response.content, message
        assert not AdminUnit.objects.filter(code="P2").exists()
    response = client.post(url, form)
    assert response.status_code == 302 and response["Location"].endswith("/certificates/units/P2/")
    drawn = AdminUnit.objects.get(code="P2")
    assert drawn.parent.code == "T1" and drawn.level == "plot" and drawn.name_zh == "绘制地块"
    # A county is not a township: no plot is drawn straight into it.
    assert (
        client.post(reverse("portal:certificate-draw-plot", args=["C1"]), form).status_code == 404
    )


@pytest.mark.django_db
def test_a_viewer_limited_to_20_km_cells_rates_by_cell_and_sees_no_plot_values(
    write_csv, geojson, client, settings
):
    """Finland publishes locations as 20 km cells: the public rates a plot with the samples
    whose cell centre lies in it (not their exact points), and a small plot's values are a
    product finer than 20 km, so its certificate's public page withholds them (rule 3)."""
    from baselines import grid

    lon, lat = 25.0, 62.0
    centre = grid.cell_at(lon, lat, 20_000).centroid_lonlat
    settings.CERTIFICATE_MIN_SAMPLES = 2
    # Two samples near (25, 62), one next to their 20 km cell's centre: one cell, three samples.
    header = ["sample_id", "longitude", "latitude", "ph", "Cd_ppm", "Pb_ppm"]
    body = [["F1", lon, lat, "6.0", "0.2", "40"], ["F2", lon + 0.001, lat, "6.0", "0.25", "45"],
            ["F3", centre[0] + 0.001, centre[1] + 0.001, "6.0", "0.21", "42"]]  # fmt: skip
    survey_ingest(
        path=write_csv([header, *body], "fin.csv"),
        options=IngestOptions(survey="fin soils", medium="topsoil", scale_km=10, country="FIN"),
    )
    assert len({grid.cell_at(r[1], r[2], 20_000).code for r in body}) == 1
    ReleasePolicy.objects.create(
        country=Country.objects.by_code("FIN"), in_force=True, public_precision_m=20_000
    )
    steward = get_user_model().objects.create_user("fin-steward", password="x")
    Stewardship.objects.create(user=steward, country=Country.objects.by_code("FIN"))
    around_points = (lon - 0.01, lon + 0.01, lat - 0.01, lat + 0.01)
    around_centre = (centre[0] - 0.01, centre[0] + 0.01, centre[1] - 0.01, centre[1] + 0.01)
    assert not (around_points[0] <= centre[0] <= around_points[1]
                and around_points[2] <= centre[1] <= around_points[3])  # fmt: skip
    units_upload(path=geojson(box_feature("F1", "Exact", around_points)), level="county",
                 user=steward)  # fmt: skip
    units_upload(path=geojson(box_feature("F2", "Centre", around_centre)), level="county",
                 user=steward)  # fmt: skip
    exact, by_centre = AdminUnit.objects.get(code="F1"), AdminUnit.objects.get(code="F2")
    public = viewer_scope(None)
    assert unit_rating(public, exact, gb15618()).data["samples"] == 0
    assert unit_rating(public, by_centre, gb15618()).data["samples"] == 3
    assert unit_rating(public, by_centre, gb15618()).data["precision_km"] == [20]
    assert unit_rating(viewer_scope(steward), exact, gb15618()).data["samples"] == 2
    assert unit_rating(viewer_scope(steward), by_centre, gb15618()).data["samples"] == 1
    certificate = certificate_issue(unit=exact, standard=gb15618(), user=steward)
    body = client.get(reverse("portal:certificate-verify", args=[certificate.public_id])).content
    assert b"withheld: not public" in body
    for element in json.loads(certificate.payload)["elements"]:
        assert str(element["median"]).encode() not in body


@pytest.mark.django_db
def test_production_without_a_key_issues_nothing_and_the_demo_says_why(settings, plot, steward):
    from baselines.demo import DEMO_DATASETS
    from certificates.demo import demo_units_load
    from certificates.signing import SigningUnavailable
    from sharing.demo import demo_policies_load

    settings.PRODUCTION = True
    settings.CERTIFICATE_SIGNING_KEY = ""
    with pytest.raises(SigningUnavailable):
        certificate_issue(unit=plot, standard=gb15618(), user=steward)
    kola = DEMO_DATASETS[1]
    survey_ingest(path=kola.file, options=kola.options)
    demo_policies_load()
    made = demo_units_load()
    assert sum("CERTIFICATE_SIGNING_KEY is not set" in m for m in made) == 2, made
    assert not Certificate.objects.exists()
