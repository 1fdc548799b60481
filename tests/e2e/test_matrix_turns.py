"""Issue #31: replies served in turn on a real Synapse. One agent writes five times a second
for ten seconds while the bot sends once a second; another agent's question is answered after
at most the send in flight and one more, whatever the flooder's backlog (9 messages ahead
before the fix). The assertion counts the bot's messages sent between the question being
handled and its reply; no timing threshold."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import App
from bot.core import Incoming, Outgoing, SendResult
from storage.uow import Store
from tests.e2e.test_matrix_crosssigning import dm_with_bot
from tests.helpers.bot import make_settings
from tests.helpers.campaigns import put_person
from tests.helpers.matrix_client import WAIT, BotAccount, MatrixUser, until

pytestmark = pytest.mark.synapse

FLOOD = 50
FLOOD_PAUSE = 0.2  # the flooder's pace (five messages a second), not an assertion
SEND_RATE = 1.0  # the bot's messages per second: slower than the flood, so a backlog forms


class Recorder:
    """The order of the bot's sends (by room), and how many went out before a question was
    handled."""

    def __init__(self, app: App) -> None:
        self.sent: list[str] = []
        self.handled_at: dict[str, int] = {}
        platform = app.platform
        send, handle = platform.send, app.handle

        async def recording_send(message: Outgoing) -> SendResult:
            result = await send(message)
            self.sent.append(result.conversation_id or "")
            return result

        async def recording_handle(incoming: Incoming) -> None:
            await handle(incoming)
            self.handled_at.setdefault(incoming.text, len(self.sent))

        platform.send = recording_send  # type: ignore[method-assign]
        app.handle = recording_handle  # type: ignore[method-assign]

    def ahead_of(self, question: str, room_id: str) -> int:
        """Messages sent between ``question`` being handled and the reply in ``room_id``."""
        start = self.handled_at[question]
        return self.sent.index(room_id, start) - start


@contextlib.asynccontextmanager
async def flooded_app(bot: BotAccount, tmp_path: Path) -> AsyncIterator[tuple[App, Recorder]]:
    url = f"sqlite:///{tmp_path / 'pixbot.db'}"
    store = Store.from_url(url)
    store.upgrade()
    settings = make_settings(url)
    settings.limits.messages_per_minute = 200  # the flood is answered, not silenced
    platform = bot.platform(tmp_path / "store", rate_limit=SEND_RATE)
    app = App(settings, store, platform)
    recorder = Recorder(app)  # before the run: it hands its handler over at start
    task = asyncio.create_task(app.run())
    try:
        yield app, recorder
    finally:
        await app.request_stop()  # the flooder's backlog is left for later
        await asyncio.wait_for(task, WAIT)
        store.close()


async def test_a_paced_flood_delays_another_agents_reply_by_two_messages_at_most(
    bot: BotAccount, agent: MatrixUser, tmp_path: Path
) -> None:
    other = await MatrixUser(bot.server, tmp_path / "other-store").login()
    agent.bot_id = other.bot_id = bot.user_id
    try:
        async with flooded_app(bot, tmp_path) as (app, recorder):
            with app.store.transaction() as uow:
                for person in (agent, other):
                    put_person(uow, person.user_id, datetime.now(UTC), display_name="Agent")
            flooder_room = await dm_with_bot(agent, bot.user_id)
            other_room = await dm_with_bot(other, bot.user_id)
            agent.dm, other.dm = flooder_room, other_room
            await agent.say("aide", "aide")
            await other.say("aide", "aide")

            async def flood() -> None:
                for number in range(FLOOD):
                    await agent.send_text(flooder_room, f"aide {number}")
                    if number == FLOOD // 5:
                        await other.send_text(other_room, "aide !")
                    await asyncio.sleep(FLOOD_PAUSE)

            await flood()

            async def all_sent() -> bool | None:
                if other_room in recorder.sent[recorder.handled_at.get("aide !", 10**6) :]:
                    return True
                await asyncio.sleep(0.2)  # bounded by until()
                return None

            await until(all_sent, "the other agent's reply")
            # The question was handled while the flooder's replies were piling up: more of the
            # flooder's questions handled (each owed a reply) than replies sent to them.
            start = recorder.handled_at["aide !"]
            handled = list(recorder.handled_at)  # in the order they were handled
            before = handled[: handled.index("aide !")]
            owed = 1 + sum(1 for text in before if text.startswith("aide "))  # + the first "aide"
            backlog = owed - recorder.sent[:start].count(flooder_room)
            assert backlog > 2, f"no backlog formed ({backlog}): the test would prove nothing"
            # … and its reply went out after at most the send in flight and one more.
            assert recorder.ahead_of("aide !", other_room) <= 2, recorder.sent
    finally:
        await other.close()
