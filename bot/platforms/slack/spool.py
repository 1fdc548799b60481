"""Slack events accepted but not yet handled, kept on disk until they are.

Slack gets its acknowledgement only once the event is written here (and ``fsync``'d), so an
event acknowledged to Slack survives a database outage, a crash or a restart: it stays in the
spool until its handling succeeded, and a new process hands the unfinished ones over again, in
the order they arrived. The spool is a journal of JSON lines, independent of the database (which
may be the very thing that is down): ``{"add": {…the event…}}`` when an event is accepted,
``{"done": "<event id>"}`` once it is handled. The file is emptied as soon as nothing is
pending, and rewritten without the finished events when it is opened or grows long, so it holds
what people wrote only while it waits (mode 0600).

An event already pending (or handled recently by this process) is not spooled twice: that is
what makes a redelivery by Slack (``X-Slack-Retry-Num``) or the ``app_mention`` twin of a
message cost nothing; the core's processed-events table makes a replay after a crash idempotent.
Writes go through one thread, in order, so the event loop never waits for the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.core import ErasedPerson, Incoming

logger = logging.getLogger(__name__)

# Event ids handled by this process that are still recognised (a redelivery is then not spooled).
RECENT_KEPT = 4096
# The journal is rewritten without its finished events past this many lines.
COMPACT_AT = 2000

_FIELDS = {field.name for field in fields(Incoming)}


class SpoolLocked(RuntimeError):
    """Another process uses this spool."""


def encode(incoming: Incoming) -> str:
    record = asdict(incoming)
    record["timestamp"] = incoming.timestamp.isoformat()
    return json.dumps({"add": record}, ensure_ascii=False, separators=(",", ":"))


def decode(record: Any) -> Incoming | None:
    """The event of an ``add`` record; None for anything else (a torn or foreign line)."""
    if not isinstance(record, dict) or not isinstance(record.get("add"), dict):
        return None
    data = {key: value for key, value in record["add"].items() if key in _FIELDS}
    try:
        data["timestamp"] = datetime.fromisoformat(data["timestamp"])
        incoming = Incoming(**data)
    except (KeyError, TypeError, ValueError):
        return None
    if not isinstance(incoming.event_id, str) or not isinstance(incoming.conversation_id, str):
        return None
    return incoming


class Spool:
    """The durable queue of accepted Slack events; ``path=None`` keeps them in memory only
    (tests and tools: ``pixbot run`` always gives a path)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        # event id → its journal line, in the order the events arrived.
        self._pending: OrderedDict[str, str] = OrderedDict()
        self._events: dict[str, Incoming] = {}
        # Writes in flight: a duplicate waits for the first copy to be durable.
        self._writing: dict[str, asyncio.Future[None]] = {}
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._descriptor: int | None = None
        self._lines = 0
        self._executor: ThreadPoolExecutor | None = None

    # -- opening and closing ----------------------------------------------------------------

    def open(self) -> list[Incoming]:
        """Lock and read the journal; the events still to handle, in the order they came.

        Raises :class:`SpoolLocked` when another process holds it, ``OSError`` when the file
        cannot be used.
        """
        if self._descriptor is not None or self.path is None:
            return list(self._events.values())
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise SpoolLocked(str(self.path)) from None
        try:
            self._read(descriptor)
            # Written again without the finished events (and without a torn last line).
            self._rewrite(descriptor, list(self._pending.values()))
        except BaseException:
            os.close(descriptor)
            raise
        self._descriptor = descriptor
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="slack-spool")
        if self._pending:
            logger.info("Slack : %d événement(s) en attente dans %s", len(self._pending), self.path)
        return list(self._events.values())

    def _read(self, descriptor: int) -> None:
        with os.fdopen(os.dup(descriptor), "r", encoding="utf-8", errors="replace") as handle:
            handle.seek(0)
            for line in handle:
                try:
                    record = json.loads(line)
                except ValueError:
                    logger.warning("Slack : ligne illisible ignorée dans %s", self.path)
                    continue
                if isinstance(record, dict) and isinstance(record.get("done"), str):
                    self._pending.pop(record["done"], None)
                    self._events.pop(record["done"], None)
                    continue
                incoming = decode(record)
                if incoming is not None and incoming.event_id not in self._pending:
                    self._pending[incoming.event_id] = line.rstrip("\n")
                    self._events[incoming.event_id] = incoming

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._descriptor is not None:
            os.close(self._descriptor)  # releases the lock
            self._descriptor = None

    # -- what the adapter calls -------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._pending or event_id in self._recent

    async def add(self, incoming: Incoming) -> bool:
        """Keep ``incoming`` durably; False when it is already kept (or was just handled).

        Returns once the event is on disk; raises ``OSError`` when it cannot be written (then
        it must not be acknowledged: Slack sends it again).
        """
        event_id = incoming.event_id
        writing = self._writing.get(event_id)
        if writing is not None:
            await asyncio.shield(writing)  # the first copy's failure is this one's too
            return False
        if event_id in self:
            return False
        line = encode(incoming)
        self._pending[event_id] = line
        self._events[event_id] = incoming
        future = asyncio.get_running_loop().create_future()
        self._writing[event_id] = future
        try:
            await self._write(self._append, line)
        except BaseException as error:
            self._pending.pop(event_id, None)
            self._events.pop(event_id, None)
            future.set_exception(error if isinstance(error, Exception) else OSError("cancelled"))
            future.exception()  # retrieved: a failure nobody else awaits is not reported
            raise
        else:
            future.set_result(None)
        finally:
            del self._writing[event_id]
        return True

    async def done(self, event_id: str) -> None:
        """``event_id`` is handled: it leaves the spool (logged, not raised, if the disk
        refuses: the event is then handed over again at the next start, and recognised)."""
        if self._pending.pop(event_id, None) is None:
            return
        self._events.pop(event_id, None)
        self._recent[event_id] = None
        while len(self._recent) > RECENT_KEPT:
            self._recent.popitem(last=False)
        record = json.dumps({"done": event_id}, separators=(",", ":"))
        remaining = list(self._pending.values())
        try:
            await self._write(self._finish, record, remaining)
        except OSError as error:
            logger.warning(
                "Slack : impossible de marquer %s comme traité dans le spool : %s", event_id, error
            )

    async def forget(self, needles: list[str]) -> int:
        """Erasure: every waiting event that names the person (their id, name or email in the
        event) leaves the spool, and the journal is rewritten without them (and without the
        finished events' records, whose ids may hold a user id). Returns how many went."""
        needles = [n for n in needles if n]
        gone = [e for e, line in self._pending.items() if any(n in line for n in needles)]
        for event_id in gone:
            self._pending.pop(event_id, None)
            self._events.pop(event_id, None)
        for event_id in [e for e in self._recent if any(n in e for n in needles)]:
            del self._recent[event_id]
        if self._descriptor is not None:
            await self._write(self._rewrite_current)
        return len(gone)

    # -- the writing thread -----------------------------------------------------------------

    def _rewrite_current(self) -> None:
        assert self._descriptor is not None
        self._rewrite(self._descriptor, list(self._pending.values()))

    async def _write(self, function: Any, *arguments: Any) -> None:
        if self._descriptor is None or self._executor is None:
            return  # in memory only
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, function, *arguments)

    def _append(self, line: str) -> None:
        descriptor = self._descriptor
        assert descriptor is not None
        data = (line + "\n").encode()
        written = os.write(descriptor, data)
        if written != len(data):
            raise OSError(f"short write to {self.path} ({written} of {len(data)} bytes)")
        os.fsync(descriptor)
        self._lines += 1

    def _finish(self, record: str, remaining: list[str]) -> None:
        descriptor = self._descriptor
        assert descriptor is not None
        if not remaining or self._lines >= max(COMPACT_AT, 4 * len(remaining)):
            self._rewrite(descriptor, remaining)
        else:
            self._append(record)

    def _rewrite(self, descriptor: int, lines: list[str]) -> None:
        """Replace the journal with ``lines`` (the pending events): emptied in place when
        there are none, else written to a new file that takes the old one's place."""
        assert self.path is not None
        if not lines:
            os.ftruncate(descriptor, 0)
            os.fsync(descriptor)
            self._lines = 0
            return
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        fresh = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        try:
            # Locked before it takes the old file's place: the spool is never unlocked.
            fcntl.flock(fresh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            data = "".join(line + "\n" for line in lines).encode()
            if os.write(fresh, data) != len(data):
                raise OSError(f"short write to {temporary}")
            os.fsync(fresh)
            os.replace(temporary, self.path)
            _fsync_directory(self.path.parent)
            os.dup2(fresh, descriptor)  # this descriptor now writes to the new file
        finally:
            os.close(fresh)
        self._lines = len(lines)


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


class SpoolErasure:
    """The Slack spool's place in the erasure pipeline (bot/erasure.py)."""

    name = "slack spool"
    anonymous = False

    def __init__(self, spool: Spool) -> None:
        self.spool = spool

    async def erase(self, person: ErasedPerson) -> None:
        await self.spool.forget(person.needles())
