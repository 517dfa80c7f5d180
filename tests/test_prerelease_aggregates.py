"""Pre-release cells reveal only their sample count and colour class (rule 4, docs/security.md).

An oracle over the aggregate outputs an anonymous viewer reaches (cell statistics and samples,
viewer values and elements, home and survey pages, list APIs, map layers: API document, TileJSON,
legend JSON and PNG, stored files, tiles) for n = 1…10 embargoed Cu samples in one 80 km RUS cell,
next to released RUS cells (so a surface blends them) and released FIN samples:

* metamorphic: changing the embargoed values while the cell's median stays in its class (a tiny
  factor, or a move across much of the class) changes no output, byte for byte;
* direct: no number in any output is an embargoed value, or their min, max, median or mean.

Staff (who see everything) are the positive control: the same oracle finds their values.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
from dataclasses import dataclass

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.contrib.gis.geos import Point
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.test import Client
from hypothesis import HealthCheck, Phase, event, given, reject, settings
from hypothesis import strategies as st

from baselines import grid, units
from baselines.models import Analyte, Country, Element, Measurement, Medium, Sample, Survey
from maps import layers
from maps.models import MapLayer
from sharing.access import viewer_scope
from sharing.models import ReleasePolicy, SurveyEmbargo

pytestmark = pytest.mark.django_db

MEDIUM = "topsoil"
SCALE = 80_000
# The pre-release cell: the 80 km cell around a point well inside Russia (near Moscow).
RUS_CELL = grid.cell_at(40.0, 55.0, SCALE)
# Offsets (km, grid metres) of the embargoed samples from the cell's centre.
JITTER_KM = [(0, 0), (3, 1), (-2, 4), (5, -3), (-4, -2), (1, -5), (6, 2), (-6, 5), (2, 6), (-1, -6)]
# Released RUS samples (a survey whose own embargo has ended), one in each of the four
# neighbouring 80 km cells: a surface interpolates between them and the pre-release cell.
NEIGHBOURS = {(-1, 0): 15.0, (1, 0): 60.0, (0, -1): 150.0, (0, 1): 400.0}
# Released FIN samples: (lon, lat, Cu mg/kg), round values in a few cells.
FIN_ROWS = [
    (26.00, 63.00, 12.5), (26.30, 63.10, 18.0), (25.60, 62.80, 24.5), (27.00, 63.40, 33.0),
    (26.80, 62.60, 41.5), (24.90, 63.30, 56.0), (27.50, 66.50, 72.5), (27.80, 66.30, 96.0),
    (27.10, 66.80, 130.5), (28.20, 66.30, 175.0), (26.70, 66.10, 240.5), (27.40, 67.00, 320.0),
]  # fmt: skip
LAYERS = [  # (style, scheme, scale)
    *[("cells", scheme, SCALE) for scheme in ("percentiles", "quantiles", "boxplot", "log_equal")],
    ("surface", "percentiles", SCALE),
    ("surface", "quantiles", SCALE),
    ("points", "percentiles", SCALE),  # exact visible rows only
    ("cells", "percentiles", 40_000),  # finer than the pre-release scale
]
BOTH_BOX = "20,50,45,70"  # FIN and the pre-release cell
REL_TOL = 1e-9
NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
CSRF = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]*"|csrftoken=[^;"\s]*')


# --- the world -----------------------------------------------------------------------------------


def lonlat(cell: grid.Cell, offsets_km: list[tuple[int, int]]) -> list[tuple[float, float]]:
    """Points offset from the cell's centre by (east, north) km on the ground."""
    lon0, lat0 = cell.centroid_lonlat
    km_per_deg_lon = 111.32 * np.cos(np.radians(lat0))
    lon = np.array([lon0 + dx / km_per_deg_lon for dx, _ in offsets_km])
    lat = np.array([lat0 + dy / 111.2 for _, dy in offsets_km])
    return list(zip(lon.tolist(), lat.tolist(), strict=True))


