"""Incoming messages handed to the core in order: one at a time per conversation.

Conversations are served concurrently; within one, a message is handed over only after the
previous one was handled, so replies keep the order of the questions.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from bot.core import Incoming, MessageHandler

logger = logging.getLogger(__name__)


class ConversationQueues:
    def __init__(self) -> None:
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
            while queue:
                incoming = queue.popleft()
                try:
                    await on_message(incoming)
                except Exception:
                    logger.exception("Handler failed for Slack event %s", incoming.event_id)
        finally:
            del self._queues[conversation]

    async def finish(self, grace: float) -> None:
        """Wait up to ``grace`` s for the messages being handled, then cancel the rest."""
        workers = set(self._workers)
        if not workers:
            return
        _, pending = await asyncio.wait(workers, timeout=grace)
        for worker in pending:
            worker.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
