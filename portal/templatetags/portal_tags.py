"""Template tags of the portal's pages: the coverage figure of the home page."""

from __future__ import annotations

from django import template

from sharing.access import request_scope
from sharing.selectors import coverage

register = template.Library()


@register.simple_tag(takes_context=True)
def coverage_figures(context) -> dict[str, float]:
    return coverage(request_scope(context["request"]))
