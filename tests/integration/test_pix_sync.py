"""Participation from Pix itself: the sync with a local fake of Pix's organisation API.

SQLite and PostgreSQL; the fake follows MaDDo's published routes and payloads (every result
field included), and its faults (expired token, 429 with Retry-After, 5xx) are real HTTP answers
on a loopback port. The client's waits go through a recorded sleep: no test waits for real.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from bot.domain import ParticipationKind, ParticipationStatus
from bot.pix.client import PixClient
from bot.services.pix_sync import PixSync
from storage.models import DeliveryRow, ParticipationEventRow, PersonRow, PixUnmatchedRow
from tests.helpers.bot import Bot
from tests.helpers.campaigns import AGENTS, AMB, launched, put_person
from tests.helpers.pix_fake import (
    CLIENT_ID,
    CLIENT_SECRET,
    SCORE_MARKERS,
    FakeMaddo,
    Fault,
    Participation,
    running_maddo,
)

CODE, PIX_ID = "ABCDEF234", 555
EMAILS = {pid: f"agent{i + 1}@dreal.gouv.fr" for i, pid in enumerate(AGENTS)}
NAMES = {pid: f"Prénom{i + 1} Nom{i + 1}" for i, pid in enumerate(AGENTS)}


class Sleeps:
    """The client's waits, recorded instead of slept."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
async def fake(bot: Bot) -> AsyncIterator[FakeMaddo]:
    async with running_maddo(bot.clock.now, timedelta(hours=1)) as server:
        server.add_campaign(PIX_ID, CODE)
        server.add_campaign(556, "OTHER1234")
        yield server


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def sync(bot: Bot, fake: FakeMaddo, sleeps: Sleeps) -> AsyncIterator[PixSync]:
    await launched(bot)
    with bot.store.transaction() as uow:
        for pid in AGENTS:
            put_person(uow, pid, bot.clock.now(), display_name=NAMES[pid], email=EMAILS[pid])
    client = PixClient(
        fake.base_url, CLIENT_ID, CLIENT_SECRET, now=bot.clock.now, patience=60, sleep=sleeps
    )
    service = PixSync(client, bot.store, bot.clock, overlap=timedelta(hours=1))
    yield service
    await service.close()


def pix(index: int, external: str | None, status: str = "STARTED", **kw: object) -> Participation:
    first, last = kw.pop("first", f"Inconnu{index}"), kw.pop("last", f"Personne{index}")
    return Participation(index, external, str(first), str(last), status=status, **kw)  # type: ignore[arg-type]


def statuses(bot: Bot) -> dict[str, ParticipationStatus]:
    with bot.store.transaction() as uow:
        campaign = uow.campaigns.by_code(CODE)
        assert campaign is not None
        return {
            s.person.platform_id: s.status for s in uow.participation.states(campaign.id).values()
        }


def events(bot: Bot, kind: ParticipationKind) -> list[tuple[int, str]]:
    with bot.store.transaction() as uow:
        return [
            (row.person_id, row.source)
            for row in uow.session.scalars(
                select(ParticipationEventRow).where(ParticipationEventRow.kind == kind)
            )
        ]


def shared(at: datetime) -> dict[str, object]:
    return {"status": "SHARED", "shared_at": at}


def a_first_campaign(fake: FakeMaddo, now: datetime) -> None:
    """Agent 1 shared, agent 2 (e-mail in capitals) started, agent 3 by platform id on an
    older server (TO_SHARE), agent 4 by name only, 205 strangers: two pages."""
    rows = fake.participations[PIX_ID]
    rows.append(pix(1, " Agent1@DREAL.gouv.fr ", **shared(now - timedelta(hours=2))))
    rows.append(pix(2, "AGENT2@dreal.gouv.fr"))
    rows.append(pix(3, AGENTS[2], "TO_SHARE"))
    rows.append(pix(4, "agent4@typo.gouv.fr", first="Prénom4", last="NOM4"))
    rows.extend(pix(1000 + i, f"stranger{i}@ailleurs.fr") for i in range(205))