def neighbour(dr: int, dc: int) -> grid.Cell:
    """The cell dr rows south and dc columns east of RUS_CELL (north and south: the cell of that
    row under its centre; the bands' columns differ)."""
    lon, lat = RUS_CELL.centroid_lonlat
    below = grid.cell_at(lon, lat - dr * grid.BAND_DEG, SCALE)
    assert below.row == RUS_CELL.row + dr
    return grid.Cell(SCALE, below.row, below.col + dc)


@dataclass
class World:
    embargoed_survey: Survey
    embargoed: list[Measurement]  # the pre-release Cu rows


def build_world(values: list[float], *, public: bool) -> World:
    """RUS allows public maps before release at 80 km from one sample a cell; its embargoed survey
    has ``values`` in one cell. With ``public``: released RUS neighbours and FIN samples."""
    medium = Medium.objects.get(code=MEDIUM)
    cu = Element.objects.get(symbol="Cu")
    rus, fin = Country.objects.by_code("RUS"), Country.objects.by_code("FIN")
    plan = {  # survey slug: (country, [(lon, lat, value)])
        "rus-prerelease": (
            rus, [(*p, v) for p, v in zip(lonlat(RUS_CELL, JITTER_KM[: len(values)]), values,
                                          strict=True)]
        ),
    }  # fmt: skip
    if public:
        plan["rus-released"] = (
            rus, [(*lonlat(neighbour(*d), [(1, 1)])[0], v) for d, v in NEIGHBOURS.items()]
        )  # fmt: skip
        plan["fin-open"] = (fin, FIN_ROWS)
    surveys = Survey.objects.bulk_create(
        [Survey(name=slug, slug=slug, medium=medium, scale_m=20_000) for slug in plan]
    )
    Survey.countries.through.objects.bulk_create(
        [
            Survey.countries.through(survey_id=s.pk, country_id=country.pk)
            for s, (country, _) in zip(surveys, plan.values(), strict=True)
        ]
    )
    analytes = Analyte.objects.bulk_create(
        [Analyte(survey=s, element=cu, reported_unit="mg/kg", source_column="Cu_ppm")
         for s in surveys]
    )  # fmt: skip
    samples, measurements = [], []
    for survey, analyte, (country, rows) in zip(surveys, analytes, plan.values(), strict=True):
        for i, (lon, lat, value) in enumerate(rows):
            code = f"{survey.slug}-{i}"
            sample = Sample(survey=survey, code=code, site_code=code, country_id=country.pk,
                            geom=Point(lon, lat, srid=4326))  # fmt: skip
            sample.set_cells()
            samples.append(sample)
            measurements.append(
                Measurement(sample=sample, analyte=analyte, element=cu, value=value,
                            reported_value=value)
            )  # fmt: skip
    Sample.objects.bulk_create(samples)
    Measurement.objects.bulk_create(measurements)
    ReleasePolicy.objects.create(
        country=rus, in_force=True, available_on=dt.date(2099, 1, 1),
        prerelease_scale_m=SCALE, prerelease_min_samples=1,
    )  # fmt: skip
    ReleasePolicy.objects.create(country=fin, in_force=True)
    if public:
        SurveyEmbargo.objects.create(survey=surveys[1], available_on=dt.date(2000, 1, 1))
    embargoed = measurements[: len(values)]
    assert {m.sample.cell_code(SCALE) for m in embargoed} == {RUS_CELL.code}
    return World(surveys[0], embargoed)


def change_embargoed_values(world: World, values: list[float]) -> None:
    """The same world with other embargoed values, as a new ingest would leave it: the survey's
    data version moves on (layers and cached figures are keyed by it) and the cache is empty."""
    for m, v in zip(world.embargoed, values, strict=True):
        Measurement.objects.filter(pk=m.pk).update(value=v, reported_value=v)
    Survey.objects.filter(pk=world.embargoed_survey.pk).update(data_version=F("data_version") + 1)
    cache.clear()


# --- what a viewer gets --------------------------------------------------------------------------


