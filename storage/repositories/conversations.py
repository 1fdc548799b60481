"""Conversation state: processed platform events, prompts, FAQ questions, audit log."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update

from bot.domain import (
    Prompt,
    Question,
)
from storage.models import (
    AuditRow,
    ProcessedEventRow,
    PromptRow,
    QuestionRow,
    QuotaRow,
)
from storage.repositories.base import _Repo


class EventRepo(_Repo):
    def mark_processed(self, platform: str, event_id: str, now: datetime) -> bool:
        """Record an inbound event id; False when it was already handled."""
        if self.session.get(ProcessedEventRow, (platform, event_id)) is not None:
            return False
        self.session.add(ProcessedEventRow(platform=platform, event_id=event_id, processed_at=now))
        self.session.flush()
        return True

    def purge_before(self, moment: datetime) -> int:
        result: Any = self.session.execute(
            delete(ProcessedEventRow).where(ProcessedEventRow.processed_at < moment)
        )
        return int(result.rowcount or 0)


class AuditRepo(_Repo):
    def add(
        self,
        actor: str,
        action: str,
        now: datetime,
        campaign_id: int | None = None,
        count: int | None = None,
        detail: str | None = None,
    ) -> None:
        self.session.add(
            AuditRow(
                at=now,
                actor=actor,
                action=action,
                campaign_id=campaign_id,
                count=count,
                detail=detail[:500] if detail else None,
            )
        )

    def exists(self, action: str, campaign_id: int | None, detail: str) -> bool:
        return (
            self.session.scalar(
                select(AuditRow.id)
                .where(
                    AuditRow.action == action,
                    AuditRow.campaign_id == campaign_id,
                    AuditRow.detail == detail,
                )
                .limit(1)
            )
            is not None
        )

    def moments(self, action: str, campaign_id: int, exclude_actor: str) -> list[datetime]:
        """When ``action`` happened for a campaign, oldest first (e.g. the manual relances)."""
        return list(
            self.session.scalars(
                select(AuditRow.at)
                .where(
                    AuditRow.action == action,
                    AuditRow.campaign_id == campaign_id,
                    AuditRow.actor != exclude_actor,
                )
                .order_by(AuditRow.at, AuditRow.id)
            )
        )


class QuotaRepo(_Repo):
    """Daily allowances per person: ``take`` one unit if the day's limit allows it."""

    KEPT = timedelta(days=7)

    def take(self, person_id: int, kind: str, day: date, limit: int) -> bool:
        row = self.session.get(QuotaRow, (person_id, kind, day))
        if row is None:
            if limit <= 0:
                return False
            self.session.execute(
                delete(QuotaRow).where(
                    QuotaRow.person_id == person_id, QuotaRow.day < day - self.KEPT
                )
            )
            self.session.add(QuotaRow(person_id=person_id, kind=kind, day=day, count=1))
            self.session.flush()
            return True
        if row.count >= limit:
            return False
        row.count += 1
        self.session.flush()
        return True

    def used(self, person_id: int, kind: str, day: date) -> int:
        row = self.session.get(QuotaRow, (person_id, kind, day))
        return row.count if row else 0


class PromptRepo(_Repo):
    def set(self, person_id: int, kind: str, payload: str, expires_at: datetime) -> None:
        row = self.session.get(PromptRow, person_id)
        if row is None:
            self.session.add(
                PromptRow(person_id=person_id, kind=kind, payload=payload, expires_at=expires_at)
            )
        else:
            row.kind, row.payload, row.expires_at = kind, payload, expires_at
        self.session.flush()

    def pop(self, person_id: int, now: datetime) -> Prompt | None:
        row = self.session.get(PromptRow, person_id)
        if row is None:
            return None
        prompt = Prompt(row.kind, row.payload, row.expires_at)
        self.session.delete(row)
        self.session.flush()
        return prompt if prompt.expires_at > now else None


class QuestionRepo(_Repo):
    def _question(self, row: QuestionRow, names: dict[int, str]) -> Question:
        return Question(
            id=row.id,
            text=row.text,
            service=names.get(row.service_id) if row.service_id is not None else None,
            asked_at=row.asked_at,
            asker_id=row.asker_id,
            handed_off_at=row.handed_off_at,
            answered_at=row.answered_at,
        )

    def add_unanswered(
        self, text: str, service: str | None, now: datetime, asker_digest: str | None = None
    ) -> int:
        """Keep a question; ``asker_digest`` (PrivacyRepo.digest of the asker's id) only links
        it to its asker's erasure."""
        row = QuestionRow(
            text=text[:1000],
            service_id=self._service_id(service) if service else None,
            asked_at=now,
            asker_digest=asker_digest,
        )
        self.session.add(row)
        self.session.flush()
        return row.id

    def hand_off(self, question_id: int, asker_id: int, now: datetime) -> None:
        self.session.execute(
            update(QuestionRow)
            .where(QuestionRow.id == question_id)
            .values(asker_id=asker_id, handed_off_at=now)
        )

    def get(self, question_id: int) -> Question | None:
        row = self.session.get(QuestionRow, question_id)
        return self._question(row, self._service_names()) if row else None

    def answered(self, question_id: int, now: datetime) -> None:
        # The asker is forgotten once the answer is on its way.
        self.session.execute(
            update(QuestionRow)
            .where(QuestionRow.id == question_id)
            .values(answered_at=now, asker_id=None)
        )

    def asked_by(self, person_id: int) -> list[Question]:
        """Questions a person agreed to pass on and that still wait for an answer."""
        names = self._service_names()
        rows = self.session.scalars(
            select(QuestionRow).where(QuestionRow.asker_id == person_id).order_by(QuestionRow.id)
        )
        return [self._question(row, names) for row in rows]

    def unanswered(self) -> list[Question]:
        names = self._service_names()
        rows = self.session.scalars(
            select(QuestionRow)
            .where(QuestionRow.answered_at.is_(None))
            .order_by(QuestionRow.asked_at, QuestionRow.id)
        )
        return [self._question(row, names) for row in rows]

    def purge_before(self, moment: datetime) -> int:
        result: Any = self.session.execute(
            delete(QuestionRow).where(
                QuestionRow.asked_at < moment,
                or_(QuestionRow.asker_id.is_(None), QuestionRow.answered_at.is_not(None)),
            )
        )
        return int(result.rowcount or 0)
