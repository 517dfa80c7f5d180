"""The demo datasets that `make demo` loads: real surveys copied into ``demo_data/``, and one
clearly labelled synthetic survey generated from them at load time.

Each entry is an ingest of a file with its citation and licence, as a data steward would run it;
loading again adds nothing (the ingest recognises a file it has seen).

The real demo surveys have one sampling round each, so the dashboards' "monitoring change" (sites
sampled in more than one round, paired by country, site code and medium) would have nothing to
show. ``SYNTHETIC_DATASETS`` fills that gap with a *synthetic* second round (2020) at the real
USGS DS 801 sites: same site ids and coordinates, values derived from the real ones by seeded
random factors (``synthetic_round_rows`` states the method). The file is generated into
``VAR_DIR/demo/`` (never committed), and the survey is created with ``synthetic=True`` and a name,
description and citation that say so, so every page, API answer and download labels it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings

from .ingest import IngestOptions, IngestReport, survey_ingest
from .models import Survey
from .provenance import read_column_methods, survey_provenance_update

DEMO_DIR = Path(settings.BASE_DIR) / "demo_data"
USGS_CSV = DEMO_DIR / "usgs_ds801_top5cm_soil" / "usgs_ds801_top5cm_soil.csv"
USGS_CITATION = (
    "Smith, D.B., Cannon, W.F., Woodruff, L.G., Solano, F., Kilburn, J.E., and Fey, "
    "D.L., 2013, Geochemical and mineralogical data for soils of the conterminous "
    "United States: U.S. Geological Survey Data Series 801, "
    "https://pubs.usgs.gov/ds/801/"
)


@dataclass(frozen=True)
class Provenance:
    """Where a demo survey's values came from, per its source documentation: the laboratory, the
    survey's default method and a table of methods by column (``column,method,source``, each row
    naming the document it came from)."""

    laboratory: str
    method: str
    methods: Path


# Kola: demo_data/kola_c_horizon_soil/README.md ("Project": the Kola Ecogeochemistry Project of
# GTK, NGU and CKE; "Columns": unsuffixed columns are the partial aqua-regia extraction, _XRF X-ray
# fluorescence totals, _INAA instrumental neutron activation totals). The sources used name no
# laboratory per method; NGU's project page (https://www.ngu.no/Kola/multiel.html) refers to
# Chekushin et al. (1993) and Reimann (1995) for the analytical details.
KOLA_PROVENANCE = Provenance(
    laboratory="Kola Ecogeochemistry Project laboratories (GTK, NGU, CKE)",
    method="Aqua regia extraction (29 elements); XRF (10); INAA (13)",
    methods=DEMO_DIR / "kola_c_horizon_soil" / "kola_c_horizon_methods.csv",
)
# USGS DS 801: near-total 4-acid digestion (HCl, HNO3, HClO4, HF) with ICP-AES and ICP-MS for 41
# elements, separate methods for As, Hg and Se (Smith et al. 2012, Earth Science Frontiers 19(3)
# 19–32; Smith et al. 2009, Applied Geochemistry 24, 1357–1368); As and Se by hydride generation
# AAS and Hg by cold-vapour AAS (USGS method pages https://mrdata.usgs.gov/ds-801/method.php?method=
# HYD-AA and ?method=CVAA). Those sources say the analyses were made for the USGS by a laboratory
# under contract without naming it here, so the laboratory says no more.
USGS_PROVENANCE = Provenance(
    laboratory="Laboratory under contract to the USGS (DS 801)",
    method=(
        "4-acid digestion, ICP-AES/ICP-MS (41 elements); As and Se by hydride generation AAS; "
        "Hg by cold-vapour AAS"
    ),
    methods=DEMO_DIR / "usgs_ds801_top5cm_soil" / "usgs_ds801_methods.csv",
)


@dataclass(frozen=True)
class DemoDataset:
    file: Path
    options: IngestOptions
    provenance: Provenance | None = None


DEMO_DATASETS = [
    DemoDataset(
        file=USGS_CSV,
        options=IngestOptions(
            survey="USGS soils of the conterminous United States, 0–5 cm (DS 801)",
            medium="topsoil",
            # 4,857 sites over 8 million km², about one site per 1,600 km²: a 40 km grid.
            scale_km=40,
            year=2010,
            # The first round; the synthetic 2020 round below is round 2 at the same sites.
            monitoring_round=1,
            citation=USGS_CITATION,
            licence="Public domain (U.S. Government work)",
        ),
        provenance=USGS_PROVENANCE,
    ),
    DemoDataset(
        file=DEMO_DIR / "kola_c_horizon_soil" / "kola_c_horizon_soil.csv",
        options=IngestOptions(
            survey="Kola Ecogeochemistry Project, C-horizon soils",
            medium="subsoil",
            # About one site per 300 km² over 188,000 km²: a 20 km grid.
            scale_km=20,
            year=1995,
            detection_limits=DEMO_DIR
            / "kola_c_horizon_soil"
            / "kola_c_horizon_detection_limits.csv",
            citation=(
                "Reimann, C., Äyräs, M., Chekushin, V., Bogatyrev, I., Boyd, R., de Caritat, P., "
                "Dutter, R., Finne, T.E., Halleraker, J.H., Jæger, Ø., Kashulina, G., Lehto, O., "
                "Niskavaara, H., Pavlov, V., Räisänen, M.L., Strand, T., Volden, T. (1998) "
                "Environmental Geochemical Atlas of the Central Barents Region. NGU-GTK-CKE "
                "Special Publication, Geological Survey of Norway, Trondheim. Data: R package "
                "robCompositions 2.4.1 (chorizonDL)."
            ),
            licence="GPL (>= 2), as distributed in robCompositions",
        ),
        provenance=KOLA_PROVENANCE,
    ),
]


# --- the synthetic second round ------------------------------------------------------------------

SYNTHETIC_SEED = 2020
SYNTHETIC_YEAR = 2020
SAMPLE_SUFFIX = "-S2020"
# Every element: the real value times a lognormal factor, median 1.05 (a slight general rise),
# standard deviation of its natural log 0.25.
DRIFT_MEDIAN = 1.05
DRIFT_LOG_SD = 0.25
# A censored real value ("<DL") stays censored with this probability; otherwise it becomes a value
# just above its limit (DL × 1–2).
KEEP_CENSORED = 0.95
# About 3 % of the sites, the nearest ones to a few real mining and smelting districts, get a
# strong rise of Cd and Pb (× 1.6–3), so the change map shows clusters.
HOTSPOT_ELEMENTS = ("Cd", "Pb")
HOTSPOT_SHARE = 0.03
HOTSPOT_RISE = (1.6, 3.0)
HOTSPOT_CENTRES = {  # name: (longitude, latitude)
    "Silver Valley, Idaho": (-116.14, 47.54),
    "Butte, Montana": (-112.53, 46.00),
    "Leadville, Colorado": (-106.29, 39.25),
    "Tri-State district, Missouri/Kansas/Oklahoma": (-94.51, 37.06),
    "Southeast Missouri Lead Belt": (-90.75, 37.75),
}
# Collection dates: the real day of the year, in 2020, moved by up to this many days either way.
DATE_JITTER_DAYS = 10


def _element_columns(header: list[str]) -> list[str]:
    """The USGS file's element columns (``<El>_mg_kg`` and ``<El>_pct``)."""
    return [c for c in header if c.endswith(("_mg_kg", "_pct"))]


