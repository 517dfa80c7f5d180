"""GeoTIFF packages: one map layer's Cloud-Optimised GeoTIFF, as the map draws it for the asker.

The raster is the layer's own COG (``maps.render``: EPSG:3857, uint8 class numbers, 0 = no data,
the map's colour table), taken from the layer of the asker's audience at the current policy and
data versions (``maps.layers.find_layer``): reused when already rendered, rendered by this build
when not (``maps.layers.claim_render`` keeps it to one renderer; a render elsewhere is waited
for). So its pixels are the map's pixels, and what the map may show is all it shows: rows through
the gate (``aggregate_rows``), class breaks from released values only, a pre-release cell as its
class and never its median (docs/security.md). A ``bbox`` clips it by a window read: whole pixels
of the layer's grid, values untouched.

The copy in the package is written again as a COG (tiled, DEFLATE, nearest-neighbour overviews)
with what the map's file does not say: the band's description (element, unit, statistic) and
metadata tags (classes, breaks, layer, versions). The companions are the other formats' (README,
licences, citations, Frictionless descriptor, manifest, DataCite, SHA256SUMS:
``downloads.package``), with a README saying what a pixel means.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import rasterio
from affine import Affine

from baselines import grid, units
from baselines.models import Element, Medium
from maps import layers
from maps.models import MapLayer
from maps.render import COG_NAME, IDW_K, IDW_POWER, TILE_SIZE
from maps.tiling import MERCATOR_MAX_LAT, META_NAME
from sharing.access import Scope

from .models import DownloadJob
from .package import (
    Built,
    DataFile,
    PackageRefused,
    _write_documents,
    assemble,
    file_sha256,
    synthetic_notice,
)
from .query import DownloadQuery
from .selectors import Contents

MEDIATYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
# How long a build waits for a layer another worker is rendering (the render task's limit).
LAYER_WAIT_SECONDS = int(os.environ.get("DOWNLOAD_LAYER_WAIT_SECONDS", "1800"))
POLL_SECONDS = 1.0
# Share of a build's progress spent on the layer's render; the rest writes the package.
RENDER_SHARE = 90.0
WEB_MERCATOR = "EPSG:3857"


def layer_spec(query: DownloadQuery) -> layers.LayerSpec:
    return layers.LayerSpec(
        element=Element.objects.get(symbol=query.elements[0]),
        medium=Medium.objects.get(code=query.medium),
        scale_m=query.layer_scale_m,
        style=query.style or "cells",
        scheme=query.scheme or "percentiles",
        ramp=query.ramp or "geochem",
    )


def data_name(query: DownloadQuery) -> str:
    """``cu-topsoil-20km-cells.tif``: lower case, a valid Frictionless resource name."""
    km = f"{grid.scale_km(query.layer_scale_m):g}"
    text = f"{query.elements[0]}-{query.medium}-{km}km-{query.style}"
    return re.sub(r"[^a-z0-9.-]+", "-", text.lower()) + ".tif"


# --- the layer -----------------------------------------------------------------------------------


def obtain_layer(
    spec: layers.LayerSpec, scope: Scope, user, percent: Callable[[float], None]
) -> MapLayer:
    """The ready layer of ``spec`` for the viewer's audience at the current versions: reused,
    rendered here, or waited for while another worker renders it. Refuses (``PackageRefused``)
    an empty layer, one superseded meanwhile and a render elsewhere that outlasts the wait."""
    found = layers.find_layer(spec, scope, user, queue=False)
    deadline = time.monotonic() + LAYER_WAIT_SECONDS
    while True:
        layer = MapLayer.objects.select_related("element", "medium", "viewer").get(pk=found.pk)
        if layer.state == MapLayer.State.READY:
            if not (layer.directory / COG_NAME).is_file():
                raise RuntimeError(f"layer {layer.key} is ready but its COG is missing")
            percent(RENDER_SHARE)
            return layer
        if layer.state == MapLayer.State.EMPTY:
            raise PackageRefused(
                "This map has no cell you may see: no values of this element and medium at this "
                "scale are visible to you."
            )
        if layer.state == MapLayer.State.RETIRED:
            raise PackageRefused(
                "Your access or the data changed while the package was being built; ask for it "
                "again."
            )
        if layers.claim_render(layer.pk):
            try:
                layers.render(layer, on_progress=lambda p: percent(p * RENDER_SHARE / 100))
            except Exception as exc:
                layers.render_failed(layer.pk, exc)
                raise
            continue
        # Rendering elsewhere (the render task, another download): follow its progress.
        percent(layer.progress * RENDER_SHARE / 100)
        if time.monotonic() > deadline:
            raise PackageRefused(
                "The map layer is still being rendered; ask for the package again later."
            )
        time.sleep(POLL_SECONDS)


# --- the raster ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raster:
    """The GeoTIFF written: its size, pixel size (metres), bounds and the window of the layer's
    COG it copies (col, row, width, height)."""

    width: int
    height: int
    pixel_m: float
    bounds_xy: tuple[float, float, float, float]
    bounds_lonlat: tuple[float, float, float, float]
    window: tuple[int, int, int, int]
    layer_size: tuple[int, int]
    overviews: list[int]


def _mercator(lon: float, lat: float) -> tuple[float, float]:
    from rasterio.warp import transform

    lat = max(-MERCATOR_MAX_LAT, min(MERCATOR_MAX_LAT, lat))
    xs, ys = transform("EPSG:4326", WEB_MERCATOR, [lon], [lat])
    return xs[0], ys[0]


def _lonlat(x: float, y: float) -> tuple[float, float]:
    from rasterio.warp import transform

    lons, lats = transform(WEB_MERCATOR, "EPSG:4326", [x], [y])
    return lons[0], lats[0]


def clip_window(src, bbox: list[float] | None) -> tuple[int, int, int, int]:
    """(col, row, width, height) of the pixels of ``src`` a lon/lat box touches: whole pixels,
    so no value is resampled. No box: the whole raster."""
    if not bbox:
        return 0, 0, src.width, src.height
    west, south, east, north = bbox
    left, top = _mercator(west, north)
    right, bottom = _mercator(east, south)
    inverse = ~src.transform
    c0, r0 = inverse @ (left, top)
    c1, r1 = inverse @ (right, bottom)
    col0, row0 = max(0, math.floor(c0 + 1e-9)), max(0, math.floor(r0 + 1e-9))
    col1, row1 = min(src.width, math.ceil(c1 - 1e-9)), min(src.height, math.ceil(r1 - 1e-9))
    if col1 <= col0 or row1 <= row0:
        w, s, e, n = src.bounds
        lon0, lat0 = _lonlat(w, s)
        lon1, lat1 = _lonlat(e, n)
        raise PackageRefused(
            f"The box {west:g},{south:g},{east:g},{north:g} holds no part of this map, which "
            f"spans {lon0:.4f},{lat0:.4f},{lon1:.4f},{lat1:.4f} (west, south, east, north)."
        )
    return col0, row0, col1 - col0, row1 - row0


def write_geotiff(
    source: Path,
    target: Path,
    bbox: list[float] | None,
    *,
    description: str,
    tags: dict[str, str],
    band_tags: dict[str, str],
) -> Raster:
    """Copy the window of the layer's COG that ``bbox`` touches to a COG of its own (pixels
    unchanged; the colour table kept), with the band's description and the tags."""
    from rasterio.windows import Window

    with rasterio.open(source) as src:
        col, row, width, height = clip_window(src, bbox)
        window = Window(col, row, width, height)
        data = src.read(1, window=window)
        transform = src.transform @ Affine.translation(col, row)
        colormap = src.colormap(1)
        profile = dict(
            driver="COG", width=width, height=height, count=1, dtype="uint8", crs=src.crs,
            transform=transform, nodata=0, BLOCKSIZE=TILE_SIZE, COMPRESS="DEFLATE", LEVEL=6,
            OVERVIEW_RESAMPLING="NEAREST",  # classes are categories: never averaged
        )  # fmt: skip
        layer_size = (src.width, src.height)
    with rasterio.open(target, "w", **profile) as dst:
        dst.write(data, 1)
        dst.write_colormap(1, colormap)
        dst.set_band_description(1, description)
        dst.update_tags(**tags)
        dst.update_tags(1, **band_tags)
    with rasterio.open(target) as written:
        overviews = written.overviews(1)
        left, bottom, right, top = written.bounds
    lon0, lat0 = _lonlat(left, bottom)
    lon1, lat1 = _lonlat(right, top)
    return Raster(
        width=width,
        height=height,
        pixel_m=float(transform.a),
        bounds_xy=(left, bottom, right, top),
        bounds_lonlat=(lon0, lat0, lon1, lat1),
        window=(col, row, width, height),
        layer_size=layer_size,
        overviews=list(overviews),
    )