def cells_to_ask() -> dict[str, str]:
    """The pre-release cell and its four neighbours at 80 km, the finer cells holding its samples
    (no product finer than the pre-release scale), and a FIN cell."""
    cells = {f"80km{dr:+d}{dc:+d}": neighbour(dr, dc).code for dr, dc in [(0, 0), *NEIGHBOURS]}
    for size in (40_000, 20_000, 10_000):
        codes = sorted(
            {grid.cell_at(lon, lat, size).code for lon, lat in lonlat(RUS_CELL, JITTER_KM)}
        )
        cells |= {f"{size // 1000}km-{i}": code for i, code in enumerate(codes)}
    cells["fin80"] = grid.cell_at(*FIN_ROWS[0][:2], SCALE).code
    return cells


def lonlat_bounds(cell: grid.Cell) -> tuple[float, float, float, float]:
    lons, lats = zip(*cell.polygon_lonlat(), strict=True)
    return min(lons), min(lats), max(lons), max(lats)


def tiles_over(z: int, west: float, south: float, east: float, north: float):
    def xy(lon: float, lat: float) -> tuple[int, int]:
        n = 2**z
        lat_r = math.radians(lat)
        y = (1 - math.log(math.tan(lat_r) + 1 / math.cos(lat_r)) / math.pi) / 2 * n
        return min(int((lon + 180) / 360 * n), n - 1), min(int(y), n - 1)

    x0, y0 = xy(west, north)
    x1, y1 = xy(east, south)
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def get(client: Client, url: str) -> bytes:
    """Status and body. An empty layer's legend image answers 404 like a missing one: the status
    is part of the output too."""
    response = client.get(url)
    assert response.status_code in (200, 404), (url, response.status_code, body(response)[:300])
    return b"%d " % response.status_code + body(response)


def as_json(output: bytes):
    status, _, text = output.partition(b" ")
    assert status == b"200", output[:300]
    return json.loads(text)


def layer_outputs(client: Client, style: str, scheme: str, scale_m: int) -> dict[str, bytes]:
    """A layer rendered here (as the worker would) and then read as the anonymous viewer does:
    database fields, stored files, API document, TileJSON, legend JSON and PNG, and the tiles
    over the pre-release cell and its neighbours. The key names the data version, so it is
    replaced by a placeholder."""
    spec = layers.LayerSpec(
        Element.objects.get(symbol="Cu"), Medium.objects.get(code=MEDIUM), scale_m, style, scheme
    )
    layer = layers.find_layer(spec, viewer_scope(None), queue=False)
    layer = layers.render(MapLayer.objects.select_related("element", "medium").get(pk=layer.pk))
    assert layer.state in (MapLayer.State.READY, MapLayer.State.EMPTY), layer.message
    name = f"layer {style} {scheme} {scale_m // 1000}km"
    out = {
        f"{name} fields": repr(
            [layer.state, layer.legend, layer.bounds, layer.native_zoom, layer.maxzoom,
             layer.n_features, layer.n_values, layer.countries, layer.tiles_seeded,
             layer.message, layer.is_public]
        ).encode(),
    }  # fmt: skip
    if layer.state == MapLayer.State.READY:  # rasters (class + 1 per pixel), COG, seeded tiles
        for path in sorted(layer.directory.rglob("*")):
            if path.is_file():
                out[f"{name} file {path.relative_to(layer.directory)}"] = path.read_bytes()
    query = f"element=Cu&medium={MEDIUM}&scale={scale_m // 1000}&style={style}&scheme={scheme}"
    out[f"{name} api"] = get(client, f"/api/v1/layers?{query}")
    for suffix in (".json", "/legend.json", "/legend.png"):
        out[f"{name} {suffix}"] = get(client, f"/tiles/{layer.key}{suffix}")
    # Tiles as served: at the seeding zoom over the pre-release cell and its neighbours; past it
    # (cut on request) over the cell, and for a surface over its blend with the neighbours.
    west, south, east, north = lonlat_bounds(RUS_CELL)
    seeded = min(django_settings.TILE_SEED_MAX_ZOOM, layer.maxzoom or 0)
    requests = {seeded: (west - 2.0, south - 1.2, east + 2.0, north + 1.2)}
    if style != "points" and scale_m == SCALE:
        margin = (1.5, 0.9) if style == "surface" else (0.0, 0.0)
        requests[layer.maxzoom] = (west - margin[0], south - margin[1], east + margin[0],
                                   north + margin[1])  # fmt: skip
    for z, box in requests.items():
        for x, y in tiles_over(z, *box):
            out[f"{name} tile {z}/{x}/{y}"] = get(client, f"/tiles/{layer.key}/{z}/{x}/{y}.png")
    return {k: v.replace(layer.key.encode(), b"<key>") for k, v in out.items()}


