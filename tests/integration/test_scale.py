"""The set-based paths of issue #14 behave like the row-by-row ones they replaced: one
invitation per person ever, opted-out people skipped, idempotent reminders, Orga matching on
the normalised email, bulk import counts, and an outbox that keeps each conversation's order."""

from __future__ import annotations

import asyncio
import io
import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bot.core import DeliveryError, FakeClock, Outgoing, SendResult
from bot.domain import DeliveryStatus, NewDelivery, ParticipationKind, ParticipationStatus
from bot.notifier import Notifier
from bot.orga import OrgaRow
from bot.outbox import Dispatcher
from bot.platforms.console import ConsolePlatform
from bot.render import Renderer
from bot.services.campaigns import CampaignService
from bot.services.orga_import import apply_orga_export
from storage.models import DeliveryRow, ParticipationEventRow
from storage.repositories.people import AgentRecord
from storage.uow import Store

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
N = 40


def _service() -> CampaignService:
    return CampaignService(Notifier(Renderer("fr", "Europe/Paris"), "fr"), 5)


def _agents(store: Store, n: int = N, service: str = "SG") -> list[int]:
    records = [
        AgentRecord(f"@a{i}:x", f"Agent {i}", service, f" Agent.{i}@Ex.FR ", None, None)
        for i in range(n)
    ]
    with store.transaction() as uow:
        assert uow.people.upsert_many(records, NOW) == (n, 0)
        return [p.id for p in uow.people.in_service(service)]


def _campaign(store: Store, code: str = "SCALE1", service: str = "SG") -> int:
    with store.transaction() as uow:
        return uow.campaigns.create(
            code=code,
            title="T",
            url=f"https://app.pix.fr/campagnes/{code}",
            service=service,
            deadline=NOW.date() + timedelta(days=20),
            audience_kind="service",
            audience_value=service,
            now=NOW,
            created_by=None,
        ).id


def _count(store: Store, *where: object) -> int:
    with store.transaction() as uow:
        query = select(func.count()).select_from(DeliveryRow).where(*where)  # type: ignore[arg-type]
        return int(uow.session.scalar(query) or 0)


def test_bulk_import_counts_and_updates(store: Store) -> None:
    _agents(store)
    changed = [AgentRecord("@a0:x", "Zoé", "OTHER", "zoe@ex.fr", "Europe/Paris", "en")]
    new = [AgentRecord("@new:x", None, "SG", None, None, None)]
    with store.transaction() as uow:
        assert uow.people.upsert_many(changed + new, NOW) == (1, 1)
    with store.transaction() as uow:
        zoe = uow.people.by_platform_id("@a0:x")
        assert zoe is not None
        assert (zoe.display_name, zoe.service, zoe.locale) == ("Zoé", "OTHER", "en")
        assert uow.people.by_email("  ZOE@ex.fr") == zoe
        assert len(uow.people.in_service("SG")) == N


def test_invite_is_once_per_person_and_skips_opted_out(store: Store) -> None:
    ids = _agents(store)
    campaign_id = _campaign(store)
    service = _service()
    with store.transaction() as uow:
        uow.participation.record(ids[0], ParticipationKind.OPTED_OUT_ALL, NOW)
        uow.participation.record(ids[1], ParticipationKind.OPTED_OUT_ALL, NOW)
        uow.participation.record(ids[1], ParticipationKind.RESUMED, NOW + timedelta(seconds=1))
    with store.transaction() as uow:
        campaign = uow.campaigns.get(campaign_id)
        assert campaign is not None
        first = service.invite(uow, campaign, service.audience(uow, campaign, NOW), NOW, None)
    assert (first.new, first.already, first.skipped_opted_out) == (N - 1, 0, 1)
    # Later arrivals are invited by a second launch; nobody gets a second invitation.
    late = [AgentRecord(f"@late{i}:x", None, "SG", None, None, None) for i in range(3)]
    with store.transaction() as uow:
        uow.people.upsert_many(late, NOW)
    with store.transaction() as uow:
        campaign = uow.campaigns.get(campaign_id)
        assert campaign is not None
        people = service.audience(uow, campaign, NOW)
        second = service.invite(uow, campaign, people + people[:2], NOW, None)
    assert (second.new, second.already, second.skipped_opted_out) == (3, N - 1, 1)
    assert _count(store, DeliveryRow.kind == "invitation") == N + 2
    with store.transaction() as uow:
        invited = uow.session.scalar(
            select(func.count()).where(ParticipationEventRow.kind == ParticipationKind.INVITED)
        )
        assert invited == N + 2
        assert uow.campaigns.audience_size(campaign_id) == N + 3
        body = uow.outbox.get(f"inv:{campaign_id}:{ids[5]}")
        assert body is not None and "Agent 5" in (body.body or "") and body.buttons


