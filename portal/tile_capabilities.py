"""Capability URLs for restricted layers' tiles: the layer key and an expiry, signed.

A viewer allowed to see a restricted layer gets its tile template as
``/tiles/c/<key>/<expires>/<signature>/{z}/{x}/{y}.png`` — never a session id or an API token.
The signature is HMAC-SHA256 over ``<key>/<expires>`` with ``TILE_CAPABILITY_SECRET``
(base64url, no padding), so checking it needs no database: nginx does it for cached tiles
(``deploy/tile_capability.js``) and the portal for the rest (``portal.tiles.capability_tile``).
A capability opens one layer until its expiry; a change of policy or data makes new layer keys
and retires the old layer, so its capabilities die with it. Expiries are rounded up to
``ROUND_SECONDS`` so that the URLs of one window are the same and browsers can cache the tiles.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time

from django.conf import settings

ROUND_SECONDS = 300


def signature(key: str, expires: int) -> str:
    digest = hmac.new(
        settings.TILE_CAPABILITY_SECRET.encode(), f"{key}/{expires}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue(key: str, now: float | None = None) -> tuple[int, str]:
    """(expires, signature) of a capability for layer ``key``: valid for at least
    TILE_CAPABILITY_SECONDS, at most ROUND_SECONDS more."""
    now = time.time() if now is None else now
    expires = math.ceil((now + settings.TILE_CAPABILITY_SECONDS) / ROUND_SECONDS) * ROUND_SECONDS
    return expires, signature(key, expires)


def is_valid(key: str, expires: int, given: str, now: float | None = None) -> bool:
    """Signed for this key and expiry, and not expired (``now`` defaults to this instant)."""
    now = time.time() if now is None else now
    return expires >= now and hmac.compare_digest(signature(key, expires), given)
