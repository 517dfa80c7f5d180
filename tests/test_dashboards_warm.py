"""Dashboards computed before their viewers (``dashboards.warm``): after a warm-up every default
page of every audience — the public and a partner, the world and each of their countries — is
read from the cache, and a change queues one warm-up, not one per write."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.urls import reverse

from dashboards import selectors, signals, tasks, warm
from tests.test_dashboards_http import PAGES, world  # noqa: F401  (the fixture)


@pytest.fixture
def computed(monkeypatch):
    """The labels of figures computed (not read from the cache) from here on."""
    done: list[str] = []
    real = selectors.cached

    def recording(key, compute, *, timeout):
        def compute_and_note():
            done.append(key.split(":")[1])
            return compute()

        return real(key, compute_and_note, timeout=timeout)

    monkeypatch.setattr(selectors, "cached", recording)
    return done


@pytest.mark.django_db
def test_after_a_warm_up_every_default_page_is_read_from_the_cache(
    client,
    world,  # noqa: F811
    computed,
):
    cache.clear()
    labels = [label for label, _ in warm.plan()]
    # Two audiences (the public; the partner, who also sees Norway), each the world and its
    # countries (2 + 3 regions), each 7 figures: coverage, volume, exceedance, its map, baselines
    # and exceedance in their medium (the compare page's), and change.
    assert len({label.split()[0] for label in labels}) == 2
    assert {label.split()[1] for label in labels} == {"world", "country:USA", "country:NOR"}
    result = warm.warm()
    assert result["failed"] == 0 and result["figures"] == len(labels) == 7 * (2 + 3)
    computed.clear()
    for viewer in (None, world):
        if viewer is not None:
            client.force_login(viewer)
        for name in PAGES:
            for region in ("world", "country:USA"):
                page = client.get(reverse(f"portal:dashboard-{name}"), {"region": region})
                assert page.status_code == 200, (name, page.content[:300])
        cells = client.get(reverse("api:dashboard-exceedance-cells"))
        assert cells.status_code == 200
    assert computed == [], computed


@pytest.mark.django_db
def test_the_command_shows_its_progress_and_counts(world, capsys):  # noqa: F811
    cache.clear()
    call_command("warm_dashboards", "--no-progress")
    assert "35 figures computed, 0 failed" in capsys.readouterr().out


@pytest.mark.django_db
def test_a_change_queues_one_warm_up(world, settings, monkeypatch):  # noqa: F811
    settings.DASHBOARD_WARM_AFTER_CHANGES = True
    cache.delete(tasks.QUEUED_KEY)
    queued = []
    monkeypatch.setattr(tasks.warm_dashboards, "delay", lambda reason: queued.append(reason))
    signals.queue_warm("ingest into 1")
    signals.queue_warm("visibility: policy")
    assert queued == ["ingest into 1"]
    # The task clears the mark as it starts: a change after that queues again.
    monkeypatch.setattr(warm, "warm", lambda *a, **k: {"figures": 0})
    tasks.warm_dashboards.run("ingest into 1")
    signals.queue_warm("visibility: policy")
    assert queued == ["ingest into 1", "visibility: policy"]


@pytest.mark.django_db
def test_off_by_setting(settings, monkeypatch):
    settings.DASHBOARD_WARM_AFTER_CHANGES = False
    cache.delete(tasks.QUEUED_KEY)
    queued = []
    monkeypatch.setattr(tasks.warm_dashboards, "delay", lambda reason: queued.append(reason))
    signals.queue_warm("ingest into 1")
    assert queued == []
