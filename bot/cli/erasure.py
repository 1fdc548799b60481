"""``pixbot forget``'s pipeline: what the command line reaches without the platform.

The database (rows in one transaction, then :class:`bot.erasure.DatabaseScrub`), and the files
the bot keeps beside it when they exist: the console journal, the Slack spool (when no running
bot holds it: a running bot drops the person's waiting events anyway, as written before their
erasure, and rewrites its spool when it drains), the Matrix events waiting for their keys.
nio's key store (their devices' keys, the trust files) is scrubbed in its files. The Matrix
direct room and ``m.direct`` entry need the bot's session: the running bot reaches them through
``oublie-moi``; after ``pixbot forget`` they stay until an operator leaves the room
(docs/privacy.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bot.config import Settings
from bot.core import ErasedPerson
from bot.erasure import DatabaseScrub, ErasurePipeline
from bot.runner import console_journal_path, slack_spool_path
from bot.translation import N_, translate
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
            log.warning(
                "Spool Slack utilisé par un bot en marche : sa propre vérification d'effacement "
                "s'applique"
            )
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


class NioStoreFiles:
    """nio's key database (``<bot>_<device>.db``) and trust files in the Matrix store."""

    name = "matrix key store"
    anonymous = False

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def erase(self, person: ErasedPerson) -> None:
        user = person.platform_id
        for database in sorted(self.folder.glob("*.db")):
            with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection:
                tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
                if not {"devicekeys", "keys"} <= tables:
                    continue
                connection.execute("PRAGMA secure_delete=ON")
                with connection:
                    connection.execute(
                        "DELETE FROM keys WHERE device_id IN "
                        "(SELECT id FROM devicekeys WHERE user_id = ?)",
                        (user,),
                    )
                    connection.execute("DELETE FROM devicekeys WHERE user_id = ?", (user,))
                connection.execute("VACUUM")
        for trust in sorted(self.folder.glob("*_devices")):
            lines = trust.read_text(encoding="utf-8").splitlines(keepends=True)
            kept = [line for line in lines if line.split(" ", 1)[0] != user]
            if kept != lines:
                trust.write_text("".join(kept), encoding="utf-8")


# What an operator reads for each step's id (the ids stay English: logs and metrics use them).
STEP_LABELS = {
    "database": N_("base de données (pages libérées)"),
    "console journal": N_("journal de la console"),
    "slack spool": N_("file d'attente Slack sur disque"),
    "matrix pending events": N_("messages Matrix en attente de leurs clés"),
    "matrix direct room": N_("salon direct Matrix"),
    "matrix key store": N_("magasin de clés Matrix"),
}


def step_label(name: str) -> str:
    """The step ``name`` in the operator's language (its id when it has no label)."""
    label = STEP_LABELS.get(name)
    return translate(label) if label else name


def offline_pipeline(settings: Settings, store: Store) -> ErasurePipeline:
    pipeline = ErasurePipeline([DatabaseScrub(store)])
    journal = console_journal_path(settings.bot.database_url)
    if journal is not None and journal.exists():
        pipeline.register(JournalFile(journal))
    spool = slack_spool_path(settings)
    if spool.exists():
        pipeline.register(SpoolFile(spool))
    # Every Matrix account's store: the main one's and each sender account's (docs/scaling.md).
    stores = [settings.matrix.store_path, *(s.store_path for s in settings.matrix.senders)]
    for matrix_store in map(Path, stores):
        if (matrix_store / "pending_events.json").exists():
            pipeline.register(PendingFile(matrix_store / "pending_events.json"))
        if matrix_store.is_dir():
            pipeline.register(NioStoreFiles(matrix_store))
    return pipeline


def run_offline(pipeline: ErasurePipeline, person: ErasedPerson) -> list[str]:
    """Run the pipeline from synchronous code; in its own thread when this one already runs an
    event loop (the CLI called in-process by an application or a test)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(pipeline.run(person))
    with ThreadPoolExecutor(max_workers=1) as worker:
        return worker.submit(asyncio.run, pipeline.run(person)).result()
