"""Download packages on an S3-protocol object store (``downloads/storage.py``, django-storages).

A real S3 server — moto's (``moto_server``, from PyPI) in a process of its own on a free port —
holds the bucket. A package built with the storage pointed at it is uploaded there (nothing is
left on the local disk), fetched through the portal's signed link (a redirect to a presigned
URL, or streamed by the portal), refused to anyone else, and deleted from the bucket when it
expires.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from baselines.models import Country
from downloads import services
from downloads.query import DownloadQuery
from sharing.models import ReleasePolicy
from tests.worlds import ingest_survey

BUCKET = "chemearth-packages"
KEYS = {"STORAGE_S3_ACCESS_KEY_ID": "test-access-key", "STORAGE_S3_SECRET_ACCESS_KEY": "x" * 20}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    moto = Path(sys.executable).parent / "moto_server"
    if not moto.exists():
        pytest.skip("moto[server] is not installed (test extra)")
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("w") as handle:
        server = subprocess.Popen(
            [str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=handle, stderr=subprocess.STDOUT
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start; see {log}") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.fixture
def s3_storage(s3_endpoint, settings, tmp_path):
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=KEYS["STORAGE_S3_ACCESS_KEY_ID"],
        aws_secret_access_key=KEYS["STORAGE_S3_SECRET_ACCESS_KEY"],
    )
    client.create_bucket(Bucket=BUCKET)
    # The settings module's own S3 block, as a process with STORAGE_S3_* set gets it.
    conf = settings_with_s3(s3_endpoint)
    settings.STORAGES = {**settings.STORAGES, "downloads": conf["STORAGES"]["downloads"]}
    settings.DOWNLOAD_ROOT = tmp_path / "downloads"  # the build's scratch space only
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)
    shutil.rmtree(tmp_path / "downloads", ignore_errors=True)


def settings_with_s3(endpoint: str) -> dict:
    import os
    import runpy

    env = {
        "STORAGE_S3_BUCKET": BUCKET, "STORAGE_S3_ENDPOINT_URL": endpoint,
        "STORAGE_S3_REGION": "us-east-1", "STORAGE_S3_ADDRESSING_STYLE": "path", **KEYS,
    }  # fmt: skip
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        return runpy.run_path(str(Path(__file__).resolve().parent.parent / "chemearth/settings.py"))
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def test_without_s3_settings_packages_stay_on_the_local_disk(settings):
    from downloads import storage

    assert settings.STORAGES["downloads"]["BACKEND"] == "downloads.storage.DownloadRootStorage"
    assert storage.is_local()
    assert storage.local_path("packages/a.zip") == Path(settings.DOWNLOAD_ROOT, "packages/a.zip")


@pytest.mark.django_db
def test_a_package_goes_to_the_bucket_and_comes_back_through_the_signed_link(
    s3_storage, client, settings, write_csv
):
    ingest_survey(
        write_csv, [("S3-1", 10.51, 60.12, 11.25), ("S3-2", 10.73, 60.31, 12.5)], country="NOR"
    )
    ReleasePolicy.objects.create(country=Country.objects.by_code("NOR"), in_force=True)
    job = services.download_request(user=None, query=DownloadQuery.parse({"countries": ["NOR"]}))
    assert services.claim(job.pk)
    job = services.download_build(job_id=job.pk)
    assert job.state == "ready" and job.path is None  # no local file

    # In the bucket, under the prefix, with the size and checksum the job records.
    key = f"downloads/{job.file_name}"
    stored = s3_storage.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert len(stored) == job.size_bytes
    assert hashlib.sha256(stored).hexdigest() == job.sha256
    assert not any(Path(settings.DOWNLOAD_ROOT).rglob("*.zip"))

    # The portal's signed link redirects to a short-lived presigned URL of the object ...
    link = client.get(f"/api/v1/downloads/{job.public_id}").json()["file"]
    response = client.get(link)
    assert response.status_code == 302
    presigned = response["Location"]
    assert presigned.startswith(f"{settings.STORAGES['downloads']['OPTIONS']['endpoint_url']}/")
    assert "X-Amz-Signature=" in presigned
    assert f"X-Amz-Expires={settings.STORAGE_S3_URL_SECONDS}" in presigned
    with urllib.request.urlopen(presigned, timeout=30) as fetched:
        body = fetched.read()
        assert f'filename="{job.download_name}"' in fetched.headers["Content-Disposition"]
    assert body == stored
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert "measurements.csv" in archive.namelist()
    assert len(archive.read("measurements.csv").decode().splitlines()) == 1 + 2
    # ... and without the signature the bucket refuses (objects are private).
    unsigned = presigned.split("?", 1)[0]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(unsigned, timeout=30)
    assert refused.value.code == 403

    # Streamed by the portal when redirects are off.
    settings.STORAGE_S3_REDIRECT = False
    response = client.get(link)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert b"".join(response.streaming_content) == stored

    # Another user's session gets the 404 of a missing package, never a redirect.
    client.force_login(get_user_model().objects.create_user("someone-else", password="x"))
    assert client.get(link).status_code == 404
    client.logout()

    # Expired: deleted from the bucket, and the link dies.
    settings.DOWNLOAD_KEEP_SECONDS = 0
    assert services.downloads_cleanup()["expired"] == 1
    assert "Contents" not in s3_storage.list_objects_v2(Bucket=BUCKET, Prefix="downloads/")
    assert client.get(link).status_code == 404
