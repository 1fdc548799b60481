"""The bulk writes behind the repositories (#14): PostgreSQL streams rows with COPY and marks
them through array parameters, SQLite uses multi-row statements; both give the same rows, the
same counts and the same idempotency (a key written twice is one row)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.core import Button
from bot.domain import DeliveryStatus, NewDelivery, ParticipationKind
from storage.models import DeliveryRow
from storage.repositories.people import AgentRecord
from storage.uow import Store

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _people(store: Store, n: int) -> list[int]:
    records = [
        AgentRecord(f"@b{i}:x", f"Agent {i}", "SG", f"b{i}@ex.fr", None, None) for i in range(n)
    ]
    with store.transaction() as uow:
        assert uow.people.upsert_many(records, NOW) == (n, 0)
        return [p.id for p in uow.people.in_service("SG")]


def _delivery(key: str, person_id: int | None = None, **extra: object) -> NewDelivery:
    return NewDelivery(
        key=key,
        kind="invitation",
        recipient=f"@{key}:x",
        body=f"corps {key}",
        person_id=person_id,
        **extra,
    )  # type: ignore[arg-type]


def test_enqueue_many_keeps_order_values_and_ignores_known_keys(store: Store) -> None:
    ids = _people(store, 3)
    later = NOW + timedelta(hours=2)
    first = [
        _delivery("k2", ids[0], buttons=(Button("Fait", "c'est fait"),), batch="b1"),
        _delivery("k1", ids[1], not_before=later, mentions=("@m:x", "@n:x")),
        _delivery("k2", ids[0]),  # the same key twice in one call: one row
    ]
    with store.transaction() as uow:
        assert uow.outbox.enqueue_many(first, NOW) == 2
        assert uow.outbox.enqueue_many([_delivery("k1"), _delivery("k3", ids[2])], NOW) == 1
        assert uow.outbox.enqueue_many([], NOW) == 0
    with store.transaction() as uow:
        rows = uow.session.scalars(select(DeliveryRow).order_by(DeliveryRow.id)).all()
        assert [r.key for r in rows] == ["k2", "k1", "k3"]  # ids follow the order given
        k2 = uow.outbox.get("k2")
        k1 = uow.outbox.get("k1")
        assert k2 is not None and k1 is not None
        assert k2.buttons == (Button("Fait", "c'est fait"),) and k2.batch == "b1"
        assert k2.status == DeliveryStatus.PENDING and k2.body == "corps k2"
        assert k1.next_attempt_at == later and k1.mentions == ("@m:x", "@n:x")
        assert k1.person_id == ids[1] and not k1.to_conversation


def test_audience_events_and_upserts_count_what_they_wrote(store: Store) -> None:
    ids = _people(store, 5)
    with store.transaction() as uow:
        campaign = uow.campaigns.create(
            code="BULK1",
            title="T",
            url="https://app.pix.fr/campagnes/BULK1",
            service="SG",
            deadline=NOW.date() + timedelta(days=9),
            audience_kind="service",
            audience_value="SG",
            now=NOW,
            created_by=None,
        )
        assert uow.campaigns.add_audience(campaign.id, ids[:3] + ids[:1], NOW) == 3
        assert uow.campaigns.add_audience(campaign.id, ids, NOW) == 2
        uow.participation.record_many(
            [(pid, ParticipationKind.INVITED, campaign.id) for pid in ids], NOW, source="system"
        )
        assert uow.participation.people_with(campaign.id, ParticipationKind.INVITED) == set(ids)
        changed = [AgentRecord("@b0:x", "Zoé", "AUTRE", "zoe@ex.fr", "Europe/Paris", "en")]
        assert uow.people.upsert_many(changed, NOW) == (0, 1)
    with store.transaction() as uow:
        zoe = uow.people.by_email(" ZOE@ex.fr")
        assert zoe is not None and (zoe.service, zoe.locale) == ("AUTRE", "en")
        assert uow.people.existing_platform_ids(["@b0:x", "@nobody:x"]) == {"@b0:x"}


def test_marks_and_conversations_are_written_per_row(store: Store) -> None:
    ids = _people(store, 4)
    with store.transaction() as uow:
        uow.outbox.enqueue_many([_delivery(f"m{i}", pid) for i, pid in enumerate(ids)], NOW)
        due = uow.outbox.claim(NOW, limit=10)
        assert {d.key for d in due} == {"m0", "m1", "m2", "m3"}
        by_key = {d.key: d.id for d in due}
        uow.outbox.mark_sent_many([(by_key["m0"], "$r0"), (by_key["m2"], "$r2")], NOW)
        uow.people.set_direct_conversations({ids[0]: "!dm0:x", ids[2]: "!dm2:x"})
    with store.transaction() as uow:
        sent = uow.outbox.get("m2")
        assert sent is not None
        assert (sent.status, sent.remote_id, sent.body, sent.attempts) == (
            DeliveryStatus.SENT,
            "$r2",
            None,
            1,
        )
        pending = uow.outbox.get("m1")
        assert pending is not None and pending.status == DeliveryStatus.PENDING
        assert pending.body == "corps m1" and pending.remote_id is None
        assert uow.people.direct_conversations(ids) == {ids[0]: "!dm0:x", ids[2]: "!dm2:x"}
        assert [d.key for d in uow.outbox.due(NOW)] == ["m1", "m3"]


def test_long_id_lists_are_looked_up_whole(store: Store) -> None:
    ids = _people(store, 12)
    wanted = [f"@b{i}:x" for i in range(12)] + [f"@ghost{i}:x" for i in range(6000)]
    with store.transaction() as uow:
        assert set(uow.people.by_platform_ids(wanted)) == set(wanted[:12])
        emails = uow.people.by_emails([f"B{i}@EX.fr " for i in range(12)] + wanted)
        assert sorted(p.id for found in emails.values() for p in found) == sorted(ids)
        assert uow.privacy.erased_among(wanted) == set()
