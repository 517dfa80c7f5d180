"""What an ingest is asked to do (``IngestOptions``) and what it reports back (``IngestReport``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings


@dataclass
class IngestOptions:
    survey: str
    medium: str
    scale_km: float
    country: str | None = None
    year: int | None = None
    monitoring_round: int = 1
    citation: str = ""
    licence: str = ""
    description: str = ""
    # Generated, not measured (the demo's simulated round): the survey is labelled so everywhere.
    synthetic: bool = False
    crs: str | None = None
    encoding: str = "utf-8"
    detection_limits: Path | None = None
    skip_columns: tuple[str, ...] = ()
    prefer_methods: dict[str, str] = field(default_factory=dict)
    # The survey's own country codes → ISO 3166 (a survey that writes Austria as AUS: AUS→AUT).
    country_codes: dict[str, str] = field(default_factory=dict)
    # The survey's analytical method and laboratory (Survey.method, Survey.laboratory): the
    # method of every element column whose header names none, unless column_methods does.
    method: str = ""
    laboratory: str = ""
    # Element column header → its method (Analyte.method), over what the header says.
    column_methods: dict[str, str] = field(default_factory=dict)
    # Only the rows whose fraction column holds this value (one size fraction of the file).
    fraction: str | None = None
    dry_run: bool = False
    max_errors: int = settings.INGEST_MAX_ERRORS


@dataclass
class IngestReport:
    file: str
    survey: str
    rows: int = 0
    samples_added: int = 0
    samples_skipped: int = 0
    measurements_added: int = 0
    censored: int = 0
    element_columns: dict[str, str] = field(default_factory=dict)  # header → "Cu by XRF, …"
    without_method: list[str] = field(default_factory=list)  # element columns of no known method
    preferred: dict[str, str] = field(default_factory=dict)  # symbol → method
    attribute_columns: list[str] = field(default_factory=list)
    skipped_columns: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    countries: dict[str, int] = field(default_factory=dict)
    sites: int = 0
    samples_per_site: dict[int, int] = field(default_factory=dict)  # samples at a site → sites
    fraction: str | None = None
    already_ingested: bool = False
    dry_run: bool = False

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


Progress = Callable[[str, int, int], None]


def no_progress(stage: str, done: int, total: int) -> None:
    pass
