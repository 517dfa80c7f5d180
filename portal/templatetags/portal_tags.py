"""Template tags of the portal's pages: the coverage figure of the home page."""

from __future__ import annotations

from django import template

from dashboards.regions import region_of
from dashboards.selectors import coverage
from sharing.access import request_scope

register = template.Library()


@register.simple_tag(takes_context=True)
def coverage_figures(context) -> dict[str, float]:
    """The network's area and share of the world's land: the coverage dashboard's own figure
    (each piece of land counted once however many surveys or scales sampled it)."""
    return coverage(request_scope(context["request"]), region_of("world")).data["network"]
