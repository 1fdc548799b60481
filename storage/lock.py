"""One running bot per database: only the lock holder schedules and sends.

PostgreSQL: a session-level advisory lock held on a dedicated connection (released by the
server if the process dies). SQLite: an exclusive ``flock`` on a file beside the database
(released by the kernel if the process dies).

The lock fences: every acquisition increments an epoch stored in the database (the ``locks``
row ``instance``), and the holder checks it before sending and when marking a delivery. A
process that lost its lock (the database restarted and dropped the advisory lock, the lock
file was replaced) finds the epoch moved on and cannot mark or send anything after another
process took over. :meth:`InstanceLock.alive` tells whether the lock is still held.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, select, text, update
from sqlalchemy.engine import make_url

from storage.db import Database
from storage.models import LockRow

log = logging.getLogger(__name__)

ADVISORY_KEY = 0x70697862  # "pixb"
LOCK_NAME = "instance"


class LeaseLost(RuntimeError):
    """This process no longer holds the instance lock: it must not mark or send anything."""


class InstanceLock:
    def __init__(self, database: Database, holder: str | None = None) -> None:
        self.database = database
        self.holder = (holder or f"{socket.gethostname()}:{os.getpid()}")[:100]
        self.epoch: int | None = None
        self._connection: Connection | None = None
        self._file: IO[str] | None = None
        # Looked at from a thread (the lease's watchdog) and released from the event loop.
        self._mutex = threading.RLock()

    @property
    def path(self) -> Path | None:
        url = make_url(self.database.url)
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return None
        return Path(url.database + ".lock")

    @property
    def unfenced(self) -> bool:
        """An in-memory SQLite base: one process only, nothing to lock."""
        return self.database.dialect != "postgresql" and self.path is None

    def acquire(self) -> bool:
        """Try once; True when this process now holds the lock (with a new epoch)."""
        with self._mutex:
            return self._acquire()

    def _acquire(self) -> bool:
        if self.database.dialect == "postgresql":
            got = self._acquire_advisory()
        else:
            got = self._acquire_file()
        if got:
            try:
                self.epoch = self._bump_epoch()
            except Exception:
                self.release()
                raise
        return got

    def _acquire_advisory(self) -> bool:
        connection = self.database.engine.connect()
        try:
            got = bool(
                connection.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}
                ).scalar()
            )
            connection.commit()
        except Exception:
            with contextlib.suppress(Exception):
                connection.invalidate()
            raise
        if got:
            self._connection = connection
        else:
            connection.close()
        return got

    def held_elsewhere(self) -> bool:
        """Does another process hold the lock right now (a running bot)? Asked without taking
        it: on SQLite a shared ``flock`` probe of the lock file (refused while a bot holds it
        exclusively), on PostgreSQL the server's list of advisory locks."""
        if self.database.dialect == "postgresql":
            with self.database.engine.connect() as connection:
                return bool(
                    connection.execute(
                        text(
                            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
                            "AND granted AND objid = :key AND pid <> pg_backend_pid())"
                        ),
                        {"key": ADVISORY_KEY},
                    ).scalar()
                )
        path = self.path
        if path is None or not path.exists():
            return False
        with path.open("r", encoding="utf-8") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False

    def _acquire_file(self) -> bool:
        path = self.path
        if path is None:
            return True
        # 0600 like the database beside it (docs/privacy.md: every data file pixbot creates).
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        handle = os.fdopen(descriptor, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return True

    def _bump_epoch(self) -> int:
        now = datetime.now(UTC)
        with self.database.session() as session:
            row = session.get(LockRow, LOCK_NAME)
            if row is None:
                session.add(LockRow(name=LOCK_NAME, owner=self.holder, heartbeat_at=now, epoch=1))
                return 1
            session.execute(
                update(LockRow)
                .where(LockRow.name == LOCK_NAME)
                .values(epoch=LockRow.epoch + 1, owner=self.holder, heartbeat_at=now)
            )
            epoch = session.scalar(select(LockRow.epoch).where(LockRow.name == LOCK_NAME))
            return int(epoch or 0)

    def alive(self) -> bool:
        """Is the lock still ours? A lost lock is forgotten (re-acquire to hold it again)."""
        with self._mutex:
            return self._alive()

    def _alive(self) -> bool:
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT 1")).scalar()
                self._connection.commit()
                return True
            except Exception as error:
                log.debug("instance lock connection lost: %s", type(error).__name__)
                self._forget_connection()
                return False
        if self._file is not None:
            path = self.path
            try:
                inode = os.fstat(self._file.fileno()).st_ino
                same = path is not None and os.stat(path).st_ino == inode
            except OSError:
                same = False
            if not same:
                with contextlib.suppress(OSError):
                    self._file.close()
                self._file = None
            return same
        return self.unfenced and self.epoch is not None

    def _forget_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.invalidate()
            with contextlib.suppress(Exception):
                connection.close()

    def release(self) -> None:
        """Give the lock back; never raises (the database may be gone: the lock went with it)."""
        with self._mutex:
            self._release()

    def _release(self) -> None:
        if self._connection is not None:
            try:
                self._connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY}
                )
                self._connection.commit()
                self._connection.close()
                self._connection = None
            except Exception as error:
                log.debug("instance lock not released cleanly: %s", type(error).__name__)
                self._forget_connection()
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
                self._file.close()
            self._file = None
        self.epoch = None
