"""The outbox: one row per message to send, unique by idempotency key."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.core import Button
from bot.domain import (
    Delivery,
    DeliveryStatus,
    NewDelivery,
)
from storage.models import (
    DeliveryRow,
)
from storage.repositories.base import _Repo, _split
from storage.repositories.errors import StorageError


class OutboxRepo(_Repo):
    def enqueue(self, item: NewDelivery, now: datetime) -> bool:
        """Insert-or-ignore by key; True when a new row was written."""
        values = {
            "key": item.key,
            "kind": item.kind,
            "campaign_id": item.campaign_id,
            "person_id": item.person_id,
            "recipient": item.recipient,
            "to_conversation": item.to_conversation,
            "body": item.body,
            "mentions": "\n".join(item.mentions),
            "buttons": encode_buttons(item.buttons),
            "status": DeliveryStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": item.not_before or now,
            "batch": item.batch,
            "created_at": now,
        }
        dialect = self.session.get_bind().dialect.name
        insert: Any
        if dialect == "postgresql":
            insert = postgresql.insert(DeliveryRow).values(values)
        elif dialect == "sqlite":
            insert = sqlite.insert(DeliveryRow).values(values)
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported
            raise StorageError(f"unsupported database {dialect}")
        statement = insert.on_conflict_do_nothing(index_elements=["key"]).returning(DeliveryRow.id)
        return self.session.execute(statement).scalar() is not None

    def _delivery(self, row: DeliveryRow) -> Delivery:
        return Delivery(
            id=row.id,
            key=row.key,
            kind=row.kind,
            campaign_id=row.campaign_id,
            person_id=row.person_id,
            recipient=row.recipient,
            to_conversation=row.to_conversation,
            body=row.body,
            mentions=_split(row.mentions),
            buttons=decode_buttons(row.buttons),
            status=DeliveryStatus(row.status),
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            remote_id=row.remote_id,
            last_error=row.last_error,
            batch=row.batch,
        )

    def due(self, now: datetime, limit: int = 50) -> list[Delivery]:
        """Due messages, fairly: each recipient's oldest first, then each one's second…

        Within a recipient the order is kept; across recipients nobody's backlog goes first.
        """
        due = (DeliveryRow.status == DeliveryStatus.PENDING, DeliveryRow.next_attempt_at <= now)
        ranked = (
            select(
                DeliveryRow.id.label("id"),
                func.row_number()
                .over(
                    partition_by=DeliveryRow.recipient,
                    order_by=(DeliveryRow.next_attempt_at, DeliveryRow.id),
                )
                .label("turn"),
            )
            .where(*due)
            .subquery()
        )
        rows = self.session.scalars(
            select(DeliveryRow)
            .join(ranked, ranked.c.id == DeliveryRow.id)
            .order_by(
                ranked.c.turn,
                # Conversation replies first: an answer must not wait behind a 450-person launch.
                case((DeliveryRow.to_conversation.is_(True), 0), else_=1),
                DeliveryRow.next_attempt_at,
                DeliveryRow.id,
            )
            .limit(limit)
        )
        return [self._delivery(row) for row in rows]

    def next_due_at(self) -> datetime | None:
        return self.session.scalar(
            select(func.min(DeliveryRow.next_attempt_at)).where(
                DeliveryRow.status == DeliveryStatus.PENDING
            )
        )

    def pending_count(self) -> int:
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(DeliveryRow)
                .where(DeliveryRow.status == DeliveryStatus.PENDING)
            )
            or 0
        )

    def get(self, key: str) -> Delivery | None:
        row = self.session.scalar(select(DeliveryRow).where(DeliveryRow.key == key))
        return self._delivery(row) if row else None

    def mark_sent(self, delivery_id: int, remote_id: str, now: datetime) -> None:
        self.session.execute(
            update(DeliveryRow)
            .where(DeliveryRow.id == delivery_id)
            .values(
                status=DeliveryStatus.SENT,
                remote_id=remote_id,
                sent_at=now,
                body=None,
                attempts=DeliveryRow.attempts + 1,
                last_error=None,
            )
        )

    def mark_retry(
        self, delivery_id: int, error: str, next_attempt_at: datetime, *, count: bool = True
    ) -> None:
        self.session.execute(
            update(DeliveryRow)
            .where(DeliveryRow.id == delivery_id)
            .values(
                attempts=DeliveryRow.attempts + (1 if count else 0),
                last_error=error[:500],
                next_attempt_at=next_attempt_at,
            )
        )

    def mark_failed(self, delivery_id: int, error: str) -> None:
        self.session.execute(
            update(DeliveryRow)
            .where(DeliveryRow.id == delivery_id)
            .values(
                status=DeliveryStatus.FAILED,
                attempts=DeliveryRow.attempts + 1,
                last_error=error[:500],
                body=None,
            )
        )

    def cancel_pending(self, campaign_id: int) -> int:
        result: Any = self.session.execute(
            update(DeliveryRow)
            .where(
                DeliveryRow.campaign_id == campaign_id,
                DeliveryRow.status == DeliveryStatus.PENDING,
            )
            .values(status=DeliveryStatus.CANCELLED, body=None)
        )
        return int(result.rowcount or 0)

    def cancel_pending_for(self, person_id: int, campaign_id: int | None = None) -> int:
        """Drop pending campaign messages to a person (all campaigns, or one)."""
        query = (
            update(DeliveryRow)
            .where(
                DeliveryRow.person_id == person_id,
                DeliveryRow.status == DeliveryStatus.PENDING,
                DeliveryRow.campaign_id.is_not(None),
                DeliveryRow.kind.in_(["invitation", "reminder"]),
            )
            .values(status=DeliveryStatus.CANCELLED, body=None)
        )
        if campaign_id is not None:
            query = query.where(DeliveryRow.campaign_id == campaign_id)
        result: Any = self.session.execute(query)
        return int(result.rowcount or 0)

    def batch_counts(self, batch: str) -> dict[DeliveryStatus, int]:
        rows = self.session.execute(
            select(DeliveryRow.status, func.count())
            .where(DeliveryRow.batch == batch)
            .group_by(DeliveryRow.status)
        ).all()
        return {DeliveryStatus(status): int(count) for status, count in rows}

    def failures(self, batch: str) -> list[Delivery]:
        rows = self.session.scalars(
            select(DeliveryRow).where(
                DeliveryRow.batch == batch, DeliveryRow.status == DeliveryStatus.FAILED
            )
        )
        return [self._delivery(row) for row in rows]

    def by_remote_id(self, remote_id: str) -> Delivery | None:
        row = self.session.scalar(select(DeliveryRow).where(DeliveryRow.remote_id == remote_id))
        return self._delivery(row) if row else None

    def last_campaign_message_to(self, person_id: int) -> int | None:
        """The campaign of the latest campaign message sent to the person."""
        return self.session.scalar(
            select(DeliveryRow.campaign_id)
            .where(
                DeliveryRow.person_id == person_id,
                DeliveryRow.campaign_id.is_not(None),
                DeliveryRow.status == DeliveryStatus.SENT,
            )
            .order_by(DeliveryRow.sent_at.desc(), DeliveryRow.id.desc())
            .limit(1)
        )


def encode_buttons(buttons: Sequence[Button]) -> str:
    """Buttons are stored as a JSON list of ``[label, reply]`` pairs."""
    return json.dumps([[button.label, button.reply] for button in buttons], ensure_ascii=False)


def decode_buttons(text: str | None) -> tuple[Button, ...]:
    if not text:
        return ()
    if not text.startswith("["):
        # Rows written before 0.2 held "label<TAB>reply" lines.
        pairs = [line.partition("\t")[::2] for line in text.split("\n") if line]
        return tuple(Button(label, reply or label) for label, reply in pairs)
    return tuple(Button(str(label), str(reply)) for label, reply in json.loads(text))
