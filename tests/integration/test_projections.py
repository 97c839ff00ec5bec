"""One read of the event log feeds the search and audit projectors: each writes exactly the
events past its own position, once, whichever of them is behind."""

from __future__ import annotations

from unittest.mock import patch

from metaledger.api.bootstrap import Container
from metaledger.domain.actor import Actor
from metaledger.domain.application import batch_decoder
from metaledger.projections.audit.projector import AuditProjector
from metaledger.projections.audit.store import ChangeQuery
from metaledger.projections.batches import Projections
from metaledger.projections.search.projector import Projector
from tests.support.users import create_user, patch_user

ACTOR = Actor(kind="client", id="projections-test", grant="client-credentials")


def seed(container: Container, users: range) -> None:
    for number in users:
        user_id = create_user(container.profiles, ACTOR, user_id=f"auth0|p{number}")
        patch_user(container.profiles, ACTOR, user_id, app_metadata={"plan": "pro"})


def test_the_projector_behind_gets_every_event_and_the_one_ahead_none_again(
    container: Container,
) -> None:
    seed(container, range(20))
    Projector(container.profiles, container.search).catch_up()  # search ahead, audit at 0
    seed(container, range(20, 25))
    projections = Projections(
        [
            Projector(container.profiles, container.search),
            AuditProjector(container.profiles, container.audit),
        ]
    )

    projections.catch_up()

    end = container.profiles.recorder.max_notification_id()
    plans = container.audit.changes(ChangeQuery(key="app_metadata.plan", take=1000)).changes
    # A replayed event would be recorded as skipped by the search projector ("already
    # projected"); the audit projector has one plan change per patch, none twice.
    assert (container.search.position(), container.audit.position()) == (end, end)
    assert container.search.skipped_events() == []
    assert len(plans) == 25


def test_each_batch_is_read_and_decoded_once_for_both_read_models(container: Container) -> None:
    seed(container, range(10))
    projections = Projections(
        [
            Projector(container.profiles, container.search),
            AuditProjector(container.profiles, container.audit),
        ]
    )
    recorder = container.profiles.recorder
    with (
        patch.object(
            recorder, "select_notifications", wraps=recorder.select_notifications
        ) as reads,
        patch(f"{Projections.__module__}.batch_decoder", wraps=batch_decoder) as decodes,
    ):
        read = projections.project_batch()

    assert (read, reads.call_count, decodes.call_count) == (20, 1, 1)
    assert container.search.position() == container.audit.position() == 20
