"""``/docs/api/``: the API and the OGC API from Python, R, QGIS, GDAL and curl.

The examples are data (``EXAMPLES``), filled with this portal's address, so the page and the
tests (tests/test_developer_page.py runs the Python and GDAL ones against a live server) show the
same code. A key is read from the environment (``CHEMEARTH_TOKEN``) so a copied example works
anonymously and, with a key set, with the holder's rights.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Example:
    key: str
    title: str
    language: str  # python | shell | r | text
    code: str
    runnable: bool = False  # run by the tests against a live server


EXAMPLES = (
    Example(
        "python-requests",
        _("Python (requests): measurements, page by page"),
        "python",
        """\
import os
import requests

BASE = "{base}"
token = os.environ.get("CHEMEARTH_TOKEN")  # your key from the account page, or none
headers = {{"Authorization": f"Token {{token}}"}} if token else {{}}
url = f"{{BASE}}/api/v1/measurements/?element=Cu&limit=1000"
rows = []
while url:
    page = requests.get(url, headers=headers, timeout=60)
    page.raise_for_status()  # errors are JSON: {{"error", "reason", "status"}}
    rows += page.json()["results"]
    url = page.json()["next"]  # the cursor link of the next page, None at the end
print(len(rows), "Cu values in mg/kg")
""",
        runnable=True,
    ),
    Example(
        "python-owslib",
        _("Python (OWSLib): OGC API – Features"),
        "python",
        """\
import os
from owslib.ogcapi.features import Features

token = os.environ.get("CHEMEARTH_TOKEN")
api = Features("{base}/ogcapi", headers={{"Authorization": f"Token {{token}}"}} if token else None)
print([c["id"] for c in api.collections()["collections"]])
items = api.collection_items("samples", limit=100, filter="Cu > 20")
print(items["numberReturned"], "samples with more than 20 mg/kg Cu")
# newest first, in Web Mercator metres (sortables: /ogcapi/collections/samples/sortables)
latest = api.collection_items("samples", limit=5, sortby=("sampled_on", "desc"),
                              crs="http://www.opengis.net/def/crs/EPSG/0/3857")
print([f["geometry"]["coordinates"] for f in latest["features"]])
""",
        runnable=True,
    ),
    Example(
        "gdal",
        _("GDAL: list the collections, copy one to a GeoPackage"),
        "shell",
        """\
ogrinfo -ro -so OAPIF:{base}/ogcapi
ogr2ogr -f GPKG samples.gpkg OAPIF:{base}/ogcapi samples -oo PAGE_SIZE=1000
# with your key:  --config GDAL_HTTP_HEADERS "Authorization: Token $CHEMEARTH_TOKEN"
""",
        runnable=True,
    ),
    Example(
        "curl-ogcapi",
        _("curl: OGC API features sorted, in another CRS"),
        "shell",
        """\
# newest first, then by sample id; coordinates in EPSG:3857 (Content-Crs names the CRS);
# the box in EPSG:4326 order (south,west,north,east); follow the "next" link for more
curl -s -G "{base}/ogcapi/collections/samples/items" \\
     --data-urlencode "sortby=-sampled_on,code" \\
     --data-urlencode "crs=http://www.opengis.net/def/crs/EPSG/0/3857" \\
     --data-urlencode "bbox=55,5,70,30" \\
     --data-urlencode "bbox-crs=http://www.opengis.net/def/crs/EPSG/0/4326" \\
     --data-urlencode "limit=100"
# CRSs: CRS84 (default), EPSG:4326, EPSG:3857, EPSG:6933 (a cylindrical equal-area CRS)
""",
    ),
    Example(
        "r-sf",
        _("R (sf): read a collection"),
        "r",
        """\
library(sf)
samples <- st_read("OAPIF:{base}/ogcapi", layer = "samples")
# with your key: Sys.setenv(GDAL_HTTP_HEADERS = paste("Authorization: Token", key))
""",
    ),
    Example(
        "qgis",
        _("QGIS"),
        "text",
        """\
Layer > Add Layer > Add WFS / OGC API – Features Layer > New
  URL: {base}/ogcapi        Version: OGC API – Features
  (with a key: Authentication > Basic is not used; add the header
   "Authorization: Token <key>" in the connection's HTTP headers)
""",
    ),
    Example(
        "curl-download",
        _("curl: a download package"),
        "shell",
        """\
curl -s -X POST "{base}/api/v1/downloads/" -H "Authorization: Token $CHEMEARTH_TOKEN" \\
     -H "Content-Type: application/json" \\
     -d '{{"countries": ["USA"], "elements": ["Cu", "Pb"], "format": "csv"}}'
# answers 202 {{"id", "url", "state", "progress"}}; GET the url until "state" is "ready",
# then fetch its "file" (a link signed for you, valid 24 h)
""",
    ),
)


def examples_for(base: str) -> list[dict]:
    return [
        {"key": e.key, "title": e.title, "language": e.language, "runnable": e.runnable,
         "code": e.code.format(base=base)}
        for e in EXAMPLES
    ]  # fmt: skip


def developer_page(request: HttpRequest) -> HttpResponse:
    base = request.build_absolute_uri("/").rstrip("/")
    return render(request, "portal/docs_api.html", {"examples": examples_for(base), "base": base})
