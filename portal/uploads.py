"""Polygon files stewards upload through a page (zones, administrative units): one way to take
the file, check its kind and hand it to the domain's all-or-nothing service."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from django import forms
from django.utils.translation import gettext as _

T = TypeVar("T")
SUFFIXES = (".geojson", ".json", ".gpkg")


def stored_upload(
    form: forms.Form, store: Callable[[Path], list[T]], refused: type[Exception]
) -> list[T] | None:
    """``store(path)`` of the form's ``file`` saved to a temporary file (GDAL reads paths); None
    with the reason on the form's ``file`` field when the kind is wrong or ``store`` refuses it
    (raising ``refused``, which names the feature)."""
    upload = form.cleaned_data["file"]
    suffix = Path(upload.name).suffix.lower()
    if suffix not in SUFFIXES:
        form.add_error("file", _("Upload a .geojson, .json or .gpkg file."))
        return None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"upload{suffix}"
        with path.open("wb") as handle:
            for chunk in upload.chunks():
                handle.write(chunk)
        try:
            return store(path)
        except refused as error:
            form.add_error("file", str(error))
            return None
