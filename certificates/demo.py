"""The demo's example units over the Kola C-horizon survey near the Norway–Russia border: one
county, one township, two plots (one Norwegian, public; one Russian, whose values the demo policy
embargoes), each a box drawn by Chemical Earth and named "example" — not official boundaries —
and a certificate for each plot issued by the demo steward, so the map shows labels."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from django.contrib.auth import get_user_model

from baselines.demo import DEMO_DATASETS
from baselines.models import Survey
from dashboards.models import SoilStandard
from dashboards.standards import DEFAULT_STANDARD

from .models import AdminUnit, Certificate, Level
from .services import CertificateError, certificate_issue, units_upload
from .signing import SigningUnavailable

KOLA_SURVEY = next(d.options.survey for d in DEMO_DATASETS if "Kola" in d.options.survey)
SOURCE = (
    "Example unit for the demo: a box drawn by Chemical Earth over the Kola C-horizon survey; "
    "not an official boundary."
)
# level: [(code, name, Chinese name, parent, (west, east, south, north))]
UNITS = {
    Level.COUNTY: [
        ("EX-PASVIK", "Pasvik example county", "帕斯维克示例县", "", (29.0, 31.5, 69.0, 70.0)),
    ],
    Level.TOWNSHIP: [
        ("EX-PASVIK-T1", "Border example township", "边境示例乡镇", "EX-PASVIK",
         (29.5, 30.5, 69.3, 69.8)),
    ],  # fmt: skip
    Level.PLOT: [
        ("EX-PASVIK-P1", "Example plot A (Norway)", "示例地块A（挪威）", "EX-PASVIK-T1",
         (29.55, 30.05, 69.45, 69.72)),
        ("EX-PASVIK-P2", "Example plot B (Russia)", "示例地块B（俄罗斯）", "EX-PASVIK-T1",
         (30.1, 30.45, 69.4, 69.6)),
    ],
}  # fmt: skip


def _feature(code, name, name_zh, parent, box) -> dict:
    w, e, s, n = box
    ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
    return {"type": "Feature",
            "properties": {"code": code, "name": f"{name}", "name_zh": name_zh, "parent": parent},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}  # fmt: skip


def demo_units_load(steward_username: str = "steward") -> list[str]:
    """Create the example hierarchy (once) and a certificate per plot; returns what it made.
    Without the Kola survey's samples there is nothing to put units over: nothing is made."""
    kola = Survey.objects.filter(name=KOLA_SURVEY).first()
    if kola is None or not kola.analytes.exists():
        return []
    made = []
    steward = get_user_model().objects.filter(username=steward_username).first()
    for level, rows in UNITS.items():
        missing = [r for r in rows if not AdminUnit.objects.filter(code=r[0]).exists()]
        if not missing:
            continue
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "units.geojson"
            path.write_text(
                json.dumps({"type": "FeatureCollection",
                            "features": [_feature(*r) for r in missing]}),
                encoding="utf-8",
            )  # fmt: skip
            units = units_upload(path=path, level=level, user=steward, source=SOURCE)
        made += [f"unit {u.code}" for u in units]
    standard = SoilStandard.objects.get(code=DEFAULT_STANDARD)
    for code, *_rest in UNITS[Level.PLOT]:
        unit = AdminUnit.objects.get(code=code)
        if steward is None or Certificate.objects.filter(unit=unit).exists():
            continue
        try:
            certificate = certificate_issue(unit=unit, standard=standard, user=steward)
            made.append(f"certificate {certificate.public_id} for {code}")
        except (CertificateError, SigningUnavailable) as error:  # production without a key
            made.append(f"no certificate for {code}: {error}")
    return made