# --- what a pixel means --------------------------------------------------------------------------


def _km(metres: float) -> str:
    return f"{metres / 1000:g} km"


def statistic(layer: MapLayer, meta: dict) -> str:
    """What a class number is the class of, in a phrase."""
    scale = _km(layer.scale_m)
    if layer.style == "surface":
        pixel = meta.get("grid", {}).get("pixel_m", layer.scale_m / 4)
        mask = meta.get("grid", {}).get("mask_m", 1.5 * layer.scale_m)
        return (
            f"an inverse-distance-weighted surface (power {IDW_POWER:g}, {IDW_K} nearest cells "
            f"within {_km(mask)}) of log10 of the {scale} grid cells' medians, on {_km(pixel)} "
            f"pixels of the equal-area grid"
        )
    return f"the median of each {scale} grid cell's values"


def class_rows(legend: dict) -> list[str]:
    unit, species, symbol = legend["unit"], legend["species"], legend["symbol"]
    shown = f"{unit} {species}" if species and species != symbol else unit
    rows = []
    for number, cls in enumerate(legend["classes"], start=1):
        line = f"  {number:>2}: {cls['lower']:.6g} to {cls['upper']:.6g} {units.CANONICAL_UNIT}"
        if shown != units.CANONICAL_UNIT:
            line += f" ({cls['lower_display']:.6g} to {cls['upper_display']:.6g} {shown})"
        line += f", colour {cls['colour']}, released values: {cls['count']:,}"
        rows.append(line)
    return rows


