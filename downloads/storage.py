"""Where finished download packages are kept: Django's storage ``downloads``
(``settings.STORAGES``) — the local ``DOWNLOAD_ROOT`` by default, an S3-protocol bucket
(django-storages) when ``STORAGE_S3_BUCKET`` is set.

A package is built on the worker's local disk (``DOWNLOAD_ROOT/tmp``, zip files need a seekable
file) and published here whole: moved into place on the local file system, uploaded on S3 (a
multipart upload: the object appears complete or not at all). Every other module reaches package
files through these functions, never through paths.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages

ALIAS = "downloads"


class DownloadRootStorage(FileSystemStorage):
    """The local default: ``settings.DOWNLOAD_ROOT``, read at each use (tests and benchmarks
    point it at a directory of their own after start-up)."""

    @property
    def base_location(self) -> str:
        return str(self._location or settings.DOWNLOAD_ROOT)

    @property
    def location(self) -> str:
        return os.path.abspath(self.base_location)


def package_storage() -> Storage:
    return storages[ALIAS]


def is_local() -> bool:
    """Files on this machine's disk (served by the portal or nginx's X-Accel-Redirect)."""
    return isinstance(package_storage(), FileSystemStorage)


def local_path(name: str) -> Path | None:
    """The file's path on this machine, or None when the storage is remote."""
    storage = package_storage()
    return Path(storage.path(name)) if isinstance(storage, FileSystemStorage) else None


def publish(built: Path, name: str) -> str:
    """Store the finished file ``built`` as ``name`` and return the name it is stored under."""
    storage = package_storage()
    if isinstance(storage, FileSystemStorage):
        target = Path(storage.path(name))
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(built, target)  # same file system as DOWNLOAD_ROOT/tmp: an atomic rename
        return name
    with built.open("rb") as handle:
        stored = storage.save(name, File(handle, name=name))
    built.unlink(missing_ok=True)
    return stored


def exists(name: str) -> bool:
    return bool(name) and package_storage().exists(name)


def delete(name: str) -> None:
    if name:
        package_storage().delete(name)


def open_package(name: str):
    return package_storage().open(name, "rb")


def remote_url(name: str, download_name: str) -> str:
    """A short-lived presigned URL of the object (S3), which names the file to save as."""
    return package_storage().url(
        name,
        parameters={
            "ResponseContentDisposition": f'attachment; filename="{download_name}"',
            "ResponseContentType": "application/zip",
        },
        expire=settings.STORAGE_S3_URL_SECONDS,
    )
