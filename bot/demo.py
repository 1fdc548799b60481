"""``pixbot run --demo``: the console on a throwaway database, with agents who answer.

The database lives in a new temporary directory (printed at start; the chart images are
written there too). It holds three services (:data:`SERVICES`, 66 agents, one of them small)
with you (``@vous:console``) as their ambassador, and one campaign per service that has been
running for about ten days: invitations, then answers spread over the days (bot/demo_history.py),
so that the daily snapshot of the figures exists and ``campagne stats`` shows what a real
campaign looks like under the confidentiality rule, text and chart from the same figures.

Ten of the agents are scripted (:data:`AGENTS`, outside the running campaigns): when the bot
sends them an invitation (key ``inv:…``) or a reminder (``rem:…``) of a campaign you create,
:class:`DemoAgents` has them answer a moment later — some "fait", some "plus tard", one
"stop", one question. Their answers reach the bot like anyone's typed line, one at a time.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.core import ErasureStep, Incoming, Member, MessageHandler, Outgoing, SendResult
from bot.demo_history import HISTORY_SERVICES, launch_day, seed_history
from bot.platforms.console import DEFAULT_SPEAKER, ConsolePlatform, direct_conversation
from bot.render import Renderer
from scheduler.views import calendar_from
from storage.uow import Store

SERVICE = "DREAL Bretagne"
SERVICES = (SERVICE, *(s.name for s in HISTORY_SERVICES if s.name != SERVICE))
AMBASSADOR_NAME = "Vous (ambassadeur)"
# Seconds between the bot's message and the simulated answer (interactive runs).
ANSWER_DELAY = 1.5


@dataclass(frozen=True, slots=True)
class DemoAgent:
    platform_id: str
    name: str
    # What they answer to the invitation, and to a reminder (None: they stay silent).
    to_invitation: str | None
    to_reminder: str | None = None


AGENTS: tuple[DemoAgent, ...] = (
    DemoAgent("@camille:console", "Camille Martin", "c'est fait"),
    DemoAgent("@lucas:console", "Lucas Bernard", "fait"),
    DemoAgent("@chloe:console", "Chloé Petit", "c'est fait"),
    DemoAgent("@ines:console", "Inès Laurent", "fait"),
    DemoAgent("@hugo:console", "Hugo Robert", "commencé", "c'est fait"),
    DemoAgent("@lea:console", "Léa Richard", "plus tard", "c'est fait"),
    DemoAgent("@nathan:console", "Nathan Durand", "plus tard", "fait"),
    DemoAgent("@manon:console", "Manon Moreau", "stop"),
    DemoAgent("@louis:console", "Louis Simon", "Qui voit mes résultats ?"),
    DemoAgent("@jules:console", "Jules Michel", None),
)


def demo_database(directory: Path | None = None) -> str:
    folder = directory or Path(tempfile.mkdtemp(prefix="pixbot-demo-"))
    return f"sqlite:///{folder / 'pixbot-demo.db'}"


class DemoClock:
    """Real time, moved to a working moment: a newcomer trying the demo on a Sunday evening
    plays it on the next working morning, so messages leave at once under the one sending
    policy, and the daily snapshot of the campaigns' past exists."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self._origin = time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self._origin)


def demo_start(settings: Settings, real_now: datetime) -> datetime:
    """``real_now`` when it is working time, else 10:00 on the next working day."""
    calendar = calendar_from(settings)
    tz = ZoneInfo(settings.bot.timezone)
    if calendar.is_working_time(real_now, tz):
        return real_now
    slot = calendar.next_slot(real_now, tz)
    return datetime.combine(slot.date(), dtime(10, 0), tzinfo=tz).astimezone(UTC)


def seed(
    store: Store, now: datetime, ambassador: str = DEFAULT_SPEAKER, settings: Settings | None = None
) -> None:
    """The services, their agents, you as their ambassador, and the running campaigns."""
    with store.transaction() as uow:
        person = uow.people.ensure(ambassador, AMBASSADOR_NAME, now - timedelta(days=30))
        for service in SERVICES:
            uow.roles.add(person.id, "ambassador", service)
        for agent in AGENTS:
            uow.people.upsert(
                agent.platform_id,
                display_name=agent.name,
                service=SERVICE,
                email=None,
                timezone=None,
                locale=None,
                now=now - timedelta(days=30),
            )
    seed_history(store, now, person.id, settings)


