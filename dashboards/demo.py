"""The demo's example zones: boxes of about 1.5° around five US mining districts, so the
dashboards can be cut by "mining area" on the demo data. They are labelled as examples: boxes
drawn by Chemical Earth, not official boundaries."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from baselines.demo import HOTSPOT_CENTRES

from .models import Zone, ZoneKind
from .services import zones_upload

HALF_SIZE_DEG = 0.75
SOURCE = (
    "Example zone for the demo: a 1.5° box drawn by Chemical Earth around the district's centre; "
    "not an official boundary."
)
ZH_NAMES = {
    "Silver Valley, Idaho": "爱达荷州银谷",
    "Butte, Montana": "蒙大拿州比尤特",
    "Leadville, Colorado": "科罗拉多州利德维尔",
    "Tri-State district, Missouri/Kansas/Oklahoma": "三州矿区（密苏里/堪萨斯/俄克拉何马）",
    "Southeast Missouri Lead Belt": "密苏里东南铅矿带",
}


def demo_zones_load() -> list[str]:
    """Create the example mining-area zones once; returns the names created."""
    if Zone.objects.filter(source=SOURCE).exists():
        return []
    features = []
    for name, (lon, lat) in HOTSPOT_CENTRES.items():
        w, e, s, n = (
            lon - HALF_SIZE_DEG,
            lon + HALF_SIZE_DEG,
            lat - HALF_SIZE_DEG,
            lat + HALF_SIZE_DEG,
        )
        ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
        features.append(
            {"type": "Feature",
             "properties": {"name": f"{name} (example box)",
                            "name_zh": f"{ZH_NAMES.get(name, name)}（示例范围）"},
             "geometry": {"type": "Polygon", "coordinates": [ring]}}
        )  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "zones.geojson"
        path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
        zones = zones_upload(path=path, kind=ZoneKind.MINING, user=None, source=SOURCE)
    return [zone.name_en for zone in zones]
