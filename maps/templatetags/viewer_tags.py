"""Template tags of the map viewer: the coverage figure of the home page."""

from __future__ import annotations

from django import template
from django.db.models import Sum

from baselines import grid
from baselines.models import Country, Survey
from chemearth.caching import cached
from sharing.access import request_scope, visible_samples

register = template.Library()


def coverage(scope) -> dict[str, float]:
    """Area of the grid cells holding samples the viewer may see, each survey counted at its own
    scale, and that area as a share of the land. Surveys of different scales over the same land
    count twice, so this is an upper bound until the coverage dashboard unions the cells."""

    def compute() -> dict[str, float]:
        area_km2 = 0.0
        for size_m in Survey.objects.values_list("scale_m", flat=True).distinct():
            cells = (
                visible_samples(scope)
                .filter(survey__scale_m=size_m)
                .values(grid.cell_field_name(size_m))
                .distinct()
                .count()
            )
            area_km2 += cells * (size_m / 1000) ** 2
        land = Country.objects.aggregate(total=Sum("land_area_km2"))["total"] or 0
        return {"area_km2": area_km2, "percent": 100 * area_km2 / land if land else 0.0}

    return cached(
        f"home-coverage:{scope.cache_key}:{Survey.objects.data_version()}", compute, timeout=600
    )


@register.simple_tag(takes_context=True)
def coverage_figures(context) -> dict[str, float]:
    return coverage(request_scope(context["request"]))
