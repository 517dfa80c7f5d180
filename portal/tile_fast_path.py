"""The tile fast path: map tiles answered in front of Django's request handling.

A tile is the portal's most frequent request, and its answer depends on the URL alone for a public
layer and for a capability URL (``portal.tile_capabilities``): no session, no user, no form. Yet
Django's handler costs several times the tile itself (eleven middlewares, URL resolution, signals;
profiled at about 2 ms of the 3 ms of an uncut tile in one process, the cut and PNG 0.7 ms). This
WSGI wrapper answers those two kinds of tile URL from ``portal.tiles.fast_tile`` — the same checks
and the same cut as the full path — and writes the same JSON request line and metrics. Everything
else goes to Django untouched: other URLs, HEAD, a request with ``Authorization``, and every tile
whose answer is not a plain tile (restricted without capability, refused capability, a missing or
superseded layer, an exception), so errors keep the one error body and the one place that writes
it.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable

from django.core import signals

from chemearth.logs import log_request, request_id

logger = logging.getLogger(__name__)

_XYZ = r"(?P<z>[0-9]{1,2})/(?P<x>[0-9]{1,8})/(?P<y>[0-9]{1,8})\.png"
PUBLIC = re.compile(rf"^/tiles/(?P<key>[0-9a-f]{{24}})/{_XYZ}$")
CAPABILITY = re.compile(
    rf"^/tiles/c/(?P<key>[0-9a-f]{{24}})/(?P<expires>[0-9]{{1,12}})/"
    rf"(?P<signature>[A-Za-z0-9_-]{{43}})/{_XYZ}$"
)
PUBLIC_ROUTE = "tiles/<str:key>/<int:z>/<int:x>/<int:y>.png"
CAPABILITY_ROUTE = "tiles/c/<str:key>/<int:expires>/<str:signature>/<int:z>/<int:x>/<int:y>.png"


class TileFastPath:
    """WSGI middleware: tile URLs it can answer alone, the rest to ``django_app``."""

    def __init__(self, django_app: Callable) -> None:
        self.django_app = django_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "GET" and "HTTP_AUTHORIZATION" not in environ:
            path = environ.get("PATH_INFO", "")
            if path.startswith("/tiles/"):
                answered = self._answer(environ, path, start_response)
                if answered is not None:
                    return answered
        return self.django_app(environ, start_response)

    def _answer(self, environ: dict, path: str, start_response: Callable) -> list[bytes] | None:
        from . import tiles

        match = PUBLIC.match(path) or CAPABILITY.match(path)
        if match is None:
            return None
        started = time.perf_counter()
        # As Django's handler does: its receivers close connections past their age (and the
        # tests' client disconnects them, as for its own requests).
        signals.request_started.send(sender=self.__class__, environ=environ)
        parts = match.groupdict()
        capability = (int(parts["expires"]), parts["signature"]) if "expires" in parts else None
        try:
            response = tiles.fast_tile(
                parts["key"], int(parts["z"]), int(parts["x"]), int(parts["y"]),
                environ.get("HTTP_IF_NONE_MATCH"), capability,
            )  # fmt: skip
            if response is None:
                return None
            body = b"".join(response) if response.streaming else response.content
            response.close()
        except Exception:  # noqa: BLE001 (the full path answers it, with its error handling)
            logger.exception("tile fast path failed; answered by the full path")
            return None
        finally:
            signals.request_finished.send(sender=self.__class__)
        rid = request_id(environ)
        # Content-Length as CommonMiddleware sets it (without it gunicorn chunks the body).
        headers = [*response.items(), ("Content-Length", str(len(body))), ("X-Request-ID", rid),
                   ("X-Tile-Path", "fast"), ("X-Content-Type-Options", "nosniff")]  # fmt: skip
        start_response(f"{response.status_code} {response.reason_phrase}", headers)
        log_request(
            request_id=rid, method="GET", path=path, query=environ.get("QUERY_STRING", ""),
            status=response.status_code, started=started, user_id=None,
            route=CAPABILITY_ROUTE if capability else PUBLIC_ROUTE,
        )  # fmt: skip
        return [body]
