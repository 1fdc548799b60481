"""Durable intake: what Slack sends is spooled before it is acknowledged (issue #17).

An event (Events API, over HTTP or Socket Mode) or a button click becomes an
:class:`~bot.core.Incoming`, is written to the :class:`~bot.platforms.slack.spool.Spool`, and
only then acknowledged: bolt answers 200 (or the Socket Mode envelope is acked) once the listener
returns. If the spool cannot be written the answer is a 500 (no Socket Mode ack): Slack sends the
event again. The event is then handed over in its conversation's order
(:class:`~bot.platforms.slack.inbox.ConversationQueues`) and leaves the spool once handled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.response import BoltResponse

from bot.core import Incoming, MessageHandler
from bot.platforms.slack.codec import incoming_from_action, incoming_from_event
from bot.platforms.slack.inbox import ConversationQueues
from bot.platforms.slack.spool import Spool, SpoolLocked
from bot.platforms.slack.transport import sleep_or_stop

logger = logging.getLogger(__name__)

# How often a spool held by another process is tried again.
LOCKED_RETRY = 2.0


async def open_spool(spool: Spool, stopping: asyncio.Event) -> list[Incoming] | None:
    """Open ``spool``: the events still to handle; None when stopped first.

    Another process using the same spool (a bot stepping down) is waited for; a spool that
    cannot be read or written is an error: the bot must not acknowledge what it cannot keep.
    """
    warned = False
    while True:
        try:
            return spool.open()
        except OSError as error:
            logger.error("Slack : spool %s inutilisable : %s (slack.spool_path)", spool.path, error)
            raise
        except SpoolLocked:
            if not warned:
                logger.warning(
                    "Slack : spool %s utilisé par un autre processus ; attente", spool.path
                )
                warned = True
        if await sleep_or_stop(stopping, LOCKED_RETRY):
            return None


class Intake:
    """The receiving half of :class:`~bot.platforms.slack.platform.SlackPlatform`, a part it
    holds (not a parent): it is given the spool, the conversation queues, the stop signal and
    how to read the bot's own id (known once ``auth.test`` answered)."""

    def __init__(
        self,
        spool: Spool,
        inbox: ConversationQueues,
        stopping: asyncio.Event,
        bot_id: Callable[[], str],
    ) -> None:
        self.spool = spool
        self.inbox = inbox
        self.stopping = stopping
        self.bot_id = bot_id
        # Set while the platform runs: who handles what was accepted.
        self.handler: MessageHandler | None = None

    async def on_event(self, body: dict[str, Any]) -> BoltResponse | None:
        """An Events API event: acknowledged (bolt answers 200) once spooled."""
        incoming = incoming_from_event(body, self.bot_id())
        if incoming is not None and not await self.accept(incoming):
            return BoltResponse(status=500, body="")
        return None

    async def on_action(
        self, ack: Callable[[], Awaitable[Any]], body: dict[str, Any]
    ) -> BoltResponse | None:
        """A button click: acknowledged once spooled, like an event."""
        incoming = incoming_from_action(body, self.bot_id())
        if incoming is not None and not await self.accept(incoming):
            return BoltResponse(status=500, body="")
        await ack()
        return None

    async def accept(self, incoming: Incoming) -> bool:
        """Spool ``incoming`` (durably), then hand it over in order, one message at a time per
        conversation; False when it could not be spooled: not acknowledged, Slack sends it
        again. A redelivery of an event already spooled is acknowledged and not queued again."""
        try:
            added = await self.spool.add(incoming)
        except OSError as error:
            logger.error(
                "Slack : événement %s non écrit dans le spool (%s) ; non acquitté, Slack le "
                "renverra",
                incoming.event_id,
                error,
            )
            return False
        # Stopping: it waits in the spool for the next start.
        if added and self.handler is not None and not self.stopping.is_set():
            self.inbox.put(incoming, self.handler)
        return True
