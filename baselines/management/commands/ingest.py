"""``manage.py ingest FILE --survey NAME --medium MEDIUM --scale KM``: load a survey file."""

from __future__ import annotations

import csv
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from baselines.ingest import IngestError, IngestOptions, IngestReport, survey_ingest


def _methods(text: str) -> dict[str, str]:
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    if any(len(p) != 2 for p in pairs):
        raise CommandError("--prefer-method takes EL=METHOD[,EL=METHOD], e.g. Al=XRF,Co=INAA")
    return {el.strip(): method.strip() for el, method in pairs}


def _mapping(text: str, option: str, columns: tuple[str, str], example: str) -> dict[str, str]:
    """``KEY=VALUE[,KEY=VALUE]``, or the path of a CSV file with the two named columns."""
    if not text.strip():
        return {}
    usage = (
        f"{option} takes {columns[0].upper()}={columns[1].upper()}[,…] (e.g. {example}) or a "
        f"CSV file with columns {columns[0]},{columns[1]}"
    )
    if "=" not in text:
        path = Path(text)
        if not path.is_file():
            raise CommandError(f"{usage}; no such file: {text}")
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            if not set(columns) <= set(reader.fieldnames or ()):
                raise CommandError(f"{usage}; {path.name} has columns {reader.fieldnames}")
            return {
                row[columns[0]].strip(): (row[columns[1]] or "").strip()
                for row in reader
                if (row[columns[0]] or "").strip()
            }
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    if any(len(p) != 2 or not p[0].strip() for p in pairs):
        raise CommandError(usage)
    return {key.strip(): value.strip() for key, value in pairs}


class Command(BaseCommand):
    help = (
        "Validate a survey file (CSV or GeoPackage) and load its samples and measurements. "
        "Nothing is written unless the whole file is valid; loading it again adds nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--survey", required=True, help="survey (dataset) name")
        parser.add_argument("--medium", required=True, help="medium code, e.g. topsoil")
        parser.add_argument("--scale", required=True, help="sampling scale in km: 80 … 0.5")
        parser.add_argument(
            "--country",
            help="ISO 3166 code for every sample, not checked against the locations "
            "(else the file's country column, checked, or the locations)",
        )
        parser.add_argument(
            "--country-codes",
            default="",
            help="the survey's own country codes → ISO 3166: CODE=ISO[,CODE=ISO] "
            "(e.g. AUS=AUT) or a CSV file with columns code,iso",
        )
        parser.add_argument("--year", type=int, help="campaign year")
        parser.add_argument("--round", type=int, default=1, help="monitoring round (default 1)")
        parser.add_argument("--citation", default="")
        parser.add_argument("--licence", default="")
        parser.add_argument("--description", default="", help="the survey's description")
        parser.add_argument(
            "--synthetic",
            action="store_true",
            help="the file holds generated, not measured, data: the survey is labelled synthetic",
        )
        parser.add_argument("--crs", help="CRS of x/y columns, e.g. EPSG:32635")
        parser.add_argument("--encoding", default="utf-8")
        parser.add_argument(
            "--detection-limits",
            type=Path,
            help="CSV with columns 'column,detection_limit'; zeros in those columns are <DL",
        )
        parser.add_argument("--skip-columns", default="", help="comma-separated columns to skip")
        parser.add_argument(
            "--prefer-method", default="", help="preferred method per element, e.g. Al=XRF"
        )
        parser.add_argument(
            "--method",
            default="",
            help="the survey's analytical method: of every element column whose header or "
            "--column-methods names none",
        )
        parser.add_argument("--laboratory", default="", help="the survey's laboratory")
        parser.add_argument(
            "--column-methods",
            default="",
            help="method per element column: COLUMN=METHOD[,COLUMN=METHOD] "
            "(e.g. Cu_ppm=ICP-MS) or a CSV file with columns column,method",
        )
        parser.add_argument(
            "--fraction",
            help="load only the rows whose fraction column holds this value (one size "
            "fraction per survey and medium)",
        )
        parser.add_argument("--dry-run", action="store_true", help="validate only; write nothing")
        parser.add_argument("--max-errors", type=int, default=settings.INGEST_MAX_ERRORS)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts) -> None:
        options = IngestOptions(
            survey=opts["survey"],
            medium=opts["medium"],
            scale_km=opts["scale"],
            country=opts["country"],
            year=opts["year"],
            monitoring_round=opts["round"],
            citation=opts["citation"],
            licence=opts["licence"],
            description=opts["description"],
            synthetic=opts["synthetic"],
            crs=opts["crs"],
            encoding=opts["encoding"],
            detection_limits=opts["detection_limits"],
            skip_columns=tuple(c for c in opts["skip_columns"].split(",") if c.strip()),
            prefer_methods=_methods(opts["prefer_method"]),
            country_codes=_mapping(
                opts["country_codes"], "--country-codes", ("code", "iso"), "AUS=AUT"
            ),
            method=opts["method"],
            laboratory=opts["laboratory"],
            column_methods=_mapping(
                opts["column_methods"], "--column-methods", ("column", "method"), "Cu_ppm=ICP-MS"
            ),
            fraction=opts["fraction"],
            dry_run=opts["dry_run"],
            max_errors=opts["max_errors"],
        )
        bars: dict[str, tqdm] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if opts["no_progress"] or opts["verbosity"] == 0:
                return
            bar = bars.get(stage)
            if bar is None:
                bar = bars[stage] = tqdm(
                    total=total or None, desc=f"{stage:>12}", unit=" rows", file=self.stderr._out
                )
            if total and bar.total != total:
                bar.total = total
            bar.update(done - bar.n)

        try:
            report = survey_ingest(path=opts["file"], options=options, progress=progress)
        except IngestError as exc:
            for bar in bars.values():
                bar.close()
            for problem in exc.problems:
                self.stderr.write(str(problem))
            more = exc.total - len(exc.problems)
            if more > 0:
                self.stderr.write(f"… and {more} more problems")
            raise CommandError(
                f"{exc.total} problem(s) in {opts['file'].name}; nothing was written."
            ) from None
        for bar in bars.values():
            bar.close()
        if opts["verbosity"]:
            self.stdout.write(summary(report))