def test_reminders_are_idempotent_and_follow_participation(store: Store) -> None:
    ids = _agents(store)
    campaign_id = _campaign(store)
    service = _service()
    with store.transaction() as uow:
        campaign = uow.campaigns.get(campaign_id)
        assert campaign is not None
        service.invite(uow, campaign, service.audience(uow, campaign, NOW), NOW, None)
        uow.participation.record(ids[0], ParticipationKind.COMPLETED, NOW, campaign_id)
        uow.participation.record(ids[1], ParticipationKind.OPTED_OUT, NOW, campaign_id)
        uow.participation.record(ids[2], ParticipationKind.OPTED_OUT_ALL, NOW)
        uow.participation.record(ids[3], ParticipationKind.STARTED, NOW, campaign_id)
    with store.transaction() as uow:
        campaign = uow.campaigns.get(campaign_id)
        assert campaign is not None
        due = {s.person.id for s in service.due_for_reminder(uow, campaign)}
        assert due == set(ids[3:])
        assert service.remind(uow, campaign, "s1", NOW) == N - 3
        assert service.remind(uow, campaign, "s1", NOW) == 0
        assert service.remind(uow, campaign, "s2", NOW, only={ids[0], ids[4]}) == 1
        started = uow.outbox.get(f"rem:{campaign_id}:s1:{ids[3]}")
        assert started is not None
        assert (
            uow.participation.state(campaign_id, ids[3])
            == (uow.participation.states(campaign_id)[ids[3]])
        )
        assert uow.participation.state(campaign_id, ids[3]).status == "started"  # type: ignore[union-attr]


def test_orga_import_matches_normalised_emails_in_one_pass(store: Store) -> None:
    ids = _agents(store)
    campaign_id = _campaign(store)
    service = _service()
    with store.transaction() as uow:
        campaign = uow.campaigns.get(campaign_id)
        assert campaign is not None
        service.invite(uow, campaign, service.audience(uow, campaign, NOW), NOW, None)
    rows = [
        OrgaRow(2, "AGENT.0@ex.fr", started=True, shared=True),
        OrgaRow(3, "agent.0@EX.fr", started=True, shared=True),  # listed twice
        OrgaRow(4, " agent.1@ex.fr ", started=True, shared=False),
        OrgaRow(5, "@a2:x", started=False, shared=True),  # by platform id
        OrgaRow(6, "nobody@ex.fr", started=True, shared=True),
        OrgaRow(7, "", started=True, shared=True),
    ]
    with store.transaction() as uow:
        campaign = uow.campaigns.get(campaign_id)
        assert campaign is not None
        outcome = apply_orga_export(uow, campaign, rows, NOW)
    assert (outcome.completed, outcome.started, outcome.unchanged) == (2, 1, 0)
    assert outcome.duplicates == 1  # a person listed twice counts once
    assert [line for line, _, _ in outcome.unmatched] == [6, 7]
    with store.transaction() as uow:
        states = uow.participation.states(campaign_id)
        assert states[ids[0]].status == ParticipationStatus.COMPLETED
        assert states[ids[1]].status == ParticipationStatus.STARTED
        assert states[ids[2]].status == ParticipationStatus.COMPLETED
        completed_events = uow.session.scalar(
            select(func.count()).where(ParticipationEventRow.kind == ParticipationKind.COMPLETED)
        )
        assert completed_events == 2
    # The completed agents' pending invitations are cancelled, the others stay.
    assert _count(store, DeliveryRow.status == DeliveryStatus.CANCELLED) == 2


def test_due_rows_put_conversation_replies_first(store: Store) -> None:
    with store.transaction() as uow:
        for i in range(5):
            uow.outbox.enqueue(NewDelivery(f"p{i}", "notice", f"@p{i}:x", "b"), NOW)
        uow.outbox.enqueue(
            NewDelivery("later", "notice", "@l:x", "b", not_before=NOW + timedelta(hours=1)), NOW
        )
        uow.outbox.enqueue(
            NewDelivery("r1", "reply", "room", "b", to_conversation=True),
            NOW + timedelta(seconds=5),
        )
    with store.transaction() as uow:
        due = uow.outbox.claim(NOW + timedelta(seconds=10), limit=3)
        assert [d.key for d in due] == ["r1", "p0", "p1"]
        assert not any(d.claimed_before for d in due)
        again = uow.outbox.due(NOW + timedelta(seconds=10), limit=10)
        assert [d.key for d in again] == ["r1", "p0", "p1", "p2", "p3", "p4"]
        assert [d.claimed_before for d in again[:4]] == [True, True, True, False]


