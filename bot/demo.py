"""``pixbot run --demo``: the console on a throwaway database, with agents who answer.

The database lives in a new temporary directory (printed at start; the chart images are
written there too). It holds a demo service of ten agents with you (``@vous:console``) as its
ambassador. :class:`DemoAgents` wraps the console platform: when the bot sends an invitation
(key ``inv:…``) or a reminder (``rem:…``) to a simulated agent, that agent answers a moment
later, as scripted in :data:`AGENTS` — some "fait", some "plus tard", one "stop", one question.
Their answers reach the bot like anyone's typed line, one message at a time.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot.config import Settings
from bot.core import Incoming, Member, MessageHandler, Outgoing, SendResult
from bot.platforms.console import DEFAULT_SPEAKER, ConsolePlatform, direct_conversation
from bot.render import Renderer
from scheduler.views import calendar_from
from storage.uow import Store

SERVICE = "Démo"
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


def seed(store: Store, now: datetime, ambassador: str = DEFAULT_SPEAKER) -> None:
    """The demo service, its agents, and the user as its ambassador."""
    with store.transaction() as uow:
        person = uow.people.ensure(ambassador, AMBASSADOR_NAME, now)
        uow.roles.add(person.id, "ambassador", SERVICE)
        for agent in AGENTS:
            uow.people.upsert(
                agent.platform_id,
                display_name=agent.name,
                service=SERVICE,
                email=None,
                timezone=None,
                locale=None,
                now=now,
            )


def suggested_deadline(settings: Settings, today: date) -> date:
    return calendar_from(settings).next_working_day(today + timedelta(days=21))


def introduction(settings: Settings, database: Path, today: date) -> str:
    renderer = Renderer(settings.bot.locale, settings.bot.timezone)
    return renderer.render(
        "demo_intro",
        None,
        service=SERVICE,
        agents=len(AGENTS),
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
        self.rate_limit = console.rate_limit
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

    async def open_direct(self, person_id: str) -> str:
        return await self.console.open_direct(person_id)

    async def room_members(self, conversation_id: str) -> Sequence[Member]:
        return await self.console.room_members(conversation_id)
