"""Sorting of ``items`` (OGC API – Features Part 8 draft: ``sortby`` and ``/sortables``).

``sortby`` is a comma list of sortables, each optionally prefixed ``+`` (ascending, the default)
or ``-`` (descending); a ``+`` sent unencoded arrives as a space and is read as ``+``. Only the
whitelist ``SORTABLES`` may be named; anything else is a 400 naming ``sortby``.

Paging stays exact under any order: pages are cut by **keyset**, never by offset. The order is
the sort keys, then the feature id ascending (unique, so the order is total); missing values (a
sample without a date) come last in either direction. A page's ``next`` cursor carries the sort
keys and id of its last feature, and the next page starts strictly after that tuple, so paging
through a sorted collection returns every visible sample exactly once, even while samples are
added. The cursor also names the ``sortby`` it was made for: used with another, it is a 400.
Without ``sortby`` (or with ``sortby=id``) the cursor stays the plain last id of the id order.

What is sortable, and why not more. Each sortable is a column of the sample, of its survey or of
its country; a page sorts the caller's visible samples of the collection on it in one query (a
top-N sort: ~40 ms for 200,000 samples on the project's machine). **Element values are not
sortable**: a sample's value of an element is a row of the measurement table, which has no btree
(docs/architecture.md §12), and must be read through the gate's visible measurements (a hidden
value must not order anything). Sorting by one meant, per page, a correlated subquery per visible
sample (105 s for 200,000 samples) or a join of every visible value of the element (~0.4 s a page
at 200,000 samples, growing with the programme's 150 million records) — too slow for paging
through a collection. Filter on values instead (``filter=Cu > 50``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass

from django.db.models import F, Q
from django.utils.dateparse import parse_date

from ..http import BadParameter
from .cql import DATE, STRING

INTEGER = "integer"


@dataclass(frozen=True)
class Sortable:
    name: str
    kind: str  # JSON type (DATE: a string of format date)
    title: str
    field: str  # lookup on the samples queryset (``shown_country``: an alias set in items.py)
    nullable: bool = False


SORTABLES: dict[str, Sortable] = {
    s.name: s
    for s in (
        Sortable("id", INTEGER, "feature id (the default order)", "pk"),
        Sortable("code", STRING, "sample id", "code"),
        Sortable("survey", STRING, "survey (slug)", "survey__slug"),
        Sortable("country", STRING, "country (ISO 3166 alpha-3)", "shown_country"),
        Sortable("sampled_on", DATE, "sampling date (undated samples last)", "sampled_on",
                 nullable=True),
    )
}  # fmt: skip
DEFAULT_SORT_ORDER = ["id"]


@dataclass(frozen=True)
class SortKey:
    sortable: Sortable
    descending: bool = False

    @property
    def text(self) -> str:
        return ("-" if self.descending else "") + self.sortable.name


@dataclass(frozen=True)
class SortBy:
    keys: tuple[SortKey, ...]

    @property
    def text(self) -> str:
        return ",".join(k.text for k in self.keys)

    @property
    def by_id(self) -> bool:
        """The default order (id ascending): paged by the plain id cursor."""
        return self.text == "id"

    @property
    def ordered_keys(self) -> tuple[SortKey, ...]:
        """The keys up to the id (the order is total there), else the keys and the id."""
        keys: list[SortKey] = []
        for key in self.keys:
            keys.append(key)
            if key.sortable.name == "id":
                return tuple(keys)
        return (*keys, SortKey(SORTABLES["id"]))

    def order_by(self) -> list:
        """ORDER BY the keys; NULLS LAST only where a key may be missing (a plain ``id`` or
        ``-id`` keeps the primary key's index scan)."""
        order = []
        for key in self.ordered_keys:
            nulls = {"nulls_last": True} if key.sortable.nullable else {}
            field = F(key.sortable.field)
            order.append(field.desc(**nulls) if key.descending else field.asc(**nulls))
        return order

    def after(self, values: list) -> Q:
        """Samples strictly after the sort-key tuple ``values`` (one value per ordered key) in
        this order: the first key that differs decides; missing values come last."""
        condition = Q(pk__in=[])
        equal = Q()
        for key, value in zip(self.ordered_keys, values, strict=True):
            field = key.sortable.field
            if value is not None:
                beyond = Q(**{f"{field}__{'lt' if key.descending else 'gt'}": value})
                if key.sortable.nullable:
                    beyond |= Q(**{f"{field}__isnull": True})
                condition |= equal & beyond
                equal &= Q(**{field: value})
            else:  # nothing sorts after a missing value but other missing values
                equal &= Q(**{f"{field}__isnull": True})
        return condition

    def values_of(self, row) -> list:
        """The ordered keys' values of a sample read with the aliases of ``order_by``."""
        return [_json_value(getattr(row, _attribute(k.sortable))) for k in self.ordered_keys]

    def cursor(self, row) -> str:
        """The ``next`` cursor after ``row`` (the page's last sample)."""
        if self.by_id:
            return str(row.pk)
        data = json.dumps([self.text, self.values_of(row)], separators=(",", ":"))
        return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")

    def read_cursor(self, text: str | None) -> list | None:
        """The sort-key tuple a cursor of this order carries, or a 400 naming ``cursor``."""
        if text in (None, ""):
            return None
        if self.by_id:
            try:
                pk = int(text)
            except ValueError:
                pk = -1
            if pk < 0:
                raise _bad_cursor()
            return [pk]
        try:
            padded = text + "=" * (-len(text) % 4)
            sortby, values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        except (ValueError, TypeError, binascii.Error, UnicodeError):
            raise _bad_cursor() from None
        if sortby != self.text:
            raise BadParameter(
                "cursor", f"this cursor pages sortby={sortby!r}, not sortby={self.text!r}"
            )
        if not isinstance(values, list) or len(values) != len(self.ordered_keys):
            raise _bad_cursor()
        return [_read_value(k.sortable, v) for k, v in zip(self.ordered_keys, values, strict=True)]


DEFAULT = SortBy((SortKey(SORTABLES["id"]),))


def sortby_param(params: Mapping) -> SortBy:
    text = params.get("sortby")
    if text is None:
        return DEFAULT
    keys: list[SortKey] = []
    for part in text.split(","):
        name = part.strip()
        descending = name.startswith("-")
        if part.startswith((" ", "+", "-")):  # "+" arrives as " " unless percent-encoded
            name = part[1:].strip()
        sortable = SORTABLES.get(name)
        if sortable is None:
            raise BadParameter(
                "sortby",
                f"{name[:80]!r} is not sortable here; sortables: {', '.join(SORTABLES)} "
                "(element values are not: see /sortables)",
            )
        if any(k.sortable is sortable for k in keys):
            raise BadParameter("sortby", f"{name!r} is named twice")
        keys.append(SortKey(sortable, descending))
    return SortBy(tuple(keys))


def _attribute(sortable: Sortable) -> str:
    """Where a sample read for a page holds the sortable's value (see ``items``: the sort
    aliases are annotated under these names)."""
    return "pk" if sortable.name == "id" else f"sort_{sortable.name}"


def annotations(sortby: SortBy) -> dict[str, F]:
    """The values a page needs to write its cursor: one annotation per ordered key but id."""
    return {
        _attribute(k.sortable): F(k.sortable.field)
        for k in sortby.ordered_keys
        if k.sortable.name != "id"
    }


def _json_value(value):
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _read_value(sortable: Sortable, value):
    if value is None:
        if sortable.nullable:
            return None
        raise _bad_cursor()
    if sortable.kind == INTEGER:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    elif sortable.kind == DATE:
        try:
            day = parse_date(value) if isinstance(value, str) else None
        except ValueError:
            day = None
        if day is not None:
            return day
    elif isinstance(value, str) and "\x00" not in value:
        return value
    raise _bad_cursor()


def _bad_cursor() -> BadParameter:
    return BadParameter("cursor", "not a cursor this API gave out")
