"""Erasure that lasts: the keyed-hash secret, tombstones, and the complete erasure of a person.

After :meth:`PrivacyRepo.erase`, no row in any table names the person's platform id, display
name or email: their own rows are deleted, rows about others that mention them are deleted or
rewritten, and audit rows keep a keyed pseudonym instead of the id. A tombstone (keyed hash of the
id and of the email) stops lists and imports from creating the person again.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, or_, select, update
from sqlalchemy.orm import Session

from bot.domain import Person
from bot.privacy import keyed_hash, pseudonym
from storage.keys import PrivacyKey
from storage.models import (
    AuditRow,
    CampaignRow,
    DeliveryRow,
    ErasureRow,
    ProcessedEventRow,
    QuestionRow,
)
from storage.repositories.base import _Repo, chunks
from storage.repositories.people import PeopleRepo

ERASURE_SKEW = timedelta(seconds=30)

# Display names shorter than this are too common to search other rows for.
MIN_NAME_SEARCH = 4


class PrivacyRepo(_Repo):
    def __init__(self, session: Session, key: PrivacyKey) -> None:
        super().__init__(session)
        self._key = key

    def key(self) -> bytes:
        """The secret for keyed hashes: outside the database (storage/keys.py)."""
        return self._key.get(self.session)

    def digest(self, value: str) -> str:
        """The keyed hash of a person's id (a question's asker): links without naming."""
        return keyed_hash(self.key(), value)

    def event_digest(self, event_id: str) -> str:
        """What ``processed_events`` keeps of an inbound event id: a Slack button click's or
        reaction's id holds the user id and the time of the click; its keyed hash does not
        (exact bytes: event ids are case-sensitive)."""
        return hmac.new(self.key(), event_id.encode("utf-8"), hashlib.sha256).hexdigest()

    def is_erased(self, *values: str | None) -> bool:
        """True when one of these ids or emails belongs to an erased person."""
        digests = [keyed_hash(self.key(), v) for v in values if v]
        if not digests:
            return False
        found = self.session.scalar(
            select(func.count()).select_from(ErasureRow).where(ErasureRow.digest.in_(digests))
        )
        return bool(found)

    def erased_among(self, values: Iterable[str]) -> set[str]:
        """The values (ids, emails) that belong to an erased person."""
        if self.session.scalar(select(ErasureRow.digest).limit(1)) is None:
            return set()  # nobody erased (the usual case): no digest to compute
        key = self.key()
        by_digest = {keyed_hash(key, v): v for v in values if v}
        if not by_digest:
            return set()
        found: set[str] = set()
        for part in chunks(list(by_digest)):
            found.update(
                self.session.scalars(
                    select(ErasureRow.digest).where(self._among(ErasureRow.digest, part))
                )
            )
        return {by_digest[d] for d in found}

    def welcome_back(self, platform_id: str, written_at: datetime) -> bool:
        """A person unknown to the bot wrote at ``written_at``: whether they may come back.

        Someone erased before who writes again chose to come back: their id's tombstone goes
        (imports and lists may know them again); an email's stays until they are imported with
        it. What they wrote *before* their erasure and is handled only now (a Slack spool
        backlog, a Matrix replay after an outage) does not bring them back: False, the tombstone
        stays. A platform's clock may run up to :data:`ERASURE_SKEW` behind ours: a message
        stamped that close before the erasure counts as written after it."""
        digest = keyed_hash(self.key(), platform_id)
        row = self.session.get(ErasureRow, digest)
        if row is None:
            return True
        if row.erased_at > written_at + ERASURE_SKEW:
            return False
        self.session.delete(row)
        return True

    def erase(self, person: Person, now: datetime) -> str:
        """Erase a person everywhere; returns the pseudonym the audit log keeps."""
        key = self.key()
        alias = pseudonym(key, person.platform_id)
        for value in (person.platform_id, person.email):
            if value:
                digest = keyed_hash(key, value)
                if self.session.get(ErasureRow, digest) is None:
                    self.session.add(ErasureRow(digest=digest, erased_at=now))
        needles = [person.platform_id]
        if person.email:
            needles.append(person.email)
        if person.display_name and len(person.display_name) >= MIN_NAME_SEARCH:
            needles.append(person.display_name)
        pid = person.id
        s = self.session
        # Rows about others that mention the person: messages, questions.
        s.execute(
            delete(DeliveryRow).where(
                or_(
                    DeliveryRow.person_id == pid,
                    DeliveryRow.recipient.in_([person.platform_id, f"dm:{person.platform_id}"]),
                    *(DeliveryRow.body.contains(n, autoescape=True) for n in needles),
                    # A reply's key holds the event it answers (a Slack click's has the user id).
                    *(DeliveryRow.key.contains(n, autoescape=True) for n in needles),
                    *(DeliveryRow.last_error.contains(n, autoescape=True) for n in needles),
                )
            )
        )
        digest = keyed_hash(key, person.platform_id)
        about = or_(
            QuestionRow.asker_id == pid,
            QuestionRow.asker_digest == digest,
            *(QuestionRow.text.contains(n, autoescape=True) for n in needles),
        )
        # A question handed off to the ambassadors and not answered yet stays, emptied and
        # without its asker: "répondre N" must read the same whether its asker is still here.
        waiting = QuestionRow.handed_off_at.is_not(None) & QuestionRow.answered_at.is_(None)
        s.execute(
            update(QuestionRow)
            .where(about, waiting)
            .values(
                text="",
                asker_id=case((QuestionRow.asker_id == pid, None), else_=QuestionRow.asker_id),
                asker_digest=case(
                    (QuestionRow.asker_digest == digest, None), else_=QuestionRow.asker_digest
                ),
            )
        )
        s.execute(delete(QuestionRow).where(about, ~waiting))
        # Event ids recorded raw before they were hashed (kept 30 days) may hold the id.
        s.execute(
            delete(ProcessedEventRow).where(
                ProcessedEventRow.event_id.contains(person.platform_id, autoescape=True)
            )
        )
        # The audit log keeps what happened, under a pseudonym.
        s.execute(update(AuditRow).where(AuditRow.actor.in_(needles)).values(actor=alias))
        for row in s.scalars(
            select(AuditRow).where(
                or_(*(AuditRow.detail.contains(n, autoescape=True) for n in needles))
            )
        ):
            detail = row.detail or ""
            for needle in needles:
                detail = detail.replace(needle, alias)
            row.detail = detail
        # List audiences name their people by internal id: drop this one.
        marker = f"#{pid}"
        for campaign in s.scalars(select(CampaignRow).where(CampaignRow.audience_kind == "list")):
            items = campaign.audience_value.split(",")
            if marker in items:
                campaign.audience_value = ",".join(i for i in items if i != marker)
        # The person's own rows.
        PeopleRepo(s).delete(pid)
        s.flush()
        return alias
