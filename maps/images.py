"""Map images to take away: a layer's view as a PNG or PDF sheet, composed on the server.

A sheet is what a researcher pastes into a paper: the element raster of the layer itself (read
through ``maps.tiling.TileSource.window`` in Web Mercator, nearest pixel, so every pixel has a
class colour of the legend), over the country boundaries the portal serves (drawn with Pillow, no
tile server), with the layer's stored legend (``maps.legend_image.draw_legend``), a scale bar true
at the view's centre latitude, the projection (Web Mercator: north is up, so no arrow), title,
attribution, the citations of the surveys shown and the layer's data and policy versions.

Domain only: the caller (``portal.map_images``) decides who may see the layer and which surveys
its rows come from; this module draws. Texts follow the active language (Chinese in Noto Sans CJK).
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.contrib.gis.db.models import GeometryField
from django.contrib.gis.geos import Polygon
from django.db.models import F, Func, Value
from django.utils import translation
from django.utils.translation import gettext as _
from PIL import Image, ImageDraw

from baselines.models import Country

from .classification import Legend
from .legend_image import _font as font
from .legend_image import draw_legend, format_value, legend_lines, legend_title
from .tiling import TileSource, lonlat_to_world, world_to_lonlat

# Paper sizes in millimetres (portrait); "screen" is a 1280 × 800 CSS-pixel view (96 per inch).
PAPERS_MM: dict[str, tuple[float, float]] = {"a4": (210.0, 297.0), "a3": (297.0, 420.0)}
SCREEN_PX = (1280, 800)
PAPERS = ("screen", "a4", "a3")
ORIENTATIONS = ("landscape", "portrait")
DPI_RANGE = (72, 600)
# A3 at 300 dpi is 17.4 megapixels; beyond this a request is refused before anything is drawn.
MAX_PIXELS = 18_000_000
EARTH_RADIUS_M = 6_378_137.0  # the Web Mercator sphere

OCEAN = (228, 236, 242)
LAND = (246, 244, 238)
BORDER = (110, 110, 110)
INK = (0, 0, 0)
MUTED = (70, 70, 70)


class SheetTooLarge(ValueError):
    """A paper size and DPI whose image would exceed :data:`MAX_PIXELS`."""


def sheet_size(paper: str, orientation: str, dpi: int) -> tuple[int, int]:
    """(width, height) in pixels of a sheet; raises SheetTooLarge past :data:`MAX_PIXELS`."""
    if paper == "screen":
        w, h = (v * dpi / 96 for v in SCREEN_PX)
    else:
        w, h = (mm / 25.4 * dpi for mm in PAPERS_MM[paper])
    w, h = sorted((round(w), round(h)))  # portrait: the short side across
    if orientation == "landscape":
        w, h = h, w
    if w * h > MAX_PIXELS:
        raise SheetTooLarge(
            f"{paper} at {dpi} dpi would be {w} × {h} = {w * h / 1e6:.1f} megapixels; "
            f"the limit is {MAX_PIXELS / 1e6:g}"
        )
    return w, h


@dataclass(frozen=True)
class Frame:
    """Where the map goes on the sheet and which part of the world it shows.

    ``box`` is the map's pixel rectangle (x0, y0, x1, y1); ``centre`` and ``scale`` place the
    world in it: world coordinates (u east, v south, 0..1 over the mercator square) map to
    ``x = x0 + (u - centre_u) * scale + width / 2``. The requested bbox is fitted inside the box
    and the box is filled, as a screen view would be.
    """

    size: tuple[int, int]
    box: tuple[int, int, int, int]
    centre: tuple[float, float]
    scale: float  # pixels per world unit
    dpi: int
    paper: str
    orientation: str

    @property
    def unit(self) -> float:
        """Lengths (fonts, lines, margins) are given in 96-dpi pixels and multiplied by this."""
        return self.dpi / 96

    def pixel_of(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        """Sheet pixel coordinates (float) of lon/lat points."""
        u, v = lonlat_to_world(lon, lat)
        x0, y0, x1, y1 = self.box
        return (
            x0 + (x1 - x0) / 2 + (u - self.centre[0]) * self.scale,
            y0 + (y1 - y0) / 2 + (v - self.centre[1]) * self.scale,
        )

    @property
    def world_box(self) -> tuple[float, float, float, float]:
        """(u0, v0, u1, v1) shown in the map box."""
        x0, y0, x1, y1 = self.box
        hw, hh = (x1 - x0) / 2 / self.scale, (y1 - y0) / 2 / self.scale
        return self.centre[0] - hw, self.centre[1] - hh, self.centre[0] + hw, self.centre[1] + hh

    @property
    def lonlat_bounds(self) -> tuple[float, float, float, float]:
        """The (west, south, east, north) the map box shows, within the world."""
        u0, v0, u1, v1 = self.world_box
        lon, lat = world_to_lonlat(
            np.clip([u0, u1], 0.0, 1.0), np.clip([v1, v0], 0.0, 1.0)
        )  # fmt: skip
        return float(lon[0]), float(lat[0]), float(lon[1]), float(lat[1])

    @property
    def centre_latitude(self) -> float:
        _lon, lat = world_to_lonlat(np.zeros(1), np.array([min(max(self.centre[1], 0), 1)]))
        return float(lat[0])

    def metres_per_pixel(self) -> float:
        """Ground distance of one sheet pixel at the view's centre latitude."""
        return 2 * math.pi * EARTH_RADIUS_M * math.cos(math.radians(self.centre_latitude)) / (
            self.scale
        )  # fmt: skip


