"""Reading a survey file: its checksum, its text (encodings), CSV or GeoPackage rows in chunks,
the detection-limit table, and the CRS of projected coordinates."""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from chemearth.files import file_sha256  # noqa: F401 (read.file_sha256: ingest and its benchmark)

from .problems import Problems

CHUNK_ROWS = 50_000


# C0 controls but tab, line feed and carriage return; DEL; C1 controls (U+0080–U+009F, which a
# Windows-1252 file read as latin-1 is full of). PostgreSQL refuses NUL in text and JSON.
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Bytes that are printable ASCII, tab, line feed or carriage return: a file of nothing else holds
# no control character, and its columns need not be searched for one.
_PLAIN_BYTES = bytes([9, 10, 13, *range(32, 127)])


@dataclass(frozen=True)
class Text:
    """A CSV file's bytes, known to decode in ``encoding``, with its first line; and whether it
    may hold a control character (a byte that is not printable ASCII, a tab or a line break)."""

    data: bytes
    encoding: str  # as pandas reads it: utf-8-sig for UTF-8 (it drops a byte-order mark)
    first_line: str
    control_characters: bool


def read_text(path: Path, encoding: str, problems: Problems) -> Text:
    """The file, checked to decode; pandas reads the bytes themselves (a copy of a big file as
    a ``str`` in ``io.StringIO`` costs four bytes a character)."""
    data = path.read_bytes()
    if not data.strip():
        problems.add("the file is empty")
        problems.raise_if_any()
    try:
        # utf-8-sig drops a byte-order mark, which spreadsheet programs like to write.
        codec = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problems.add(
            f"the file is not valid {encoding} (byte 0x{data[exc.start]:02x} at line {line}); "
            "re-save it as UTF-8 or give its encoding with --encoding, e.g. --encoding latin-1",
            row=line,
        )
        problems.raise_if_any()
    except LookupError:
        problems.add(f"unknown encoding {encoding!r}")
        problems.raise_if_any()
    end = text.find("\n")
    first_line = text if end < 0 else text[:end]
    # One C pass over the bytes (~30 ms for 50 MB) clears a file of printable ASCII; any other
    # is searched once as text (~0.1 s for 50 MB), and only a file holding a control character
    # has its columns searched, to name the rows.
    control = bool(data.translate(None, _PLAIN_BYTES)) and bool(CONTROL_CHARACTERS.search(text))
    del text
    return Text(data, codec, first_line, control)


def csv_chunks(text: Text, problems: Problems) -> tuple[list[str], Iterator[pd.DataFrame]]:
    """The header and the data rows in chunks of ``CHUNK_ROWS``, every cell a string."""
    header = next(csv.reader([text.first_line.rstrip("\r")]))
    if not any(h.strip() for h in header):
        problems.add("the file has no header row", row=1)
        problems.raise_if_any()
    reader = pd.read_csv(
        io.BytesIO(text.data),
        encoding=text.encoding,
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        chunksize=CHUNK_ROWS,
        skipinitialspace=True,
    )

    def chunks() -> Iterator[pd.DataFrame]:
        try:
            for frame in reader:
                frame.columns = [str(c).strip() for c in frame.columns]
                yield frame
        except pd.errors.ParserError as exc:
            match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
            if match:
                problems.add(
                    f"expected {match[1]} fields, found {match[3]} (a stray comma or quote?)",
                    row=int(match[2]),
                )
            else:
                problems.add(f"the file is not valid CSV: {exc}")
            problems.raise_if_any()

    return [h.strip() for h in header], chunks()


def geopackage_chunks(path: Path, problems: Problems) -> tuple[list[str], Iterator[pd.DataFrame]]:
    """The attribute columns and the points (as longitude/latitude in WGS84), in one chunk."""
    from django.contrib.gis.gdal import CoordTransform, DataSource, SpatialReference
    from django.contrib.gis.gdal.error import GDALException

    try:
        layer = DataSource(str(path))[0]
    except (GDALException, IndexError) as exc:
        problems.add(f"cannot open as a GeoPackage: {exc}")
        problems.raise_if_any()
    transform = None
    if layer.srs is not None and layer.srs.srid != 4326:
        transform = CoordTransform(layer.srs, SpatialReference(4326))
    names = list(layer.fields)
    # The geometry is the location; attribute columns of the same name (as ogr2ogr keeps from a
    # CSV) are overwritten by it rather than read twice.
    coordinate_names = [n for n in ("longitude", "latitude") if n not in names]
    records = []
    for feature in layer:
        geom = feature.geom
        if transform is not None:
            geom.transform(transform)
        row = {
            name: "" if feature[name].value is None else str(feature[name].value) for name in names
        }
        row["longitude"], row["latitude"] = repr(geom.x), repr(geom.y)
        records.append(row)
    frame = pd.DataFrame.from_records(records, columns=[*names, *coordinate_names])
    return list(frame.columns), iter([frame] if len(frame) else [])


def read_detection_limits(path: Path, problems: Problems) -> dict[str, float]:
    """A table of detection limits: columns ``column`` and ``detection_limit`` (in its unit)."""
    limits: dict[str, float] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for n, row in enumerate(csv.DictReader(handle), start=2):
            try:
                limit = float(row["detection_limit"])
                name = row["column"].strip()
            except (KeyError, TypeError, ValueError, AttributeError):
                problems.add(
                    "needs columns 'column' and 'detection_limit' with a number",
                    row=n,
                    column="detection_limit",
                )
                continue
            if not (math.isfinite(limit) and limit > 0):
                problems.add(
                    f"detection limit {row['detection_limit'].strip()!r} is not a number above 0",
                    row=n,
                    column="detection_limit",
                )
            limits[name] = limit
    return limits


def transformer(crs: str, problems: Problems):
    """(source CRS, transformer to WGS84 longitude/latitude) for ``--crs``."""
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError

    try:
        source = CRS.from_user_input(crs)
    except CRSError:
        problems.add(f"--crs {crs!r} is not a coordinate reference system (e.g. EPSG:32635)")
        problems.raise_if_any()
    return source, Transformer.from_crs(source, 4326, always_xy=True)
