"""Caching that degrades: a cache outage costs time, never an answer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from django.core.cache import cache

logger = logging.getLogger(__name__)
T = TypeVar("T")


def cached(key: str, compute: Callable[[], T], *, timeout: int) -> T:
    """The cached value under ``key``, else ``compute()`` stored there. When Redis is down the
    value is computed every time; correctness never depends on the cache."""
    try:
        value = cache.get(key)
    except Exception:
        logger.warning("cache unavailable; computing %s", key, exc_info=True)
        return compute()
    if value is None:
        value = compute()
        try:
            cache.set(key, value, timeout=timeout)
        except Exception:
            logger.warning("cache unavailable; not storing %s", key, exc_info=True)
    return value
