"""Cursor pagination for the API's sample and measurement lists, in id order.

Samples have a primary-key index, so DRF's ``CursorPagination`` serves them as it is. The
measurement table has no btree at all (docs/architecture.md §12, "Measurement storage"): there a
page of ``ORDER BY id LIMIT n`` would sort every row the viewer may see. Ids rise with the rows'
position in each partition, so the BRIN index finds the rows of a range of ids cheaply;
``IdWindowPagination`` reads a page from windows of ids that grow until the page is full.
"""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.response import Response

from baselines.paging import rows_after, rows_before


def _row_id(row) -> int:
    """The id of a row read as a model instance or as values."""
    return row["id"] if isinstance(row, dict) else row.pk


class IdCursorPagination(CursorPagination):
    ordering = "id"
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 10_000

    def _get_position_from_instance(self, instance, ordering) -> str:
        # Rows may be read as values (dicts) rather than model instances.
        return str(_row_id(instance))

    def decode_cursor(self, request) -> Cursor | None:
        # DRF answers a bad cursor with 404, which the API keeps for missing objects; and a
        # well-formed cursor may still carry a position that is no id.
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            cursor = Cursor(offset=0, reverse=False, position="not an id")
        if cursor is not None and cursor.position is not None:
            try:
                int(cursor.position)
            except ValueError:
                raise ValidationError(
                    {self.cursor_query_param: "not a cursor this API gave out"}
                ) from None
        return cursor


class FeatureCollectionPagination(IdCursorPagination):
    """Pages of GeoJSON features: a FeatureCollection with its cursor links."""

    def get_paginated_response(self, data) -> Response:
        return Response(
            {
                "type": "FeatureCollection",
                "features": data,
                "links": {"next": self.get_next_link(), "previous": self.get_previous_link()},
            }
        )

    def get_paginated_response_schema(self, schema: dict) -> dict:
        link = {"type": "string", "format": "uri", "nullable": True}
        return {
            "type": "object",
            "required": ["type", "features", "links"],
            "properties": {
                "type": {"type": "string", "enum": ["FeatureCollection"]},
                "features": schema,
                "links": {"type": "object", "properties": {"next": link, "previous": link}},
            },
        }


class IdWindowPagination(IdCursorPagination):
    """Forward and backward pages in id order, each found window by window.

    A page after id ``p`` asks for ids in ``(p, p + w]``, then the next ``GROWTH`` times wider
    window, and so on, until it holds a row more than the page size or passes the last id the
    table's sequence gave out. A window's query touches only the block ranges its ids lie in,
    so a page costs a few index probes and a sort of at most a few windows' rows, wherever the
    viewer's visible rows are sparse (an element filter, an embargoed survey in between).
    """

    def paginate_queryset(self, queryset: QuerySet, request, view=None) -> list | None:
        self.request = request
        self.page_size = self.get_page_size(request)
        if not self.page_size:
            return None
        self.base_url = request.build_absolute_uri()
        cursor = self.decode_cursor(request)
        reverse = bool(cursor and cursor.reverse)
        position = None
        if cursor is not None and cursor.position is not None:
            position = int(cursor.position)  # checked by decode_cursor
        ceiling = queryset.model.objects.id_ceiling()
        need = self.page_size + 1
        if reverse:
            rows = rows_before(queryset, ceiling + 1 if position is None else position, need)
        else:
            rows = rows_after(queryset, 0 if position is None else position, ceiling, need)
        more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        if reverse:
            rows.reverse()
        self.page = rows
        self.has_next = more if not reverse else position is not None
        self.has_previous = more if reverse else position is not None
        self._first_id = _row_id(rows[0]) if rows else None
        self._last_id = _row_id(rows[-1]) if rows else None
        self._position = position
        return rows

    def get_next_link(self) -> str | None:
        if not self.has_next:
            return None
        after = self._last_id if self._last_id is not None else self._position - 1
        return self.encode_cursor(Cursor(offset=0, reverse=False, position=str(after)))

    def get_previous_link(self) -> str | None:
        if not self.has_previous:
            return None
        before = self._first_id if self._first_id is not None else self._position + 1
        return self.encode_cursor(Cursor(offset=0, reverse=True, position=str(before)))
