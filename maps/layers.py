"""Finding, rendering and retiring map layers (the services behind /api/v1/layers and /tiles/).

Rows come only through the access gate (``sharing.access``): cell and surface layers use
``aggregate_rows`` at the layer's scale, point layers ``visible_exact_measurements``. Legends and
class breaks are computed from the released rows alone, so two audiences never share breaks and
no break is ever a pre-release value; a cell holding pre-release rows enters the raster as its
class (``classification.class_representatives``), never as its median (docs/security.md).
The render itself (rasters, COG, tiles) is ``maps.render`` / ``maps.tiling``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import FloatField, Func, QuerySet
from django.utils import timezone

from baselines import grid
from baselines.models import Element, Measurement, Medium, Survey
from baselines.statistics import stat_values
from chemearth import metrics
from sharing.access import (
    Scope,
    aggregate_rows,
    viewer_scope,
    visible_exact_measurements,
)

from .classification import Legend, build_legend, class_representatives, series_legend
from .models import MapLayer

log = logging.getLogger(__name__)

# A queued layer whose render has not started after this long is queued again (lost message,
# dead worker, Redis restarted).
REQUEUE_AFTER = dt.timedelta(seconds=int(os.environ.get("LAYER_REQUEUE_SECONDS", "120")))
# The render task's hard time limit (``maps.tasks``): a layer rendering for longer lost its worker.
RENDER_TIME_LIMIT = dt.timedelta(seconds=1800)
# last_requested is written at most this often per layer, not on every tile.
TOUCH_EVERY = dt.timedelta(minutes=5)


class LayerRequestError(ValueError):
    """A layer that cannot be made for this viewer (points without exact access: 403);
    ``field`` names the parameter at fault."""

    def __init__(self, field: str, reason: str, status: int = 400):
        super().__init__(reason)
        self.field, self.reason, self.status = field, reason, status


@dataclass(frozen=True)
class LayerSpec:
    element: Element
    medium: Medium
    scale_m: int
    style: str = "cells"
    scheme: str = "percentiles"
    ramp: str = "geochem"

    @classmethod
    def of(cls, layer: MapLayer) -> LayerSpec:
        return cls(
            layer.element, layer.medium, layer.scale_m, layer.style, layer.scheme, layer.ramp
        )


def data_version(medium: Medium | int) -> str:
    """The data version of one medium's surveys (layers are keyed by it)."""
    medium_id = medium if isinstance(medium, int) else medium.pk
    return Survey.objects.filter(medium_id=medium_id).data_version()


def public_audience(now: dt.datetime | None = None) -> str:
    return viewer_scope(None, now).audience


def layer_key(spec: LayerSpec, audience: str, policy: str, data: str) -> str:
    return MapLayer.make_key(
        spec.element.symbol,
        spec.medium.code,
        spec.scale_m,
        spec.style,
        spec.scheme,
        spec.ramp,
        audience,
        policy,
        data,
    )


def find_layer(spec: LayerSpec, scope: Scope, user=None, *, queue: bool = True) -> MapLayer:
    """The layer of ``spec`` for the viewer's audience at the current versions; created and
    queued for rendering when new. Raises LayerRequestError(403) for points without exact
    access."""
    if spec.style == "points" and not scope.sees_exact_locations:
        raise LayerRequestError(
            "style", "point maps need access to exact sample locations", status=403
        )
    data = data_version(spec.medium)
    key = layer_key(spec, scope.audience, scope.version, data)
    layer = MapLayer.objects.filter(key=key).first()
    if layer is None:
        is_public = scope.audience == public_audience(scope.now)
        viewer = user if (user is not None and user.is_authenticated and not is_public) else None
        layer, created = MapLayer.objects.get_or_create(
            key=key,
            defaults=dict(
                element=spec.element,
                medium=spec.medium,
                scale_m=spec.scale_m,
                style=spec.style,
                scheme=spec.scheme,
                ramp=spec.ramp,
                audience=scope.audience,
                is_public=is_public,
                viewer=viewer,
                policy_version=scope.version,
                data_version=data,
                last_requested=timezone.now(),
            ),
        )
        if created:
            if queue:
                queue_render(layer)
            return layer
    touch(layer)
    if queue and requeue_dead_renders(MapLayer.objects.filter(pk=layer.pk)):
        layer.refresh_from_db()
        return layer
    if (
        queue
        and layer.state == MapLayer.State.QUEUED
        and (layer.queued_at is None or timezone.now() - layer.queued_at > REQUEUE_AFTER)
    ):
        queue_render(layer)
    return layer


