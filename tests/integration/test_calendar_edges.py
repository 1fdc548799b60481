"""A deadline on a week-end or a holiday: the close and its thanks go out on the working day
before it, and ``campagne créer`` says so."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.domain import CampaignStatus
from tests.helpers.bot import Bot
from tests.helpers.campaigns import AGENTS, AMB, launched, setup_service

PARIS = ZoneInfo("Europe/Paris")
SUNDAY = 'campagne créer ABCDEF234 "Cybersécurité" fin 13/12/2026'


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS).astimezone(UTC)


async def run_at(bot: Bot, moment: datetime) -> None:
    bot.clock.current = moment
    await bot.app.runner.tick()
    await bot.app.dispatcher.drain()


def status(bot: Bot) -> CampaignStatus:
    with bot.store.transaction() as uow:
        campaign = uow.campaigns.by_code("ABCDEF234")
        assert campaign is not None
        return campaign.status


async def test_creating_with_a_sunday_deadline_warns_and_shows_the_friday_close(bot: Bot) -> None:
    setup_service(bot)
    [reply] = await bot.say(AMB, SUNDAY)
    assert "le 13 décembre 2026 n'est pas un jour ouvré (week-end)" in reply
    assert "sera close le vendredi 11 décembre 2026 à 17:00" in reply
    assert "vendredi 11 décembre 2026 à 17:00 : clôture" in reply


async def test_a_holiday_deadline_names_the_holiday(bot: Bot) -> None:
    setup_service(bot)
    [reply] = await bot.say(AMB, 'campagne créer ABCDEF234 "Cyber" fin 25/12/2026')
    assert "n'est pas un jour ouvré (Noël)" in reply
    assert "sera close le jeudi 24 décembre 2026 à 17:00" in reply


async def test_a_working_day_deadline_has_no_warning(bot: Bot) -> None:
    setup_service(bot)
    [reply] = await bot.say(AMB, 'campagne créer ABCDEF234 "Cyber" fin 14/12/2026')
    assert "jour ouvré" not in reply


async def test_sunday_deadline_closes_and_thanks_on_friday_at_the_end_of_the_day(
    bot: Bot,
) -> None:
    await launched(bot, SUNDAY)
    await bot.say(AGENTS[0], "fait")
    await run_at(bot, paris(2026, 12, 11, 16, 59))
    assert status(bot) == CampaignStatus.RUNNING
    assert not any(t.startswith("Merci") for t in bot.inbox(AGENTS[0]))
    await run_at(bot, paris(2026, 12, 11, 17, 0))
    assert status(bot) == CampaignStatus.CLOSED
    assert any("a été close" in t for t in bot.inbox(AMB))
    # 17:00 ends the working hours: the thank-you waits for the next window (one sending
    # policy, COMMANDS.md), nothing leaves during the week-end.
    messages = len(bot.delivered())
    await run_at(bot, paris(2026, 12, 13, 17, 0))
    assert len(bot.delivered()) == messages
    await run_at(bot, paris(2026, 12, 14, 9, 30))
    assert any(t.startswith("Merci") for t in bot.inbox(AGENTS[0]))
