"""The API's throttles (settings: ``DEFAULT_THROTTLE_CLASSES``): DRF's, by address and by user,
made to degrade. Their own module: DRF's views read the setting when they are first imported, so
it may not name a module that imports them (``portal.http`` does)."""

from __future__ import annotations

import logging

from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle

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


class MapImageThrottle(_DegradingThrottle, SimpleRateThrottle):
    """Map images per user, or per address when not signed in (``API_THROTTLE_MAP_IMAGE``): a
    sheet costs a thousand times a tile, so it has a rate of its own on top of the API's."""

    scope = "map_image"

    def get_cache_key(self, request, view) -> str:
        user = request.user
        ident = user.pk if user and user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
