"""``visibility_changed``: sent after commit whenever a write may have changed what viewers see,
so other apps (map layers) rebuild. The policy version itself is bumped by database triggers
(``sharing/versioning.py``); these receivers only announce the change to Python code.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import Signal, receiver

from baselines.models import Survey

from .models import (
    Agreement,
    LicenceAcceptance,
    Membership,
    Organisation,
    ReleasePolicy,
    Stewardship,
    SurveyEmbargo,
)

# Sent (after commit) with ``reason`` whenever visibility may have changed.
visibility_changed = Signal()

WATCHED = (
    ReleasePolicy,
    SurveyEmbargo,
    Agreement,
    LicenceAcceptance,
    Membership,
    Stewardship,
    Organisation,
)
WATCHED_M2M = (
    ReleasePolicy.confidential_elements.through,
    Agreement.countries.through,
    Agreement.surveys.through,
    Agreement.elements.through,
    Survey.countries.through,
)


def _changed(reason: str) -> None:
    transaction.on_commit(lambda: visibility_changed.send(sender=None, reason=reason))


def _policy_tables_changed(sender, **kwargs) -> None:
    _changed(sender.__name__)


# Connected per model: a receiver for every sender would make Django's delete collector load
# each cascaded row (it fast-deletes only models without delete receivers), e.g. every
# measurement of a survey, one object at a time.
for _model in WATCHED:
    post_save.connect(_policy_tables_changed, sender=_model)
    post_delete.connect(_policy_tables_changed, sender=_model)


@receiver(m2m_changed)
def _policy_relations_changed(sender, action: str, **kwargs) -> None:
    if sender in WATCHED_M2M and action in {"post_add", "post_remove", "post_clear"}:
        _changed(sender.__name__)
