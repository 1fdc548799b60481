"""One running bot per database: only the lock holder schedules and sends.

PostgreSQL: a session-level advisory lock held on a dedicated connection (released by the
server if the process dies). SQLite: an exclusive ``flock`` on a file beside the database
(released by the kernel if the process dies).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from storage.db import Database

ADVISORY_KEY = 0x70697862  # "pixb"


class InstanceLock:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._connection: Connection | None = None
        self._file: IO[str] | None = None

    @property
    def path(self) -> Path | None:
        url = make_url(self.database.url)
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return None
        return Path(url.database + ".lock")

    def acquire(self) -> bool:
        if self.database.dialect == "postgresql":
            connection = self.database.engine.connect()
            got = bool(
                connection.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}
                ).scalar()
            )
            connection.commit()
            if got:
                self._connection = connection
            else:
                connection.close()
            return got
        path = self.path
        if path is None:
            return True
        handle = path.open("a+", encoding="utf-8")
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

    def release(self) -> None:
        if self._connection is not None:
            self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
            self._connection.commit()
            self._connection.close()
            self._connection = None
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
