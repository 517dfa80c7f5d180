"""Receivers that bump the policy version on every write the access rules depend on.

Signals rather than services, because visibility must follow every write path — the admin, the
steward's page, services, a shell — and forgetting one would serve stale (possibly embargoed) data
from a cache. ``visibility_changed`` tells other apps (map layers) to rebuild.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.dispatch import Signal, receiver

from baselines.models import Survey

from .models import (
    Agreement,
    Membership,
    Organisation,
    ReleasePolicy,
    Stewardship,
    SurveyEmbargo,
)
from .versioning import bump_policy_version

# Sent (after commit) with ``reason`` whenever visibility may have changed.
visibility_changed = Signal()

WATCHED = (ReleasePolicy, SurveyEmbargo, Agreement, Membership, Stewardship, Organisation)
WATCHED_M2M = (
    ReleasePolicy.confidential_elements.through,
    Agreement.countries.through,
    Agreement.surveys.through,
    Agreement.elements.through,
    Survey.countries.through,
)


def _changed(reason: str) -> None:
    bump_policy_version()
    transaction.on_commit(lambda: visibility_changed.send(sender=None, reason=reason))


@receiver(post_save)
@receiver(post_delete)
def _policy_tables_changed(sender, **kwargs) -> None:
    if sender in WATCHED:
        _changed(sender.__name__)


@receiver(m2m_changed)
def _policy_relations_changed(sender, action: str, **kwargs) -> None:
    if sender in WATCHED_M2M and action in {"post_add", "post_remove", "post_clear"}:
        _changed(sender.__name__)


User = get_user_model()


@receiver(pre_save, sender=User)
def _staff_status_changed(sender, instance, **kwargs) -> None:
    """Staff see everything: a change of staff or active status changes visibility."""
    if instance.pk is None:
        return
    old = sender.objects.filter(pk=instance.pk).values("is_staff", "is_active").first()
    if old and (old["is_staff"], old["is_active"]) != (instance.is_staff, instance.is_active):
        _changed("staff status")