def values_url(box: str, scale: str = "80") -> str:
    return f"/api/v1/viewer/values?element=Cu&medium={MEDIUM}&scale={scale}&bbox={box}"


def stats_url(code: str) -> str:
    return f"/api/v1/cells/{code}/stats?element=Cu&medium={MEDIUM}"


def collect(client: Client) -> dict[str, bytes]:
    """Every aggregate output of the world for the anonymous viewer, by name."""
    out: dict[str, bytes] = {}
    cells = cells_to_ask()
    for label, code in cells.items():
        out[f"cell stats {label}"] = get(client, stats_url(code))
    for label in ("80km+0+0", "80km-1+0", "40km-0", "fin80"):  # lists: released rows only
        out[f"cell samples {label}"] = get(
            client, f"/api/v1/cells/{cells[label]}/samples?element=Cu&medium={MEDIUM}"
        )
    west, south, east, north = lonlat_bounds(RUS_CELL)
    boxes = {
        "both": BOTH_BOX,
        "world": "-180,-90,180,90",
        "rus-cell": f"{west:.4f},{south:.4f},{east:.4f},{north:.4f}",
    }
    for label, box in boxes.items():
        for scale in ("80", "40"):
            out[f"values {label} {scale}"] = get(client, values_url(box, scale))
    out["elements"] = get(client, f"/api/v1/viewer/elements?medium={MEDIUM}")
    for url in (
        "/api/v1/measurements/?element=Cu",
        "/api/v1/samples/",
        "/api/v1/surveys/",
        "/surveys/",
        "/surveys/rus-prerelease/",
    ):
        out[url] = CSRF.sub(b"<csrf>", get(client, url))
    home = client.get("/")
    out["/"] = CSRF.sub(b"<csrf>", home.content)
    out["home figures"] = repr(home.context["figures"]).encode()
    for style, scheme, scale_m in LAYERS:
        out |= layer_outputs(client, style, scheme, scale_m)
    return out


def collect_staff(client: Client) -> dict[str, bytes]:
    """The positive control: what staff get from the pre-release cell and the view."""
    return {
        "cell stats": get(client, stats_url(RUS_CELL.code)),
        "values": get(client, values_url(BOTH_BOX)),
    }


# --- the oracle ----------------------------------------------------------------------------------


def secrets(values: list[float]) -> dict[str, float]:
    """The embargoed values and their statistics: in mg/kg, in the display unit, as log10."""
    x = np.asarray(values, dtype=float)
    base = {f"value {i}": float(v) for i, v in enumerate(x)}
    base |= {
        "min": float(x.min()),
        "max": float(x.max()),
        "median": float(np.median(x)),
        "mean": float(x.mean()),
        "geometric mean": float(np.exp(np.log(x).mean())),
    }
    found = {}
    for label, v in base.items():
        found[label] = v
        found[f"{label} (display unit)"] = float(units.to_display(v, "Cu"))
        found[f"{label} (log10)"] = math.log10(v)
    return found


