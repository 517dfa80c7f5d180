"""Map layers: one rendered element map for one audience at one data and policy version.

A layer is (element, medium, scale, style, classification scheme, ramp, audience) at a data
version and a policy version (architecture guide §8). Its ``key`` — a digest of all of these —
names it in tile URLs, so a layer's tiles never change and may be cached for ever; a write that
changes what anyone sees makes new keys, and the old layers are retired.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from baselines.models import Element, Medium


class MapLayerQuerySet(models.QuerySet):
    def live(self) -> MapLayerQuerySet:
        return self.exclude(state=MapLayer.State.RETIRED)


class MapLayer(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", _("queued")
        RENDERING = "rendering", _("rendering")
        READY = "ready", _("ready")
        EMPTY = "empty", _("no visible data")
        FAILED = "failed", _("failed")
        RETIRED = "retired", _("retired")

    class Style(models.TextChoices):
        CELLS = "cells", _("grid cells")
        SURFACE = "surface", _("interpolated surface")
        POINTS = "points", _("sample points")

    key = models.CharField(max_length=40, unique=True)
    element = models.ForeignKey(Element, on_delete=models.CASCADE, related_name="+")
    medium = models.ForeignKey(Medium, on_delete=models.CASCADE, related_name="+")
    scale_m = models.PositiveIntegerField()
    style = models.CharField(max_length=10, choices=Style.choices)
    scheme = models.CharField(max_length=20, default="percentiles")
    ramp = models.CharField(max_length=20, default="geochem")
    # Rights digest (sharing.access.Scope.audience); is_public when it is the anonymous one.
    audience = models.CharField(max_length=40)
    is_public = models.BooleanField(default=False)
    # A viewer of this audience, to render as (None: anonymous). The worker checks that the
    # viewer's audience is still this one before rendering.
    viewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    policy_version = models.CharField(max_length=64)
    data_version = models.CharField(max_length=64)

    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    progress = models.FloatField(default=0)  # percent
    message = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    legend = models.JSONField(null=True, blank=True)
    bounds = models.JSONField(null=True, blank=True)  # [west, south, east, north] lon/lat
    native_zoom = models.PositiveSmallIntegerField(null=True, blank=True)
    maxzoom = models.PositiveSmallIntegerField(null=True, blank=True)
    n_features = models.PositiveIntegerField(default=0)
    n_values = models.PositiveIntegerField(default=0)
    countries = models.JSONField(default=list, blank=True)  # ids whose rows the layer shows
    render_seconds = models.FloatField(null=True, blank=True)
    tiles_seeded = models.PositiveIntegerField(default=0)

    created = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    # When its render was claimed: a layer still "rendering" past the render's hard time limit
    # lost its worker (``maps.layers.requeue_dead_renders``).
    render_started = models.DateTimeField(null=True, blank=True)
    rendered_at = models.DateTimeField(null=True, blank=True)
    last_requested = models.DateTimeField(null=True, blank=True)

    objects = MapLayerQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["state", "policy_version"]),
            models.Index(fields=["last_requested"]),
        ]

    def __str__(self) -> str:
        return (
            f"{self.element_id}/{self.medium_id} {self.scale_m // 1000 or self.scale_m / 1000} km "
            f"{self.style} [{self.state}]"
        )

    @staticmethod
    def make_key(*parts: object) -> str:
        return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:24]

    @property
    def directory(self) -> Path:
        """Where the rendered files live; public layers apart, so a front server may serve
        their tiles without asking the portal."""
        return Path(settings.TILE_ROOT) / ("public" if self.is_public else "private") / self.key

    @property
    def is_pending(self) -> bool:
        return self.state in (self.State.QUEUED, self.State.RENDERING)

    def tile_path(self, z: int, x: int, y: int) -> Path:
        return self.directory / "tiles" / str(z) / str(x) / f"{y}.png"


class FeaturedMap(models.Model):
    """The map ``/map/`` opens on (and the home page previews) when its address names nothing.
    The newest row is the one shown; without a row, ``maps.featured.DEFAULT`` (copper in topsoil
    over the conterminous United States, the demo's best-covered public element)."""

    element = models.ForeignKey(Element, on_delete=models.CASCADE, verbose_name=_("element"))
    medium = models.ForeignKey(Medium, on_delete=models.CASCADE, verbose_name=_("medium"))
    # Not points: the public may not see exact locations everywhere.
    style = models.CharField(
        max_length=10,
        choices=[(v, label) for v, label in MapLayer.Style.choices if v != "points"],
        default="cells",
        verbose_name=_("style"),
    )
    # The viewer's own bounds (static/maps/viewer.js clamps to them): out of them is an error
    # on the admin form, not a view that opens somewhere else.
    latitude = models.FloatField(
        _("latitude"),
        default=39.0,
        help_text=_("Centre of the opening view."),
        validators=[MinValueValidator(-85), MaxValueValidator(85)],
    )
    longitude = models.FloatField(
        _("longitude"), default=-97.0, validators=[MinValueValidator(-180), MaxValueValidator(180)]
    )
    zoom = models.PositiveSmallIntegerField(
        _("zoom"), default=4, validators=[MinValueValidator(1), MaxValueValidator(14)]
    )
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated"]
        verbose_name = _("featured map")

    def __str__(self) -> str:
        return f"{self.element.symbol} in {self.medium.code} ({self.style})"
