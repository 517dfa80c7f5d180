"""Read-API answers kept per (URL, rendering, rights, data): a repeated page costs one cache read.

A JSON feature page depends on its absolute URL, on how it is rendered (``Accept``, language), on
the viewer's rights (``Scope.cache_key``, which carries the policy version) and on the data
(``Survey.objects.data_version()``). The key names all of them, so a new policy, an embargo that
ends, an accepted agreement or an ingest makes new keys and an old entry can never answer; entries
also expire after ``API_PAGE_CACHE_SECONDS``. The countries a page served are stored beside its
body and noted again on a hit, so the audit records a cached read exactly as the first one.

Only 200 answers of at most ``API_PAGE_CACHE_MAX_BYTES`` are kept, and only JSON: HTML pages
carry the signed-in user's name. A cache outage costs the page's time, never its answer.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from baselines.models import Survey
from sharing.access import Scope
from sharing.audit import countries_served, note_country_served

logger = logging.getLogger(__name__)
# Response headers worth keeping beside the body (the rest are set again by the view's stack).
KEPT_HEADERS = ("Content-Crs", "Link")


def page_key(request: HttpRequest, scope: Scope) -> str:
    parts = (
        request.build_absolute_uri(),
        request.META.get("HTTP_ACCEPT", ""),
        translation.get_language() or "",
    )
    digest = hashlib.sha1("\n".join(parts).encode()).hexdigest()
    return f"page:{digest}:{scope.cache_key}:{Survey.objects.data_version()}"


def cached_page(
    request: HttpRequest, scope: Scope, build: Callable[[], HttpResponse]
) -> HttpResponse:
    """The cached answer to this request for this viewer's rights, else ``build()``'s (kept when
    it is a 200 small enough). ``build`` notes the countries it serves as usual."""
    if settings.API_PAGE_CACHE_SECONDS <= 0:
        return build()
    key = page_key(request, scope)
    try:
        hit = cache.get(key)
    except Exception:
        logger.warning("cache unavailable; building %s", request.path, exc_info=True)
        return build()
    if hit is not None:
        return _replay(request, hit)
    response = build()
    if response.status_code == 200 and not response.streaming:
        body = response.content
        if len(body) <= settings.API_PAGE_CACHE_MAX_BYTES:
            _store(request, key, response, body)
    return response


def _replay(request: HttpRequest, hit: dict) -> HttpResponse:
    for country_id in hit["countries"]:
        note_country_served(request, country_id)
    response = HttpResponse(hit["body"], content_type=hit["content_type"])
    for name, value in hit["headers"].items():
        response[name] = value
    response["X-Page-Cache"] = "hit"
    return response


def _store(request: HttpRequest, key: str, response: HttpResponse, body: bytes) -> None:
    entry = {
        "body": body,
        "content_type": response["Content-Type"],
        "headers": {h: response[h] for h in KEPT_HEADERS if h in response},
        "countries": sorted(countries_served(request)),
    }
    try:
        cache.set(key, entry, timeout=settings.API_PAGE_CACHE_SECONDS)
    except Exception:
        logger.warning("cache unavailable; not keeping %s", request.path, exc_info=True)
    response["X-Page-Cache"] = "miss"
