"""Download packages: asked for through the API, built by a real Celery worker, fetched through
a signed link, and holding exactly the rows the gate shows the asker.

The world: NOR public with Ni confidential, FIN public at 20 km cells, EST without a policy but
granted (exactly, every element) by a partner's agreement, SWE without a policy at all.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core import signing

from baselines.models import Country, Element, Sample
from downloads import selectors, services
from downloads.models import DownloadJob
from downloads.query import DownloadQuery
from sharing.access import shown_location, viewer_scope, visible_measurements, visible_samples
from sharing.models import AuditEvent, ReleasePolicy
from tests.worlds import accept_licences, api_token, ingest_survey, partner_with_agreement

# Packages go to a directory of this run, shared with the test worker (which inherits the
# environment: set before any worker starts, at collection).
os.environ["DOWNLOAD_ROOT"] = tempfile.mkdtemp(prefix="chemearth-downloads-")


@pytest.fixture(scope="module", autouse=True)
def download_root():
    from django.conf import settings

    settings.DOWNLOAD_ROOT = Path(os.environ["DOWNLOAD_ROOT"])
    yield settings.DOWNLOAD_ROOT
    shutil.rmtree(settings.DOWNLOAD_ROOT, ignore_errors=True)


HEADER = ("sample_id", "longitude", "latitude", "Cu_ppm", "Ni_ppm")
SURVEYS = {
    "NOR": [("N-1", 10.51, 60.12, 11.25, 31.5), ("N-2", 10.73, 60.31, "<0.5", 32.5)],
    "FIN": [("F-1", 25.0123, 62.0456, 21.5, ""), ("F-2", 25.2345, 62.3456, 22.5, "")],
    "EST": [("E-1", 25.51, 58.71, 41.5, 51.5), ("E-2", 25.81, 58.93, 42.5, 52.5)],
    "SWE": [("S-1", 15.11, 60.21, 61.5, 71.5)],
}


@pytest.fixture
def world(write_csv):
    surveys = {}
    for code, rows in SURVEYS.items():
        surveys[code] = ingest_survey(write_csv, rows, country=code, header=HEADER)
    nor = ReleasePolicy.objects.create(country=Country.objects.by_code("NOR"), in_force=True)
    nor.confidential_elements.set([Element.objects.get(symbol="Ni")])
    ReleasePolicy.objects.create(
        country=Country.objects.by_code("FIN"), in_force=True, public_precision_m=20_000
    )
    partner, agreement = partner_with_agreement(["EST"], accepted=False, licence_text="Cite EST.")
    return {"surveys": surveys, "partner": partner, "agreement": agreement}


def gate_rows(user, **filters) -> set[int]:
    """The measurement ids the gate shows ``user`` (preferred methods), the oracle."""
    rows = visible_measurements(viewer_scope(user)).preferred().filter(**filters)
    return set(rows.values_list("id", flat=True))


def wait_ready(client, url: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(url).json()
        if body["state"] in ("ready", "failed"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"package not built within {timeout} s: {body}")


def ask(client, body: dict) -> dict:
    response = client.post("/api/v1/downloads/", body, content_type="application/json")
    assert response.status_code == 202, response.content
    job = response.json()
    assert set(job) >= {"id", "url", "state", "progress"} and job["state"] == "queued"
    return job


def fetch(client, job: dict) -> zipfile.ZipFile:
    response = client.get(job["file"])
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "private, no-store"
    assert response["Content-Type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def check_package(archive: zipfile.ZipFile, tmp_path: Path) -> Path:
    """Every checksum verifies and the data package validates; returns the unpacked folder."""
    names = set(archive.namelist())
    assert {"README.txt", "LICENSE.txt", "CITATION.cff", "CITATION.bib", "datapackage.json",
            "manifest.json", "datacite.json", "SHA256SUMS"} <= names  # fmt: skip
    sums = {}
    for line in archive.read("SHA256SUMS").decode().splitlines():
        digest, name = line.split("  ", 1)
        sums[name] = digest
    assert set(sums) == names - {"SHA256SUMS"}
    for name, digest in sums.items():
        assert hashlib.sha256(archive.read(name)).hexdigest() == digest, name
    folder = tmp_path / f"package-{len(list(tmp_path.iterdir()))}"
    archive.extractall(folder)
    # sha256sum itself agrees.
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True)
    assert check.returncode == 0, check.stdout + check.stderr
    from frictionless import validate

    report = validate(str(folder / "datapackage.json"))
    assert report.valid, report.flatten(["type", "message"])
    import yaml

    cff = yaml.safe_load(archive.read("CITATION.cff"))
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "dataset"
    return folder


def read_csv(archive: zipfile.ZipFile, name: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(archive.read(name).decode())))


def assert_locations_as_the_gate_shows(user, rows: list[dict]) -> None:
    scope = viewer_scope(user)
    samples = Sample.objects.filter(pk__in={int(r["sample_id"]) for r in rows})
    samples = {s.pk: s for s in visible_samples(scope, samples)}
    for row in rows:
        sample = samples[int(row["sample_id"])]
        lon, lat, precision = shown_location(scope, sample)
        assert (
            abs(float(row["longitude"]) - lon) < 1e-6 and abs(float(row["latitude"]) - lat) < 1e-6
        )
        if precision:
            assert float(row["location_precision_km"]) == precision / 1000
            assert row["cell"] == sample.cell_code(precision)
            # Snapped: the stored point is not what the package says.
            assert abs(float(row["longitude"]) - sample.geom.x) > 1e-4
        else:
            assert row["location_precision_km"] == "" and row["cell"] == ""


# --- through the worker ------------------------------------------------------------------------


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_partner_gets_what_the_gate_shows_before_and_after_accepting_the_licence(
    celery_worker_process, client, world, tmp_path
):
    partner = world["partner"]
    client.force_login(partner)

    # Before acceptance: naming the agreement's country is refused with the licence to accept;
    # no job is created.
    response = client.post(
        "/api/v1/downloads/", {"countries": ["EST"]}, content_type="application/json"
    )
    assert response.status_code == 403
    assert response.json()["error"] == "licence_not_accepted" and response.json()["licence_url"]
    assert not DownloadJob.objects.exists()

    # Everything: exactly the public rows (NOR without Ni, FIN snapped), nothing of EST or SWE.
    job = wait_ready(client, ask(client, {"format": "csv"})["url"])
    assert job["state"] == "ready", job
    assert job["progress"] == 100 and job["rows_written"] == job["rows_total"]
    archive = fetch(client, job)
    check_package(archive, tmp_path)
    rows = read_csv(archive, "measurements.csv")
    assert {int(r["measurement_id"]) for r in rows} == gate_rows(partner)
    assert {r["country"] for r in rows} == {"NOR", "FIN"}
    assert not [r for r in rows if r["country"] == "NOR" and r["element"] == "Ni"]
    assert_locations_as_the_gate_shows(partner, rows)
    assert {r["location_precision_km"] for r in rows if r["country"] == "FIN"} == {"20.0"}
    censored = [r for r in rows if r["sample"] == "N-2" and r["element"] == "Cu"]
    assert censored[0]["censored"] == "true" and censored[0]["value_mg_kg"] == ""
    assert float(censored[0]["detection_limit_mg_kg"]) == 0.5
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["by_country"]["NOR"] == {"measurements": 2, "samples": 2}
    assert manifest["by_country"]["FIN"] == {"measurements": 2, "samples": 2}
    assert manifest["policy_version"] == job["policy_version"] and manifest["data_version"]
    assert manifest["pending_licences"] == [world["agreement"].title]
    readme = archive.read("README.txt").decode()
    assert "FIN: 20 km cell centres" in readme and "DL/2" in readme and "EPSG:4326" in readme
    assert "Cite EST." not in archive.read("LICENSE.txt").decode()

    # After acceptance: EST's rows, exact, under the agreement's licence.
    accept_licences(partner)
    job = wait_ready(client, ask(client, {"countries": ["EST"], "format": "csv"})["url"])
    archive = fetch(client, job)
    check_package(archive, tmp_path)
    rows = read_csv(archive, "measurements.csv")
    est = Country.objects.by_code("EST")
    assert {int(r["measurement_id"]) for r in rows} == gate_rows(partner, sample__country=est)
    assert {(r["country"], r["element"]) for r in rows} == {("EST", "Cu"), ("EST", "Ni")}
    assert_locations_as_the_gate_shows(partner, rows)
    assert "Cite EST." in archive.read("LICENSE.txt").decode()

    # The GeoPackage: one point per visible sample, read by GDAL.
    job = wait_ready(client, ask(client, {"format": "gpkg"})["url"])
    assert job["state"] == "ready", job
    folder = check_package(fetch(client, job), tmp_path)
    info = subprocess.run(
        ["ogrinfo", "-ro", "-so", "-al", str(folder / "samples.gpkg")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    n_samples = visible_samples(viewer_scope(partner)).count()
    assert n_samples == 6 and f"Feature Count: {n_samples}" in info
    assert "Point" in info and "Ni_mg_kg: Real" in info and "Cu_dl_mg_kg: Real" in info

    # Every package built and every fetch is in the audit log, under each country served.
    events = AuditEvent.objects.filter(kind=AuditEvent.Kind.DOWNLOAD, user=partner)
    built = {e.country.code for e in events if "built" in e.summary}
    fetched = {e.country.code for e in events if "fetched" in e.summary}
    assert built == fetched == {"NOR", "FIN", "EST"}
    assert events.filter(summary__contains="fetched").count() == 2 + 1 + 3


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_anonymous_wide_and_parquet_packages_leave_the_confidential_element_out(
    celery_worker_process, client, world, tmp_path
):
    job = wait_ready(client, ask(client, {"format": "csv-wide"})["url"])
    assert job["state"] == "ready", job
    archive = fetch(client, job)
    check_package(archive, tmp_path)
    rows = read_csv(archive, "samples.csv")
    assert {r["sample"] for r in rows} == {"N-1", "N-2", "F-1", "F-2"}
    assert "Cu_mg_kg" in rows[0] and "Cu_dl_mg_kg" in rows[0]
    assert not [column for column in rows[0] if column.startswith("Ni")]  # confidential in NOR
    by_code = {r["sample"]: r for r in rows}
    assert by_code["N-1"]["Cu_mg_kg"] == "11.25" and by_code["N-1"]["Cu_dl_mg_kg"] == ""
    assert by_code["N-2"]["Cu_mg_kg"] == "" and by_code["N-2"]["Cu_dl_mg_kg"] == "0.5"
    assert_locations_as_the_gate_shows(None, rows)

    job = wait_ready(client, ask(client, {"format": "parquet"})["url"])
    assert job["state"] == "ready", job
    folder = check_package(fetch(client, job), tmp_path)
    import pyarrow.parquet as pq
    import shapely

    table = pq.read_table(folder / "samples.parquet")
    geo = json.loads(table.schema.metadata[b"geo"])
    assert geo["primary_column"] == "geometry" and geo["columns"]["geometry"]["encoding"] == "WKB"
    assert table.num_rows == 4 and "Ni_mg_kg" not in table.column_names
    points = shapely.from_wkb(table.column("geometry").to_pylist())
    assert [p.x for p in points] == table.column("longitude").to_pylist()
    # Anonymous downloads are audited too (no user).
    assert AuditEvent.objects.filter(kind="download", user=None, country__iso_a3="FIN").exists()


# --- in process: links, refusals, parameters ---------------------------------------------------


def build_now(user, body: dict) -> DownloadJob:
    """Ask for a package and build it in this process (the worker's code, without the queue)."""
    job = services.download_request(user=user, query=DownloadQuery.parse(body))
    assert services.claim(job.pk)
    return services.download_build(job_id=job.pk)


@pytest.fixture
def other_user(db):
    return get_user_model().objects.create_user("other", password="x")


@pytest.mark.django_db
def test_a_link_works_for_its_user_only_and_every_bad_link_is_the_same_404(
    client, world, other_user, monkeypatch
):
    partner = world["partner"]
    accept_licences(partner)
    job = build_now(partner, {"countries": ["EST"], "elements": ["Cu"]})
    client.force_login(partner)
    document = client.get(f"/api/v1/downloads/{job.public_id}").json()
    link = document["file"]
    assert document["state"] == "ready" and link.startswith("http://testserver/downloads/file/")
    assert client.get(link).status_code == 200

    token = link.rsplit("/", 1)[1]
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    payload = signing.TimestampSigner(salt=services.LINK_SALT).unsign_object(token)
    forged = signing.TimestampSigner(salt="another").sign_object(payload)
    real_time = time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() - 25 * 3600)
    expired = services.sign_job(job)
    monkeypatch.undo()
    missing = signing.TimestampSigner(salt=services.LINK_SALT).sign_object(
        {"job": "00000000-0000-0000-0000-000000000000", "user": partner.pk}
    )
    answers = []
    for who, url in [
        (other_user, link), (None, link), (partner, f"/downloads/file/{tampered}"),
        (partner, f"/downloads/file/{forged}"), (partner, f"/downloads/file/{expired}"),
        (partner, f"/downloads/file/{missing}"),
    ]:  # fmt: skip
        client.logout()
        if who is not None:
            client.force_login(who)
        response = client.get(url)
        answers.append((response.status_code, response.content))
    assert {status for status, _ in answers} == {404}
    assert len({body for _, body in answers}) == 1, answers

    # Another user's job answers like a missing one.
    client.force_login(other_user)
    theirs = client.get(f"/api/v1/downloads/{job.public_id}")
    nobody = client.get("/api/v1/downloads/00000000-0000-0000-0000-000000000000")
    assert theirs.status_code == nobody.status_code == 404 and theirs.content == nobody.content
    assert client.get("/api/v1/downloads/").json() == {"results": []}


