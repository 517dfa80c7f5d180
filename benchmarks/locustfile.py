"""The real mix of the portal's traffic for benchmarks/load.py (locust, in var/bench-venv).

Anonymous visitors (researchers, policymakers) read the map page and its layer, tiles inside the
layer's bounds, cell statistics, API and OGC API pages and dashboards; partners (an API token, given
by load.py in the environment) also ask for download packages and read the restricted layer's
tiles through their capability URL. Every request is named by its endpoint, so locust's statistics
give one line (and one p95) per endpoint.
"""

from __future__ import annotations

import json
import math
import os
import random

from locust import HttpUser, between, task

# bbox, cells, countries, layer query: written by load.py into the file LOAD_WORLD names.
with open(os.environ["LOAD_WORLD"]) as world_file:
    WORLD = json.load(world_file)


def _tile_in(bounds: list[float], z: int) -> tuple[int, int]:
    west, south, east, north = bounds
    lon = random.uniform(west, east)
    lat = max(min(random.uniform(south, north), 85.0), -85.0)
    n = 2**z
    x = int((lon + 180) / 360 * n)
    rad = math.radians(lat)
    y = int((1 - math.log(math.tan(rad) + 1 / math.cos(rad)) / math.pi) / 2 * n)
    return min(x, n - 1), min(y, n - 1)


def _bbox(spread: float = 1.0) -> str:
    west, south, east, north = WORLD["bbox"]
    dx, dy = random.uniform(-spread, spread), random.uniform(-spread, spread)
    return f"{west + dx:.4f},{south + dy:.4f},{east + dx:.4f},{north + dy:.4f}"


class Visitor(HttpUser):
    """A researcher or policymaker, anonymous."""

    weight = 4
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        self.layer = None

    def _layer(self) -> dict | None:
        if self.layer is None or self.layer.get("state") != "ready":
            r = self.client.get("/api/v1/layers?" + WORLD["layer_query"], name="/api/v1/layers")
            self.layer = r.json() if r.ok else None
        return self.layer

    @task(2)
    def map_page(self) -> None:
        self.client.get("/map/", name="/map/")

    @task(10)
    def tiles(self) -> None:
        layer = self._layer()
        if not layer or layer.get("state") != "ready" or not layer.get("bounds"):
            return
        for _ in range(6):  # a map view asks for several tiles at once
            z = random.randint(3, min(8, layer["maxzoom"] or 3))
            x, y = _tile_in(layer["bounds"], z)
            url = layer["tiles"].replace("{z}", str(z)).replace("{x}", str(x))
            self.client.get(url.replace("{y}", str(y)), name="/tiles/<key>/z/x/y.png")

    @task(3)
    def cell_stats(self) -> None:
        code = random.choice(WORLD["cells"])
        self.client.get(
            f"/api/v1/cells/{code}/stats?{WORLD['layer_query']}", name="/api/v1/cells/<code>/stats"
        )

    @task(3)
    def api_page(self) -> None:
        self.client.get(f"/api/v1/samples/?bbox={_bbox()}&limit=100", name="/api/v1/samples/")

    @task(2)
    def ogc_items(self) -> None:
        self.client.get(
            f"/ogcapi/collections/samples/items?limit=100&bbox={_bbox()}",
            name="/ogcapi/collections/samples/items",
        )

    @task(2)
    def dashboards(self) -> None:
        name = random.choice(("coverage", "exceedance", "volume", "baselines"))
        query = "?medium=topsoil" if name == "baselines" else ""
        self.client.get(f"/dashboards/{name}/{query}", name=f"/dashboards/{name}/")

    @task(1)
    def dashboards_api(self) -> None:
        country = random.choice(WORLD["countries"])
        self.client.get(
            f"/api/v1/dashboards/baselines?medium=topsoil&region=country:{country}",
            name="/api/v1/dashboards/baselines",
        )


class Partner(HttpUser):
    """A partner agency's script: its token, downloads and the restricted layer."""

    weight = 1
    wait_time = between(1.0, 3.0)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Token {os.environ['LOAD_TOKEN']}"

    @task(3)
    def download(self) -> None:
        body = {"elements": ["Cu"], "medium": "topsoil", "format": "csv", "bbox": _bbox(0.5)}
        r = self.client.post("/api/v1/downloads/", json=body, name="/api/v1/downloads/ (POST)")
        if r.status_code == 202:
            self.client.get(f"/api/v1/downloads/{r.json()['id']}", name="/api/v1/downloads/<id>")

    @task(5)
    def restricted_tiles(self) -> None:
        r = self.client.get("/api/v1/layers?" + WORLD["layer_query"], name="/api/v1/layers")
        layer = r.json() if r.ok else {}
        if layer.get("state") != "ready" or not layer.get("bounds"):
            return
        for _ in range(4):
            z = random.randint(3, min(8, layer["maxzoom"] or 3))
            x, y = _tile_in(layer["bounds"], z)
            url = layer["tiles"].replace("{z}", str(z)).replace("{x}", str(x))
            # Sent without the token, as a map library does with a capability URL.
            self.client.get(
                url.replace("{y}", str(y)),
                name="/tiles/c/<capability>/z/x/y.png",
                headers={"Authorization": None},
            )

    @task(2)
    def api_pages(self) -> None:
        self.client.get(f"/api/v1/measurements/?bbox={_bbox()}&limit=500",
                        name="/api/v1/measurements/ (token)")  # fmt: skip