def band_metadata(
    job: DownloadJob, layer: MapLayer, meta: dict
) -> tuple[str, dict[str, str], dict[str, str]]:
    """The band's description, the file's tags and the band's tags."""
    legend = layer.legend or {}
    symbol = layer.element.symbol
    k = len(legend.get("classes", []))
    what = statistic(layer, meta)
    description = (
        f"{symbol} class 1-{k} (0 = no data) of {what}; class bounds in "
        f"{units.CANONICAL_UNIT} of {symbol} (values below the detection limit as DL/2)"
    )
    tags = {
        "ELEMENT": symbol,
        "MEDIUM": layer.medium.code,
        "GRID_SCALE_KM": f"{layer.scale_m / 1000:g}",
        "STYLE": layer.style,
        "STATISTIC": (
            "median per grid cell"
            if layer.style == "cells"
            else "IDW surface of log10 cell medians"
        ),
        "UNIT": units.CANONICAL_UNIT,
        "CLASSIFICATION": layer.scheme,
        "CLASS_BREAKS_MG_KG": ", ".join(f"{b:.6g}" for b in legend.get("breaks", [])),
        "BREAKS_FROM": legend.get("breaks_from", ""),
        "CELLS_BEFORE_RELEASE": str(legend.get("before_release", {}).get("cells", 0)),
        "PACKAGE": f"urn:uuid:{job.public_id}",
        "POLICY_VERSION": job.policy_version,
        "DATA_VERSION": job.data_version,
    }
    band_tags = {"NODATA_MEANS": "no cell you may see"}
    for number, cls in enumerate(legend.get("classes", []), start=1):
        band_tags[f"CLASS_{number}"] = (
            f"{cls['lower']:.6g} to {cls['upper']:.6g} {units.CANONICAL_UNIT} ({cls['colour']})"
        )
    return description, tags, band_tags