def touch(layer: MapLayer) -> None:
    now = timezone.now()
    if layer.last_requested is None or now - layer.last_requested > TOUCH_EVERY:
        MapLayer.objects.filter(pk=layer.pk).update(last_requested=now)


def queue_render(layer: MapLayer) -> None:
    """Queue the render after commit. With the broker down the layer stays queued and says so;
    the next request for it (or the cleanup job) queues it again."""

    def send() -> None:
        from .tasks import render_map_layer

        try:
            render_map_layer.delay(layer.pk)
        except Exception as exc:  # noqa: BLE001 — kombu raises many kinds when Redis is down
            log.warning("could not queue layer %s: %s", layer.key, exc)
            MapLayer.objects.filter(pk=layer.pk, state=MapLayer.State.QUEUED).update(
                message="render queue unavailable; will retry", queued_at=None
            )
            return
        MapLayer.objects.filter(pk=layer.pk, state=MapLayer.State.QUEUED).update(
            queued_at=timezone.now(), message=""
        )

    transaction.on_commit(send)


# --- rows through the gate -----------------------------------------------------------------------


@dataclass
class LayerRows:
    """The rows of one layer, as arrays. ``prerelease`` marks rule 4's embargoed rows: they
    may colour their cell's class and nothing else."""

    lon: np.ndarray
    lat: np.ndarray
    value: np.ndarray
    censored: np.ndarray
    detection_limit: np.ndarray
    country: np.ndarray
    prerelease: np.ndarray

    def __len__(self) -> int:
        return len(self.value)

    @property
    def released(self) -> LayerRows:
        keep = ~self.prerelease
        return LayerRows(*(getattr(self, f)[keep] for f in self.__dataclass_fields__))


def _fetch_rows(queryset) -> list[tuple]:
    """(lon, lat, value, censored, dl, country) of the rows."""
    # Points come out as lon/lat floats from PostGIS, not as a GEOS object per row.
    queryset = queryset.annotate(
        lon=Func("sample__geom", function="ST_X", output_field=FloatField()),
        lat=Func("sample__geom", function="ST_Y", output_field=FloatField()),
    ).values_list("lon", "lat", "value", "censored", "detection_limit", "sample__country_id")
    try:
        sql, params = queryset.query.sql_with_params()
    except EmptyResultSet:  # the viewer sees nothing of this element
        return []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def released_rows(
    scope: Scope,
    *,
    style: str,
    scale_m: int,
    element: Element,
    medium: Medium,
    cell: str | None = None,
) -> QuerySet[Measurement]:
    """The released rows a layer of ``style`` is drawn from — the one definition the legend, the
    charts of the view (``api/v1/viewer/values``), the layer's ``n_values`` and the cell popups
    (``cell``: one cell's rows, a code at ``scale_m``) all count, so they agree on n:
    exact-location rows for points (a sample shown only as a cell centre is no point), the rows
    visible at the layer's scale for cells and surfaces (each survey's preferred method)."""
    if style == "points":
        rows = (
            visible_exact_measurements(scope)
            .preferred()
            .filter(element_id=element.pk, sample__survey__medium_id=medium.pk)
        )
        if cell is not None:
            rows = rows.filter(**{f"sample__{grid.cell_field_name(scale_m)}": cell})
        return rows
    return aggregate_rows(
        scope, scale_m=scale_m, element=element, medium=medium, cell=cell
    ).released


