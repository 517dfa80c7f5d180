"""Download packages: one row per package a viewer asked for, its build state and its file.

A job keeps the query as asked (JSON), the versions it was cut at (policy and data) and what it
holds (rows per survey and country); the file lives under ``DOWNLOAD_ROOT`` and is fetched through
a link signed for the job's user (``downloads.services.signed_link``). The public id is a UUID, so
job URLs reveal neither how many jobs exist nor anyone else's.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class DownloadJob(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        READY = "ready", _("ready")
        FAILED = "failed", _("failed")
        EXPIRED = "expired", _("expired")  # the file was deleted (DOWNLOAD_KEEP_SECONDS)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # None: an anonymous viewer, who gets public data under the public licences.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="download_jobs",
    )
    # The query as validated (downloads.query.DownloadQuery.as_json): surveys, countries,
    # elements, medium, bbox, polygon, scales, years, rounds, format, all_methods; a GeoTIFF's
    # style, scheme and ramp too.
    query = models.JSONField()
    format = models.CharField(max_length=16)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    rows_written = models.BigIntegerField(default=0)
    rows_total = models.BigIntegerField(default=0)
    # Percent done of a build that is not a stream of rows (a GeoTIFF: its layer's render, then
    # the raster); None: progress is rows_written of rows_total.
    progress_percent = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)

    created = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    # What the package holds, once built.
    file_name = models.CharField(max_length=200, blank=True)  # relative to DOWNLOAD_ROOT
    size_bytes = models.BigIntegerField(null=True, blank=True)
    measurement_rows = models.BigIntegerField(null=True, blank=True)
    sample_rows = models.BigIntegerField(null=True, blank=True)
    row_counts = models.JSONField(default=dict, blank=True)  # by survey and by country
    # The counts the request made (selectors.Contents.as_json); the build reuses them while the
    # policy and data versions are those they were made at, instead of reading the rows again.
    contents = models.JSONField(null=True, blank=True)
    countries = models.JSONField(default=list, blank=True)  # ids whose rows are in the file
    policy_version = models.CharField(max_length=64, blank=True)
    data_version = models.CharField(max_length=64, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)  # of the zip
    # DataCite metadata (REST API JSON, without a DOI) for an operator to mint one; the landing
    # page (portal) adds its own URL.
    datacite = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["user", "-created"])]

    def __str__(self) -> str:
        return f"download {self.public_id} ({self.format}, {self.state})"

    @property
    def is_pending(self) -> bool:
        return self.state in (self.State.QUEUED, self.State.RUNNING)

    @property
    def progress(self) -> float:
        """Percent of rows written, or of a GeoTIFF's build (100 when ready)."""
        if self.state == self.State.READY:
            return 100.0
        if self.progress_percent is not None:
            return round(min(100.0, self.progress_percent), 1)
        if not self.rows_total:
            return 0.0
        return round(min(100.0, 100.0 * self.rows_written / self.rows_total), 1)

    @property
    def path(self) -> Path | None:
        """The package's file on this machine; None before it is built or when the package
        storage is remote (``downloads/storage.py``)."""
        if not self.file_name:
            return None
        from .storage import local_path

        return local_path(self.file_name)

    @property
    def stored(self) -> bool:
        """Its file is in the package storage."""
        from .storage import exists

        return exists(self.file_name)

    @property
    def download_name(self) -> str:
        return f"chemearth-{self.public_id}.zip"