def frame(bbox: tuple[float, float, float, float], paper: str, orientation: str, dpi: int) -> Frame:
    """The sheet's layout for a view of ``bbox`` (west, south, east, north in degrees)."""
    width, height = sheet_size(paper, orientation, dpi)
    unit = dpi / 96
    margin, header = round(16 * unit), round(64 * unit)
    if width >= height:  # legend and notes in a column to the right of the map
        panel = max(round(300 * unit), round(0.28 * width))
        box = (margin, margin + header, width - 2 * margin - panel, height - margin)
    else:  # below the map
        panel = max(round(260 * unit), round(0.34 * height))
        box = (margin, margin + header, width - margin, height - 2 * margin - panel)
    west, south, east, north = bbox
    u, v = lonlat_to_world(np.array([west, east]), np.array([north, south]))
    du, dv = max(u[1] - u[0], 1e-9), max(v[1] - v[0], 1e-9)
    scale = min((box[2] - box[0]) / du, (box[3] - box[1]) / dv)
    centre = (float(u[0] + u[1]) / 2, float(v[0] + v[1]) / 2)
    return Frame((width, height), box, centre, float(scale), dpi, paper, orientation)


@dataclass(frozen=True)
class Caption:
    """What the sheet says about its layer (names already in the sheet's language)."""

    element_name: str
    symbol: str
    medium_name: str
    scale_km: float
    style_label: str
    scheme: str
    data_version: str
    policy_version: str
    layer_key: str
    citations: list[str] = field(default_factory=list)
    made: dt.datetime | None = None


@dataclass
class Sheet:
    """A composed sheet and what was drawn on it (tests read these back)."""

    image: Image.Image
    frame: Frame
    legend_rows: list[tuple[str | None, str]]
    texts: list[str]
    citations_shown: int

    def png(self) -> bytes:
        buf = io.BytesIO()
        self.image.save(buf, "PNG", dpi=(self.frame.dpi, self.frame.dpi), compress_level=6)
        return buf.getvalue()

    def pdf(self) -> bytes:
        """One page at the sheet's DPI (A4 at 300 dpi is a 595 × 842 pt page), see :func:`pdf`."""
        return pdf(self.image, self.frame.dpi, title=self.texts[0] if self.texts else "")


def pdf(image: Image.Image, dpi: int, title: str = "") -> bytes:
    """A one-page PDF holding ``image`` (RGB) at ``dpi``, its pixels deflated, not re-coded.

    Pillow's PDF writer stores an RGB image as a JPEG, which blurs class colours and text
    edges: a map pasted into a paper must keep the legend's colours exactly. The page is the
    image's size at ``dpi`` (points are 1/72 inch)."""
    width, height = image.size
    w_pt, h_pt = width * 72 / dpi, height * 72 / dpi
    pixels = zlib.compress(image.convert("RGB").tobytes(), 6)
    content = f"q {w_pt:.2f} 0 0 {h_pt:.2f} 0 0 cm /Im0 Do Q".encode()
    info = "<FEFF" + title.encode("utf-16-be").hex().upper() + ">"  # any language
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w_pt:.2f} {h_pt:.2f}] "
            "/Resources << /XObject << /Im0 4 0 R >> /ProcSet [/PDF /ImageC] >> /Contents 5 0 R >>"
        ).encode(),
        (
            f"<< /Type /XObject /Subtype /Image /Width {width} /Height {height} "
            f"/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode "
            f"/Length {len(pixels)} >>\nstream\n"
        ).encode()
        + pixels
        + b"\nendstream",
        f"<< /Length {len(content)} >>\nstream\n".encode() + content + b"\nendstream",
        f"<< /Title {info} /Producer (Chemical Earth) >>".encode(),
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {len(objects)} 0 R >>\n"
        f"startxref\n{xref}\n%%EOF\n"
    ).encode()
    return bytes(out)