def _symbol(column: str) -> str:
    return column.split("_", 1)[0]


def _format(value: float) -> str:
    """Three significant digits, never in exponent notation (``0.0123``, ``12300``)."""
    return np.format_float_positional(value, precision=3, unique=False, fractional=False, trim="-")


def hotspot_sites(lon: np.ndarray, lat: np.ndarray, share: float = HOTSPOT_SHARE) -> np.ndarray:
    """A boolean mask: the sites nearest to each of ``HOTSPOT_CENTRES``, ``share`` of all sites
    in total (an equal number per centre, by great-circle distance)."""
    per_centre = max(1, round(share * len(lon) / len(HOTSPOT_CENTRES)))
    mask = np.zeros(len(lon), dtype=bool)
    lon_r, lat_r = np.radians(lon), np.radians(lat)
    for c_lon, c_lat in HOTSPOT_CENTRES.values():
        c_lon_r, c_lat_r = np.radians(c_lon), np.radians(c_lat)
        # Haversine; the ranking is all that is used.
        h = (
            np.sin((lat_r - c_lat_r) / 2) ** 2
            + np.cos(lat_r) * np.cos(c_lat_r) * np.sin((lon_r - c_lon_r) / 2) ** 2
        )
        mask[np.argsort(h, kind="stable")[:per_centre]] = True
    return mask