def agents_count() -> int:
    return len(AGENTS) + sum(len(s.outcomes) for s in HISTORY_SERVICES)


def suggested_deadline(settings: Settings, today: date) -> date:
    return calendar_from(settings).next_working_day(today + timedelta(days=21))


def introduction(settings: Settings, database: Path, now: datetime) -> str:
    renderer = Renderer(settings.bot.locale, settings.bot.timezone)
    today = now.astimezone(renderer.timezone).date()
    return renderer.render(
        "demo_intro",
        None,
        now=now,
        service=SERVICE,
        services=SERVICES,
        agents=agents_count(),
        scripted=len(AGENTS),
        history=HISTORY_SERVICES,
        days=(today - launch_day(today)).days,
        deadline=suggested_deadline(settings, today),
        folder=database.parent,
    )


class DemoAgents:
    """The console platform, plus the simulated agents' answers (:class:`bot.core.Platform`)."""

    def __init__(self, console: ConsolePlatform, *, delay: float = ANSWER_DELAY) -> None:
        self.console = console
        self.delay = delay
        self.name = console.name
        self.bot_id = console.bot_id
        self.capabilities = console.capabilities
        self.agents = {agent.platform_id: agent for agent in AGENTS}
        self._on_message: MessageHandler | None = None
        self._turn = asyncio.Lock()
        self._answers: set[asyncio.Task[None]] = set()
        self._answered: set[str] = set()

    async def start(self) -> None:
        await self.console.start()

    async def stop(self) -> None:
        await self.console.stop()

    def listen(self, on_message: MessageHandler) -> MessageHandler:
        """Hand the agents' answers to ``on_message``, one message at a time with the user's
        (what :meth:`run` does first); returns the serialised handler."""

        async def one_at_a_time(incoming: Incoming) -> None:
            async with self._turn:
                await on_message(incoming)

        self._on_message = one_at_a_time
        return one_at_a_time

    async def settle(self) -> None:
        """Wait until every agent who is going to answer has answered."""
        while self._answers:
            await asyncio.gather(*list(self._answers), return_exceptions=True)

    async def run(self, on_message: MessageHandler) -> None:
        await self.console.run(self.listen(on_message))
        await self.settle()  # end of piped input: the agents still answer

    async def send(self, message: Outgoing) -> SendResult:
        result = await self.console.send(message)
        agent = self.agents.get(message.person_id or "")
        if agent is not None and message.key not in self._answered:
            self._answered.add(message.key)
            answer = self._answer(agent, message.key)
            if answer is not None:
                # Staggered, so that the answers arrive one after the other.
                delay = self.delay * (1 + AGENTS.index(agent) / 2)
                task = asyncio.create_task(self._reply(agent, answer, delay))
                self._answers.add(task)
                task.add_done_callback(self._answers.discard)
        return result

    @staticmethod
    def _answer(agent: DemoAgent, key: str) -> str | None:
        if key.startswith("inv:"):
            return agent.to_invitation
        if key.startswith("rem:"):
            return agent.to_reminder
        return None

    async def _reply(self, agent: DemoAgent, text: str, delay: float) -> None:
        await asyncio.sleep(delay)
        if self._on_message is None:
            return
        self.console.echo(f"{agent.platform_id}> {text}")
        incoming = replace(
            self.console.incoming(text),
            sender_id=agent.platform_id,
            sender_name=agent.name,
            conversation_id=direct_conversation(agent.platform_id),
            is_direct=True,
            timestamp=datetime.now(UTC),
        )
        await self._on_message(incoming)

    def opens_conversation(self, person_id: str) -> bool:
        return self.console.opens_conversation(person_id)

    def erasure_steps(self) -> Sequence[ErasureStep]:
        return self.console.erasure_steps()  # the journal the agents' answers go to

    async def open_direct(self, person_id: str) -> str:
        return await self.console.open_direct(person_id)

    async def room_members(self, conversation_id: str) -> Sequence[Member]:
        return await self.console.room_members(conversation_id)
