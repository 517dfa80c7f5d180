"""Reading rows by windows of ids, for a table without an id btree (the measurement table).

Ids rise with the rows' position in each partition, so the BRIN index finds the rows of a range
of ids cheaply; these helpers read a page from windows of ids that grow until the page is full
(the API's cursor pages and the admin's measurement list).
"""

from __future__ import annotations

from django.db.models import QuerySet

GROWTH = 8  # each window of ids this many times wider than the last


def rows_after(queryset: QuerySet, low: int, ceiling: int, need: int) -> list:
    """The first ``need`` rows with ids above ``low`` (none is above ``ceiling``), in id order."""
    rows: list = []
    window = need * 4
    while len(rows) < need and low < ceiling:
        high = min(low + window, ceiling)
        rows += queryset.filter(id__gt=low, id__lte=high).order_by("id")[: need - len(rows)]
        low, window = high, window * GROWTH
    return rows


def rows_before(queryset: QuerySet, high: int, need: int, *, skip: int = 0) -> list:
    """The ``need`` rows after the first ``skip`` with ids below ``high``, highest id first.

    Skipped rows are counted window by window, not read, as ``OFFSET`` would read them."""
    rows: list = []
    window = (skip + need) * 4
    while len(rows) < need and high > 1:
        low = max(high - window, 1)
        part = queryset.filter(id__gte=low, id__lt=high)
        if skip and (n := part.count()) <= skip:
            skip -= n
        else:
            rows += part.order_by("-id")[skip : skip + need - len(rows)]
            skip = 0
        high, window = low, window * GROWTH
    return rows
