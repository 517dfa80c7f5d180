"""A layer's legend as a PNG image (for print, reports and clients that cannot draw HTML legends).

One row per class, highest class on top as in geochemical atlases: a colour swatch, the class's
percentile band under a percentile scheme ("P90–P95"), its range in the element's display unit
("12.5 – 25.0 mg/kg") and its count; then a line with n and how many values, and what share, were
censored (below the detection limit, counted at DL/2). DejaVu Sans from Debian's
fonts-dejavu-core (Noto Sans CJK SC from fonts-noto-cjk for Chinese); Pillow's built-in font where
those are missing. ``draw_legend`` draws the same rows at any size into any image (the map images
of ``maps.images`` use it); ``legend_png`` is the stand-alone legend.
"""

from __future__ import annotations

import io
import math
from functools import lru_cache
from typing import TYPE_CHECKING

from django.utils.translation import gettext as _
from PIL import Image, ImageDraw, ImageFont

if TYPE_CHECKING:
    from .classification import Legend

FONT_PATHS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
)
# Noto Sans CJK holds Latin too; index 2 of the collection is its Simplified Chinese face.
CJK_FONT_PATHS = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",)
CJK_FACE_INDEX = 2
FONT_SIZE = 13
PAD, SWATCH_W, SWATCH_H, ROW_H = 8, 24, 14, 20


@lru_cache(maxsize=32)
def _font(size: int = FONT_SIZE, bold: bool = False, cjk: bool = False):
    """DejaVu Sans (or, ``cjk``, Noto Sans CJK SC) at ``size`` pixels."""
    if cjk:
        for path in CJK_FONT_PATHS:
            if bold:
                path = path.replace("-Regular", "-Bold")
            try:
                return ImageFont.truetype(path, size, index=CJK_FACE_INDEX)
            except OSError:
                continue
    for path in FONT_PATHS:
        if bold:
            path = path.replace("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def format_value(v: float) -> str:
    """Three significant digits, fixed-point from 0.001 to 10^6 ("0.0125", "12.5", "2500")."""
    if v == 0 or not math.isfinite(v):
        return f"{v:g}"
    if not 1e-3 <= abs(v) < 1e6:
        return f"{v:.3g}"
    decimals = max(0, 2 - math.floor(math.log10(abs(v))))
    return f"{v:.{decimals}f}"


def legend_lines(legend: Legend) -> list[tuple[str | None, str]]:
    """(colour or None, text) rows, highest class first."""
    unit = f" {legend.unit}" if legend.unit else ""
    rows: list[tuple[str | None, str]] = [
        (
            c.colour,
            (f"{c.band}  " if c.band else "")
            + f"{format_value(c.lower_display)} – {format_value(c.upper_display)}{unit}"
            + f"  ({c.count})",
        )
        for c in reversed(legend.classes)
    ]
    if not legend.classes:
        rows.append((None, _("no data")))
    if legend.n:
        text = _("n = %(n)s; %(censored)s (%(share)s %%) below detection limit (as DL/2)") % {
            "n": legend.n, "censored": legend.censored_count, "share": f"{legend.censored_pct:g}",
        }  # fmt: skip
        rows.append((None, text))
    if legend.prerelease_cells:
        rows.append(
            (
                None,
                _("%(cells)s cells before release: class only")
                % {"cells": legend.prerelease_cells},
            )
        )
    return rows


def legend_title(legend: Legend) -> str:
    """ "Cu (mg/kg)", "Fe as Fe2O3 (%)"."""
    as_species = legend.species and legend.species != legend.symbol
    species = f" as {legend.species}" if as_species else ""
    return f"{legend.symbol}{species} ({legend.unit})" if legend.unit else legend.symbol


def draw_legend(
    draw: ImageDraw.ImageDraw,
    origin: tuple[int, int],
    legend: Legend,
    title: str,
    *,
    scale: float = 1.0,
    cjk: bool = False,
    rows: list[tuple[str | None, str]] | None = None,
) -> tuple[int, int]:
    """Draw the legend's title and rows with their top-left at ``origin``, every length times
    ``scale`` (a print at 300 dpi draws at 300/96); return the (width, height) drawn."""
    font = _font(round(FONT_SIZE * scale), cjk=cjk)
    bold = _font(round(FONT_SIZE * scale), bold=True, cjk=cjk)
    rows = legend_lines(legend) if rows is None else rows
    pad, swatch_w, swatch_h, row_h = (round(v * scale) for v in (PAD, SWATCH_W, SWATCH_H, ROW_H))
    x0, y = origin
    draw.text((x0, y), title, fill=(0, 0, 0, 255), font=bold)
    width = draw.textlength(title, font=bold)
    y += row_h
    for colour, text in rows:
        x = x0
        if colour:
            top = y + (row_h - swatch_h) // 2
            draw.rectangle(
                (x, top, x + swatch_w - 1, top + swatch_h - 1),
                fill=colour,
                outline=(80, 80, 80),
                width=max(1, round(scale)),
            )
            x += swatch_w + pad
        draw.text((x, y + round(2 * scale)), text, fill=(0, 0, 0, 255), font=font)
        width = max(width, x - x0 + draw.textlength(text, font=font))
        y += row_h
    return int(math.ceil(width)), y - origin[1]


def legend_png(legend: Legend, title: str | None = None) -> bytes:
    """The legend as a PNG (RGBA, white background); taller with every class."""
    title = legend_title(legend) if title is None else title
    rows = legend_lines(legend)
    measure = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    width, height = draw_legend(measure, (0, 0), legend, title, rows=rows)
    img = Image.new("RGBA", (width + 2 * PAD, height + 2 * PAD), (255, 255, 255, 255))
    draw_legend(ImageDraw.Draw(img), (PAD, PAD), legend, title, rows=rows)
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return buf.getvalue()
