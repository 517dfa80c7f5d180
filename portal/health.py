"""/health/: is this portal up? For load balancers, monitors and `make status`.

200 with ``{"status": "ok", ...}`` when every check of ``health.checks`` passes, 503 with
``"status": "down"`` otherwise; never a 500, and never slower than HEALTH_TIMEOUT (plus the
answer's own overhead). Everyone gets the status and each check's ``ok``; the details (versions,
timings, worker names, free space, the deployment's name) go to staff and to a request carrying
``X-Health-Token: <HEALTH_TOKEN>``. Details name settings, never paths, and hold no secrets.
"""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.http import JsonResponse
from django.utils.cache import patch_vary_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from health.checks import run_checks

logger = logging.getLogger(__name__)
TOKEN_HEADER = "X-Health-Token"


def may_see_details(request) -> bool:
    """Staff, or the health token from the settings (for monitors without a session)."""
    token, given = settings.HEALTH_TOKEN, request.headers.get(TOKEN_HEADER, "")
    if token and given and hmac.compare_digest(given.encode(), token.encode()):
        return True
    try:
        return bool(request.user.is_active and request.user.is_staff)
    except Exception:  # the session store (the database) may be the thing that is down
        return False


@never_cache
@require_safe
def health(request):
    try:
        report = run_checks()
        body = report.as_dict(details=may_see_details(request))
        status = 200 if report.ok else 503
    except Exception:
        logger.exception("the health checks failed")
        body, status = {"status": "down", "checks": {}}, 503
    response = JsonResponse(body, status=status)
    patch_vary_headers(response, ("Cookie", TOKEN_HEADER))
    return response