# --- base map ------------------------------------------------------------------------------------


def boundary_polygons(fr: Frame) -> list[list[np.ndarray]]:
    """Country polygons touching the view, each a list of rings of (lon, lat) (outer ring first),
    simplified in PostGIS to about half a sheet pixel and clipped to the view."""
    west, south, east, north = fr.lonlat_bounds
    pad = 360.0 / fr.scale * 4  # a few pixels, so no outline ends inside the frame
    box = (max(west - pad, -180), max(south - pad, -90), min(east + pad, 180), min(north + pad, 90))
    tolerance = 360.0 / fr.scale / 2
    simplified = Func(
        F("boundary"), Value(tolerance), function="ST_SimplifyPreserveTopology",
        output_field=GeometryField(srid=4326),
    )  # fmt: skip
    clipped = Func(
        simplified,
        Func(*(Value(float(v)) for v in box), Value(4326), function="ST_MakeEnvelope",
             output_field=GeometryField(srid=4326)),
        function="ST_ClipByBox2D",
        output_field=GeometryField(srid=4326),
    )  # fmt: skip
    geoms = (
        Country.objects.filter(boundary__bboverlaps=Polygon.from_bbox(box))
        .annotate(outline=clipped)
        .values_list("outline", flat=True)
    )
    polygons = []
    for geom in geoms:
        if geom is None or geom.empty:
            continue
        parts = [geom] if geom.geom_type == "Polygon" else list(geom)
        for part in parts:
            if part.geom_type != "Polygon":
                continue
            polygons.append([np.asarray(ring.coords, "f8") for ring in part])
    return polygons


def _draw_base(img: Image.Image, fr: Frame, polygons, outlines: bool) -> None:
    draw = ImageDraw.Draw(img)
    for rings in polygons:
        for i, ring in enumerate(rings):
            if len(ring) < 3:
                continue
            x, y = fr.pixel_of(ring[:, 0], ring[:, 1])
            points = list(zip(x.tolist(), y.tolist(), strict=True))
            if outlines:
                draw.line(points, fill=BORDER, width=max(1, round(0.8 * fr.unit)))
            elif i == 0:  # holes are lakes or other countries, drawn in their own turn
                draw.polygon(points, fill=LAND)


# --- element raster ------------------------------------------------------------------------------


def class_raster(fr: Frame, directory: Path | str) -> tuple[np.ndarray, bytes] | None:
    """Class+1 of every pixel of the map box (0 = no data) and the layer's palette.

    Read at the integer zoom just coarser than the frame's scale (never past the layer's
    ``maxzoom``) and indexed to the frame's pixels by nearest pixel centre, so each pixel carries
    exactly a class of the layer."""
    source = TileSource.open(directory)
    x0, y0, x1, y1 = fr.box
    w, h = x1 - x0, y1 - y0
    z = int(math.floor(math.log2(max(fr.scale / 256, 1.0))))
    z = max(0, min(z, source.maxzoom))
    world = 256 * 2**z
    u0, v0, _u1, _v1 = fr.world_box
    # Zoom-z pixel of each sheet column's and row's centre; outside the mercator square: none.
    cols = np.floor((u0 + (np.arange(w) + 0.5) / fr.scale) * world).astype(np.int64)
    rows = np.floor((v0 + (np.arange(h) + 0.5) / fr.scale) * world).astype(np.int64)
    col_ok = (cols >= 0) & (cols < world)
    row_ok = (rows >= 0) & (rows < world)
    out = np.zeros((h, w), np.uint8)
    if not col_ok.any() or not row_ok.any():
        return out, source.palette
    px0, px1 = int(cols[col_ok].min()), int(cols[col_ok].max())
    py0, py1 = int(rows[row_ok].min()), int(rows[row_ok].max())
    window = source.window(z, px0, py0, px1 - px0 + 1, py1 - py0 + 1)
    if window is not None:
        window = np.asarray(window)
        sub = window[np.ix_(rows[row_ok] - py0, cols[col_ok] - px0)]
        out[np.ix_(np.flatnonzero(row_ok), np.flatnonzero(col_ok))] = sub
    return out, source.palette


