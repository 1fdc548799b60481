"""Reminder schedules executed with a fake clock: steps as rows, downtime, snooze, close, lock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app import App
from bot.domain import CampaignStatus
from storage.db import Database
from storage.lock import InstanceLock
from storage.models import ReminderStepRow
from tests.helpers.bot import Bot, RecordingConsole
from tests.helpers.campaigns import AGENTS, AMB, put_person, setup_service
from tests.helpers.campaigns import launched as launched_with

PARIS = ZoneInfo("Europe/Paris")
CREATE = 'campagne créer ABCDEF234 "Cybersécurité" fin 28/12/2026'


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS).astimezone(UTC)


def reminders_of(bot: Bot, agent: str) -> list[str]:
    return [t for t in bot.inbox(agent) if t.startswith("Rappel")]


def steps(bot: Bot) -> list[tuple[str, str, str, str]]:
    with bot.store.transaction() as uow:
        rows = uow.session.scalars(select(ReminderStepRow).order_by(ReminderStepRow.fire_at))
        return [
            (r.kind, r.label, r.fire_at.astimezone(PARIS).strftime("%d/%m %H:%M"), r.status)
            for r in rows
            if r.person_id is None
        ]


async def run_at(bot: Bot, moment: datetime) -> int:
    bot.clock.current = moment
    ran = await bot.app.runner.tick()
    await bot.app.dispatcher.drain()
    return ran


async def launched(bot: Bot) -> None:
    await launched_with(bot, CREATE)


async def test_plan_rows_follow_the_calendar(bot: Bot) -> None:
    setup_service(bot)
    reply = (await bot.say(AMB, CREATE))[0]
    assert "lundi 21 décembre 2026 à 09:30 : rappel J-7" in reply
    assert "jeudi 24 décembre 2026 à 09:30 : rappel J-2" in reply
    assert "lundi 28 décembre 2026 à 09:30 : rappel J-0" in reply
    assert steps(bot)[1:] == [
        ("reminder", "J-7", "21/12 09:30", "planned"),
        ("reminder", "J-2", "24/12 09:30", "planned"),
        ("reminder", "J-0", "28/12 09:30", "planned"),
        ("close", "close", "28/12 17:00", "planned"),
    ]


async def test_reminder_step_sends_once_even_when_woken_twice(bot: Bot) -> None:
    await launched(bot)
    assert await run_at(bot, paris(2026, 12, 21, 9, 20)) == 0
    assert all(reminders_of(bot, a) == [] for a in AGENTS)
    assert await run_at(bot, paris(2026, 12, 21, 9, 30)) == 1
    assert all(len(reminders_of(bot, a)) == 1 for a in AGENTS)
    # The same step woken again (APScheduler misfire, second tick): nothing new.
    with bot.store.transaction() as uow:
        step_id = next(s.id for s in uow.steps.planned() if s.label == "J-2") - 1
    await bot.app.runner.run_step(step_id)
    await bot.app.runner.tick()
    await bot.app.dispatcher.drain()
    assert all(len(reminders_of(bot, a)) == 1 for a in AGENTS)


async def test_done_and_stopped_agents_are_skipped(bot: Bot) -> None:
    await launched(bot)
    await bot.say(AGENTS[0], "c'est fait")
    await bot.say(AGENTS[1], "stop")
    await bot.say(AGENTS[2], "stop tout")
    await run_at(bot, paris(2026, 12, 21, 9, 30))
    assert [a for a in AGENTS if reminders_of(bot, a)] == AGENTS[3:]


def restart(bot: Bot, tmp_path: Path) -> Bot:
    """A new bot process on the same database and the same console "server"."""
    settings = bot.app.settings
    bot.app.jobs.stop()
    platform = RecordingConsole(journal_path=bot.platform.journal.path)
    platform.journal.load()
    app = App(settings, bot.store, platform, clock=bot.clock)
    return Bot(app, platform, bot.clock, cursor=len(platform.journal.messages))


async def test_downtime_across_a_reminder_sends_it_once_after_restart(
    bot: Bot, tmp_path: Path
) -> None:
    await launched(bot)
    # The bot is down from Friday 18/12 to Monday 21/12 11:00: J-7 (09:30) was missed.
    bot = restart(bot, tmp_path)
    await run_at(bot, paris(2026, 12, 21, 11, 0))
    assert all(len(reminders_of(bot, a)) == 1 for a in AGENTS)
    bot = restart(bot, tmp_path)
    await run_at(bot, paris(2026, 12, 21, 11, 5))
    assert all(len(reminders_of(bot, a)) == 1 for a in AGENTS)


async def test_downtime_outside_working_hours_waits_for_the_next_slot(bot: Bot) -> None:
    await launched(bot)
    await run_at(bot, paris(2026, 12, 21, 20, 0))  # back at 20:00, J-7 missed
    assert all(reminders_of(bot, a) == [] for a in AGENTS)
    assert ("reminder", "J-7", "22/12 09:30", "planned") in steps(bot)
    await run_at(bot, paris(2026, 12, 22, 9, 30))
    assert all(len(reminders_of(bot, a)) == 1 for a in AGENTS)


async def test_missed_after_deadline_is_reported_not_sent(bot: Bot) -> None:
    await launched(bot)
    await run_at(bot, paris(2026, 12, 29, 10, 0))  # down from before J-7 until after the end
    assert all(reminders_of(bot, a) == [] for a in AGENTS)
    statuses = {label: status for kind, label, _, status in steps(bot) if kind == "reminder"}
    assert statuses == {"J-7": "missed", "J-2": "missed", "J-0": "missed"}
    ambassador = " ".join(bot.inbox(AMB))
    assert "rappel J-7 de la campagne ABCDEF234 n'a pas pu partir" in ambassador
    assert "est arrivée à échéance et a été close" in ambassador
    with bot.store.transaction() as uow:
        campaign = uow.campaigns.by_code("ABCDEF234")
        assert campaign is not None and campaign.status == CampaignStatus.CLOSED


async def test_close_at_deadline_thanks_completers(bot: Bot) -> None:
    await launched(bot)
    await bot.say(AGENTS[0], "fait")
    for day in (21, 24, 28):
        await run_at(bot, paris(2026, 12, day, 9, 30))
    await run_at(bot, paris(2026, 12, 28, 17, 0))
    assert any("a été close" in t for t in bot.inbox(AMB))
    # The thank-you leaves within working hours, like every campaign message.
    await run_at(bot, paris(2026, 12, 29, 9, 30))
    assert any(t.startswith("Merci") for t in bot.inbox(AGENTS[0]))
    assert not any(t.startswith("Merci") for t in bot.inbox(AGENTS[1]))
    assert len(reminders_of(bot, AGENTS[1])) == 3
    assert any("a été close" in t for t in bot.inbox(AMB))


async def test_agent_time_zone_is_respected(bot: Bot) -> None:
    setup_service(bot)
    with bot.store.transaction() as uow:
        put_person(
            uow, AGENTS[0], bot.clock.now(), display_name="Réunion", timezone="Indian/Reunion"
        )
    await bot.say(AMB, CREATE)
    await bot.say(AMB, "campagne lancer ABCDEF234")
    reunion_slot = datetime(2026, 12, 21, 9, 30, tzinfo=ZoneInfo("Indian/Reunion"))
    await run_at(bot, reunion_slot.astimezone(UTC))
    assert len(reminders_of(bot, AGENTS[0])) == 1
    assert all(reminders_of(bot, a) == [] for a in AGENTS[1:])  # 06:30 in Paris: too early
    await run_at(bot, paris(2026, 12, 21, 9, 30))
    assert all(len(reminders_of(bot, a)) == 1 for a in AGENTS)


async def test_snooze_adds_one_reminder_after_two_working_days(bot: Bot) -> None:
    await launched(bot)  # Monday 23/11/2026
    reply = await bot.say(AGENTS[0], "plus tard")
    assert "mercredi 25 novembre 2026 à 09:30" in reply[0]
    await run_at(bot, paris(2026, 11, 25, 9, 29))
    assert reminders_of(bot, AGENTS[0]) == []
    await run_at(bot, paris(2026, 11, 25, 9, 30))
    assert len(reminders_of(bot, AGENTS[0])) == 1
    assert all(reminders_of(bot, a) == [] for a in AGENTS[1:])


async def test_snooze_defers_to_an_earlier_planned_reminder(bot: Bot) -> None:
    setup_service(bot)
    await bot.say(AMB, 'campagne créer SHORTY123 "Court" fin 27/11/2026')
    await bot.say(AMB, "campagne lancer SHORTY123")
    # J-2 is Wednesday 25/11: before the 2-working-day snooze, so no extra reminder.
    bot.clock.current = paris(2026, 11, 24, 10, 0)
    reply = await bot.say(AGENTS[0], "plus tard")
    assert "mercredi 25 novembre 2026 à 09:30" in reply[0]
    with bot.store.transaction() as uow:
        snoozes = uow.session.scalars(
            select(ReminderStepRow).where(ReminderStepRow.kind == "snooze")
        ).all()
    assert snoozes == []


def snooze_statuses(bot: Bot) -> list[str]:
    with bot.store.transaction() as uow:
        rows = uow.session.scalars(select(ReminderStepRow).where(ReminderStepRow.kind == "snooze"))
        return [row.status for row in rows]


async def test_done_after_snooze_cancels_the_extra_reminder(bot: Bot) -> None:
    await launched(bot)
    await bot.say(AGENTS[0], "plus tard")
    await bot.say(AGENTS[0], "c'est fait")
    await run_at(bot, paris(2026, 11, 25, 9, 30))
    assert reminders_of(bot, AGENTS[0]) == []
    # Nothing was sent: the step is cancelled, not done.
    assert snooze_statuses(bot) == ["cancelled"]


async def test_a_snooze_that_reminds_is_done(bot: Bot) -> None:
    await launched(bot)
    await bot.say(AGENTS[0], "plus tard")
    await run_at(bot, paris(2026, 11, 25, 9, 30))
    assert len(reminders_of(bot, AGENTS[0])) == 1
    assert snooze_statuses(bot) == ["done"]


async def test_event_campaign_launches_fifteen_days_before(bot: Bot) -> None:
    setup_service(bot)
    created = await bot.say(
        AMB, 'campagne créer CONFCY123 "Cyber" avant "la conférence" le 10/12/2026'
    )
    assert "mercredi 25 novembre 2026 à 09:30 : invitations" in created[0]
    confirm = await bot.say(AMB, "campagne lancer CONFCY123")
    assert "planifiée" in confirm[0]
    assert all(bot.inbox(a) == [] for a in AGENTS)
    await run_at(bot, paris(2026, 11, 25, 9, 30))
    assert all(len(bot.inbox(a)) == 1 for a in AGENTS)
    assert "avant la conférence le 10 décembre 2026" in bot.inbox(AGENTS[0])[0]
    assert any("6 envoyées sur 6" in t for t in bot.inbox(AMB))


async def test_unconfirmed_draft_never_launches_by_itself(bot: Bot) -> None:
    setup_service(bot)
    await bot.say(AMB, 'campagne créer CONFCY123 "Cyber" avant "la conférence" le 10/12/2026')
    await run_at(bot, paris(2026, 11, 25, 9, 30))
    await run_at(bot, paris(2026, 12, 3, 9, 30))
    assert all(bot.inbox(a) == [] for a in AGENTS)


async def test_reminder_plan_can_be_changed(bot: Bot) -> None:
    await launched(bot)
    reply = (await bot.say(AMB, "campagne rappels ABCDEF234 J-10,J-3,J-0"))[0]
    assert "vendredi 18 décembre 2026 à 09:30 : rappel J-10" in reply
    assert "jeudi 24 décembre 2026 à 09:30 : rappel J-3" in reply
    assert "rappel J-7" not in reply
    bad = await bot.say(AMB, "campagne rappels ABCDEF234 demain")
    assert "Je ne comprends pas « demain »" in bad[0]
    assert [label for kind, label, _, _ in steps(bot) if kind == "reminder"] == [
        "J-10",
        "J-3",
        "J-0",
    ]


async def test_show_lists_the_plan_and_json_has_offsets(
    bot: Bot, monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    import json

    from typer.testing import CliRunner

    from bot.cli import app as cli

    await launched(bot)
    shown = (await bot.say(AMB, "campagne voir ABCDEF234"))[0]
    assert "lundi 21 décembre 2026 à 09:30 : rappel J-7" in shown
    monkeypatch.setenv("PIXBOT_BOT__DATABASE_URL", db_url)
    result = CliRunner().invoke(cli, ["campaign", "show", "ABCDEF234", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    ats = {s["label"]: s["at"] for s in payload["steps"]}
    assert ats["J-7"] == "2026-12-21T09:30:00+01:00"
    assert ats["close"] == "2026-12-28T17:00:00+01:00"
    assert payload["deadline"] == "2026-12-28"


async def test_weekly_digest(bot: Bot) -> None:
    await launched(bot)
    assert bot.app.runner.digest() == 1
    assert bot.app.runner.digest() == 0  # once per week
    await bot.app.dispatcher.drain()
    assert any("Point hebdomadaire" in t for t in bot.inbox(AMB))


def test_instance_lock_is_exclusive(db_url: str) -> None:
    first, second = Database(db_url), Database(db_url)
    first.upgrade()  # the lock keeps its fencing epoch in the schema
    lock_a, lock_b = InstanceLock(first), InstanceLock(second)
    try:
        assert lock_a.acquire()
        assert not lock_b.acquire()
        lock_a.release()
        assert lock_b.acquire()
    finally:
        lock_a.release()
        lock_b.release()
        first.dispose()
        second.dispose()


async def test_apscheduler_wakes_the_bot_for_planned_steps(bot: Bot) -> None:
    """The real APScheduler wiring: a due step's job runs run_step, which sends once."""
    import asyncio

    import scheduler.jobs as service_module

    await launched(bot)
    bot.clock.current = paris(2026, 12, 21, 9, 30)
    with bot.store.transaction() as uow:
        step = next(s for s in uow.steps.planned() if s.label == "J-7")
        # Due in the past for APScheduler too (the wall clock is later than this): it fires now.
        uow.steps.reschedule(step.id, paris(2026, 11, 1, 9, 30))
    woke = asyncio.Event()
    original = service_module.run_step

    async def spy(service_key: str, step_id: int) -> None:
        await original(service_key, step_id)
        if step_id == step.id:
            woke.set()

    service_module.run_step = spy  # type: ignore[assignment]
    try:
        await bot.app.jobs.start(bot.app.runner)
        await asyncio.wait_for(woke.wait(), timeout=10)
    finally:
        bot.app.jobs.stop()
        service_module.run_step = original  # type: ignore[assignment]
    await bot.app.dispatcher.drain()
    assert all(len(reminders_of(bot, a)) == 1 for a in AGENTS)