async def test_first_sync_links_reads_every_page_and_drops_every_result(
    bot: Bot, fake: FakeMaddo, sync: PixSync, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    a_first_campaign(fake, bot.clock.now())
    # An extra reminder asked in the evening waits for the next working hours.
    bot.clock.advance(hours=9)
    await bot.say(AMB, f"campagne relancer {CODE}")
    assert len(_pending(bot)) == len(AGENTS)
    [report] = await sync.sync()
    assert report.error is None
    assert (report.fetched, report.pages) == (209, 2)
    assert (report.completed, report.started, report.by_name) == (2, 2, 1)
    assert report.unmatched == {"unknown": 205}
    state = statuses(bot)
    assert state[AGENTS[0]] == state[AGENTS[2]] == ParticipationStatus.COMPLETED
    assert state[AGENTS[1]] == state[AGENTS[3]] == ParticipationStatus.STARTED
    assert state[AGENTS[4]] == ParticipationStatus.INVITED
    assert {source for _, source in events(bot, ParticipationKind.COMPLETED)} == {"pix"}
    # The first sync asks for everything, by pages of 200, with no `since`.
    reads = [q for _, path, q in fake.requests if path.endswith("/participations")]
    assert [q.get("page[number]") for q in reads] == ["1", "2"]
    assert all(q["page[size]"] == "200" and "since" not in q for q in reads)
    # Completed agents left the reminder plan at once: their invitations are cancelled.
    assert _pending(bot) == {AGENTS[1], AGENTS[3], AGENTS[4], AGENTS[5]}
    with bot.store.transaction() as uow:
        assert uow.session.scalar(select(func.count()).select_from(PixUnmatchedRow)) == 205
    # The ambassador is told the figures come from Pix too (when, never who).
    shown = "\n".join(await bot.say(AMB, f"campagne voir {CODE}"))
    assert "• participation lue chez Pix : dernière lecture " in shown
    # The agent sees it in « mes données », as Pix's and not their own declaration.
    data = "\n".join(await bot.say(AGENTS[0], "mes données"))
    assert "source : Pix" in data
    # Not one result field, unknown field, name or stranger's address reached the database…
    dump = _database_bytes(bot, tmp_path)
    for marker in (*SCORE_MARKERS, "stranger7@ailleurs.fr", "Inconnu1000", "Personne1000"):
        assert marker.encode() not in dump, marker
    # … nor the logs.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert not any(m in logged for m in (*SCORE_MARKERS, "stranger7", CLIENT_SECRET))


def _pending(bot: Bot) -> set[str]:
    """Who a pending campaign message waits for."""
    with bot.store.transaction() as uow:
        return set(
            uow.session.scalars(
                select(PersonRow.platform_id)
                .join(DeliveryRow, DeliveryRow.person_id == PersonRow.id)
                .where(DeliveryRow.status == "pending", DeliveryRow.campaign_id.is_not(None))
            )
        )


def _database_bytes(bot: Bot, folder: Path) -> bytes:
    """Every byte the database holds: the SQLite files (with the WAL), or every row of every
    table on PostgreSQL (whose files live on the server)."""
    if bot.store.database.dialect == "sqlite":
        return b"".join(p.read_bytes() for p in sorted(folder.glob("pixbot.db*")))
    with bot.store.transaction() as uow:
        tables = uow.session.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        ).scalars()
        return "\n".join(
            repr(row)
            for table in list(tables)
            for row in uow.session.execute(text(f'SELECT * FROM "{table}"')).all()
        ).encode()


