"""Reads that may lag go to the streaming replica; a client that wrote reads the primary.

Active only when ``DATABASE_REPLICA_URL`` is set (settings add the ``replica`` alias, this router
and the middleware); without it everything is on ``default``, as before.

The rule (docs/scaling.md, *Replicas*):

- Only ORM reads made while a web request is answered may go to the replica. Celery tasks,
  management commands and anything else outside a request read the primary: a task queued after a
  commit must see that commit, and the replica may not have replayed it yet.
- Within a request, reads go to the primary when the client is pinned (below), inside an
  ``atomic`` block on the primary, and after the request's first write (a GET that creates a map
  layer reads it back); otherwise to the replica.
- A request that writes — any POST, PUT, PATCH or DELETE, and any other request that wrote
  through the ORM — pins its client to the primary for ``REPLICA_PIN_SECONDS``: a cookie
  (``REPLICA_PIN_COOKIE``, holding the time the pin ends) for browsers, and a cache key named by a
  digest of the ``Authorization`` header for scripts with a token, which keep no cookies. So a
  steward who changed a policy, or a partner who asked for a package, reads their own writes;
  everyone else may see the replica's state, at most its replay lag behind.
- Raw SQL through ``django.db.connection`` is the primary's connection and stays there.

A forged cookie can only send its holder's reads to the primary (never another client's), and a
pin longer than ``REPLICA_PIN_SECONDS`` from now is ignored.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from contextvars import ContextVar

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.http import HttpRequest, HttpResponse

log = logging.getLogger(__name__)

PRIMARY, REPLICA = "default", "replica"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Per request (set by the middleware): {"primary": reads go to the primary, "wrote": it wrote}.
# None outside a request: every read goes to the primary.
_request_state: ContextVar[dict | None] = ContextVar("chemearth_replica_state", default=None)


class PrimaryReplicaRouter:
    """Writes and migrations on the primary; a request's reads on the replica unless pinned."""

    def db_for_read(self, model, **hints) -> str:
        state = _request_state.get()
        if state is None or state["primary"] or connections[PRIMARY].in_atomic_block:
            return PRIMARY
        return REPLICA

    def db_for_write(self, model, **hints) -> str:
        state = _request_state.get()
        if state is not None:
            state["primary"] = state["wrote"] = True
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        return True  # one database, two copies of it

    def allow_migrate(self, db: str, app_label: str, model_name=None, **hints) -> bool:
        return db == PRIMARY


def _token_key(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization")
    if not header:
        return None
    return "primary-pin:" + hashlib.sha256(header.encode()).hexdigest()[:32]


def _pinned(request: HttpRequest, now: float) -> bool:
    if request.method in UNSAFE_METHODS:
        return True
    try:
        until = float(request.COOKIES.get(settings.REPLICA_PIN_COOKIE, "0"))
    except ValueError:
        until = 0.0
    if now < until <= now + settings.REPLICA_PIN_SECONDS + 1:  # +1: _pin rounds up
        return True
    key = _token_key(request)
    if key is None:
        return False
    try:
        return bool(cache.get(key))
    except Exception:  # noqa: BLE001 — no cache: read the primary rather than risk a stale read
        log.warning("replica pin: the cache did not answer; reading the primary", exc_info=True)
        return True


def _pin(request: HttpRequest, response: HttpResponse, now: float) -> None:
    seconds = settings.REPLICA_PIN_SECONDS
    response.set_cookie(
        settings.REPLICA_PIN_COOKIE,
        str(int(now + seconds) + 1),
        max_age=seconds + 1,
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )
    key = _token_key(request)
    if key is not None:
        try:
            cache.set(key, 1, timeout=seconds + 1)
        except Exception:  # noqa: BLE001 — the cookie still pins browsers
            log.warning("replica pin: the cache did not answer", exc_info=True)


class PinToPrimaryMiddleware:
    """Decides, per request, whether its reads may go to the replica (see the module's rule)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        now = time.time()
        state = {"primary": _pinned(request, now), "wrote": False}
        token = _request_state.set(state)
        try:
            response = self.get_response(request)
        finally:
            _request_state.reset(token)
        if state["wrote"] or request.method in UNSAFE_METHODS:
            _pin(request, response, now)
        return response
