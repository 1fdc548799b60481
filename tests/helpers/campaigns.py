"""A service with an ambassador and six agents, and a launched campaign: the usual start."""

from __future__ import annotations

from sqlalchemy import func, select

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
            uow.people.upsert(
                pid,
                display_name=f"Agent {index + 1}",
                service=service,
                email=None,
                timezone=None,
                locale=None,
                now=now,
            )


def count_rows(bot: Bot, model: type) -> int:
    with bot.store.transaction() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model)) or 0)


async def launched(bot: Bot, create: str = CREATE) -> None:
    """Six agents of DREAL-BZH invited to ABCDEF234 (created by ``create``)."""
    setup_service(bot)
    await bot.say(AMB, create)
    await bot.say(AMB, "campagne lancer ABCDEF234")