def readme_for(layer: MapLayer, meta: dict, raster: Raster, query: DownloadQuery) -> Callable:
    """The README of a GeoTIFF package (called like ``package.readme``)."""

    def readme(job, query_, contents: Contents, counts, data: DataFile, created, surveys) -> str:
        legend = layer.legend or {}
        symbol, medium = layer.element.symbol, layer.medium
        before = legend.get("before_release", {})
        k = len(legend.get("classes", []))
        breaks = ", ".join(f"{b:.6g}" for b in legend.get("breaks", []))
        lines = [
            "Chemical Earth download package",
            "=" * 31,
            "",
            f"Package: {job.public_id}",
            f"Created: {created.isoformat()}",
            f"Format: geotiff ({data.name})",
            f"Policy version: {job.policy_version}   Data version: {job.data_version}",
            f"Map layer: {symbol} in {medium.name_en}, {_km(layer.scale_m)} grid, {layer.style}, "
            f"classes by {layer.scheme}, colours {layer.ramp} (layer {layer.key})",
            f"Made from: {counts['measurements']:,} values of {counts['samples']:,} samples"
            + (
                f", and {before.get('values', 0):,} values before release in "
                f"{before.get('cells', 0):,} cells (their class only; see below)"
                if before.get("cells")
                else ""
            ),
            "",
            "The raster is the portal's map of this element exactly as it is drawn for you: the",
            "same pixels as the map's own Cloud-Optimised GeoTIFF for your access, computed only",
            "from the rows your access allowed when the package was built (each country's",
            "data-release policy, your agreements after acceptance of their licence, your other",
            "rights). Confidential elements you may not see are absent.",
            "",
            *synthetic_notice(surveys),
            "Files",
            "-----",
            f"{data.name:<18} the map (Cloud-Optimised GeoTIFF, one band)",
            "README.txt         this file",
            "LICENSE.txt        the licences under which the rows were granted to you",
            "CITATION.cff/.bib  how to cite the package and each survey whose rows made the map",
            "datapackage.json   Frictionless Data Package descriptor (size, SHA-256)",
            "manifest.json      the query, the layer, its legend, policy and data versions",
            "datacite.json      DataCite metadata of the package (for minting a DOI)",
            "SHA256SUMS         checksums of every other file: sha256sum -c SHA256SUMS",
            "",
            "What a pixel value means",
            "------------------------",
            "Pixel values are class numbers, not concentrations: 0 is no data (the nodata",
            f"value: no cell you may see), 1 to {k} are the classes below, 1 the lowest.",
            f"A pixel's class is the class of {statistic(layer, meta)}.",
            f"Values are in {units.CANONICAL_UNIT} of the element; a value below the detection",
            f"limit counts as DL x {units.CENSORED_SUBSTITUTE_FRACTION:g} (DL/2). Class bounds "
            f"come from the {legend.get('breaks_from', 'released values')}",
            f"by the '{layer.scheme}' scheme (intervals closed above: a value equal to a bound",
            "is in the class below it):",
            "",
            *class_rows(legend),
            "",
            "Class breaks (mg/kg): " + (breaks or "none"),
            "The colour table is the map's; the band's description and the file's metadata tags",
            "(gdalinfo) repeat the element, unit, statistic and classes.",
            "",
            "Grid and coordinates",
            "--------------------",
            f"CRS: {WEB_MERCATOR} (WGS 84 / Pseudo-Mercator), the web map's projection.",
            f"Pixel size: {raster.pixel_m:.3f} m of the projection (on the ground: x cos(lat.)),",
            f"the map's resolution at zoom {meta.get('cog_zoom', '?')}. Size: {raster.width} x "
            f"{raster.height} pixels"
            + (
                f", clipped to the box {', '.join(f'{v:g}' for v in query.bbox)} (whole pixels "
                f"of the {raster.layer_size[0]} x {raster.layer_size[1]} map; none resampled)."
                if query.bbox
                else "."
            ),
            "Bounds (lon/lat, west, south, east, north): "
            + ", ".join(f"{v:.6f}" for v in raster.bounds_lonlat),
            f"Cells: {_km(layer.scale_m)} cells of the portal's equal-area grid (lon/lat",
            "rectangles about as wide as tall on the ground, of the nominal area within 2 %",
            "between 70 S and 70 N); each pixel shows the cell (or surface pixel) holding its",
            "centre.",
            f"Internal tiles of {TILE_SIZE} x {TILE_SIZE} pixels, DEFLATE; overviews by nearest"
            " neighbour"
            + (
                f" (reduced {', '.join(f'{o}x' for o in raster.overviews)})"
                if raster.overviews
                else ""
            )
            + ", so classes are never averaged.",
            "",
            "Precision and values before release",
            "-----------------------------------",
            "A country's rows enter only at a precision you may see: where you may see a",
            f"country's locations only in cells coarser than {_km(layer.scale_m)}, it is not in",
            "this map. Countries and surveys (values, samples, location precision you may see):",
            "",
        ]
        for pair in counts["by_survey_and_country"]:
            km = pair["location_precision_km"]
            shown = "exact" if km is None else f"{km:g} km cells"
            lines.append(
                f"  {pair['survey']} / {pair['country']}: {pair['measurements']:,} values of "
                f"{pair['samples']:,} samples, locations {shown}"
            )
        if not counts["by_survey_and_country"]:
            lines.append("  (no released values)")
        lines.append("")
        if before.get("cells"):
            lines += [
                f"Cells before release: {before['cells']:,}. They hold values still under embargo",
                "that their country's policy lets into public maps before release (in cells of",
                "enough samples).",
                "Such a cell shows its class only: it entered the map as the middle of its class,",
                "never as its median, and no break, count or bound above uses its values.",
            ]
        else:
            lines.append("No cell of this map holds values before their release.")
        return "\n".join(lines) + "\n"

    return readme


