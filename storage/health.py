"""Is the database answering? Which errors are worth retrying, and the state of the outage.

A transient error is one that goes away by itself: the server refused the connection or was
shut down (restart), a serialization failure or a deadlock (retry the transaction), a SQLite
file busy, read-only or full (the operator frees space or fixes permissions). The unit of work
that hit it was rolled back entirely, so retrying it is safe; every other error is a bug and is
raised as before.

:class:`DatabaseHealth` logs one line when an outage starts and one when it ends (never a
traceback per attempt) and answers the health check.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

from sqlalchemy import exc as sa_exc

log = logging.getLogger(__name__)

_SQLITE_TRANSIENT = re.compile(
    r"locked|busy|disk|full|readonly|read-only|unable to open|i/o error", re.IGNORECASE
)
_SQLITE_DISK = re.compile(r"full|readonly|read-only|disk|i/o error", re.IGNORECASE)


def is_transient(error: BaseException) -> bool:
    """True when retrying the same unit of work later can succeed."""
    if isinstance(error, sa_exc.TimeoutError):  # no connection free in the pool
        return True
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        module = type(error.orig).__module__
        if module.startswith("sqlite3"):
            found = _SQLITE_TRANSIENT.search(str(error.orig))
            return isinstance(error, sa_exc.OperationalError) and found is not None
        # psycopg: connection refused, AdminShutdown, SerializationFailure, DeadlockDetected,
        # lost connection are all OperationalError; InterfaceError is a closed connection.
        return isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError))
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    return isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError))


def describe(error: BaseException) -> str:
    """One line for the operator; no SQL, no parameters (they may hold personal data)."""
    original = getattr(error, "orig", None) or error
    first = str(original).strip().splitlines()[0] if str(original).strip() else ""
    kind = type(original).__name__
    if module_is_sqlite(original) and _SQLITE_DISK.search(first):
        return (
            f"{kind}: {first} — fichier SQLite en lecture seule ou disque plein : libérez de "
            "l'espace ou rétablissez les droits, le bot reprend seul"
        )
    return f"{kind}: {first[:200]}"


def module_is_sqlite(error: BaseException) -> bool:
    return type(error).__module__.startswith("sqlite3")


@dataclass
class DatabaseHealth:
    """The outage state: one log line when it starts, one when it ends."""

    down_since: float | None = None
    last_error: str = ""
    outages: int = 0

    @property
    def up(self) -> bool:
        return self.down_since is None

    def failed(self, error: BaseException) -> None:
        self.last_error = describe(error)
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.outages += 1
            log.warning(
                "Base de données indisponible (%s) ; nouvel essai automatique, rien n'est perdu",
                self.last_error,
            )

    def succeeded(self) -> None:
        if self.down_since is not None:
            seconds = time.monotonic() - self.down_since
            self.down_since = None
            log.warning("Base de données de retour après %.1f s", seconds)

    def check(self) -> dict[str, object]:
        if self.down_since is None:
            return {"status": "up"}
        return {
            "status": "down",
            "since_seconds": round(time.monotonic() - self.down_since, 1),
            "error": self.last_error,
        }
