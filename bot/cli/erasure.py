"""``pixbot forget``'s pipeline: what the command line reaches without the platform.

The database (rows in one transaction, then :class:`bot.erasure.DatabaseScrub`), and the files
the bot keeps beside it when they exist: the console journal, the Slack spool (when no running
bot holds it: a running bot drops the person's waiting events anyway, as written before their
erasure, and rewrites its spool when it drains), the Matrix events waiting for their keys.
The Matrix direct room and ``m.direct`` entry need the bot's session: the running bot reaches
them through ``oublie-moi``; after ``pixbot forget`` they stay until the person writes or an
operator leaves the room (docs/privacy.md).
"""

from __future__ import annotations

import logging
from pathlib import Path

from bot.config import Settings
from bot.core import ErasedPerson
from bot.erasure import DatabaseScrub, ErasurePipeline
from bot.runner import console_journal_path, slack_spool_path
from storage.uow import Store

log = logging.getLogger(__name__)


class JournalFile:
    name = "console journal"
    anonymous = False

    def __init__(self, path: Path) -> None:
        self.path = path

    async def erase(self, person: ErasedPerson) -> None:
        from bot.platforms.console import ConsoleJournal

        ConsoleJournal(self.path).forget(person.platform_id, *person.needles()[1:])


class SpoolFile:
    name = "slack spool"
    anonymous = False

    def __init__(self, path: Path) -> None:
        self.path = path

    async def erase(self, person: ErasedPerson) -> None:
        from bot.platforms.slack.spool import Spool, SpoolLocked

        spool = Spool(self.path)
        try:
            spool.open()
        except SpoolLocked:
            log.warning("Slack spool in use by a running bot: its own erasure check applies")
            return
        try:
            await spool.forget(person.needles())
        finally:
            spool.close()


class PendingFile:
    name = "matrix pending events"
    anonymous = False

    def __init__(self, path: Path) -> None:
        self.path = path

    async def erase(self, person: ErasedPerson) -> None:
        from bot.platforms.matrix.pending import PendingEvents

        PendingEvents(self.path).forget(person.platform_id, person.needles())


def offline_pipeline(settings: Settings, store: Store) -> ErasurePipeline:
    pipeline = ErasurePipeline([DatabaseScrub(store)])
    journal = console_journal_path(settings.bot.database_url)
    if journal is not None and journal.exists():
        pipeline.register(JournalFile(journal))
    spool = slack_spool_path(settings)
    if spool.exists():
        pipeline.register(SpoolFile(spool))
    pending = Path(settings.matrix.store_path) / "pending_events.json"
    if pending.exists():
        pipeline.register(PendingFile(pending))
    return pipeline