def numbers(output: bytes) -> np.ndarray:
    """Every number written in an output (JSON, HTML, text). Binary outputs (PNG, GeoTIFF, npy)
    are compared byte for byte only."""
    if output[:8] == b"200 \x89PNG" or output[:4] in (b"II*\x00", b"\x93NUM", b"\x89PNG"):
        return np.empty(0)
    return np.array([float(m) for m in NUMBER.findall(output)])


def direct_hits(outputs: dict[str, bytes], values: list[float], control: dict[str, bytes]):
    """Where an output shows a secret of ``values``. A number also written in ``control`` (the
    outputs of the world with the other values) does not come from these values: it is a
    count, a coordinate or a released value that happens to be equal, not a finding."""
    everywhere = np.concatenate([numbers(o) for o in control.values()])
    hits = []
    for name, output in outputs.items():
        found = numbers(output)
        for label, secret in secrets(values).items():
            for x in found[np.isclose(found, secret, rtol=REL_TOL, atol=0)]:
                if not np.isclose(everywhere, x, rtol=REL_TOL, atol=0).any():
                    hits.append(f"{name}: {label} = {x!r}")
    return hits


def differences(first: dict[str, bytes], second: dict[str, bytes]) -> list[str]:
    found = [f"only in one world: {k}" for k in sorted(first.keys() ^ second.keys())]
    for k in sorted(first.keys() & second.keys()):
        if first[k] != second[k]:
            found.append(f"{k}:\n  {first[k][:400]!r}\n  {second[k][:400]!r}")
    return found


def class_bounds(outputs: dict[str, bytes]) -> set[float]:
    """Every break and class bound of every legend shown."""
    bounds = set()
    for name, output in outputs.items():
        if name.endswith("/legend.json") and output.startswith(b"200 "):
            legend = as_json(output)
            bounds |= set(legend["breaks"])
            bounds |= {b for c in legend["classes"] for b in (c["lower"], c["upper"])}
    return bounds


# Bounds known so far (the 1-2-5 steps, then every legend seen): a cell's median must stay
# strictly between two neighbouring ones for its class to stay the same under every legend.
KNOWN_BOUNDS: set[float] = {m * 10.0**e for e in range(-4, 7) for m in (1, 2, 5)}


@dataclass(frozen=True)
class Perturbation:
    """``tiny``: V × (1 + 1e-4). Otherwise the median moves half-way (in log) to the farther
    bound of its class and the values spread around it by the power ``gamma``:
    V' = m' · (V / m) ** gamma."""

    tiny: bool = False
    gamma: float = 1.0

    def apply(self, values: list[float], bounds: set[float]) -> list[float] | None:
        """V', or None when the median is on a bound or V' would leave its class."""
        m = float(np.median(values))
        if any(math.isclose(b, m, rel_tol=1e-6) for b in bounds):
            return None
        below = max(b for b in bounds if b < m)
        above = min(b for b in bounds if b > m)
        if self.tiny:
            changed = [v * (1 + 1e-4) for v in values]
        else:
            target = math.sqrt(m * above) if above / m > m / below else math.sqrt(below * m)
            changed = [target * (v / m) ** self.gamma for v in values]
        return changed if below < float(np.median(changed)) < above else None


# --- the tests -----------------------------------------------------------------------------------


@dataclass
class Run:
    values: list[float]
    changed: list[float]
    first: dict[str, bytes]
    second: dict[str, bytes]
    staff_first: dict[str, bytes]
    staff_second: dict[str, bytes]


def run_two_worlds(values, perturbation: Perturbation, *, public: bool, reject=reject) -> Run:
    """Outputs of the world with ``values``, then of the same world with the perturbed values
    (anonymous and staff), in one rolled-back transaction. ``reject`` is called when the
    perturbation cannot keep the cell's median in its class."""
    if perturbation.apply(values, KNOWN_BOUNDS) is None:
        reject()
    anonymous, staff = Client(), Client()
    with transaction.atomic():
        world = build_world(values, public=public)
        staff.force_login(User.objects.create(username="oracle-staff", is_staff=True))
        cache.clear()
        first, staff_first = collect(anonymous), collect_staff(staff)
        KNOWN_BOUNDS.update(class_bounds(first))
        changed = perturbation.apply(values, KNOWN_BOUNDS)
        if changed is None:
            reject()  # raises: the transaction rolls back
        change_embargoed_values(world, changed)
        second, staff_second = collect(anonymous), collect_staff(staff)
        transaction.set_rollback(True)
    cache.clear()
    return Run(values, changed, first, second, staff_first, staff_second)