def layer_rows(spec: LayerSpec, scope: Scope) -> LayerRows:
    """Rows of one layer from the gate: released and pre-release rows at the layer's scale for
    cells and surfaces, exact-location rows for points (``released_rows``)."""
    released = _fetch_rows(
        released_rows(
            scope, style=spec.style, scale_m=spec.scale_m, element=spec.element, medium=spec.medium
        )
    )
    prerelease: list[tuple] = []
    if spec.style != "points":
        rows = aggregate_rows(scope, scale_m=spec.scale_m, element=spec.element, medium=spec.medium)
        prerelease = _fetch_rows(rows.prerelease)
    frame = pd.DataFrame.from_records(
        released + prerelease, columns=["lon", "lat", "value", "censored", "dl", "country"]
    )
    return LayerRows(
        lon=frame["lon"].to_numpy("f8"),
        lat=frame["lat"].to_numpy("f8"),
        value=frame["value"].to_numpy("f8", na_value=np.nan),
        censored=frame["censored"].to_numpy(bool),
        detection_limit=frame["dl"].to_numpy("f8", na_value=np.nan),
        country=frame["country"].to_numpy("i8"),
        prerelease=np.arange(len(frame)) >= len(released),
    )


def cell_medians(
    rows: LayerRows, scale_m: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(lon, lat, median, has_prerelease) per grid cell of ``scale_m`` holding rows: cell centres
    in WGS84, medians of the statistics values (censored at DL/2), and whether a
    pre-release row is among them."""
    row, col = grid.indices(rows.lon, rows.lat, scale_m)
    stats = stat_values(rows.value, rows.censored, rows.detection_limit)
    frame = pd.DataFrame({"row": row, "col": col, "v": stats, "pre": rows.prerelease}).dropna()
    cells = frame.groupby(["row", "col"], sort=False).agg(v=("v", "median"), pre=("pre", "any"))
    rr = cells.index.get_level_values(0).to_numpy()
    cc = cells.index.get_level_values(1).to_numpy()
    cx, cy = grid.centres_lonlat(rr, cc, scale_m)
    return cx, cy, cells["v"].to_numpy("f8"), cells["pre"].to_numpy(bool)


def layer_legend(layer: MapLayer, rows: LayerRows) -> tuple[Legend, np.ndarray]:
    """The legend of a cells or surface layer and the value each cell enters the raster with.

    Breaks come from the released rows only; a cell holding pre-release rows enters as the
    representative of its class, so nothing the layer shows depends on a pre-release value beyond
    its cell's class. With no released row at all, pre-release cells are classed on the fixed
    1-2-5 series (no break is computed from them)."""
    released = rows.released
    lon, lat, medians, has_prerelease = cell_medians(rows, layer.scale_m)
    options = dict(scheme=layer.scheme, ramp=layer.ramp, symbol=layer.element.symbol)
    legend = build_legend(released.value, released.censored, released.detection_limit, **options)
    if legend.n == 0 and has_prerelease.any():
        legend = series_legend(medians[has_prerelease], **options)
    values = medians.copy()
    if has_prerelease.any():
        values[has_prerelease] = class_representatives(medians[has_prerelease], legend)
    samples = int(np.count_nonzero(rows.prerelease))
    legend = legend.with_prerelease(cells=int(np.count_nonzero(has_prerelease)), values=samples)
    return legend, np.column_stack([lon, lat, values])


# --- rendering -----------------------------------------------------------------------------------


def _set(layer: MapLayer, **fields) -> None:
    for name, value in fields.items():
        setattr(layer, name, value)
    MapLayer.objects.filter(pk=layer.pk).update(**fields)


def _still_current(layer: MapLayer, scope: Scope) -> bool:
    """The audience and versions the layer was keyed by are still those of its viewer now."""
    return (
        scope.audience == layer.audience
        and scope.version == layer.policy_version
        and data_version(layer.medium) == layer.data_version
    )


def layer_features(layer: MapLayer, rows: LayerRows) -> tuple[Legend, np.ndarray]:
    """The legend and the (lon, lat, value) rows the renderer draws: samples for points (exact rows
    only), cells for cells and surfaces (pre-release cells as their class, ``layer_legend``)."""
    if layer.style != "points":
        return layer_legend(layer, rows)
    legend = build_legend(
        rows.value, rows.censored, rows.detection_limit,
        scheme=layer.scheme, ramp=layer.ramp, symbol=layer.element.symbol,
    )  # fmt: skip
    stats = stat_values(rows.value, rows.censored, rows.detection_limit)
    keep = np.isfinite(stats)
    return legend, np.column_stack([rows.lon[keep], rows.lat[keep], stats[keep]])


def _write_layer_files(layer: MapLayer, legend: Legend, features: np.ndarray, progress):
    """Raster, COG, legend files and seeded tiles, rendered into a fresh directory that is then
    renamed to the layer's (its files appear complete or not at all). Returns (result, seeded)."""
    from . import render as renderer
    from . import tiling
    from .legend_image import legend_png

    work = Path(settings.TILE_ROOT) / "tmp" / f"{layer.key}-{uuid.uuid4().hex[:8]}"
    work.parent.mkdir(parents=True, exist_ok=True)
    lon, lat, values = np.asarray(features, "f8").reshape(-1, 3).T
    try:
        result = renderer.render_layer(
            renderer.RenderInput(
                style=layer.style, scale_m=layer.scale_m, lon=lon, lat=lat, values=values,
                breaks=np.asarray(legend.breaks, "f8"),
                colours=[c.colour for c in legend.classes],
            ),
            work,
            lambda f, m: progress(0.25 + 0.5 * f, m),
        )  # fmt: skip
        (work / "legend.json").write_text(json.dumps(legend.to_json()))
        (work / "legend.png").write_bytes(legend_png(legend, title=layer.element.symbol))

        def write(z: int, tx: int, ty: int, png: bytes) -> None:
            path = work / "tiles" / str(z) / str(tx) / f"{ty}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png)

        seeded = tiling.seed(
            work,
            min(settings.TILE_SEED_MAX_ZOOM, result.maxzoom),
            write,
            lambda f, m: progress(0.75 + 0.24 * f, m),
        )
        final = layer.directory
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():  # a previous attempt that died after its rename
            shutil.rmtree(final, ignore_errors=True)
        os.rename(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return result, seeded


def render(layer: MapLayer, on_progress: Callable[[float], None] | None = None) -> MapLayer:
    """Render ``layer`` (in a worker): rows through the gate, legend, raster, COG, seeded tiles.

    Refuses (retires the layer) when the audience or the versions it was keyed by are no longer
    current: the layer's rows would not be the ones its key promises.
    """
    started = time.monotonic()
    scope = viewer_scope(layer.viewer if layer.viewer_id else None)
    if not _still_current(layer, scope):
        retire(MapLayer.objects.filter(pk=layer.pk), reason="superseded before rendering")
        layer.refresh_from_db()
        return layer

    def progress(fraction: float, message: str) -> None:
        percent = round(100 * max(0.0, min(1.0, fraction)), 1)
        _set(layer, progress=percent, message=message[:200])
        if on_progress:
            on_progress(percent)

    _set(layer, state=MapLayer.State.RENDERING, progress=0, message="reading visible rows")
    rows = layer_rows(LayerSpec.of(layer), scope)
    progress(0.15, f"{len(rows)} rows")
    legend, features = layer_features(layer, rows)
    done = dict(
        progress=100,
        legend=legend.to_json(),
        countries=sorted({int(c) for c in np.unique(rows.released.country)}),
        n_values=legend.n,
    )
    if legend.n == 0 and not legend.prerelease_cells:
        _set(layer, state=MapLayer.State.EMPTY, message="no visible data", **done,
             rendered_at=timezone.now(), render_seconds=time.monotonic() - started)  # fmt: skip
        metrics.LAYER_RENDERS.labels("empty").inc()
        return layer
    progress(0.25, f"{len(features)} {'points' if layer.style == 'points' else 'cells'}")
    result, seeded = _write_layer_files(layer, legend, features, progress)
    done |= dict(
        state=MapLayer.State.READY,
        message="",
        bounds=[float(b) for b in result.bounds],
        native_zoom=result.native_zoom,
        maxzoom=result.maxzoom,
        n_features=result.n_features,
        tiles_seeded=seeded,
        rendered_at=timezone.now(),
        render_seconds=time.monotonic() - started,
    )
    # Only a layer still rendering becomes ready: one retired meanwhile (a policy change during
    # the render) must not come back, and its files go straight to the trash.
    if not MapLayer.objects.filter(pk=layer.pk, state=MapLayer.State.RENDERING).update(**done):
        layer.state = MapLayer.State.RETIRED
        retire_directory(layer.directory, layer.key)
        metrics.LAYER_RENDERS.labels("superseded").inc()
        return layer
    metrics.LAYER_RENDERS.labels("ready").inc()
    for name, value in done.items():
        setattr(layer, name, value)
    return layer


def claim_render(layer_id: int, *, redelivered: bool = False) -> bool:
    """Take a queued (or failed) layer for rendering: one renderer a layer, whether the render
    task or a download that needs the layer (``downloads.geotiff``); the other finds it
    rendering and waits for it, or leaves it.

    A ``redelivered`` render task (its worker died before acknowledging it: the broker hands an
    unacknowledged message out again after its visibility timeout, longer than the task's hard
    time limit) takes a layer left "rendering" too: that render is dead."""
    states = [MapLayer.State.QUEUED, MapLayer.State.FAILED]
    if redelivered:
        states.append(MapLayer.State.RENDERING)
    return bool(
        MapLayer.objects.filter(pk=layer_id, state__in=states).update(
            state=MapLayer.State.RENDERING,
            progress=0,
            message="starting",
            render_started=timezone.now(),
        )
    )


def requeue_dead_renders(layers=None) -> int:
    """Queue again the layers (of ``layers``, default all) still "rendering" past the render's
    hard time limit: their worker died without a word (a host lost; a pool process killed is
    reported at once, ``render_lost``). Called by ``find_layer`` and the cleanup job."""
    layers = MapLayer.objects.all() if layers is None else layers
    dead = list(
        layers.filter(
            state=MapLayer.State.RENDERING,
            render_started__lt=timezone.now() - RENDER_TIME_LIMIT,
        )
    )
    for layer in dead:
        if MapLayer.objects.filter(pk=layer.pk, state=MapLayer.State.RENDERING).update(
            state=MapLayer.State.QUEUED,
            progress=0,
            message="the worker rendering it stopped; queued again",
        ):
            metrics.LAYER_RENDERS.labels("lost").inc()
            queue_render(layer)
    return len(dead)


# What a layer says when the file system under TILE_ROOT is full (its scratch files are gone:
# ``_write_layer_files``); /health/ reports the disk too (``disk_tiles``).
DISK_FULL = "failed: no space left on the map server's disk"


def render_failed(layer_id: int, exc: BaseException) -> None:
    metrics.LAYER_RENDERS.labels("failed").inc()
    full = isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
    if not full:  # GDAL reports a full disk in words of its own; /health/'s threshold decides
        with contextlib.suppress(OSError):
            free = shutil.disk_usage(settings.TILE_ROOT).free
            full = free < settings.HEALTH_DISK_MIN_FREE_MB * 1024 * 1024
    MapLayer.objects.filter(pk=layer_id).exclude(state=MapLayer.State.RETIRED).update(
        state=MapLayer.State.FAILED,
        error=f"{type(exc).__name__}: {exc}"[:2000],
        message=DISK_FULL if full else "failed",
    )


# A pool process killed mid-render (the kernel's OOM killer, a SIGKILL) runs no except block; the
# worker's main process reports it as this error (``maps.tasks``).
WORKER_LOST = "WorkerLostError"


def render_lost(layer_id: int, exc: BaseException) -> None:
    """The process rendering the layer died: remove its scratch directory (TILE_ROOT/tmp: never
    served) and queue the layer once more. Lost a second time, it is failed instead, so a layer
    that kills its worker every time does not loop (its error says why)."""
    layer = MapLayer.objects.filter(pk=layer_id, state=MapLayer.State.RENDERING).first()
    if layer is None:
        return
    for leftover in (Path(settings.TILE_ROOT) / "tmp").glob(f"{layer.key}-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    if layer.error.startswith(WORKER_LOST):
        render_failed(layer_id, exc)
        return
    metrics.LAYER_RENDERS.labels("lost").inc()
    MapLayer.objects.filter(pk=layer_id, state=MapLayer.State.RENDERING).update(
        state=MapLayer.State.QUEUED,
        progress=0,
        message="the worker rendering it stopped; queued again",
        error=f"{WORKER_LOST}: {exc}"[:2000],
    )
    queue_render(layer)


# --- retiring and refreshing ---------------------------------------------------------------------


def retire(layers, *, reason: str) -> int:
    """Retire layers: their directories move to TILE_ROOT/trash at once (a rename), so no front
    server serves their tiles any more; the cleanup job deletes them later."""
    count = 0
    for layer in layers.live():
        retire_directory(layer.directory, layer.key)
        MapLayer.objects.filter(pk=layer.pk).update(
            state=MapLayer.State.RETIRED, message=reason[:200]
        )
        count += 1
    return count


def retire_directory(directory: Path, key: str) -> None:
    trash = Path(settings.TILE_ROOT) / "trash"
    if directory.exists():
        trash.mkdir(parents=True, exist_ok=True)
        # FileNotFoundError: retired by another process meanwhile.
        with contextlib.suppress(FileNotFoundError):
            os.rename(directory, trash / f"{key}-{uuid.uuid4().hex[:6]}")


def current_data_versions() -> dict[int, str]:
    return {medium.pk: data_version(medium) for medium in Medium.objects.all()}


def stale_layers(now: dt.datetime | None = None) -> list[MapLayer]:
    """Live layers whose policy or data version is no longer current."""
    version = viewer_scope(None, now).version
    data = current_data_versions()
    return [
        layer
        for layer in MapLayer.objects.live().select_related("element", "medium", "viewer")
        if layer.policy_version != version or data.get(layer.medium_id) != layer.data_version
    ]


def retire_stale() -> int:
    stale = stale_layers()
    return retire(
        MapLayer.objects.filter(pk__in=[layer.pk for layer in stale]), reason="superseded"
    )


def refresh_layers(*, recent: dt.timedelta = dt.timedelta(days=7), limit: int = 200) -> dict:
    """Retire layers whose policy or data version is no longer current and queue the new
    versions of those viewers used recently (a policy change, an embargo end, an ingest)."""
    now = timezone.now()
    # Layers retired a moment ago (by the signal receiver, before this task ran) count too.
    stale = stale_layers(now) + list(
        MapLayer.objects.filter(
            state=MapLayer.State.RETIRED, message="superseded", created__gte=now - recent
        ).select_related("element", "medium", "viewer")
    )
    queued = 0
    seen: set[tuple] = set()
    for layer in stale:
        used_recently = layer.last_requested and now - layer.last_requested < recent
        retire(MapLayer.objects.filter(pk=layer.pk), reason="superseded")
        MapLayer.objects.filter(pk=layer.pk).update(message="superseded; refreshed")
        identity = (
            layer.element_id,
            layer.medium_id,
            layer.scale_m,
            layer.style,
            layer.scheme,
            layer.ramp,
            layer.viewer_id,
            layer.is_public,
        )
        if not used_recently or queued >= limit or identity in seen:
            continue
        seen.add(identity)
        viewer = layer.viewer if layer.viewer_id else None
        if not layer.is_public and viewer is None:
            continue  # its viewer is gone; nobody to render it for
        spec = LayerSpec.of(layer)
        scope = viewer_scope(viewer, now)
        if spec.style == "points" and not scope.sees_exact_locations:
            continue
        new = find_layer(spec, scope, viewer)
        queued += new.state == MapLayer.State.QUEUED
    from .featured import seed_featured

    # The layer /map/ opens on, rendered before anyone opens it.
    featured = seed_featured() if settings.MAP_SEED_FEATURED else None
    return {"retired": len(stale), "queued": queued, "featured": featured and featured.key}


def delete_retired(*, keep: dt.timedelta = dt.timedelta(hours=1), unused_days: int = 30) -> dict:
    """The cleanup job: delete trash directories and old retired rows, retire layers nobody
    asked for in ``unused_days``, and remove render leftovers."""
    root = Path(settings.TILE_ROOT)
    now = timezone.now()
    requeued = requeue_dead_renders()
    unused = MapLayer.objects.live().filter(last_requested__lt=now - dt.timedelta(days=unused_days))
    retired_unused = retire(unused, reason="unused")
    removed = 0
    for parent, age in ((root / "trash", dt.timedelta(0)), (root / "tmp", dt.timedelta(hours=2))):
        if not parent.exists():
            continue
        for entry in parent.iterdir():
            if time.time() - entry.stat().st_mtime >= age.total_seconds():
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
    deleted, _ = MapLayer.objects.filter(
        state=MapLayer.State.RETIRED, created__lt=now - keep
    ).delete()
    return {
        "retired_unused": retired_unused,
        "directories_removed": removed,
        "rows": deleted,
        "requeued_dead_renders": requeued,
    }