def synthetic_round_rows(
    header: list[str], rows: list[list[str]], *, seed: int = SYNTHETIC_SEED
) -> list[list[str]]:
    """A synthetic 2020 round of the USGS DS 801 rows, deterministic for a seed.

    Same header, site ids, coordinates and attributes; sample ids get ``SAMPLE_SUFFIX``;
    collection dates move to 2020 (same day of the year ± ``DATE_JITTER_DAYS``, kept in 2020).
    Every element value is the real value × a lognormal factor (median ``DRIFT_MEDIAN``, log sd
    ``DRIFT_LOG_SD``), three significant digits; a result below the column's detection limit is
    written ``<DL``. A censored value stays ``<DL`` with probability ``KEEP_CENSORED``, else
    becomes DL × 1–2. At the hotspot sites (``hotspot_sites``) Cd and Pb are instead the real
    value (or the limit, if censored) × uniform(1.6, 3). All random numbers are drawn up front
    from ``numpy.random.default_rng(seed)``, in one fixed order.
    """
    col = {name: i for i, name in enumerate(header)}
    elements = _element_columns(header)
    n, m = len(rows), len(elements)
    rng = np.random.default_rng(seed)
    drift = rng.lognormal(np.log(DRIFT_MEDIAN), DRIFT_LOG_SD, size=(n, m))
    keep = rng.random((n, m)) < KEEP_CENSORED
    above_dl = rng.uniform(1.0, 2.0, size=(n, m))
    rise = rng.uniform(*HOTSPOT_RISE, size=(n, m))
    jitter = rng.integers(-DATE_JITTER_DAYS, DATE_JITTER_DAYS + 1, size=n)

    lon = np.array([float(r[col["longitude"]]) for r in rows])
    lat = np.array([float(r[col["latitude"]]) for r in rows])
    hot = hotspot_sites(lon, lat)
    limits = {}
    for name in elements:
        found = {r[col[name]] for r in rows if r[col[name]].startswith("<")}
        limits[name] = float(min(found, key=lambda t: float(t[1:]))[1:]) if found else None

    first, last = dt.date(SYNTHETIC_YEAR, 1, 1), dt.date(SYNTHETIC_YEAR, 12, 31)
    out = []
    for i, row in enumerate(rows):
        new = list(row)
        new[col["sample_id"]] = row[col["sample_id"]] + SAMPLE_SUFFIX
        real_day = dt.date.fromisoformat(row[col["collection_date"]])
        day = dt.date(SYNTHETIC_YEAR, 1, 1) + dt.timedelta(
            days=real_day.timetuple().tm_yday - 1 + int(jitter[i])
        )
        new[col["collection_date"]] = min(max(day, first), last).isoformat()
        for j, name in enumerate(elements):
            text, dl = row[col[name]], limits[name]
            censored = text.startswith("<")
            real = float(text[1:]) if censored else float(text)
            if hot[i] and _symbol(name) in HOTSPOT_ELEMENTS:
                value = real * rise[i, j]
            elif censored:
                value = None if keep[i, j] else real * above_dl[i, j]
            else:
                value = real * drift[i, j]
            if value is None or (dl is not None and value < dl):
                new[col[name]] = f"<{dl:g}" if dl is not None else text
            else:
                new[col[name]] = _format(value)
        out.append(new)
    return out