# --- the package ---------------------------------------------------------------------------------


def build_layer_package(
    job: DownloadJob, scope: Scope, contents: Contents, user, percent: Callable[[float], None]
) -> Built:
    """Obtain the layer, copy (and clip) its COG, and write the package around it."""
    query = DownloadQuery.from_json(job.query)
    layer = obtain_layer(layer_spec(query), scope, user, percent)
    meta = json.loads((layer.directory / META_NAME).read_text())
    name = data_name(query)

    def write(archive, work: Path) -> int:
        target = work / name
        description, tags, band_tags = band_metadata(job, layer, meta)
        raster = write_geotiff(
            layer.directory / COG_NAME, target, query.bbox,
            description=description, tags=tags, band_tags=band_tags,
        )  # fmt: skip
        percent(RENDER_SHARE + (100 - RENDER_SHARE) / 2)
        archive.write(target, name)
        data = DataFile(
            name=name,
            kind="file",
            mediatype=MEDIATYPE,
            size=target.stat().st_size,
            sha256=file_sha256(target),
            fields=[],
            rows=contents.values_read,
            description=(
                f"Cloud-Optimised GeoTIFF, {WEB_MERCATOR}, one uint8 band: {description}. "
                "See README.txt."
            ),
            extent=f"{raster.width} x {raster.height} pixels",
        )
        _write_documents(
            archive, job, query, scope, contents, data,
            readme_text=readme_for(layer, meta, raster, query),
            manifest_extra={"layer": layer_manifest(layer, meta, raster)},
        )  # fmt: skip
        return contents.values_read

    return assemble(job, write)


def layer_manifest(layer: MapLayer, meta: dict, raster: Raster) -> dict:
    col, row, width, height = raster.window
    return {
        "id": layer.key,
        "element": layer.element.symbol,
        "medium": layer.medium.code,
        "scale_km": layer.scale_m / 1000,
        "style": layer.style,
        "scheme": layer.scheme,
        "ramp": layer.ramp,
        "public": layer.is_public,
        "policy_version": layer.policy_version,
        "data_version": layer.data_version,
        "rendered_at": layer.rendered_at.isoformat() if layer.rendered_at else None,
        "legend": layer.legend,
        "raster": {
            "crs": WEB_MERCATOR,
            "width": raster.width,
            "height": raster.height,
            "pixel_size_m": raster.pixel_m,
            "zoom": meta.get("cog_zoom"),
            "nodata": 0,
            "values": "class number (1 = lowest), 0 = no data",
            "bounds": [round(v, 6) for v in raster.bounds_lonlat],
            "bounds_xy": [round(v, 3) for v in raster.bounds_xy],
            "window": {"col": col, "row": row, "width": width, "height": height},
            "layer_size": list(raster.layer_size),
            "overviews": raster.overviews,
        },
    }
