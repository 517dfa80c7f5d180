"""A layer's legend as a PNG image (for print, reports and clients that cannot draw HTML legends).

One row per class, highest class on top as in geochemical atlases: a colour swatch, the class's
percentile band under a percentile scheme ("P90–P95"), its range in the element's display unit
("12.5 – 25.0 mg/kg") and its count; then a line with n and how many values, and what share, were
censored (below the detection limit, counted at DL/2). DejaVu Sans from Debian's
fonts-dejavu-core; Pillow's built-in font where that is missing.
"""

from __future__ import annotations

import io
import math
from functools import lru_cache
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont

if TYPE_CHECKING:
    from .classification import Legend

FONT_PATHS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
)
FONT_SIZE = 13
PAD, SWATCH_W, SWATCH_H, ROW_H = 8, 24, 14, 20


@lru_cache(maxsize=4)
def _font(size: int = FONT_SIZE, bold: bool = False):
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
        rows.append((None, "no data"))
    if legend.n:
        rows.append(
            (
                None,
                f"n = {legend.n}; {legend.censored_count} ({legend.censored_pct:g} %) "
                "below detection limit (as DL/2)",
            )
        )
    if legend.prerelease_cells:
        rows.append((None, f"{legend.prerelease_cells} cells before release: class only"))
    return rows


def legend_png(legend: Legend, title: str | None = None) -> bytes:
    """The legend as a PNG (RGBA, white background); taller with every class."""
    if title is None:
        as_species = legend.species and legend.species != legend.symbol
        species = f" as {legend.species}" if as_species else ""
        title = f"{legend.symbol}{species} ({legend.unit})" if legend.unit else legend.symbol
    font, bold = _font(), _font(bold=True)
    rows = legend_lines(legend)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    text_w = max(
        [measure.textlength(title, font=bold)]
        + [measure.textlength(t, font=font) + (SWATCH_W + PAD if c else 0) for c, t in rows]
    )
    width = int(math.ceil(text_w)) + 2 * PAD
    height = PAD + ROW_H + ROW_H * len(rows) + PAD
    img = Image.new("RGBA", (width, height), (255, 255, 255, 255))
    draw = ImageDraw.Draw(img)
    draw.text((PAD, PAD), title, fill=(0, 0, 0, 255), font=bold)
    y = PAD + ROW_H
    for colour, text in rows:
        x = PAD
        if colour:
            top = y + (ROW_H - SWATCH_H) // 2
            draw.rectangle(
                (x, top, x + SWATCH_W - 1, top + SWATCH_H - 1), fill=colour, outline=(80, 80, 80)
            )
            x += SWATCH_W + PAD
        draw.text((x, y + 2), text, fill=(0, 0, 0, 255), font=font)
        y += ROW_H
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return buf.getvalue()
