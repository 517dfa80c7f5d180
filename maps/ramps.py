"""Colour ramps for classified map layers and their legends.

Each ramp is a list of anchor colours (sRGB, 0–255), from the lowest class to the highest:

``geochem``
    The conventional geochemical-atlas ramp (GEMAS, FOREGS): dark blue, blue, cyan, green, yellow,
    orange, red, magenta — low values cold, high values hot.
``colourblind``
    ColorBrewer RdYlBu (11 classes) reversed, blue → pale yellow → red; ColorBrewer rates it
    safe for colour-blind viewers. The default alternative to ``geochem``.
``viridis``
    Nine samples of matplotlib's viridis (perceptually uniform, colour-blind safe, prints in grey),
    given as numbers so that matplotlib is not a dependency.

:func:`ramp_colours` spreads ``k`` colours evenly along a ramp by straight linear interpolation of
the sRGB components between neighbouring anchors (no conversion to a perceptual space: the anchors
are close enough together that the difference is not visible at legend sizes). When ``k`` equals the
number of anchors the anchors come back unchanged; the first and last colours are always the ramp's
ends, except that a single class takes the ramp's middle colour.
"""

from __future__ import annotations

import math

RGB = tuple[int, int, int]

RAMPS: dict[str, list[RGB]] = {
    "geochem": [
        (0, 0, 140),  # dark blue
        (0, 80, 230),  # blue
        (0, 190, 255),  # cyan
        (0, 175, 80),  # green
        (160, 215, 0),  # yellow-green
        (255, 235, 0),  # yellow
        (255, 150, 0),  # orange
        (230, 20, 0),  # red
        (190, 0, 140),  # magenta
    ],
    "colourblind": [
        (49, 54, 149),  # #313695
        (69, 117, 180),  # #4575b4
        (116, 173, 209),  # #74add1
        (171, 217, 233),  # #abd9e9
        (224, 243, 248),  # #e0f3f8
        (255, 255, 191),  # #ffffbf
        (254, 224, 144),  # #fee090
        (253, 174, 97),  # #fdae61
        (244, 109, 67),  # #f46d43
        (215, 48, 39),  # #d73027
        (165, 0, 38),  # #a50026
    ],
    "viridis": [
        (68, 1, 84),  # #440154
        (71, 45, 123),  # #472d7b
        (59, 82, 139),  # #3b528b
        (44, 114, 142),  # #2c728e
        (33, 145, 140),  # #21918c
        (40, 174, 128),  # #28ae80
        (94, 201, 98),  # #5ec962
        (173, 220, 48),  # #addc30
        (253, 231, 37),  # #fde725
    ],
}

DEFAULT_RAMP = "geochem"


def rgb_to_hex(rgb: RGB) -> str:
    """``(255, 128, 0)`` → ``"#ff8000"``."""
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _at(anchors: list[RGB], t: float) -> RGB:
    """The colour at position ``t`` (0–1) along the anchors, linearly interpolated in sRGB."""
    pos = t * (len(anchors) - 1)
    i = min(int(math.floor(pos)), len(anchors) - 2)
    frac = pos - i
    a, b = anchors[i], anchors[i + 1]
    # Round half up (not Python's round-half-even) so the result does not depend on parity.
    r, g, bl = (int(math.floor(ca + (cb - ca) * frac + 0.5)) for ca, cb in zip(a, b, strict=True))
    return r, g, bl


def ramp_colours(name: str, k: int) -> list[str]:
    """``k`` hex colours (``"#rrggbb"``) evenly spaced along ramp ``name``, lowest class first.

    Raises ValueError for an unknown ramp or a negative ``k``; ``k == 0`` gives an empty list.
    """
    try:
        anchors = RAMPS[name]
    except KeyError:
        raise ValueError(f"unknown colour ramp {name!r}; known: {', '.join(RAMPS)}") from None
    if k < 0:
        raise ValueError(f"number of colours must be >= 0, got {k}")
    if k == 0:
        return []
    if k == 1:
        return [rgb_to_hex(_at(anchors, 0.5))]
    if k == len(anchors):
        return [rgb_to_hex(c) for c in anchors]
    return [rgb_to_hex(_at(anchors, i / (k - 1))) for i in range(k)]