def _paint_raster(img: Image.Image, fr: Frame, index: np.ndarray, palette: bytes) -> None:
    colours = np.frombuffer(palette, np.uint8).reshape(-1, 3)
    rgb = colours[np.minimum(index, len(colours) - 1)]
    mask = Image.fromarray(np.where(index > 0, 255, 0).astype(np.uint8), "L")
    img.paste(Image.fromarray(np.ascontiguousarray(rgb), "RGB"), fr.box[:2], mask)


# --- texts ---------------------------------------------------------------------------------------


def _wrap(draw: ImageDraw.ImageDraw, text: str, fnt, width: float) -> list[str]:
    """Lines of ``text`` no wider than ``width``: at spaces, or between any two characters of
    words too long for a line (Chinese has no spaces)."""
    lines: list[str] = []
    line = ""
    for token in re.findall(r"\S+\s*", text):
        if draw.textlength(line + token.rstrip(), font=fnt) <= width:
            line += token
            continue
        if line:
            lines.append(line.rstrip())
            line = ""
        for char in token:
            if line and draw.textlength(line + char, font=fnt) > width:
                lines.append(line.rstrip())
                line = ""
            line += char
    if line.strip():
        lines.append(line.rstrip())
    return lines


def nice_length(metres: float) -> float:
    """The largest 1, 2 or 5 × 10^k metres not above ``metres``."""
    if metres <= 0:
        return 0.0
    power = 10 ** math.floor(math.log10(metres))
    return max(m * power for m in (1, 2, 5) if m * power <= metres)


def _distance(metres: float) -> str:
    return f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"


