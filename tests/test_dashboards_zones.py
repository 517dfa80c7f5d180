"""Zones stewards upload: GeoJSON and GeoPackage read by GDAL, all or nothing with the bad feature
named, and usable as a dashboard region at once."""

from __future__ import annotations

import json
import subprocess

import pytest
from django.contrib.auth import get_user_model
from django.contrib.gis.geos import MultiPolygon
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from baselines.models import Country
from dashboards.models import Zone
from dashboards.regions import region_of
from dashboards.services import ZoneUploadError, zones_upload
from sharing.models import Stewardship

SQUARE = [[[-101, 39], [-99, 39], [-99, 41], [-101, 41], [-101, 39]]]
BOW_TIE = [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]


def collection(*features) -> dict:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": props,
                "geometry": {"type": "Polygon", "coordinates": c},
            }
            for props, c in features
        ],
    }


@pytest.fixture
def geojson(tmp_path):
    def write(data: dict, name: str = "zones.geojson"):
        path = tmp_path / name
        path.write_text(json.dumps(data))
        return path

    return write


@pytest.mark.django_db
def test_a_geojson_file_becomes_zones_with_geodesic_areas(geojson):
    path = geojson(collection(({"name": "Square", "name_zh": "方块"}, SQUARE)))
    (zone,) = zones_upload(path=path, kind="grain", user=None)
    assert (zone.name_en, zone.name_zh, zone.kind) == ("Square", "方块", "grain")
    # 2° × 2° at 40° N: about 222 km × 170 km.
    assert 36_000 < zone.area_km2 < 39_000
    region = region_of(f"zone:{zone.pk}")
    assert region.area_km2 == zone.area_km2 and region.shape is not None


@pytest.mark.django_db
def test_one_bad_feature_refuses_the_file_and_names_it(geojson):
    path = geojson(collection(({"name": "Good"}, SQUARE), ({"name": "Twisted"}, BOW_TIE)))
    with pytest.raises(ZoneUploadError, match=r"feature 2 \(Twisted\): invalid polygon"):
        zones_upload(path=path, kind="mining", user=None)
    assert not Zone.objects.exists()
    unnamed = geojson(collection(({"name": ""}, SQUARE)), "unnamed.geojson")
    with pytest.raises(ZoneUploadError, match="feature 1: empty 'name'"):
        zones_upload(path=unnamed, kind="mining", user=None)


@pytest.mark.django_db
def test_a_geopackage_in_another_crs_is_read(geojson, tmp_path):
    source = geojson(collection(({"name": "Square"}, SQUARE)))
    gpkg = tmp_path / "zones.gpkg"
    subprocess.run(
        ["ogr2ogr", "-f", "GPKG", "-s_srs", "EPSG:4326", "-t_srs", "EPSG:3857", str(gpkg),
         str(source)],
        check=True,
    )  # fmt: skip
    (zone,) = zones_upload(path=gpkg, kind="county", user=None)
    west, south, east, north = zone.geom.extent
    assert (round(west, 6), round(south, 6), round(east, 6), round(north, 6)) == (-101, 39, -99, 41)


@pytest.mark.django_db
def test_only_stewards_upload_and_errors_keep_the_form(client, geojson):
    url = reverse("portal:dashboard-zones")
    assert client.get(url).status_code == 200
    data = json.dumps(collection(({"name": "Square"}, SQUARE))).encode()
    upload = {"file": SimpleUploadedFile("z.geojson", data), "kind": "city", "name_field": "name"}
    user = get_user_model().objects.create_user("someone", password="x")
    client.force_login(user)
    assert client.post(url, upload).status_code == 403
    Stewardship.objects.create(user=user, country=Country.objects.by_code("USA"))
    bad = json.dumps(collection(({"name": "Twisted"}, BOW_TIE))).encode()
    response = client.post(
        url, {"file": SimpleUploadedFile("z.geojson", bad), "kind": "city", "name_field": "name"}
    )
    assert response.status_code == 400 and b"invalid polygon" in response.content
    upload["file"] = SimpleUploadedFile("z.geojson", data)
    assert client.post(url, upload).status_code == 302
    assert Zone.objects.get().name_en == "Square"


@pytest.mark.django_db
def test_cached_figures_follow_an_edited_zone(geojson, write_csv):
    from baselines.ingest import IngestOptions, survey_ingest
    from dashboards.selectors import data_volume
    from sharing.access import viewer_scope
    from sharing.models import ReleasePolicy

    rows = [["sample_id", "longitude", "latitude", "Cu_ppm"], ["A", -100, 40, 5], ["B", -95, 40, 6]]
    survey_ingest(
        path=write_csv(rows), options=IngestOptions(survey="s", medium="topsoil", scale_km=10)
    )
    ReleasePolicy.objects.create(country=Country.objects.by_code("USA"), in_force=True)
    (zone,) = zones_upload(
        path=geojson(collection(({"name": "Z"}, SQUARE))), kind="city", user=None
    )
    volume = lambda: data_volume(viewer_scope(None), region_of(f"zone:{zone.pk}"))  # noqa: E731
    assert volume().data["totals"]["samples"] == 1
    zone.geom = MultiPolygon(zone.geom.envelope.buffer(6).envelope, srid=4326)  # reaches -95
    zone.save()
    assert volume().data["totals"]["samples"] == 2
