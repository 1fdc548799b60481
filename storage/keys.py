"""Where the secret of the keyed hashes (tombstones, pseudonyms, hashed event ids) lives:
outside the database, so that a copy of the database alone (a backup, a stolen file) cannot
tell whose tombstone is whose.

* ``[privacy] key`` (64 hex digits, e.g. ``PIXBOT_PRIVACY__KEY``) when set;
* else the key file ``[privacy] key_file``, by default beside a SQLite database
  (``pixbot.db`` → ``pixbot.db.key``), created on first use with 256 random bits, mode 0600;
* PostgreSQL without either: the database's own ``privacy_keys`` row, as before (docs/privacy.md
  tells the operator to set one of the two).

A database that still holds its key (made before this change) gives it to the file on first use
and forgets it: existing tombstones and pseudonyms stay valid.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from pathlib import Path

from sqlalchemy import delete
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from storage.models import PrivacyKeyRow

KEY_NAME = "hmac"


def default_key_file(url: str) -> Path | None:
    """The key file beside a SQLite database file; None for PostgreSQL or in-memory SQLite."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).with_name(Path(database).name + ".key")


class PrivacyKey:
    """The keyed-hash secret, read once per process."""

    def __init__(self, path: Path | None = None, value: bytes | None = None) -> None:
        self.path = path
        self._value = value
        self._legacy_checked = False
        self._lock = threading.Lock()

    @classmethod
    def for_database(
        cls, url: str, key_file: str | Path | None = None, key: str | None = None
    ) -> PrivacyKey:
        if key:
            return cls(value=bytes.fromhex(key.strip()))
        path = Path(key_file) if key_file else default_key_file(url)
        if path is None and make_url(url).drivername.startswith("sqlite"):
            return cls(value=secrets.token_bytes(32))  # in-memory database: an in-memory key
        return cls(path=path)

    @property
    def in_database(self) -> bool:
        return self.path is None and self._value is None

    def get(self, session: Session) -> bytes:
        with self._lock:
            if self._value is not None and (self.path is None or self._legacy_checked):
                return self._value
            if self.path is None:
                return self._from_database(session)
            legacy = session.get(PrivacyKeyRow, KEY_NAME)
            if self._value is None:
                self._value = self._read_or_create(legacy.value if legacy else None)
            if legacy is not None:
                session.execute(delete(PrivacyKeyRow).where(PrivacyKeyRow.name == KEY_NAME))
            else:
                self._legacy_checked = True
            return self._value

    def _from_database(self, session: Session) -> bytes:
        row = session.get(PrivacyKeyRow, KEY_NAME)
        if row is None:
            row = PrivacyKeyRow(name=KEY_NAME, value=secrets.token_hex(32))
            session.add(row)
            session.flush()
        return bytes.fromhex(row.value)

    def _read_or_create(self, legacy: str | None) -> bytes:
        assert self.path is not None
        with contextlib.suppress(FileNotFoundError):
            return bytes.fromhex(self.path.read_text(encoding="ascii").strip())
        value = legacy or secrets.token_hex(32)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it meanwhile: theirs wins
            return bytes.fromhex(self.path.read_text(encoding="ascii").strip())
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(value + "\n")
            file.flush()
            os.fsync(file.fileno())
        return bytes.fromhex(value)