def _draw_scale_bar(draw: ImageDraw.ImageDraw, fr: Frame, cjk: bool) -> float:
    """A bar of a round length in the map's lower-left corner; returns its length in metres."""
    unit = fr.unit
    per_px = fr.metres_per_pixel()
    x0, _y0, x1, y1 = fr.box
    metres = nice_length(per_px * (x1 - x0) * 0.25)
    length = metres / per_px
    fnt = font(round(12 * unit), cjk=cjk)
    label = _distance(metres)
    pad = round(6 * unit)
    left, bottom = x0 + round(10 * unit), y1 - round(10 * unit)
    bar_h = round(6 * unit)
    text_h = round(16 * unit)
    box = (left - pad, bottom - bar_h - text_h - pad, left + length + pad, bottom + pad)
    draw.rectangle(box, fill=(255, 255, 255))
    draw.text((left, box[1] + pad // 2), label, fill=INK, font=fnt)
    half = length / 2
    draw.rectangle((left, bottom - bar_h, left + half, bottom), fill=INK)
    draw.rectangle((left + half, bottom - bar_h, left + length, bottom), fill=(255, 255, 255))
    draw.rectangle(
        (left, bottom - bar_h, left + length, bottom), outline=INK, width=max(1, round(unit))
    )
    return metres


def representative_fraction(fr: Frame) -> int | None:
    """The printed scale 1 : N at the centre (None on screen, where it depends on the display)."""
    if fr.paper == "screen":
        return None
    n = fr.metres_per_pixel() * fr.dpi / 0.0254
    return int(float(f"{n:.2g}"))


def compose(
    fr: Frame,
    legend: Legend,
    caption: Caption,
    directory: Path | str | None,
    polygons: list[list[np.ndarray]],
) -> Sheet:
    """Draw the sheet: base map, the layer's classes from its rendered ``directory`` (None for a
    layer with no visible data), boundaries, scale bar, legend and notes."""
    cjk = (translation.get_language() or "").startswith("zh")
    unit = fr.unit
    width, height = fr.size
    img = Image.new("RGB", fr.size, (255, 255, 255))
    x0, y0, x1, y1 = fr.box
    draw = ImageDraw.Draw(img)
    draw.rectangle(fr.box, fill=OCEAN)
    map_img = img.crop(fr.box)  # drawn on its own, so nothing spills over the frame
    inner = Frame(
        (x1 - x0, y1 - y0), (0, 0, x1 - x0, y1 - y0), fr.centre, fr.scale, fr.dpi, fr.paper,
        fr.orientation,
    )  # fmt: skip
    _draw_base(map_img, inner, polygons, outlines=False)
    if directory is not None:
        index, palette = class_raster(inner, directory)
        _paint_raster(map_img, inner, index, palette)
    _draw_base(map_img, inner, polygons, outlines=True)
    img.paste(map_img, fr.box[:2])
    draw.rectangle(fr.box, outline=INK, width=max(1, round(unit)))
    bar_metres = _draw_scale_bar(draw, fr, cjk)

    texts: list[str] = []
    margin = round(16 * unit)
    title = _("%(element)s (%(symbol)s) in %(medium)s") % {
        "element": caption.element_name, "symbol": caption.symbol, "medium": caption.medium_name,
    }  # fmt: skip
    subtitle = _("%(style)s, %(scale)s km cells, %(scheme)s classes") % {
        "style": caption.style_label, "scale": f"{caption.scale_km:g}", "scheme": caption.scheme,
    }  # fmt: skip
    draw.text((margin, margin), title, fill=INK, font=font(round(22 * unit), bold=True, cjk=cjk))
    draw.text(
        (margin, margin + round(32 * unit)),
        subtitle,
        fill=MUTED,
        font=font(round(14 * unit), cjk=cjk),
    )
    texts += [title, subtitle]

    # The panel: right of the map (landscape) or below it (portrait).
    if width >= height:
        px, py, pw = x1 + margin, y0, width - x1 - 2 * margin
        bottom = height - margin
    else:
        px, py, pw = margin, y1 + margin, width - 2 * margin
        bottom = height - margin
    rows = legend_lines(legend)  # its last lines give n and the share below detection limit
    legend_w, legend_h = draw_legend(
        draw, (px, py), legend, legend_title(legend), scale=unit, cjk=cjk, rows=rows
    )
    full_width = (px, pw)
    if width >= height:  # notes under the legend
        y = py + legend_h + round(10 * unit)
    else:  # notes in a column right of the legend, citations across both below
        column = max(legend_w, round(0.3 * pw)) + round(24 * unit)
        px, pw, y = px + column, pw - column, py

    small = font(round(11 * unit), cjk=cjk)
    bold = font(round(11 * unit), bold=True, cjk=cjk)
    line_h = round(15 * unit)

    def para(text: str, fnt=small, fill=MUTED) -> bool:
        nonlocal y
        lines = _wrap(draw, text, fnt, pw)
        if y + line_h * len(lines) > bottom:
            return False
        for line in lines:
            draw.text((px, y), line, fill=fill, font=fnt)
            y += line_h
        texts.append(text)
        return True

    notes = [
        _("Web Mercator (EPSG:3857): north is up."),
        _("Scale bar (%(length)s) true at latitude %(lat)s°; distances grow away from it.")
        % {"length": _distance(bar_metres), "lat": f"{fr.centre_latitude:.1f}"},
    ]
    rf = representative_fraction(fr)
    if rf:
        notes.append(
            _("About 1 : %(n)s at the centre when printed on %(paper)s.")
            % {"n": f"{rf:,}", "paper": fr.paper.upper()}
        )
    notes.append(_("Boundaries: Natural Earth (public domain)."))
    versions = _(
        "Data version %(data)s, policy version %(policy)s, layer %(key)s, made %(made)s UTC."
    ) % {
        "data": caption.data_version[:12],
        "policy": caption.policy_version[:12],
        "key": caption.layer_key,
        "made": (caption.made or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M"),
    }
    # Versions and notes first (they identify the map), then as many citations as fit.
    for note in [*notes, versions]:
        para(note)
    if width < height:
        px, pw = full_width
        y = max(y, py + legend_h)
    y += round(6 * unit)
    shown = 0
    if caption.citations:
        para(_("Surveys shown"), bold, INK)
        for i, citation in enumerate(caption.citations):
            rest = len(caption.citations) - i
            more = _("… and %(n)s more surveys (see the portal's survey pages).") % {"n": rest}
            # This citation and, unless it is the last, the line counting those after it.
            need = len(_wrap(draw, "• " + citation, small, pw))
            if rest > 1:
                need += len(_wrap(draw, more, small, pw))
            if y + need * line_h > bottom:
                para(more)
                break
            para("• " + citation)
            shown += 1
    else:
        para(_("No survey has visible rows in this view."))
    return Sheet(img, fr, rows, texts, shown)


def legend_numbers(legend: Legend) -> list[tuple[str, str, int]]:
    """(lower, upper, count) of each class as the sheet prints them, highest class first."""
    return [
        (format_value(c.lower_display), format_value(c.upper_display), c.count)
        for c in reversed(legend.classes)
    ]
