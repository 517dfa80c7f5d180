"""CQL2 filters (OGC API – Features Part 3) as Django ``Q`` over a whitelist of queryables.

``pygeofilter`` parses the text (``cql2-text``) or JSON (``cql2-json``) into a syntax tree; this
module walks the tree itself and maps each node to a ``Q`` — no SQL is ever built from the text
(GeoServer's CVE-2024-36401 and CVE-2023-25157 came from evaluating filter text). Only the
queryables of a collection may be named, each compared with a literal of its own type.

Supported (and declared at ``/ogcapi/conformance``): basic CQL2 (``= <> < <= > >=``, ``IS [NOT]
NULL``, ``AND OR NOT``, string, number, boolean, ``DATE`` and ``TIMESTAMP`` literals) and the
advanced comparison operators (``LIKE``, ``BETWEEN``, ``IN``). Not supported, so a 400 naming
``filter``: spatial, temporal and array functions, ``CASEI``/``ACCENTI``, arithmetic and
property-to-property comparisons. Spatial predicates in particular stay out: a point test
against a stored location would locate samples the viewer may only see snapped to a cell.

Element queryables (``Cu > 50``) compare the sample's value in mg/kg among the rows the caller
may see (``element_rows``: the gate's visible measurements, preferred method), so a filter can
never test a value the caller could not read.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.dateparse import parse_date

from ..http import BadParameter

FILTER_LANGUAGES = ("cql2-text", "cql2-json")
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
# A filter longer than this is no query a person or a client writes; refuse it before parsing.
MAX_FILTER_LENGTH = 4000

STRING, NUMBER, DATE = "string", "number", "date"


@dataclass(frozen=True)
class Queryable:
    """A property a filter may name: its JSON type and where it is stored.

    ``field`` is a lookup path on Sample; ``element_id`` marks an element value (mg/kg)."""

    name: str
    kind: str
    title: str
    field: str = ""
    element_id: int | None = None


def parse_filter(params: Mapping):
    """The filter's syntax tree from ``filter`` and ``filter-lang`` (default cql2-text), or None."""
    text = params.get("filter")
    language = params.get("filter-lang") or "cql2-text"
    if language not in FILTER_LANGUAGES:
        raise BadParameter(
            "filter-lang", f"unknown filter language {language!r}; known: cql2-text, cql2-json"
        )
    crs = params.get("filter-crs")
    if crs not in (None, "", CRS84):
        raise BadParameter("filter-crs", f"only {CRS84} is supported")
    if text is None:
        return None
    if not text.strip():
        raise BadParameter("filter", "empty filter")
    if len(text) > MAX_FILTER_LENGTH:
        raise BadParameter("filter", f"longer than {MAX_FILTER_LENGTH} characters")
    try:
        if language == "cql2-json":
            from pygeofilter.parsers.cql2_json import parse

            return parse(_cql2_json_between(json.loads(text)))
        from pygeofilter.parsers.cql2_text import parse

        return parse(text)
    except Exception as exc:  # lark's errors, ValueError, KeyError, TypeError, RecursionError...
        raise BadParameter("filter", f"not valid {language}: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _cql2_json_between(node):
    """CQL2 writes BETWEEN as ``{"op": "between", "args": [p, low, high]}``; pygeofilter 0.4
    reads only the draft's ``[p, [low, high]]``: rewrite the former into the latter."""
    if isinstance(node, list):
        return [_cql2_json_between(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _cql2_json_between(v) for k, v in node.items()}
    args = node.get("args")
    if node.get("op") == "between" and isinstance(args, list) and len(args) == 3:
        node["args"] = [args[0], [args[1], args[2]]]
    return node


def filter_q(node, queryables: Mapping[str, Queryable], element_rows: QuerySet) -> Q:
    """The ``Q`` over Sample that a parsed filter means.

    ``element_rows``: the measurements the caller may see (the gate's, preferred method); element
    queryables test values among them only."""
    return _Translator(queryables, element_rows).q(node)


class _Translator:
    def __init__(self, queryables: Mapping[str, Queryable], element_rows: QuerySet) -> None:
        self.queryables = queryables
        self.element_rows = element_rows

    def q(self, node) -> Q:
        from pygeofilter import ast

        if isinstance(node, bool):  # a bare TRUE / FALSE (cql2-json)
            return Q() if node else Q(pk__in=[])
        if isinstance(node, ast.And):
            return self.q(node.lhs) & self.q(node.rhs)
        if isinstance(node, ast.Or):
            return self.q(node.lhs) | self.q(node.rhs)
        if isinstance(node, ast.Not):
            return ~self.q(node.sub_node)
        if isinstance(node, ast.Comparison):
            return self.comparison(node)
        if isinstance(node, ast.Between):
            queryable = self.attribute(node.lhs)
            low, high = self.literal(queryable, node.low), self.literal(queryable, node.high)
            if queryable.kind == STRING:
                raise _unsupported("BETWEEN on a text property")
            q = self.lookup(queryable, "gte", low) & self.lookup(queryable, "lte", high)
            return ~q if node.not_ else q
        if isinstance(node, ast.Like):
            return self.like(node)
        if isinstance(node, ast.In):
            queryable = self.attribute(node.lhs)
            options = [self.literal(queryable, option) for option in node.sub_nodes]
            if not options:
                raise BadParameter("filter", "IN needs at least one value")
            q = self.lookup(queryable, "in", options)
            return ~q if node.not_ else q
        if isinstance(node, ast.IsNull):
            queryable = self.attribute(node.lhs)
            q = self.is_null(queryable)
            return ~q if node.not_ else q
        raise _unsupported(_describe(node))

    # --- operands ---------------------------------------------------------------------------

    def attribute(self, node) -> Queryable:
        from pygeofilter import ast

        if not isinstance(node, ast.Attribute):
            raise _unsupported(f"{_describe(node)} where a property name belongs")
        queryable = self.queryables.get(node.name)
        if queryable is None:
            known = ", ".join(self.queryables)
            raise BadParameter(
                "filter", f"{node.name!r} is not queryable here; queryables: {known}"
            )
        return queryable

    def literal(self, queryable: Queryable, value):
        """``value`` as the queryable's type, or a 400 naming both."""
        if queryable.kind == NUMBER:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return value
        elif queryable.kind == STRING:
            if isinstance(value, str):
                return value
        elif queryable.kind == DATE:
            if isinstance(value, dt.datetime):
                if value.tzinfo is not None:
                    value = value.astimezone(dt.UTC)
                return value.date()
            if isinstance(value, dt.date):
                return value
            if isinstance(value, str) and (day := _date(value)) is not None:
                return day
        raise BadParameter(
            "filter",
            f"{queryable.name} is a {queryable.kind}; {_describe(value)} cannot be compared "
            "with it",
        )

    # --- predicates ---------------------------------------------------------------------------

    def comparison(self, node) -> Q:
        from pygeofilter import ast

        lhs, rhs, op = node.lhs, node.rhs, node.op.value
        if not isinstance(lhs, ast.Attribute) and isinstance(rhs, ast.Attribute):
            lhs, rhs, op = rhs, lhs, _FLIPPED[op]  # 50 < Cu is Cu > 50
        queryable = self.attribute(lhs)
        if isinstance(rhs, ast.Node):
            raise _unsupported(f"comparing {queryable.name} with {_describe(rhs)}")
        value = self.literal(queryable, rhs)
        if op == "<>":
            if queryable.element_id is not None:
                return self.element(queryable, Q(value__isnull=False) & ~Q(value=value))
            # Two-valued like the rest of Django's negation, but a missing value is not
            # "different from" anything (CQL2: NULL <> x is unknown, so not selected).
            return ~Q(**{queryable.field: value}) & Q(**{f"{queryable.field}__isnull": False})
        return self.lookup(queryable, _LOOKUPS[op], value)

    def like(self, node) -> Q:
        queryable = self.attribute(node.lhs)
        if queryable.kind != STRING:
            raise _unsupported(f"LIKE on {queryable.name}, a {queryable.kind}")
        pattern = self.literal(queryable, node.pattern)
        lookup = "iregex" if node.nocase else "regex"
        q = Q(**{f"{queryable.field}__{lookup}": like_regex(pattern)})
        return ~q if node.not_ else q

    def lookup(self, queryable: Queryable, lookup: str, value) -> Q:
        if queryable.element_id is not None:
            return self.element(queryable, Q(**{f"value__{lookup}": value}))
        return Q(**{f"{queryable.field}__{lookup}": value})

    def is_null(self, queryable: Queryable) -> Q:
        if queryable.element_id is not None:
            # An element is null in a feature when the caller sees no value of it for the sample
            # (not measured, below detection, or not visible to them).
            return ~self.element(queryable, Q(value__isnull=False))
        return Q(**{f"{queryable.field}__isnull": True})

    def element(self, queryable: Queryable, condition: Q) -> Q:
        """Samples with a visible value of the element meeting ``condition``."""
        rows = self.element_rows.filter(
            condition, sample_id=OuterRef("pk"), element_id=queryable.element_id
        )
        return Q(Exists(rows))


_LOOKUPS = {"=": "exact", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}
_FLIPPED = {"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _date(text: str) -> dt.date | None:
    try:
        return parse_date(text)
    except ValueError:
        return None


def like_regex(pattern: str) -> str:
    """A CQL2 LIKE pattern (``%`` any run, ``_`` one character, ``\\`` escapes) as an anchored
    PostgreSQL regular expression, every other character literal."""
    parts, escaped = [], False
    for char in pattern:
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    if escaped:
        parts.append(re.escape("\\"))
    return "^" + "".join(parts) + "$"


def _describe(node) -> str:
    from pygeofilter import ast

    if isinstance(node, ast.Attribute):
        return f"property {node.name!r}"
    if isinstance(node, ast.Node):
        return f"{type(node).__name__} (not supported here)"
    return repr(node)


def _unsupported(what: str) -> BadParameter:
    return BadParameter(
        "filter",
        f"{what}: supported are comparisons of a queryable with a literal "
        "(= <> < <= > >=, BETWEEN, LIKE, IN, IS NULL) joined by AND, OR, NOT",
    )
