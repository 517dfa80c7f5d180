"""The API's throttles (settings: ``DEFAULT_THROTTLE_CLASSES``): DRF's, by address and by user,
made to degrade. Their own module: DRF's views read the setting when they are first imported, so
it may not name a module that imports them (``portal.http`` does)."""

from __future__ import annotations

import logging

from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

logger = logging.getLogger(__name__)


class _DegradingThrottle:
    """A DRF throttle whose cache outage lets the request through: a dead Redis costs the limit,
    never an answer (DRF's own raised, and every API request was a 500)."""

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception:  # noqa: BLE001
            logger.warning("throttle cache unavailable; not limiting", exc_info=True)
            return True


class AnonThrottle(_DegradingThrottle, AnonRateThrottle):
    """Per address, for clients not signed in (``API_THROTTLE_ANON``)."""


class UserThrottle(_DegradingThrottle, UserRateThrottle):
    """Per user, for signed-in clients (``API_THROTTLE_USER``)."""
