"""The storage contract, run on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import inspect, text

from bot.domain import (
    CampaignStatus,
    DeliveryStatus,
    NewDelivery,
    ParticipationKind,
    ParticipationStatus,
)
from storage.db import Database, current_revision, head_revision, upgrade
from storage.errors import DuplicateError
from storage.uow import Store

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_people_upsert_and_roles(store: Store) -> None:
    with store.transaction() as uow:
        alice, created = uow.people.upsert(
            "@alice:x",
            display_name="Alice",
            service="DREAL-BZH",
            email="a@x.fr",
            timezone="Indian/Reunion",
            locale="fr",
            now=NOW,
        )
        assert created
        again, created = uow.people.upsert(
            "@alice:x",
            display_name="Alice M.",
            service="DREAL-BZH",
            email=None,
            timezone=None,
            locale=None,
            now=NOW,
        )
        assert not created and again.id == alice.id and again.display_name == "Alice M."
        assert uow.roles.add(alice.id, "ambassador", "DREAL-BZH")
        assert not uow.roles.add(alice.id, "ambassador", "DREAL-BZH")
        assert uow.roles.add(alice.id, "admin")
    with store.transaction() as uow:
        roles = uow.roles.roles_of(alice.id)
        assert roles.is_admin and roles.services == {"DREAL-BZH"}
        assert [p.platform_id for p in uow.people.in_service("DREAL-BZH")] == ["@alice:x"]
        assert [p.platform_id for p in uow.roles.ambassadors_of("DREAL-BZH")] == ["@alice:x"]
        assert uow.services.canonical("dreal-bzh") == "DREAL-BZH"


def test_datetimes_come_back_aware_utc(store: Store) -> None:
    paris = datetime(2026, 11, 23, 10, 0).astimezone()
    with store.transaction() as uow:
        uow.people.ensure("@bob:x", None, paris)
    with store.transaction() as uow:
        bob = uow.people.by_platform_id("@bob:x")
        assert bob is not None
        assert bob.created_at.tzinfo is not None
        assert bob.created_at == paris


def test_rollback_on_exception(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as uow:
        uow.people.ensure("@ghost:x", None, NOW)
        raise RuntimeError("boom")
    with store.transaction() as uow:
        assert uow.people.by_platform_id("@ghost:x") is None


def _campaign(store: Store, code: str = "ABCDEF234") -> int:
    with store.transaction() as uow:
        campaign = uow.campaigns.create(
            code=code,
            title="Cyber",
            url=f"https://app.pix.fr/campagnes/{code}",
            service="DREAL-BZH",
            deadline=date(2026, 12, 15),
            audience_kind="service",
            audience_value="DREAL-BZH",
            now=NOW,
            created_by=None,
        )
        return campaign.id


def test_campaign_unique_code(store: Store) -> None:
    _campaign(store)
    with pytest.raises(DuplicateError):
        _campaign(store)
    with store.transaction() as uow:
        found = uow.campaigns.by_code("ABCDEF234")
        assert found is not None and found.status == CampaignStatus.DRAFT
        assert found.deadline == date(2026, 12, 15)


def test_participation_is_folded_from_events(store: Store) -> None:
    campaign_id = _campaign(store)
    with store.transaction() as uow:
        people = [uow.people.ensure(f"@p{i}:x", None, NOW) for i in range(3)]
        assert uow.campaigns.add_audience(campaign_id, [p.id for p in people], NOW) == 3
        assert uow.campaigns.add_audience(campaign_id, [p.id for p in people], NOW) == 0
        for p in people:
            uow.participation.record(p.id, ParticipationKind.INVITED, NOW, campaign_id)
        uow.participation.record(people[0].id, ParticipationKind.STARTED, NOW, campaign_id)
        uow.participation.record(
            people[0].id, ParticipationKind.COMPLETED, NOW + timedelta(1), campaign_id
        )
        uow.participation.record(people[1].id, ParticipationKind.OPTED_OUT, NOW, campaign_id)
        uow.participation.record(people[2].id, ParticipationKind.OPTED_OUT_ALL, NOW)
    with store.transaction() as uow:
        states = uow.participation.states(campaign_id)
        assert states[people[0].id].status == ParticipationStatus.COMPLETED
        assert states[people[1].id].status == ParticipationStatus.OPTED_OUT
        assert states[people[2].id].status == ParticipationStatus.INVITED
        assert uow.participation.opted_out_all() == {people[2].id}
        uow.participation.record(people[2].id, ParticipationKind.RESUMED, NOW + timedelta(1))
    with store.transaction() as uow:
        assert uow.participation.opted_out_all() == set()
        history = uow.participation.history(people[0].id)
        assert [e.kind for e in history] == ["invited", "started", "completed"]


def test_outbox_insert_or_ignore_and_lifecycle(store: Store) -> None:
    item = NewDelivery(key="inv:1:1", kind="invitation", recipient="@a:x", body="Bonjour")
    with store.transaction() as uow:
        assert uow.outbox.enqueue(item, NOW)
        assert not uow.outbox.enqueue(item, NOW)
    with store.transaction() as uow:
        due = uow.outbox.due(NOW)
        assert [d.key for d in due] == ["inv:1:1"]
        uow.outbox.mark_retry(due[0].id, "429", NOW + timedelta(seconds=30))
    with store.transaction() as uow:
        assert uow.outbox.due(NOW) == []
        assert uow.outbox.next_due_at() == NOW + timedelta(seconds=30)
        later = uow.outbox.due(NOW + timedelta(seconds=30))
        uow.outbox.mark_sent(later[0].id, "$remote", NOW)
    with store.transaction() as uow:
        sent = uow.outbox.get("inv:1:1")
        assert sent is not None
        assert sent.status == DeliveryStatus.SENT and sent.remote_id == "$remote"
        assert sent.body is None  # not an archive
        assert sent.attempts == 2
        assert not uow.outbox.enqueue(item, NOW)  # still unique after sending


def test_processed_events_are_deduplicated(store: Store) -> None:
    with store.transaction() as uow:
        assert uow.events.mark_processed("matrix", "$e1", NOW)
    with store.transaction() as uow:
        assert not uow.events.mark_processed("matrix", "$e1", NOW)
        assert uow.events.mark_processed("slack", "$e1", NOW)


def test_forget_erases_everything_about_a_person(store: Store) -> None:
    campaign_id = _campaign(store)
    with store.transaction() as uow:
        person = uow.people.ensure("@gone:x", "Gone", NOW)
        uow.roles.add(person.id, "ambassador", "DREAL-BZH")
        uow.campaigns.add_audience(campaign_id, [person.id], NOW)
        uow.participation.record(person.id, ParticipationKind.INVITED, NOW, campaign_id)
        uow.outbox.enqueue(
            NewDelivery(key="k", kind="x", recipient="@gone:x", body="b", person_id=person.id),
            NOW,
        )
        qid = uow.questions.add_unanswered("Une question ?", "DREAL-BZH", NOW)
        uow.questions.hand_off(qid, person.id, NOW)
    with store.transaction() as uow:
        uow.people.delete(person.id)
    with store.transaction() as uow:
        assert uow.people.by_platform_id("@gone:x") is None
        assert uow.campaigns.audience(campaign_id) == []
        assert uow.outbox.get("k") is None
        question = uow.questions.get(qid)
        assert question is not None and question.asker_id is None


def test_migrations_from_empty_and_previous_revision(db_url: str) -> None:
    database = Database(db_url)
    try:
        upgrade(database.engine, "0001")
        assert current_revision(database.engine) == "0001"
        tables = set(inspect(database.engine).get_table_names())
        assert "campaigns" in tables and "reminder_steps" not in tables
        # A database at the previous revision keeps its data through the upgrade.
        store = Store(database)
        # Written with SQL of that revision: today's models may have columns it lacks.
        with database.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO people (platform_id, display_name, email, created_at)"
                    " VALUES ('@kept:x', 'Kept', ' Kept@X.fr ', '2026-11-01 09:00:00')"
                )
            )
        database.upgrade()
        assert current_revision(database.engine) == head_revision(database.engine)
        assert "reminder_steps" in set(inspect(database.engine).get_table_names())
        with store.transaction() as uow:
            assert uow.people.by_platform_id("@kept:x") is not None
            # 0004 fills the normalised email the Orga import matches on.
            assert uow.people.by_email("kept@x.fr") is not None
        database.upgrade()  # idempotent
    finally:
        database.dispose()
