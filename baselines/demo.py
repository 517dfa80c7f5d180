"""The demo datasets that `make demo` loads: real surveys copied into ``demo_data/``.

Each entry is an ingest of a real file with its citation and licence, as a data steward would run
it; loading again adds nothing (the ingest recognises a file it has seen).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from .ingest import IngestOptions

DEMO_DIR = Path(settings.BASE_DIR) / "demo_data"


@dataclass(frozen=True)
class DemoDataset:
    file: Path
    options: IngestOptions


DEMO_DATASETS = [
    DemoDataset(
        file=DEMO_DIR / "usgs_ds801_top5cm_soil" / "usgs_ds801_top5cm_soil.csv",
        options=IngestOptions(
            survey="USGS soils of the conterminous United States, 0–5 cm (DS 801)",
            medium="topsoil",
            # 4,857 sites over 8 million km², about one site per 1,600 km²: a 40 km grid.
            scale_km=40,
            year=2010,
            citation=(
                "Smith, D.B., Cannon, W.F., Woodruff, L.G., Solano, F., Kilburn, J.E., and Fey, "
                "D.L., 2013, Geochemical and mineralogical data for soils of the conterminous "
                "United States: U.S. Geological Survey Data Series 801, "
                "https://pubs.usgs.gov/ds/801/"
            ),
            licence="Public domain (U.S. Government work)",
        ),
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
    ),
]