@pytest.mark.django_db
def test_a_token_fetches_like_the_session_and_accel_redirect_hands_over_to_the_front_server(
    client, world, settings
):
    partner = world["partner"]
    accept_licences(partner)
    job = build_now(partner, {"countries": ["EST"]})
    key = api_token(partner)
    document = client.get(
        f"/api/v1/downloads/{job.public_id}", HTTP_AUTHORIZATION=f"Token {key}"
    ).json()
    response = client.get(document["file"], HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200 and response["Cache-Control"] == "private, no-store"
    assert client.get(document["file"], HTTP_AUTHORIZATION="Token nonsense").status_code == 401

    settings.DOWNLOAD_ACCEL_REDIRECT = "/_protected_downloads/"
    response = client.get(document["file"], HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200 and response.content == b""
    assert response["X-Accel-Redirect"] == f"/_protected_downloads/{job.file_name}"
    assert response["Cache-Control"] == "private, no-store"
    assert f'filename="{job.download_name}"' in response["Content-Disposition"]


@pytest.mark.django_db
def test_over_the_limit_is_a_400_before_any_job_exists(client, world, settings):
    settings.DOWNLOAD_MAX_ROWS = {**settings.DOWNLOAD_MAX_ROWS, "anonymous": 3}
    response = client.post("/api/v1/downloads/", {}, content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "too_large" and body["rows"] == 4 and body["limit"] == 3
    assert "at most 3" in body["reason"]
    assert not DownloadJob.objects.exists()
    # Within the limit: accepted.
    ask(client, {"countries": ["NOR"]})


BOWTIE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}


@pytest.mark.parametrize(
    "body, field",
    [
        ({"elements": ["Cu", "Xx"]}, "elements"),
        ({"elements": "Unobtainium"}, "elements"),
        ({"bbox": [10, 5, 0, 6]}, "bbox"),
        ({"bbox": [10, 5, 20]}, "bbox"),
        ({"bbox": "a,b,c,d"}, "bbox"),
        ({"bbox": [0, 0, "inf", 1]}, "bbox"),
        ({"polygon": {"type": "Point", "coordinates": [1, 2]}}, "polygon"),
        ({"polygon": BOWTIE}, "polygon"),
        ({"polygon": "{not json"}, "polygon"),
        ({"polygon": {"type": "Polygon", "coordinates": [[[0, 0], [200, 0], [0, 1], [0, 0]]]}},
         "polygon"),
        ({"format": "xlsx"}, "format"),
        ({"format": "geotiff"}, "elements"),  # a map layer: see test_downloads_geotiff.py
        ({"medium": "lava"}, "medium"),
        ({"surveys": ["no-such-survey"]}, "surveys"),
        ({"countries": ["XXX"]}, "countries"),
        ({"scales": [3]}, "scales"),
        ({"years": ["nineteen"]}, "years"),
        ({"all_methods": True, "format": "gpkg"}, "all_methods"),
        ({"element": ["Cu"]}, "element"),
    ],
)  # fmt: skip
@pytest.mark.django_db
def test_bad_input_is_a_400_naming_the_field(client, body, field):
    response = client.post("/api/v1/downloads/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid"
    assert list(response.json()["reason"]) == [field], response.json()
    assert not DownloadJob.objects.exists()


@pytest.mark.django_db
def test_a_body_that_is_not_an_object_is_a_400(client):
    response = client.post("/api/v1/downloads/", [1, 2], content_type="application/json")
    assert response.status_code == 400 and "body" in response.json()["reason"]


@pytest.mark.django_db
def test_a_polygon_selects_snapped_samples_by_their_cell_centre_only(world):
    """A small polygon around a FIN sample's true position finds nothing for the public (its
    location is its 20 km cell's centre); one around that centre finds it."""
    sample = Sample.objects.get(code="F-1")
    lon, lat, _ = shown_location(viewer_scope(None), sample)

    def square(x, y, r=0.01):
        ring = [[x - r, y - r], [x + r, y - r], [x + r, y + r], [x - r, y + r], [x - r, y - r]]
        return {"type": "Polygon", "coordinates": [ring]}

    def codes(polygon, user=None):
        query = DownloadQuery.parse({"polygon": polygon})
        rows = selectors.package_measurements(viewer_scope(user), query)
        return set(rows.values_list("sample__code", flat=True))

    assert codes(square(sample.geom.x, sample.geom.y)) == set()
    assert codes(square(lon, lat)) == {"F-1"}
    staff = get_user_model().objects.create_user("staff", password="x", is_staff=True)
    assert codes(square(sample.geom.x, sample.geom.y), staff) == {"F-1"}


@pytest.mark.django_db
def test_the_downloads_page_in_english_and_chinese(client, world):
    html = client.get("/downloads/?element=Cu&bbox=5,55,30,65&medium=topsoil").content.decode()
    assert "<h1>Download data</h1>" in html and 'value="5,55,30,65"' in html
    assert '<option value="Cu" selected>' in html
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    html = client.get("/downloads/").content.decode()
    assert '<html lang="zh-hans">' in html and "<h1>下载数据</h1>" in html
    assert "Download data" not in html and "Prepare the package" not in html


@pytest.mark.django_db
def test_the_page_form_asks_for_a_package_and_lists_it(client, world):
    response = client.post("/downloads/", {"elements": ["Cu"], "format": "csv-wide"})
    assert response.status_code == 302
    job = DownloadJob.objects.get()
    assert job.user is None and job.query["elements"] == ["Cu"] and job.format == "csv-wide"
    html = client.get(response["Location"]).content.decode()
    assert f'id="job-{job.public_id}"' in html and "data-pending" in html
    response = client.post("/downloads/", {"bbox": "10,5,0,6"})
    assert (
        response.status_code == 400 and "bbox: expected west &lt; east" in response.content.decode()
    )


@pytest.mark.django_db
def test_a_package_has_a_landing_page_and_datacite_metadata_for_its_owner_only(
    client, world, other_user
):
    partner = world["partner"]
    accept_licences(partner)
    job = build_now(partner, {"countries": ["EST"], "bbox": [20, 55, 30, 60]})
    client.force_login(partner)
    document = client.get(f"/api/v1/downloads/{job.public_id}").json()
    page = client.get(document["landing_page"])
    assert page.status_code == 200 and page["Cache-Control"] == "private, no-store"
    html = page.content.decode()
    assert f"urn:uuid:{job.public_id}" in html and "EST soils" in html
    datacite = client.get(document["datacite"]).json()["data"]
    assert datacite["type"] == "dois" and datacite["attributes"]["url"] == document["landing_page"]
    attributes = datacite["attributes"]
    assert attributes["types"]["resourceTypeGeneral"] == "Dataset"
    assert attributes["titles"][0]["title"].endswith(str(job.public_id))
    assert attributes["geoLocations"][0]["geoLocationBox"]["westBoundLongitude"] == 20
    assert [item["titles"][0]["title"] for item in attributes["relatedItems"]] == ["EST soils"]
    client.force_login(other_user)
    assert client.get(document["landing_page"]).status_code == 404
    assert client.get(document["datacite"]).status_code == 404


@pytest.mark.django_db
def test_an_anonymous_package_is_built_once_per_policy_and_data_version(client, world, write_csv):
    first = build_now(None, {"countries": ["NOR"]})
    again = services.download_request(user=None, query=DownloadQuery.parse({"countries": ["NOR"]}))
    assert again.pk == first.pk and again.state == "ready"
    response = client.post(
        "/api/v1/downloads/", {"countries": ["NOR"]}, content_type="application/json"
    )
    assert response.status_code == 202 and response.json()["id"] == str(first.public_id)
    # New data: a new package.
    ingest_survey(write_csv, [("N-9", 11.0, 61.0, 9.5, 1.5)], country="NOR", name="NOR two",
                  header=HEADER)  # fmt: skip
    fresh = services.download_request(user=None, query=DownloadQuery.parse({"countries": ["NOR"]}))
    assert fresh.pk != first.pk and fresh.state == "queued"


@pytest.mark.django_db
def test_the_api_description_lists_the_download_endpoints(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    post = schema["paths"]["/api/v1/downloads/"]["post"]
    assert {"202", "400", "403"} <= set(post["responses"])
    assert "format" in post["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert "/api/v1/downloads/{public_id}" in schema["paths"]
    assert not [p for p in schema["paths"] if p.startswith("/downloads/")]


@pytest.mark.django_db
def test_expired_packages_are_deleted_and_their_links_die(client, world, settings):
    job = build_now(None, {"countries": ["FIN"]})
    link = client.get(f"/api/v1/downloads/{job.public_id}").json()["file"]
    assert client.get(link).status_code == 200 and job.path.is_file()
    settings.DOWNLOAD_KEEP_SECONDS = 0
    assert services.downloads_cleanup()["expired"] == 1
    job.refresh_from_db()
    assert job.state == "expired" and not job.path.exists()
    assert client.get(link).status_code == 404
    assert client.get(f"/api/v1/downloads/{job.public_id}").json()["state"] == "expired"


@pytest.mark.django_db(transaction=True)
def test_progress_is_reported_while_the_copy_streams_and_the_package_finishes(world, monkeypatch):
    """Progress written during the COPY used to wait on the COPY's own connection forever (the
    package never finished once its COPY outlasted PROGRESS_SECONDS)."""
    from downloads import package

    monkeypatch.setattr(package, "PROGRESS_SECONDS", 0.0)
    monkeypatch.setattr(package, "BLOCK_BYTES", 1)  # a report after every row
    seen: list[int] = []
    report = package.copy_table

    def copy_table(table, out, progress=None):
        def spy(rows: int) -> None:
            progress(rows)
            seen.append(rows)

        return report(table, out, spy if progress else None)

    monkeypatch.setattr(package, "copy_table", copy_table)
    job = services.download_request(user=None, query=DownloadQuery.parse({"countries": ["NOR"]}))
    assert services.claim(job.pk)
    done = services.download_build(job_id=job.pk)
    assert done.state == DownloadJob.State.READY and done.rows_written == done.rows_total > 0
    assert (
        len(seen) > 1 and seen[-1] == done.rows_total
    )  # reported during the COPY, then at the end
