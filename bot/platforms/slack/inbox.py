"""Incoming messages handed to the core in order: one at a time per conversation.

Conversations are served concurrently; within one, a message is handed over only after the
previous one was handled, so replies keep the order of the questions. Every message here is
already in the :class:`~bot.platforms.slack.spool.Spool`: it leaves it once handled. A message
whose handling fails (the core raises: the database is away and the bot is stopping, or
something unexpected) is not skipped: it is handed over again after a bounded backoff, and the
ones behind it in its conversation wait; when the bot stops meanwhile, it stays in the spool
for the next start.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from bot.core import Incoming, MessageHandler
from bot.platforms.slack.spool import Spool
from bot.platforms.slack.transport import MAX_BACKOFF, sleep_or_stop

logger = logging.getLogger(__name__)

FIRST_BACKOFF = 0.5


class ConversationQueues:
    def __init__(
        self, spool: Spool, stopping: asyncio.Event, max_backoff: float = MAX_BACKOFF
    ) -> None:
        self.spool = spool
        self.stopping = stopping
        self.max_backoff = max_backoff
        self._queues: dict[str, deque[Incoming]] = {}
        self._workers: set[asyncio.Task[None]] = set()

    def put(self, incoming: Incoming, on_message: MessageHandler) -> None:
        """Queue ``incoming`` behind its conversation's; start a worker if there is none."""
        conversation = incoming.conversation_id
        queue = self._queues.get(conversation)
        if queue is not None:
            queue.append(incoming)
            return
        self._queues[conversation] = deque([incoming])
        worker = asyncio.ensure_future(self._drain(conversation, on_message))
        self._workers.add(worker)
        worker.add_done_callback(self._workers.discard)

    async def _drain(self, conversation: str, on_message: MessageHandler) -> None:
        queue = self._queues[conversation]
        try:
            while queue and not self.stopping.is_set():
                incoming = queue[0]
                if not await self._hand_over(incoming, on_message):
                    return  # stopping: this one and those behind it wait in the spool
                queue.popleft()
                await self.spool.done(incoming.event_id)
        finally:
            del self._queues[conversation]

    async def _hand_over(self, incoming: Incoming, on_message: MessageHandler) -> bool:
        """Hand ``incoming`` over until it is handled (True) or the bot stops (False)."""
        backoff = FIRST_BACKOFF
        failures = 0
        while True:
            try:
                await on_message(incoming)
                if failures:
                    logger.info(
                        "Slack : événement %s traité après %d échec(s)", incoming.event_id, failures
                    )
                return True
            except Exception as error:
                failures += 1
                if self.stopping.is_set():
                    logger.info(
                        "Slack : événement %s non traité (%s) ; gardé pour le prochain démarrage",
                        incoming.event_id,
                        type(error).__name__,
                    )
                    return False
                # One traceback per event, then one line now and then: the cause is known.
                if failures == 1:
                    logger.exception(
                        "Slack : traitement de l'événement %s en échec ; nouvel essai",
                        incoming.event_id,
                    )
                elif failures % 10 == 0:
                    logger.warning(
                        "Slack : événement %s toujours non traité après %d essais (%s)",
                        incoming.event_id,
                        failures,
                        error,
                    )
            if await sleep_or_stop(self.stopping, backoff):
                logger.info(
                    "Slack : événement %s gardé pour le prochain démarrage", incoming.event_id
                )
                return False
            backoff = min(backoff * 2, self.max_backoff)

    async def finish(self, grace: float) -> None:
        """Wait up to ``grace`` s for the messages being handled, then cancel the rest (they
        stay in the spool)."""
        workers = set(self._workers)
        if not workers:
            return
        _, pending = await asyncio.wait(workers, timeout=grace)
        for worker in pending:
            worker.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