async def test_a_planned_launch_retimes_reminders_for_its_audiences_time_zones(bot: Bot) -> None:
    """The plan's launch step, like a launch by hand, moves planned reminders to the first
    agent's morning once the audience (and its time zones) is known."""
    setup_service(bot)
    await bot.say(AMB, 'campagne créer CONFCY123 "Cyber" avant "la conférence" le 10/12/2026')
    await bot.say(AMB, "campagne lancer CONFCY123")
    # Between the confirmation and the launch day, one agent turns out to work in La Réunion.
    with bot.store.transaction() as uow:
        put_person(
            uow, AGENTS[0], bot.clock.now(), display_name="Réunion", timezone="Indian/Reunion"
        )
    await run_at(bot, paris(2026, 11, 25, 9, 30))
    assert all(len(bot.inbox(a)) == 1 for a in AGENTS)
    reminders = [(label, at) for kind, label, at, status in steps(bot) if kind == "reminder"]
    assert reminders and all(at.endswith("06:30") for _, at in reminders), reminders
    first_day = datetime.strptime(reminders[0][1], "%d/%m %H:%M")
    reunion_slot = datetime(
        2026, first_day.month, first_day.day, 9, 30, tzinfo=ZoneInfo("Indian/Reunion")
    )
    await run_at(bot, reunion_slot.astimezone(UTC))
    assert len(reminders_of(bot, AGENTS[0])) == 1
    assert all(reminders_of(bot, a) == [] for a in AGENTS[1:])  # 06:30 in Paris: too early
