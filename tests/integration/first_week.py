"""A new ambassador's and new agents' first week on the console (helpers for the scenarios of
``test_first_week_*.py``): a service with an ambassador named Anne, agents in Paris and one in
Cayenne, and the clock at the times people really use the bot."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.app import App
from bot.core import FakeClock
from storage.uow import Store
from tests.helpers.bot import Bot, RecordingConsole, make_settings
from tests.helpers.campaigns import put_person

AMB = "@anne:console"
PARIS = [f"@agent{i}:console" for i in range(1, 7)]
CAYENNE = "@lea:console"
SERVICE = "DREAL-BZH"
# Sunday 6 December 2026, 22:03 in Paris; Monday 7 December, 10:00 in Paris.
SUNDAY_EVENING = datetime(2026, 12, 6, 21, 3, tzinfo=UTC)
MONDAY_MORNING = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def first_week_bot(
    store: Store, tmp_path: Path, now: datetime, *, morning_note: bool = True
) -> Bot:
    """The console bot on ``store``, its clock at ``now``, with Anne, six agents in Paris and
    Léa in Cayenne (America/Cayenne); ``morning_note``: ``[schedule] morning_note``."""
    clock = FakeClock(now)
    settings = make_settings(str(store.database.url))
    settings.schedule.morning_note = morning_note
    platform = RecordingConsole(journal_path=tmp_path / "console.jsonl")
    app = App(settings, store, platform, clock=clock)
    with store.transaction() as uow:
        anne = uow.people.ensure(AMB, "Anne", now)
        uow.roles.add(anne.id, "ambassador", SERVICE)
        for index, pid in enumerate(PARIS):
            put_person(uow, pid, now, display_name=f"Agent {index + 1}", service=SERVICE)
        put_person(
            uow, CAYENNE, now, display_name="Léa", service=SERVICE, timezone="America/Cayenne"
        )
    return Bot(app, platform, clock)


def unanswered(bot: Bot) -> list[str]:
    with bot.store.transaction() as uow:
        return [q.text for q in uow.questions.unanswered()]
