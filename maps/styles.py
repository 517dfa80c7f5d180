"""The map styles, in one place (pure: the renderer imports it without Django)."""

# cells: each grid cell coloured by its median; surface: interpolated between cell medians;
# points: one disk per sample, only for viewers allowed exact locations.
STYLES = ("cells", "surface", "points")
