"""A service with an ambassador and six agents, and a launched campaign: the usual start."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import func, select

from bot.domain import Person
from storage.uow import UnitOfWork
from tests.helpers.bot import Bot

AMB = "@amb:console"
AGENTS = [f"@agent{i}:console" for i in range(1, 7)]
CREATE = 'campagne créer ABCDEF234 "Cybersécurité" fin 15/12/2026'


def setup_service(bot: Bot, service: str = "DREAL-BZH", agents: list[str] = AGENTS) -> None:
    now = bot.clock.now()
    with bot.store.transaction() as uow:
        amb = uow.people.ensure(AMB, "Ambre", now)
        uow.roles.add(amb.id, "ambassador", service)
        for index, pid in enumerate(agents):
            put_person(uow, pid, now, display_name=f"Agent {index + 1}", service=service)


def put_person(
    uow: UnitOfWork,
    platform_id: str,
    now: datetime,
    *,
    display_name: str | None = None,
    service: str | None = "DREAL-BZH",
    email: str | None = None,
    timezone: str | None = None,
    locale: str | None = None,
) -> Person:
    """Create or update a person as an import would (every field given, the rest empty)."""
    person, _ = uow.people.upsert(
        platform_id,
        display_name=display_name,
        service=service,
        email=email,
        timezone=timezone,
        locale=locale,
        now=now,
    )
    return person


def with_emails(bot: Bot, emails: Mapping[str, str], service: str = "DREAL-BZH") -> None:
    """Give these agents of ``service`` these work emails (their id as display name)."""
    with bot.store.transaction() as uow:
        for pid, email in emails.items():
            put_person(uow, pid, bot.clock.now(), display_name=pid, service=service, email=email)


def count_rows(bot: Bot, model: type) -> int:
    with bot.store.transaction() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model)) or 0)


async def launched(bot: Bot, create: str = CREATE) -> None:
    """Six agents of DREAL-BZH invited to ABCDEF234 (created by ``create``)."""
    setup_service(bot)
    await bot.say(AMB, create)
    await bot.say(AMB, "campagne lancer ABCDEF234")


OTHER_AMB = "@amb2:console"
OTHER = [f"@m{i}:console" for i in range(14)]


async def other_service(bot: Bot) -> None:
    """Another service of the ministry with its running campaign (the ministry's line beside
    the campaign's figures, #24): 14 agents, 6 of whom say « fait » at once."""
    now = bot.clock.now()
    with bot.store.transaction() as uow:
        amb = uow.people.ensure(OTHER_AMB, "Marc", now)
        uow.roles.add(amb.id, "ambassador", "SVC-M")
        for pid in OTHER:
            put_person(uow, pid, now, service="SVC-M")
    await bot.say(OTHER_AMB, 'campagne créer MMMMMM234 "M" fin 15/12/2026')
    await bot.say(OTHER_AMB, "campagne lancer MMMMMM234")
    for pid in OTHER[:6]:
        await bot.say(pid, "fait")