class SlowPlatform(ConsolePlatform):
    """A console that takes time per send and may answer "wait" once."""

    def __init__(self) -> None:
        super().__init__(input_stream=io.StringIO(), output=io.StringIO(), interactive=False)
        self.order: list[tuple[str, str]] = []
        self.active = 0
        self.most_active = 0
        self.throttle_key: str | None = None

    async def send(self, message: Outgoing) -> SendResult:
        if message.key == self.throttle_key:
            self.throttle_key = None
            raise DeliveryError(self.name, "ratelimited", retry_after=30)
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        await asyncio.sleep(0.01)
        self.active -= 1
        self.order.append((message.person_id or "", message.key))
        return await super().send(message)


async def test_concurrent_dispatch_keeps_each_conversation_in_order(store: Store) -> None:
    with store.transaction() as uow:
        for n in range(4):
            for person in range(6):
                uow.outbox.enqueue(
                    NewDelivery(f"m{person}-{n}", "notice", f"@p{person}:x", f"message {n}"),
                    NOW + timedelta(seconds=n),
                )
    platform = SlowPlatform()
    clock = FakeClock(NOW + timedelta(minutes=1))
    dispatcher = Dispatcher(store, platform, clock, concurrency=3, conversation_rate=1000.0)
    assert await dispatcher.drain() == 24
    assert platform.most_active > 1  # several conversations at once
    for person in range(6):
        keys = [key for who, key in platform.order if who == f"@p{person}:x"]
        assert keys == [f"m{person}-{n}" for n in range(4)]
    assert _count(store, DeliveryRow.status == DeliveryStatus.SENT) == 24


async def test_retry_after_pauses_every_conversation(store: Store) -> None:
    with store.transaction() as uow:
        for person in range(6):
            uow.outbox.enqueue(NewDelivery(f"k{person}", "notice", f"@p{person}:x", "b"), NOW)
    platform = SlowPlatform()
    platform.throttle_key = "k2"
    clock = FakeClock(NOW)
    dispatcher = Dispatcher(store, platform, clock, concurrency=3, conversation_rate=1000.0)
    await dispatcher.drain()
    assert dispatcher.paused_until == NOW + timedelta(seconds=30)
    sent_before = _count(store, DeliveryRow.status == DeliveryStatus.SENT)
    assert sent_before < 6
    assert await dispatcher.drain() == 0  # still paused
    clock.advance(seconds=31)
    await dispatcher.drain()
    assert _count(store, DeliveryRow.status == DeliveryStatus.SENT) == 6
    with store.transaction() as uow:
        throttled = uow.outbox.get("k2")
        assert throttled is not None and throttled.attempts == 1  # a 429 is not a failure


def test_database_status_matches_the_fold_on_random_histories(store: Store) -> None:
    """The SQL status (stats, due recipients) equals fold_participation on any event history,
    including ties on the timestamp (ordered by id) and opt-out / resume sequences."""
    rng = random.Random(14)
    ids = _agents(store, 400)
    campaign_id = _campaign(store)
    kinds = [k for k in ParticipationKind if k != ParticipationKind.OPTED_OUT_ALL]
    with store.transaction() as uow:
        uow.campaigns.add_audience(campaign_id, ids, NOW)
        for pid in ids:
            for _ in range(rng.randint(0, 7)):
                at = NOW + timedelta(minutes=rng.randint(0, 4))  # many ties
                uow.participation.record(pid, rng.choice(kinds), at, campaign_id)
            if rng.random() < 0.2:
                uow.participation.record(pid, ParticipationKind.OPTED_OUT_ALL, NOW)
                if rng.random() < 0.5:
                    uow.participation.record(pid, ParticipationKind.RESUMED, NOW)
    with store.transaction() as uow:
        folded = uow.participation.states(campaign_id)
        opted_out_all = uow.participation.opted_out_all()
        # "stop tout" is no campaign's status (#23): counted by status for the campaign only.
        expected: dict[tuple[str | None, ParticipationStatus], int] = {}
        for state in folded.values():
            key = (state.person.service, state.status)
            expected[key] = expected.get(key, 0) + 1
        assert uow.participation.status_counts(campaign_id) == expected
        # The daily snapshot: the same figures as the fold of the events before that moment.
        as_of = NOW + timedelta(minutes=2)
        before = uow.participation.states(campaign_id, as_of=as_of)
        snapshot: dict[tuple[str | None, ParticipationStatus], int] = {}
        for state in before.values():
            key = (state.person.service, state.status)
            snapshot[key] = snapshot.get(key, 0) + 1
        assert uow.participation.status_counts(campaign_id, as_of) == snapshot
        due = {p.person.id: p.status for p in uow.participation.due(campaign_id)}
        assert due == {
            pid: s.status
            for pid, s in folded.items()
            if s.status in (ParticipationStatus.INVITED, ParticipationStatus.STARTED)
            and pid not in opted_out_all
        }
        assert len(set(expected.values())) > 1 and len({s for _, s in expected}) == 5
