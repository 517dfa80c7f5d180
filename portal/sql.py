"""SQL expressions the public surfaces share: JSON written by PostgreSQL instead of Python."""

from __future__ import annotations

from django.db.models import Func, TextField, Value


class JSONBuild(Func):
    """``json_build_object(key, value, …)``: ``json``, not ``jsonb`` (half the cost a row, and
    keys keep their order); nest them, and cast the outermost to text."""

    function = "json_build_object"
    output_field = TextField()

    def __init__(self, **fields) -> None:
        super().__init__(*(part for key, value in fields.items() for part in (Value(key), value)))
