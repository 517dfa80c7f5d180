"""``manage.py render_layers``: render map layers now, in this process, with a progress bar.

For operators: pre-render the layers most viewers open first (``make demo`` renders the public
80 km cell maps of a few elements), or re-render after a bulk change without waiting for the
queue. Layers are the public audience's unless ``--as USERNAME`` names a viewer whose rights to
render with. A layer already rendered at the current versions is left as it is.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from baselines import grid
from baselines.models import Element, Medium
from maps import layers
from maps.classification import SCHEMES
from maps.featured import featured_spec
from maps.models import MapLayer
from maps.ramps import RAMPS
from maps.styles import STYLES
from sharing.access import viewer_scope


class Command(BaseCommand):
    help = "Render map layers now (public audience unless --as), with progress."

    def add_arguments(self, parser):
        parser.add_argument("--element", action="append", help="symbol; repeatable (default: all "
                            "elements with data in the medium)")  # fmt: skip
        parser.add_argument("--medium", action="append", help="code; repeatable (default: all)")
        parser.add_argument("--scale", action="append", default=None, help="km; default 80")
        parser.add_argument("--style", action="append", choices=STYLES, default=None)
        parser.add_argument("--scheme", default="percentiles", choices=SCHEMES)
        parser.add_argument("--ramp", default="geochem", choices=RAMPS)
        parser.add_argument("--as", dest="username", help="render for this user's audience")
        parser.add_argument("--featured", action="store_true",
                            help="also the featured map's layer (what /map/ opens on)")  # fmt: skip
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        user = None
        if options["username"]:
            user = get_user_model().objects.filter(username=options["username"]).first()
            if user is None:
                raise CommandError(f"no user {options['username']!r}")
        media = list(Medium.objects.filter(code__in=options["medium"])) if options["medium"] else (
            list(Medium.objects.all())
        )  # fmt: skip
        specs = []
        for medium in media:
            elements = Element.objects.filter(
                analytes__survey__medium=medium
            ).distinct() if not options["element"] else Element.objects.filter(
                symbol__in=options["element"]
            )  # fmt: skip
            for element in elements.order_by("atomic_number"):
                for km in options["scale"] or ["80"]:
                    try:
                        scale_m = grid.scale_from_km(km)
                    except ValueError as exc:
                        raise CommandError(str(exc)) from None
                    for style in options["style"] or ["cells"]:
                        specs.append(
                            layers.LayerSpec(element, medium, scale_m, style,
                                             options["scheme"], options["ramp"])
                        )  # fmt: skip
        if options["featured"]:
            featured = featured_spec(viewer_scope(user))
            if featured is not None:
                specs.append(featured)
        counts: dict[str, int] = {}
        bar = tqdm(total=len(specs), unit="layer", disable=options["no_progress"])
        for index, spec in enumerate(specs):
            label = (
                f"{spec.element.symbol} {spec.medium.code} {spec.scale_m / 1000:g} km {spec.style}"
            )
            bar.set_description(label)
            scope = viewer_scope(user)
            try:
                layer = layers.find_layer(spec, scope, user, queue=False)
            except layers.LayerRequestError as exc:
                self.stderr.write(f"{label}: {exc.reason}")
                counts["refused"] = counts.get("refused", 0) + 1
                continue
            # Claimed as the task claims it (one renderer a layer, its start recorded); a render
            # that fails is failed with its reason, not left "rendering".
            if layer.state in (
                MapLayer.State.QUEUED, MapLayer.State.FAILED
            ) and layers.claim_render(layer.pk):  # fmt: skip

                def progress(percent: float, _base=index) -> None:
                    bar.n = round(_base + percent / 100, 2)
                    bar.refresh()

                try:
                    layer = layers.render(layer, on_progress=progress)
                except Exception as exc:  # noqa: BLE001 — reported, and the next layer is tried
                    layers.render_failed(layer.pk, exc)
                    layer.refresh_from_db()
                    self.stderr.write(f"{label}: {layer.message} ({layer.error})")
            bar.n = index + 1
            bar.refresh()
            counts[layer.state] = counts.get(layer.state, 0) + 1
        bar.close()
        summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "nothing"
        self.stdout.write(f"{len(specs)} layers: {summary}")