def check(run: Run, *, public: bool) -> None:
    n = len(run.values)
    # Metamorphic: nothing the public gets moves while the cell's median stays in its class.
    assert differences(run.first, run.second) == []
    # Direct: no output shows an embargoed value or a statistic of them.
    assert direct_hits(run.first, run.values, run.second) == []
    assert direct_hits(run.second, run.changed, run.first) == []
    # What the pre-release cell says: its sample count, no statistic.
    cell = as_json(run.first["cell stats 80km+0+0"])
    assert cell["before_release"] == {"samples": n}
    assert cell["statistics"]["n"] == 0 and cell["statistics"]["median"] is None
    for label in cells_to_ask():
        if label != "80km+0+0":
            assert as_json(run.first[f"cell stats {label}"])["before_release"] is None, label
    for style, scheme, scale_m in LAYERS:
        legend = as_json(run.first[f"layer {style} {scheme} {scale_m // 1000}km /legend.json"])
        prerelease = style != "points" and scale_m >= SCALE
        assert legend["before_release"] == ({"cells": 1, "values": n} if prerelease
                                            else {"cells": 0, "values": 0})  # fmt: skip
        if public:
            released = len(FIN_ROWS) + len(NEIGHBOURS)
            assert (legend["n"], legend["breaks_from"]) == (released, "released values")
        elif prerelease:
            assert (legend["n"], legend["breaks_from"]) == (0, "1-2-5 series")
    # Positive control: staff see the values, and the same oracle finds them.
    assert differences(run.staff_first, run.staff_second) != []
    assert direct_hits(run.staff_first, run.values, run.staff_second) != []
    assert direct_hits(run.staff_second, run.changed, run.staff_first) != []


# n = 1…10 fixed odd values (an even n puts the cell's median between two of them).
ODD_VALUES = [137.913, 42.617, 311.059, 8.771, 256.483, 19.337, 74.209, 488.651, 3.447, 163.529]


def fail_on_crossing() -> None:
    pytest.fail("the perturbation cannot keep the cell's median in its class: change ODD_VALUES")


@pytest.mark.parametrize("n", range(1, 11))
def test_n_embargoed_samples_in_one_cell_show_only_their_count_and_class(n):
    run = run_two_worlds(
        ODD_VALUES[:n], Perturbation(gamma=1.5), public=True, reject=fail_on_crossing
    )
    check(run, public=True)


@settings(
    max_examples=int(os.environ.get("PRERELEASE_ORACLE_EXAMPLES", "6")),
    deadline=None,
    database=None,  # nothing written outside tests/; a failure prints its values
    phases=[Phase.explicit, Phase.generate],  # an example costs a second or two: no shrinking
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    # Odd-looking values in 1…500 with three decimals (the smallest, 1.001, is off the steps).
    values=st.lists(st.integers(1_001, 499_999).map(lambda k: k / 1000), min_size=1, max_size=10),
    perturbation=st.sampled_from(
        [
            Perturbation(tiny=True),
            Perturbation(gamma=1.0),
            Perturbation(gamma=0.5),
            Perturbation(gamma=2.0),
        ]
    ),  # fmt: skip
    public=st.booleans(),
)
def test_no_output_depends_on_embargoed_values_within_their_class(values, perturbation, public):
    """Random values; with no released data at all (``public`` False) the classes are the fixed
    1-2-5 series."""
    event(f"public={public}, n={len(values)}, {perturbation}")
    check(run_two_worlds(values, perturbation, public=public), public=public)
