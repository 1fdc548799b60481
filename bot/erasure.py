"""Erasure as one pipeline every store registers into.

``oublie-moi`` (confirmed) and ``pixbot forget`` first erase the person from the database in one
transaction (:meth:`storage.repositories.privacy.PrivacyRepo.erase`: their rows, the rows that
name them, a tombstone). Then every other place that may hold them runs, in registration order,
as an :class:`~bot.core.ErasureStep`:

* ``database``: the bytes the transaction freed (SQLite: ``secure_delete`` zeroes them as they
  are freed; the write-ahead log that still holds the old pages is checkpointed and truncated,
  free pages are given back) — :class:`DatabaseScrub`;
* the platform's own stores (``Platform.erasure_steps``, part of every adapter's contract):
  the console journal, the Slack spool, the Matrix events waiting for their keys, the Matrix
  direct room (left) and its ``m.direct`` entry (removed).

A step that fails is logged (under the person's pseudonym) and the others still run. Which
steps exist is decided where the pipeline is built (the running bot, or the CLI for what it
can reach without the platform), never by a test of the platform's name.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from bot.core import ErasedPerson, ErasureStep, Platform
from bot.dbwork import DatabaseWorker, InlineDatabase
from storage.uow import Store

log = logging.getLogger(__name__)


class ErasurePipeline:
    def __init__(self, steps: Iterable[ErasureStep] = ()) -> None:
        self.steps: list[ErasureStep] = list(steps)

    def register(self, step: ErasureStep) -> None:
        self.steps.append(step)

    def register_platform(self, platform: Platform) -> None:
        for step in platform.erasure_steps():
            self.register(step)

    @property
    def names(self) -> list[str]:
        return [step.name for step in self.steps]

    async def run(self, person: ErasedPerson) -> list[str]:
        """Run every step; the names of those that failed (logged)."""
        failed: list[str] = []
        for step in self.steps:
            try:
                await step.erase(person)
            except Exception:
                log.exception("effacement de %s : étape %s en échec", person.platform_id, step.name)
                failed.append(step.name)
        return failed

    async def run_anonymous(self) -> None:
        """Only the steps that need nobody's name (the database scrub): who it was is lost."""
        for step in self.steps:
            if step.anonymous:
                try:
                    await step.erase(ErasedPerson("", datetime.now(UTC)))
                except Exception:
                    log.exception("effacement : étape %s en échec", step.name)


class DatabaseScrub:
    """After the erasing transaction: nothing of the person left in free pages or the WAL."""

    name = "database"
    anonymous = True  # needs no name: it scrubs whatever the transaction freed

    def __init__(
        self, store: Store, database: DatabaseWorker | InlineDatabase | None = None
    ) -> None:
        self.store = store
        # The running bot's database worker; a tool without one scrubs in a thread of its own.
        self.database = database or DatabaseWorker(1)

    async def erase(self, person: ErasedPerson) -> None:
        await self.database.run(self.store.database.scrub)


class ErasureCoordinator:
    """The running bot's pipeline: it runs once the confirmation has left (sent, or failed for
    good) — the console journal and the platform record that last message, and leaving a
    Matrix direct room before it would lose it. Keyed by the conversation of the confirmation.
    After a restart between the two, the confirmation's delivery still scrubs the database."""

    def __init__(self, pipeline: ErasurePipeline, platform: Platform) -> None:
        self.pipeline = pipeline
        pipeline.register_platform(platform)
        # Conversation → people erased there whose confirmation has not left yet (in order:
        # two people may erase themselves in the same room).
        self._waiting: dict[str, list[ErasedPerson]] = {}

    def erased(self, conversation_id: str, person: ErasedPerson) -> None:
        self._waiting.setdefault(conversation_id, []).append(person)

    async def delivered(self, conversation_id: str) -> None:
        waiting = self._waiting.get(conversation_id)
        person = waiting.pop(0) if waiting else None
        if waiting == []:
            del self._waiting[conversation_id]
        if person is None:
            await self.pipeline.run_anonymous()
            return
        await self.pipeline.run(person)