def summary(report: IngestReport) -> str:
    """The ingest summary a data steward reads."""
    if report.already_ingested:
        return (
            f"{report.file} was already ingested into {report.survey!r} "
            f"({report.rows} rows); nothing added."
        )
    verb = "would add" if report.dry_run else "added"
    fraction = f" of fraction {report.fraction!r}" if report.fraction else ""
    lines = [
        f"{report.file} → survey {report.survey!r}: {report.rows} rows; {verb} "
        f"{report.samples_added} samples{fraction} and {report.measurements_added} measurements"
        + (f" ({report.censored} below detection)" if report.censored else "")
        + (
            f"; {report.samples_skipped} samples already present were skipped"
            if report.samples_skipped
            else ""
        )
        + ("  [dry run: nothing written]" if report.dry_run else ""),
    ]
    if report.element_columns:
        lines.append("Element columns:")
        lines += [f"  {header:<20} → {what}" for header, what in report.element_columns.items()]
    if report.without_method:
        lines.append(
            "No method known for: "
            + ", ".join(report.without_method)
            + " (give --method, or --column-methods)"
        )
    multi = {s: m for s, m in report.preferred.items() if m != "(as reported)"}
    if multi:
        lines.append(
            "Preferred method for maps: " + ", ".join(f"{s}={m}" for s, m in multi.items())
        )
    if report.attribute_columns:
        lines.append("Kept as sample attributes: " + ", ".join(report.attribute_columns))
    if report.skipped_columns:
        lines.append("Skipped: " + ", ".join(report.skipped_columns))
    if report.countries:
        lines.append(
            "Countries: " + ", ".join(f"{name} {n}" for name, n in report.countries.items())
        )
    if report.sites:
        per_site = ", ".join(
            f"{k} at {n} site{'s' if n != 1 else ''}"
            for k, n in sorted(report.samples_per_site.items())
        )
        lines.append(f"Sites: {report.sites} (samples per site: {per_site})")
    lines += [f"Warning: {w}" for w in report.warnings]
    return "\n".join(lines)
