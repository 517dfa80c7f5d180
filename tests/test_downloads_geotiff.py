"""GeoTIFF download packages: one map layer's COG, as the map draws it for the asker.

Asked for through the API, built by a real Celery worker, fetched through a signed link: the zip's
checksums verify, its data package validates, GDAL's own ``gdalinfo`` reads the tiff (CRS, size,
nodata, tiling, overviews, the band's description) and its pixels are the map layer's for the same
audience. The world: NOR public, SWE under embargo but granted by a partner's agreement (once its
licence is accepted).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.warp import transform as warp

from baselines.models import Country, Element, Medium
from downloads import services
from downloads.models import DownloadJob
from downloads.package import PackageRefused
from downloads.query import DownloadQuery
from maps import layers
from maps.models import MapLayer
from sharing.access import viewer_scope
from sharing.models import AuditEvent, ReleasePolicy
from tests.test_downloads import ask, check_package, fetch, wait_ready
from tests.worlds import accept_licences, ingest_survey, partner_with_agreement

# Packages go to a directory of this run, shared with the test worker (set at collection, before
# the session's worker starts; tests/test_downloads.py does the same, and both read it back).
os.environ["DOWNLOAD_ROOT"] = tempfile.mkdtemp(prefix="chemearth-downloads-")


@pytest.fixture(scope="module", autouse=True)
def download_root():
    from django.conf import settings

    settings.DOWNLOAD_ROOT = Path(os.environ["DOWNLOAD_ROOT"])
    yield settings.DOWNLOAD_ROOT
    shutil.rmtree(settings.DOWNLOAD_ROOT, ignore_errors=True)


HEADER = ("sample_id", "longitude", "latitude", "Cu_ppm")
# Spread over Norway so a 20 km layer is several hundred pixels wide (tiles and overviews). No
# point lies on a cell edge (63° N is one: 20 km rows are 0.18°), where the pixel holding the
# point may show the neighbouring cell.
NOR = [
    (6.0, 61.0), (7.5, 60.5), (9.0, 60.0), (10.5, 59.8), (11.0, 61.5), (8.0, 62.0),
    (10.0, 63.1), (12.0, 64.5), (14.0, 66.0), (16.0, 68.5), (19.0, 69.5), (23.0, 70.0),
    (25.5, 70.3), (28.5, 70.5),
]  # fmt: skip
SWE = [(13.0, 56.2), (15.5, 57.5), (16.2, 59.3), (14.5, 61.0), (18.0, 63.5), (20.5, 66.5)]
LAYER = {
    "format": "geotiff",
    "elements": ["Cu"],
    "medium": "topsoil",
    "scales": [20],
    "style": "cells",
}
LAYER_PARAMS = {"element": "Cu", "medium": "topsoil", "scale": 20, "style": "cells"}


@pytest.fixture
def world(write_csv):
    rows = [(f"N-{i}", lon, lat, 5.0 + 3.5 * i) for i, (lon, lat) in enumerate(NOR)]
    ingest_survey(write_csv, rows, country="NOR", header=HEADER)
    rows = [(f"S-{i}", lon, lat, 80.0 + 7.5 * i) for i, (lon, lat) in enumerate(SWE)]
    ingest_survey(write_csv, rows, country="SWE", header=HEADER)
    ReleasePolicy.objects.create(country=Country.objects.by_code("NOR"), in_force=True)
    ReleasePolicy.objects.create(
        country=Country.objects.by_code("SWE"), in_force=True, available_on=dt.date(2099, 1, 1)
    )
    partner, _ = partner_with_agreement(["SWE"], accepted=False, licence_text="Cite SGU.")
    return partner


# --- reading the tiff ----------------------------------------------------------------------------


def the_tiff(folder: Path) -> Path:
    (tiff,) = folder.glob("*.tif")
    return tiff


def gdalinfo(path: Path) -> dict:
    """GDAL's command-line reading of the file (not the library rasterio bundles)."""
    result = subprocess.run(["gdalinfo", "-json", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_a_valid_cog(path: Path, symbol: str = "Cu") -> dict:
    info = gdalinfo(path)
    assert info["driverShortName"] == "GTiff"
    assert info["metadata"]["IMAGE_STRUCTURE"]["LAYOUT"] == "COG"
    assert 'ID["EPSG",3857]' in info["coordinateSystem"]["wkt"]
    band = info["bands"][0]
    assert len(info["bands"]) == 1 and band["type"] == "Byte"
    assert band["noDataValue"] == 0 and band["block"] == [256, 256]
    assert band["overviews"], "a COG larger than a tile has overviews"
    assert band["colorInterpretation"] == "Palette"
    for word in (symbol, "mg/kg", "median"):
        assert word in band["description"], band["description"]
    assert info["metadata"][""]["ELEMENT"] == symbol
    with rasterio.open(path) as src:
        assert info["size"] == [src.width, src.height]
    return info


def pixels(path: Path) -> tuple[np.ndarray, object, object]:
    with rasterio.open(path) as src:
        return src.read(1), src.transform, src.crs


def value_at(path: Path, lon: float, lat: float) -> int | None:
    """The pixel holding a point; None when the raster does not reach it."""
    with rasterio.open(path) as src:
        (x,), (y,) = warp("EPSG:4326", src.crs, [lon], [lat])
        row, col = src.index(x, y)
        if not (0 <= row < src.height and 0 <= col < src.width):
            return None
        return int(src.read(1)[row, col])


def shown(path: Path, points) -> bool:
    """Every point's pixel holds a class."""
    return all((value_at(path, lon, lat) or 0) > 0 for lon, lat in points)


def absent(path: Path, points) -> bool:
    """No point's pixel holds a class: nodata, or outside the raster."""
    return all(not value_at(path, lon, lat) for lon, lat in points)


def map_cog(client, params=LAYER_PARAMS) -> Path:
    """The map's own COG of the layer the client's viewer is shown."""
    document = client.get("/api/v1/layers", params).json()
    assert document["state"] == "ready", document
    return MapLayer.objects.get(key=document["id"]).directory / "layer.tif"


def assert_the_maps_pixels(client, tiff: Path) -> None:
    mine, transform, crs = pixels(tiff)
    theirs, map_transform, map_crs = pixels(map_cog(client))
    assert crs == map_crs and transform == map_transform
    assert np.array_equal(mine, theirs)


def geotiff_package(client, body: dict, tmp_path: Path) -> tuple[dict, zipfile.ZipFile, Path]:
    job = wait_ready(client, ask(client, body)["url"])
    assert job["state"] == "ready", job
    assert job["format"] == "geotiff" and job["progress"] == 100
    assert job["rows_written"] == job["rows_total"] > 0
    archive = fetch(client, job)
    folder = check_package(archive, tmp_path)
    return job, archive, folder


# --- through the worker --------------------------------------------------------------------------


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_the_public_and_the_partner_get_the_maps_pixels_for_their_access(
    celery_worker_process, client, world, tmp_path
):
    partner = world

    # Anonymous: the public layer, the embargoed country's cells nodata.
    job, archive, folder = geotiff_package(client, LAYER, tmp_path)
    tiff = the_tiff(folder)
    assert tiff.name == "cu-topsoil-20km-cells.tif"
    assert_a_valid_cog(tiff)
    assert_the_maps_pixels(client, tiff)
    assert shown(tiff, NOR) and absent(tiff, SWE)
    # Inside the raster's extent, SWE's cells are there as nodata.
    assert [value_at(tiff, lon, lat) for lon, lat in SWE[3:]] == [0, 0, 0]
    rendered = MapLayer.objects.get(state="ready")
    assert rendered.is_public and rendered.legend["n"] == len(NOR)

    package = json.loads(archive.read("datapackage.json"))
    (resource,) = package["resources"]
    assert resource["path"] == tiff.name and resource["mediatype"].startswith("image/tiff")
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["format"] == "geotiff" and manifest["query"]["style"] == "cells"
    assert manifest["layer"]["id"] == rendered.key and manifest["layer"]["raster"]["nodata"] == 0
    assert manifest["layer"]["legend"]["breaks"] == rendered.legend["breaks"]
    assert set(manifest["by_country"]) == {"NOR"}
    readme = archive.read("README.txt").decode()
    assert "class numbers, not concentrations" in readme and "EPSG:3857" in readme
    for number, bound in enumerate(rendered.legend["classes"], start=1):
        assert f"{number:>2}: {bound['lower']:.6g} to {bound['upper']:.6g} mg/kg" in readme
    assert "SWE" not in readme and "SWE" not in archive.read("CITATION.cff").decode()
    assert "NOR soils" in archive.read("CITATION.cff").decode()
    assert AuditEvent.objects.filter(kind="download", user=None, country__iso_a3="NOR").exists()

    # The partner before accepting the licence: the public map too (nothing of SWE), and the
    # layer already rendered for that audience is reused, not rendered again.
    client.force_login(partner)
    _, archive, folder = geotiff_package(client, LAYER, tmp_path)
    tiff = the_tiff(folder)
    assert_the_maps_pixels(client, tiff)
    assert absent(tiff, SWE)
    assert "SWE" not in json.loads(archive.read("manifest.json"))["by_country"]
    assert MapLayer.objects.filter(state="ready").count() == 1

    # After acceptance: the partner's own layer, SWE's cells in it.
    accept_licences(partner)
    job, archive, folder = geotiff_package(client, LAYER, tmp_path)
    tiff = the_tiff(folder)
    assert_a_valid_cog(tiff)
    assert_the_maps_pixels(client, tiff)
    assert shown(tiff, SWE + NOR)
    partner_layer = MapLayer.objects.get(state="ready", is_public=False)
    assert partner_layer.legend["n"] == len(NOR) + len(SWE)
    manifest = json.loads(archive.read("manifest.json"))
    assert set(manifest["by_country"]) == {"NOR", "SWE"}
    assert manifest["layer"]["id"] == partner_layer.key
    assert "Cite SGU." in archive.read("LICENSE.txt").decode()
    events = AuditEvent.objects.filter(kind="download", user=partner, summary__contains="built")
    assert "SWE" in {e.country.code for e in events}


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_box_clips_whole_pixels_of_the_layer_and_a_surface_is_offered_too(
    celery_worker_process, client, world, tmp_path
):
    box = [5, 58, 13, 64]  # southern Norway
    _, archive, folder = geotiff_package(client, {**LAYER, "bbox": box}, tmp_path)
    tiff = the_tiff(folder)
    info = gdalinfo(tiff)
    assert 'ID["EPSG",3857]' in info["coordinateSystem"]["wkt"]
    clipped, transform, _ = pixels(tiff)
    with rasterio.open(map_cog(client)) as layer:
        assert clipped.shape[0] < layer.height and clipped.shape[1] < layer.width
        col = round((transform.c - layer.transform.c) / layer.transform.a)
        row = round((transform.f - layer.transform.f) / layer.transform.e)
        assert transform.a == layer.transform.a and col >= 0 and row >= 0
        window = layer.read(1)[row : row + clipped.shape[0], col : col + clipped.shape[1]]
    assert np.array_equal(clipped, window)
    inside = [(lon, lat) for lon, lat in NOR if 5 <= lon <= 13 and 58 <= lat <= 64]
    assert inside and shown(tiff, inside)
    manifest = json.loads(archive.read("manifest.json"))
    lon0, lat0, lon1, lat1 = manifest["layer"]["raster"]["bounds"]
    # Within the box (give or take the part of a pixel it cut), and within the map.
    assert 5 - 0.05 <= lon0 < lon1 <= 13 + 0.05 and 58 - 0.05 <= lat0 < lat1 <= 64 + 0.05
    assert "clipped to the box" in archive.read("README.txt").decode()

    surface = {**LAYER, "style": "surface"}
    _, archive, folder = geotiff_package(client, surface, tmp_path)
    tiff = the_tiff(folder)
    assert tiff.name == "cu-topsoil-20km-surface.tif"
    mine, transform, _ = pixels(tiff)
    theirs, map_transform, _ = pixels(map_cog(client, {**LAYER_PARAMS, "style": "surface"}))
    assert transform == map_transform and np.array_equal(mine, theirs)
    assert "inverse-distance-weighted" in gdalinfo(tiff)["bands"][0]["description"]


# --- in process: limits, refusals, the pre-release rule, the page --------------------------------


def build_now(user, body: dict) -> DownloadJob:
    job = services.download_request(user=user, query=DownloadQuery.parse(body))
    assert services.claim(job.pk)
    return services.download_build(job_id=job.pk)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"format": "geotiff"}, "elements"),
        ({**LAYER, "elements": ["Cu", "Ni"]}, "elements"),
        ({**LAYER, "elements": "all"}, "elements"),
        ({**LAYER, "elements": ["Xx"]}, "elements"),
        ({**LAYER, "medium": None}, "medium"),
        ({**LAYER, "medium": "lava"}, "medium"),
        ({**LAYER, "scales": None}, "scales"),
        ({**LAYER, "scales": [20, 40]}, "scales"),
        ({**LAYER, "scales": [3]}, "scales"),
        ({**LAYER, "style": "points"}, "style"),
        ({**LAYER, "style": "dots"}, "style"),
        ({**LAYER, "scheme": "jenks"}, "scheme"),
        ({**LAYER, "ramp": "rainbow"}, "ramp"),
        ({**LAYER, "bbox": [10, 5, 0, 6]}, "bbox"),
        ({**LAYER, "polygon": {"type": "Polygon",
                               "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}}, "polygon"),
        ({**LAYER, "surveys": ["nor-soils"]}, "surveys"),
        ({**LAYER, "countries": ["NOR"]}, "countries"),
        ({**LAYER, "years": [2020]}, "years"),
        ({**LAYER, "all_methods": True}, "all_methods"),
        ({**LAYER, "format": "csv"}, "style"),
        ({"format": "gpkg", "ramp": "viridis"}, "ramp"),
    ],
)  # fmt: skip
@pytest.mark.django_db
def test_bad_layer_parameters_are_a_400_naming_the_field(client, body, field):
    response = client.post("/api/v1/downloads/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid"
    assert list(response.json()["reason"]) == [field], response.json()
    assert not DownloadJob.objects.exists()


@pytest.mark.django_db
def test_the_role_limit_counts_the_layers_values_before_any_job_exists(client, world, settings):
    settings.DOWNLOAD_MAX_ROWS = {**settings.DOWNLOAD_MAX_ROWS, "anonymous": len(NOR) - 1}
    response = client.post("/api/v1/downloads/", LAYER, content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "too_large" and body["rows"] == len(NOR)
    assert "map layer is made from" in body["reason"]
    assert not DownloadJob.objects.exists() and not MapLayer.objects.exists()


@pytest.mark.django_db
def test_a_map_with_nothing_visible_fails_with_a_reason_and_a_box_off_the_map_too(world):
    # Ni is measured nowhere: the layer is empty for everyone.
    job = services.download_request(
        user=None, query=DownloadQuery.parse({**LAYER, "elements": ["Ni"]})
    )
    assert services.claim(job.pk)
    with pytest.raises(PackageRefused, match="no cell you may see"):
        services.download_build(job_id=job.pk)
    job = services.download_request(
        user=None, query=DownloadQuery.parse({**LAYER, "bbox": [-80, -40, -60, -20]})
    )
    assert services.claim(job.pk)
    with pytest.raises(PackageRefused, match="holds no part of this map"):
        services.download_build(job_id=job.pk)


@pytest.mark.django_db
def test_a_ready_layer_is_reused_and_an_anonymous_package_built_once(world):
    first = build_now(None, LAYER)
    layer = MapLayer.objects.get(state="ready")
    again = services.download_request(user=None, query=DownloadQuery.parse(LAYER))
    assert again.pk == first.pk and again.state == "ready"
    # Another package of the same layer (a box): the rendered layer is read, not rendered again.
    second = build_now(None, {**LAYER, "bbox": [5, 58, 13, 64]})
    assert second.state == "ready" and second.pk != first.pk
    assert list(MapLayer.objects.values_list("pk", "rendered_at")) == [
        (layer.pk, layer.rendered_at)
    ]


# The pre-release world: FIN embargoed, but its policy lets public maps show its 80 km cells of at
# least 3 samples before release. Their values must not be readable from anything in the package.
# (All three in one 80 km cell: 61.92°-62.64° N, 24.62°-26.15° E.)
FIN_EMBARGOED = [(25.40, 62.40, 123.456), (25.60, 62.45, 234.567), (25.50, 62.35, 345.678)]


@pytest.mark.django_db
def test_pre_release_cells_enter_as_their_class_only(write_csv, world, tmp_path):
    rows = [(f"F-{i}", lon, lat, v) for i, (lon, lat, v) in enumerate(FIN_EMBARGOED)]
    ingest_survey(write_csv, rows, country="FIN", header=HEADER)
    ReleasePolicy.objects.create(
        country=Country.objects.by_code("FIN"), in_force=True, available_on=dt.date(2099, 1, 1),
        prerelease_scale_m=80_000, prerelease_min_samples=3,
    )  # fmt: skip
    body = {**LAYER, "scales": [80]}
    job = build_now(None, body)
    with zipfile.ZipFile(job.path) as archive:
        archive.extractall(tmp_path / "pre")
        texts = {name: archive.read(name) for name in archive.namelist()}
    tiff = the_tiff(tmp_path / "pre")
    layer = MapLayer.objects.get(state="ready", scale_m=80_000)
    assert layer.legend["before_release"] == {"cells": 1, "values": 3}
    mine, transform, _ = pixels(tiff)
    theirs, map_transform, _ = pixels(layer.directory / "layer.tif")
    assert transform == map_transform and np.array_equal(mine, theirs)
    assert shown(tiff, [(25.5, 62.4)])  # the cell shows its class
    # No embargoed value, nor their median or mean, in any file or in the tiff's tags.
    info = json.dumps(gdalinfo(tiff)).encode()
    values = [v for *_, v in FIN_EMBARGOED]
    secrets = [*values, float(np.median(values)), float(np.mean(values))]
    for blob in [info, *(texts[name] for name in texts if not name.endswith(".tif"))]:
        for secret in secrets:
            assert f"{secret:g}".encode() not in blob and f"{secret:.6g}".encode() not in blob
    readme = texts["README.txt"].decode()
    assert "Cells before release: 1. They hold values still under embargo" in readme
    manifest = json.loads(texts["manifest.json"])
    assert set(manifest["by_country"]) == {"NOR"}  # counted: released rows only
    assert "FIN soils" in texts["CITATION.cff"].decode()  # cited: its rows made the map


@pytest.mark.django_db
def test_the_page_offers_geotiff_with_its_fields_and_asks_for_one(client, world):
    html = client.get(
        "/downloads/?format=geotiff&element=Cu&medium=topsoil&layer_scale=20&style=surface"
    ).content.decode()
    assert 'value="geotiff" checked' in html and 'class="layer-fields"' in html
    assert '<option value="Cu" selected>' in html and '<option value="20" selected>' in html
    assert '<option value="surface" selected>' in html
    # The page's own style sheet hides the table fields while GeoTIFF is chosen.
    assert "css/pages/downloads.css" in html
    css = (Path(__file__).resolve().parent.parent / "static/css/pages/downloads.css").read_text()
    assert ":has(input[name=format][value=geotiff]:checked) .table-fields" in css
    response = client.post(
        "/downloads/",
        {"format": "geotiff", "layer_element": "Cu", "layer_medium": "topsoil",
         "layer_scale": "20", "style": "surface", "scheme": "percentiles", "ramp": "geochem",
         "elements": ["Ni"], "bbox": "5,58,13,64"},
    )  # fmt: skip
    assert response.status_code == 302, response.content
    job = DownloadJob.objects.get()
    assert job.format == "geotiff" and job.query["elements"] == ["Cu"]
    assert job.query["scales"] == [20.0] and job.query["style"] == "surface"
    assert job.query["bbox"] == [5.0, 58.0, 13.0, 64.0] and job.progress == 0
    response = client.post("/downloads/", {"format": "geotiff", "layer_medium": "topsoil"})
    assert response.status_code == 400 and "elements: a GeoTIFF is one element" in (
        response.content.decode().replace("&#x27;", "'")
    )
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    html = client.get("/downloads/?format=geotiff").content.decode()
    assert "<h1>下载数据</h1>" in html and 'value="geotiff" checked' in html


@pytest.mark.django_db
def test_a_geotiff_query_round_trips_and_table_queries_keep_their_json():
    query = DownloadQuery.parse({**LAYER, "bbox": [5, 58, 13, 64]})
    assert query.is_layer and not query.wide and query.layer_scale_m == 20_000
    assert DownloadQuery.from_json(query.as_json()) == query
    assert query.as_json()["scheme"] == "percentiles" and query.as_json()["ramp"] == "geochem"
    table = DownloadQuery.parse({"elements": ["Cu"], "format": "gpkg"})
    assert table.wide and not table.is_layer
    assert not {"style", "scheme", "ramp"} & set(table.as_json())


def test_layers_spec_of_a_query_is_the_maps(db):
    query = DownloadQuery.parse({**LAYER, "scheme": "boxplot", "ramp": "viridis"})
    from downloads.geotiff import layer_spec

    spec = layer_spec(query)
    assert spec == layers.LayerSpec(
        Element.objects.get(symbol="Cu"), Medium.objects.get(code="topsoil"), 20_000, "cells",
        "boxplot", "viridis",
    )  # fmt: skip
    assert layers.layer_key(spec, viewer_scope(None).audience, "p", "d")


@pytest.mark.django_db
def test_a_layer_another_worker_renders_is_waited_for_not_rendered_twice(world, monkeypatch):
    from downloads import geotiff

    query = DownloadQuery.parse(LAYER)
    layer = layers.find_layer(geotiff.layer_spec(query), viewer_scope(None), None, queue=False)
    assert layers.claim_render(layer.pk)  # the render task has it
    MapLayer.objects.filter(pk=layer.pk).update(progress=40.0)
    assert not layers.claim_render(layer.pk)
    seen: list[float] = []
    monkeypatch.setattr(geotiff, "LAYER_WAIT_SECONDS", 0)
    monkeypatch.setattr(geotiff, "POLL_SECONDS", 0)
    with pytest.raises(PackageRefused, match="still being rendered"):
        geotiff.obtain_layer(geotiff.layer_spec(query), viewer_scope(None), None, seen.append)
    assert seen == [40.0 * geotiff.RENDER_SHARE / 100]  # its progress, followed
    assert MapLayer.objects.get(pk=layer.pk).state == MapLayer.State.RENDERING
