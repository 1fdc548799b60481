"""The unit of work: one transaction and the repositories that work in it.

Commit happens when the ``with`` block of :meth:`Store.transaction` exits without an exception.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from storage.db import Database
from storage.keys import PrivacyKey
from storage.repositories.campaigns import CampaignRepo, StepRepo
from storage.repositories.conversations import (
    AuditRepo,
    EventRepo,
    PromptRepo,
    QuestionRepo,
    QuotaRepo,
)
from storage.repositories.lease import LeaseRepo
from storage.repositories.ops import OpsRepo
from storage.repositories.outbox import OutboxRepo
from storage.repositories.participation import ParticipationRepo
from storage.repositories.people import PeopleRepo, RoleRepo, ServiceRepo
from storage.repositories.pix import PixRepo
from storage.repositories.privacy import PrivacyRepo
from storage.repositories.retention import RetentionRepo
from storage.repositories.snapshots import NoteRepo, SnapshotRepo


class UnitOfWork:
    """One transaction and the repositories that work in it."""

    def __init__(self, session: Session, key: PrivacyKey | None = None) -> None:
        self.session = session
        self.services = ServiceRepo(session)
        self.people = PeopleRepo(session)
        self.roles = RoleRepo(session)
        self.campaigns = CampaignRepo(session)
        self.participation = ParticipationRepo(session)
        self.outbox = OutboxRepo(session)
        self.events = EventRepo(session)
        self.audit = AuditRepo(session)
        self.prompts = PromptRepo(session)
        self.questions = QuestionRepo(session)
        self.steps = StepRepo(session)
        self.privacy = PrivacyRepo(session, key or PrivacyKey())
        self.lease = LeaseRepo(session)
        self.ops = OpsRepo(session)
        self.retention = RetentionRepo(session)
        self.quotas = QuotaRepo(session)
        self.snapshots = SnapshotRepo(session)
        self.notes = NoteRepo(session)
        self.pix = PixRepo(session)

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """A part of the transaction that is undone alone when it raises (a savepoint)."""
        with self.session.begin_nested():
            yield


class Store:
    """Entry point of the storage layer: ``with store.transaction() as uow: ...``."""

    def __init__(self, database: Database, key: PrivacyKey | None = None) -> None:
        self.database = database
        self.key = key or PrivacyKey.for_database(database.url)

    @classmethod
    def from_url(cls, url: str, key_file: str | None = None, key: str | None = None) -> Store:
        """``key_file``/``key``: where the keyed-hash secret lives (storage/keys.py)."""
        return cls(Database(url), PrivacyKey.for_database(url, key_file, key))

    def upgrade(self) -> None:
        self.database.upgrade()

    @contextmanager
    def transaction(self) -> Iterator[UnitOfWork]:
        with self.database.session() as session:
            yield UnitOfWork(session, self.key)

    def close(self) -> None:
        self.database.dispose()


_BUSY_MESSAGES = ("database is locked", "database is busy", "lock timeout", "could not obtain lock")


def is_busy(error: BaseException) -> bool:
    """The database refused because another writer holds a lock (worth trying again)."""
    if not isinstance(error, OperationalError):
        return False
    text = str(error.orig or error).lower()
    return any(message in text for message in _BUSY_MESSAGES)