def synthetic_round_csv(source: Path = USGS_CSV, *, seed: int = SYNTHETIC_SEED) -> bytes:
    """The synthetic round of ``source`` as CSV bytes (UTF-8, ``\\n`` line ends, as the source)."""
    with source.open(encoding="utf-8", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(synthetic_round_rows(header, rows, seed=seed))
    return buffer.getvalue().encode("utf-8")


@dataclass(frozen=True)
class SyntheticDataset:
    """A demo dataset generated at load time from a real file (never committed)."""

    source: Path
    file_name: str
    seed: int
    options: IngestOptions = field(repr=False)
    provenance: Provenance | None = None

    def build(self, directory: Path | None = None) -> DemoDataset:
        """Write the file into ``directory`` (default ``VAR_DIR/demo``) and return the dataset
        to ingest. The same seed gives the same bytes, so a second load adds nothing."""
        directory = Path(directory or Path(settings.VAR_DIR) / "demo")
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / self.file_name
        data = synthetic_round_csv(self.source, seed=self.seed)
        if not path.exists() or path.read_bytes() != data:
            partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            partial.write_bytes(data)
            partial.replace(path)
        return DemoDataset(file=path, options=self.options, provenance=self.provenance)


SYNTHETIC_DESCRIPTION = (
    "SYNTHETIC DATA, NOT MEASUREMENTS. A simulated second monitoring round (2020) of the USGS "
    "0–5 cm soils, made by Chemical Earth so that the demo's monitoring-change dashboard has "
    "sites sampled twice. It uses the real sites of USGS Data Series 801 (same site ids and "
    "coordinates); no sample was collected or analysed. Method (seed "
    f"{SYNTHETIC_SEED}, numpy default_rng): every value is the real 2007–2011 value times a "
    f"lognormal factor (median {DRIFT_MEDIAN:g}, standard deviation of the log "
    f"{DRIFT_LOG_SD:g}), three significant digits, '<DL' below the detection limit; censored "
    f"values stay censored with probability {KEEP_CENSORED:g}; at the {HOTSPOT_SHARE:.0%} of "
    "sites nearest to five mining districts (Silver Valley ID, Butte MT, Leadville CO, the "
    "Tri-State district and the Southeast Missouri Lead Belt) Cd and Pb are multiplied by "
    f"{HOTSPOT_RISE[0]:g}–{HOTSPOT_RISE[1]:g} instead; collection dates are the real day of "
    f"the year in 2020 ± {DATE_JITTER_DAYS} days. Do not use for any assessment."
)

SYNTHETIC_DATASETS = [
    SyntheticDataset(
        source=USGS_CSV,
        file_name="synthetic_usgs_ds801_top5cm_soil_2020.csv",
        seed=SYNTHETIC_SEED,
        options=IngestOptions(
            survey=(
                "Synthetic second round of the USGS 0–5 cm soils (2020) — SYNTHETIC, "
                "for demonstration"
            ),
            medium="topsoil",
            scale_km=40,
            year=SYNTHETIC_YEAR,
            monitoring_round=2,
            synthetic=True,
            description=SYNTHETIC_DESCRIPTION,
            citation=(
                "Chemical Earth, SYNTHETIC second monitoring round (2020) of the USGS 0–5 cm "
                f"soils, generated (seed {SYNTHETIC_SEED}) from the real sites of: "
                + USGS_CITATION
                + ". The values are simulated, not measured."
            ),
            licence="Public domain (synthetic values; sites from a U.S. Government work)",
        ),
        # The values are derived from DS 801's: they carry its methods and detection limits.
        provenance=USGS_PROVENANCE,
    ),
]


def demo_datasets(directory: Path | None = None) -> list[DemoDataset]:
    """Every demo dataset in load order: the real ones, then the synthetic ones (built now)."""
    return [*DEMO_DATASETS, *(s.build(directory) for s in SYNTHETIC_DATASETS)]


def demo_dataset_load(dataset: DemoDataset) -> tuple[IngestReport, list[str]]:
    """Ingest one demo dataset, then describe its methods, laboratory and detection limits from
    its documentation (``Provenance``); both are safe to run again. Returns the ingest's report
    and what the description changed."""
    report = survey_ingest(path=dataset.file, options=dataset.options)
    changes: list[str] = []
    survey = Survey.objects.filter(name=dataset.options.survey).first()
    if dataset.provenance is not None and survey is not None and not report.dry_run:
        changes = survey_provenance_update(
            survey=survey,
            laboratory=dataset.provenance.laboratory,
            method=dataset.provenance.method,
            column_methods=read_column_methods(dataset.provenance.methods),
        )
    return report, changes
