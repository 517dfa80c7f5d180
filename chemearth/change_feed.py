"""Process-local memos that PostgreSQL clears: the tile path's answers without a query.

A warm tile request needs three facts that live in the database: the layer's row, the current
policy version and the data version of the layer's medium. They change rarely (a policy edit, an
ingest, a render finishing) and every change is a write that a trigger announces with
``pg_notify('chemearth_changed', <table>)`` (migration ``maps/0004``). One thread per process
LISTENs on its own connection and, at each notification, starts a new generation: every memo made
before it is forgotten. So the memo is exact except for the instant between a commit and its
notification reaching the process (PostgreSQL delivers it at commit, typically within a
millisecond).

While the listener is not connected (not started yet, PostgreSQL restarting, the setting off) the
memos are bypassed and every call goes to the database: a lost connection can cost speed, never
serve a superseded layer. ``CHANGE_FEED_MEMOS`` turns the memos off (the tests run inside
transactions whose notifications never commit, so they leave them off except where they test them).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import TypeVar

from django.conf import settings

logger = logging.getLogger(__name__)

CHANNEL = "chemearth_changed"
T = TypeVar("T")

_lock = threading.Lock()
_state = {"generation": 0, "listening": False, "thread": None}
_memos: dict[Hashable, tuple[int, object]] = {}
# A memo never grows past this many entries (layer keys come from URLs anyone can type).
MAX_ENTRIES = 10_000


def generation() -> int:
    """The number of changes seen so far (tests wait for it to move)."""
    return _state["generation"]


def listening() -> bool:
    return bool(_state["listening"])


def _forget() -> None:
    with _lock:
        _state["generation"] += 1
        _memos.clear()


def _listen_forever(dsn: str) -> None:
    import psycopg

    delay = 0.5
    while True:
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                _forget()  # what was memoised before LISTEN may have missed a change
                _state["listening"] = True
                delay = 0.5
                for _notice in conn.notifies():
                    _forget()
        except Exception:  # noqa: BLE001 (any failure: bypass the memos and reconnect)
            logger.warning("change feed: listener lost; memos bypassed until it reconnects")
        finally:
            _state["listening"] = False
            _forget()
        time.sleep(delay)
        delay = min(delay * 2, 30)


def _dsn() -> str:
    from django.db import connection

    params = connection.get_connection_params()
    return " ".join(
        f"{name}='{value}'"
        for name, value in params.items()
        if name in {"dbname", "user", "password", "host", "port"} and value not in (None, "")
    )


def start() -> bool:
    """Start this process's listener once (after a fork, each worker starts its own)."""
    if not getattr(settings, "CHANGE_FEED_MEMOS", False):
        return False
    running = _state["thread"]
    if running is not None and running.is_alive():
        return True  # every memoised call asks: no lock on the tile path once it runs
    with _lock:
        thread = _state["thread"]
        if thread is None or not thread.is_alive():
            thread = threading.Thread(
                target=_listen_forever, args=(_dsn(),), name="change-feed", daemon=True
            )
            _state["thread"] = thread
            thread.start()
    return True


def memoised(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` remembered per arguments until the next change notification (module doc)."""

    @functools.wraps(fn)
    def wrapper(*args: Hashable) -> T:
        if not start() or not _state["listening"]:
            return fn(*args)
        key = (fn.__qualname__, args)
        seen = _state["generation"]
        found = _memos.get(key)
        if found is not None and found[0] == seen:
            return found[1]  # type: ignore[return-value]
        value = fn(*args)
        with _lock:
            # Computed across a change: its generation has passed, so it is never served.
            if _state["generation"] == seen and len(_memos) < MAX_ENTRIES:
                _memos[key] = (seen, value)
        return value

    return wrapper