async def test_incremental_sync_reads_since_the_last_one_and_adds_nothing_twice(
    bot: Bot, fake: FakeMaddo, sync: PixSync
) -> None:
    a_first_campaign(fake, bot.clock.now())
    first_read = bot.clock.now()
    await sync.sync()
    bot.clock.advance(minutes=30)
    # Agent 2 sends their results; agent 5 starts; nothing else moves.
    fake.participations[PIX_ID][1].status = "SHARED"
    fake.participations[PIX_ID][1].shared_at = bot.clock.now() - timedelta(minutes=5)
    fake.participations[PIX_ID].append(
        pix(5, EMAILS[AGENTS[4]], created_at=bot.clock.now() - timedelta(minutes=1))
    )
    fake.requests.clear()
    [report] = await sync.sync()
    [query] = [q for _, path, q in fake.requests if path.endswith("/participations")]
    # Since the last sync's start, minus the overlap (1 h): agent 1's share (2 h before the
    # first sync) is outside it.
    assert query["since"] == (first_read - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert (report.fetched, report.completed, report.started) == (2, 1, 1)
    state = statuses(bot)
    assert state[AGENTS[1]] == ParticipationStatus.COMPLETED
    assert state[AGENTS[4]] == ParticipationStatus.STARTED
    # A sync that reads everything again (overlap, --full) adds no event.
    before = (
        len(events(bot, ParticipationKind.COMPLETED)),
        len(events(bot, ParticipationKind.STARTED)),
    )
    [again] = await sync.sync(CODE, full=True)
    assert again.full and (again.completed, again.started) == (0, 0)
    after = (
        len(events(bot, ParticipationKind.COMPLETED)),
        len(events(bot, ParticipationKind.STARTED)),
    )
    assert before == after
    with bot.store.transaction() as uow:
        assert uow.session.scalar(select(func.count()).select_from(PixUnmatchedRow)) == 205


async def test_the_token_is_renewed_before_it_expires_and_on_401(
    bot: Bot, fake: FakeMaddo, sync: PixSync
) -> None:
    fake.token_lifetime = timedelta(minutes=10)
    a_first_campaign(fake, bot.clock.now())
    await sync.sync()
    assert fake.tokens_issued == 1
    # Its JWT `exp` is read: past it (minus a minute) a new token is asked for first.
    bot.clock.advance(minutes=9, seconds=30)
    fake.requests.clear()
    await sync.sync()
    assert fake.tokens_issued == 2
    assert fake.requests[0][1] == "/api/application/token"
    # A token refused before its time (revoked): one 401, a new token, the call again.
    fake.revoke_tokens()
    fake.requests.clear()
    [report] = await sync.sync()
    assert report.error is None and fake.tokens_issued == 3
    paths = [path for _, path, _ in fake.requests]
    assert paths == [
        f"/api/campaigns/{PIX_ID}/participations",
        "/api/application/token",
        f"/api/campaigns/{PIX_ID}/participations",
    ]


async def test_wrong_credentials_are_refused_and_nothing_changes(
    bot: Bot, fake: FakeMaddo, sync: PixSync
) -> None:
    a_first_campaign(fake, bot.clock.now())
    sync.client._client_secret = "wrong"
    [report] = await sync.sync()
    assert report.error is not None and "refusé" in report.error
    assert statuses(bot)[AGENTS[0]] == ParticipationStatus.INVITED


async def test_an_outage_between_pages_is_waited_out_then_given_up_without_half_applying(
    bot: Bot, fake: FakeMaddo, sync: PixSync, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.pix.client")
    a_first_campaign(fake, bot.clock.now())
    path = f"/api/campaigns/{PIX_ID}/participations"
    # Page 2: rate-limited once (Retry-After: 7), then three 503s, then answers.
    fake.faults = [Fault(path, 429, 1, retry_after="7", page=2), Fault(path, 503, 3, page=2)]
    [report] = await sync.sync()
    assert report.error is None and report.fetched == 209
    assert sleeps.waits == [7.0, 2.0, 4.0, 8.0]  # Retry-After, then doubling per attempt
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # one line for the outage, not one per attempt
    assert any("de retour après" in r.getMessage() for r in caplog.records)
    with bot.store.transaction() as uow:
        link = uow.pix.link(uow.campaigns.by_code(CODE).id)  # type: ignore[union-attr]
    assert link is not None
    cursor = link.synced_until
    # Now page 2 stays down beyond the client's patience, twice: nothing of page 1 is
    # applied, the cursor stays, and the outage is still one log line.
    bot.clock.advance(minutes=30)
    fake.participations[PIX_ID][1].status = "SHARED"
    fake.participations[PIX_ID][1].shared_at = bot.clock.now()
    fake.participations[PIX_ID].append(pix(6, EMAILS[AGENTS[5]], created_at=bot.clock.now()))
    caplog.clear()
    fake.faults = [Fault(path, 502, 10_000, page=2)]
    # Enough changed rows for two pages.
    fake.participations[PIX_ID].extend(
        pix(3000 + i, f"new{i}@ailleurs.fr", created_at=bot.clock.now()) for i in range(200)
    )
    for _ in range(2):
        [failed] = await sync.sync()
        assert failed.error is not None and "ne répond pas" in failed.error
    state = statuses(bot)
    assert state[AGENTS[1]] == ParticipationStatus.STARTED  # on page 1, not applied
    assert state[AGENTS[5]] == ParticipationStatus.INVITED
    with bot.store.transaction() as uow:
        link = uow.pix.link(uow.campaigns.by_code(CODE).id)  # type: ignore[union-attr]
    assert link is not None and link.synced_until == cursor and link.last_error
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    # Pix is back: the next sync reads the same changes and applies them all.
    fake.faults = []
    [recovered] = await sync.sync()
    assert recovered.error is None and recovered.completed == 1 and recovered.started == 1
    assert statuses(bot)[AGENTS[1]] == ParticipationStatus.COMPLETED
    with bot.store.transaction() as uow:
        link = uow.pix.link(uow.campaigns.by_code(CODE).id)  # type: ignore[union-attr]
    assert link is not None and link.last_error is None and link.synced_until > cursor


async def test_unmatched_participants_are_counted_by_reason_never_named(
    bot: Bot, fake: FakeMaddo, sync: PixSync
) -> None:
    now = bot.clock.now()
    with bot.store.transaction() as uow:
        # Known but outside the campaign's service; two agents sharing one address.
        put_person(uow, "@other:console", now, service="DDTM-29", email="other@ddtm.gouv.fr")
        put_person(uow, "@twin1:console", now, service="DDTM-29", email="twin@dreal.gouv.fr")
        put_person(uow, "@twin2:console", now, service="DDTM-29", email="twin@dreal.gouv.fr")
    rows = fake.participations[PIX_ID]
    rows.append(pix(1, "other@ddtm.gouv.fr", "SHARED", shared_at=now))
    rows.append(pix(2, "twin@dreal.gouv.fr", "SHARED", shared_at=now))
    rows.append(pix(3, "nobody@ailleurs.fr", "SHARED", shared_at=now))
    rows.append(pix(4, None, "SHARED", shared_at=now))
    # Names alone never match when two audience members carry them.
    with bot.store.transaction() as uow:
        put_person(uow, AGENTS[0], now, display_name="Camille Martin", email=EMAILS[AGENTS[0]])
        put_person(uow, AGENTS[1], now, display_name="Camille Martin", email=EMAILS[AGENTS[1]])
    rows.append(pix(5, "camille@typo.fr", "SHARED", shared_at=now, first="Camille", last="Martin"))
    [report] = await sync.sync()
    assert report.unmatched == {"outside": 1, "ambiguous": 1, "unknown": 3}
    assert report.by_name == 0 and report.completed == 0
    assert set(statuses(bot).values()) == {ParticipationStatus.INVITED}
    # The ambassador's figures know nothing of them.
    stats = "\n".join(await bot.say(AMB, f"campagne stats {CODE}"))
    assert "nobody" not in stats and "Camille" not in stats and "other@" not in stats


async def test_a_person_erased_meanwhile_is_never_brought_back(
    bot: Bot, fake: FakeMaddo, sync: PixSync, tmp_path: Path
) -> None:
    now = bot.clock.now()
    fake.participations[PIX_ID].append(pix(1, EMAILS[AGENTS[4]], "SHARED", shared_at=now))
    await sync.sync()
    assert statuses(bot)[AGENTS[4]] == ParticipationStatus.COMPLETED
    await bot.say(AGENTS[4], "oublie-moi")
    await bot.say(AGENTS[4], "oui")
    bot.clock.advance(minutes=30)
    # Pix still reports them (and in full): matched by address, or by name, they stay gone.
    fake.participations[PIX_ID].append(
        pix(
            2,
            EMAILS[AGENTS[4]].upper(),
            "SHARED",
            shared_at=bot.clock.now(),
            first="Prénom5",
            last="Nom5",
        )
    )
    [report] = await sync.sync(CODE, full=True)
    assert report.erased == 2 and report.unmatched == {} and report.completed == 0
    with bot.store.transaction() as uow:
        assert uow.people.by_platform_id(AGENTS[4]) is None
        assert uow.session.scalar(select(func.count()).select_from(PixUnmatchedRow)) == 0
        people = uow.session.scalar(select(func.count()).select_from(PersonRow))
    assert AGENTS[4] not in statuses(bot)
    with bot.store.transaction() as uow:
        rows = uow.session.execute(text("SELECT * FROM people")).all()
        audit = uow.session.execute(text("SELECT detail FROM audit_log")).all()
    assert EMAILS[AGENTS[4]] not in repr(rows) + repr(audit) and "Nom5" not in repr(rows)
    # Not a byte of them in the database files either (pages, WAL) after the sync.
    dump = _database_bytes(bot, tmp_path)
    for needle in (AGENTS[4], EMAILS[AGENTS[4]], NAMES[AGENTS[4]]):
        assert needle.encode() not in dump, needle
    # A later sync does not bring them back either.
    [later] = await sync.sync()
    assert later.completed == later.started == 0 and later.unmatched == {}
    with bot.store.transaction() as uow:
        assert uow.session.scalar(select(func.count()).select_from(PersonRow)) == people


async def test_a_code_pix_does_not_show_is_reported_and_not_linked(
    bot: Bot, fake: FakeMaddo, sync: PixSync
) -> None:
    fake.campaigns[101] = []
    [report] = await sync.sync()
    assert report.error is not None and "introuvable" in report.error
    with bot.store.transaction() as uow:
        assert uow.pix.links() == {}
    assert datetime.now(UTC)  # the fake's clock is the bot's, not the wall clock


async def test_the_scheduler_job_syncs_in_working_hours_only(bot: Bot, fake: FakeMaddo) -> None:
    from bot.config import PixSection
    from scheduler import jobs

    await launched(bot)
    with bot.store.transaction() as uow:
        put_person(uow, AGENTS[0], bot.clock.now(), email=EMAILS[AGENTS[0]])
    fake.participations[PIX_ID].append(
        pix(1, EMAILS[AGENTS[0]], "SHARED", shared_at=bot.clock.now())
    )
    section = PixSection(api_url=fake.base_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    bot.app.jobs.settings = bot.app.settings.model_copy(update={"pix": section})
    await bot.app.jobs.start(bot.app.runner)
    try:
        job = bot.app.jobs.scheduler.get_job(f"{bot.app.jobs.key}:pix")  # type: ignore[union-attr]
        assert job is not None and job.trigger.interval == timedelta(minutes=30)
        bot.clock.advance(hours=9)  # 19:00 in Paris: after working hours
        await jobs.sync_pix(bot.app.jobs.key)
        assert fake.requests == []
        bot.clock.advance(hours=15)  # Tuesday 09:00 UTC, 10:00 in Paris
        await jobs.sync_pix(bot.app.jobs.key)
    finally:
        await bot.app.jobs.stop_gracefully()
    assert statuses(bot)[AGENTS[0]] == ParticipationStatus.COMPLETED
    assert bot.app.jobs.pix is None  # its HTTP session closed with the scheduler


async def test_the_first_sync_of_a_day_reads_everything_again(
    bot: Bot, fake: FakeMaddo, sync: PixSync
) -> None:
    from zoneinfo import ZoneInfo

    sync.tz = ZoneInfo("Europe/Paris")
    fake.participations[PIX_ID].append(pix(3, EMAILS[AGENTS[2]]))
    await sync.sync()
    # On an older Pix server the parcours ends (TO_SHARE) without any new date: `since`
    # cannot see it…
    fake.participations[PIX_ID][0].status = "TO_SHARE"
    bot.clock.advance(minutes=30)
    [same_day] = await sync.sync()
    assert not same_day.full and same_day.fetched == 0
    assert statuses(bot)[AGENTS[2]] == ParticipationStatus.STARTED
    # … the next day's first sync reads everything and sees it; the one after is incremental.
    bot.clock.advance(hours=23)
    fake.requests.clear()
    [next_day] = await sync.sync()
    assert next_day.full and next_day.completed == 1
    assert all("since" not in q for _, path, q in fake.requests if "participations" in path)
    bot.clock.advance(minutes=30)
    [after] = await sync.sync()
    assert not after.full
    assert statuses(bot)[AGENTS[2]] == ParticipationStatus.COMPLETED


async def test_a_crash_while_applying_writes_nothing_and_the_next_sync_applies_all(
    bot: Bot, fake: FakeMaddo, sync: PixSync, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storage.repositories.pix import PixRepo

    a_first_campaign(fake, bot.clock.now())

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the process dies here, after the events, before the cursor")

    with monkeypatch.context() as patch:
        patch.setattr(PixRepo, "advance", crash)
        with pytest.raises(RuntimeError):
            await sync.sync()
    # Rolled back as a whole: no event, no unmatched count, no cursor.
    assert events(bot, ParticipationKind.COMPLETED) == []
    with bot.store.transaction() as uow:
        assert uow.session.scalar(select(func.count()).select_from(PixUnmatchedRow)) == 0
        link = uow.pix.link(uow.campaigns.by_code(CODE).id)  # type: ignore[union-attr]
    assert link is not None and link.synced_until is None
    [report] = await sync.sync()
    assert report.full and (report.completed, report.started) == (2, 2)
    assert len(events(bot, ParticipationKind.COMPLETED)) == 2


async def test_a_refusal_is_logged_once_and_linked_campaigns_sync_while_pix_lists_nothing(
    bot: Bot, fake: FakeMaddo, sync: PixSync, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    fake.participations[PIX_ID].append(
        pix(1, EMAILS[AGENTS[0]], "SHARED", shared_at=bot.clock.now())
    )
    await sync.sync()  # linked
    # Pix now refuses this campaign (out of the client's jurisdiction): logged once, not at
    # every sync; `pixbot pix status` keeps showing it.
    fake.faults = [Fault(f"/api/campaigns/{PIX_ID}/", 403, 3)]
    for _ in range(3):
        [refused] = await sync.sync()
        assert refused.error is not None and "HTTP 403" in refused.error
    assert len([r for r in caplog.records if "refusée" in r.getMessage()]) == 1
    # A second campaign, not linked yet, while Pix cannot list organisations: it reports
    # that, and the linked one is synced all the same.
    await bot.say(AMB, 'campagne créer OTHER1234 "Autre" fin 15/12/2026')
    await bot.say(AMB, "campagne lancer OTHER1234")
    fake.faults = [Fault("/api/organizations", 403, 1)]
    reports = {r.code: r for r in await sync.sync()}
    assert reports[CODE].error is None
    assert reports["OTHER1234"].error is not None and "HTTP 403" in reports["OTHER1234"].error


async def test_a_server_that_ignores_the_page_number_is_not_followed_forever(
    bot: Bot, fake: FakeMaddo, sync: PixSync
) -> None:
    a_first_campaign(fake, bot.clock.now())
    fake.stuck_on_first_page = True
    [report] = await sync.sync()
    assert report.error is not None and "pagination inattendue" in report.error
    assert sum(1 for _, path, _ in fake.requests if path.endswith("/participations")) == 2
    assert events(bot, ParticipationKind.COMPLETED) == []


async def test_an_older_server_without_since_is_read_in_full(
    bot: Bot, fake: FakeMaddo, sync: PixSync, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    fake.rejects_since = True
    fake.participations[PIX_ID].append(pix(1, EMAILS[AGENTS[0]]))
    await sync.sync()
    fake.participations[PIX_ID][0].status = "SHARED"
    fake.participations[PIX_ID][0].shared_at = bot.clock.now()
    for _ in range(2):
        bot.clock.advance(minutes=30)
        [report] = await sync.sync()
        assert report.error is None and report.full
    assert statuses(bot)[AGENTS[0]] == ParticipationStatus.COMPLETED
    sinces = [
        q for _, path, q in fake.requests if path.endswith("/participations") and "since" in q
    ]
    assert len(sinces) == 1  # asked once, refused, never again
    assert len([r for r in caplog.records if "since" in r.getMessage()]) == 1
