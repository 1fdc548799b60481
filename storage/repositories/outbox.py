"""The outbox: one row per message to send, unique by idempotency key."""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import Integer, String, bindparam, delete, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.core import Button
from bot.domain import (
    Delivery,
    DeliveryStatus,
    MessageRecord,
    NewDelivery,
)
from storage.errors import StorageError
from storage.models import (
    CampaignRow,
    DeliveryRow,
    PersonRow,
)
from storage.repositories.base import _Repo, _split, chunks, pg_pairs, table_of

# Due rows read at least, per kind, to order them fairly across recipients. One sender's
# backlog is bounded by the per-minute message limit, so it never fills this window alone.
FAIR_WINDOW = 500


class _HasRecipient(Protocol):
    @property
    def recipient(self) -> str: ...


R = TypeVar("R", bound=_HasRecipient)


def fair_order(deliveries: Sequence[R], served: Mapping[str, int] | None = None) -> list[R]:
    """Each recipient's first row, then each one's second…; within a turn, whoever was served
    least recently first (``served``: recipient → rank of their last send, higher is more
    recent; never served comes first); otherwise the order given.

    ``served`` carries the turns over from one read to the next: without it, a reader that
    reads again after every send (new replies keep coming) would start each time with the
    oldest row, always the backlog of the person who keeps writing, and someone else's reply
    would wait behind that whole backlog."""
    served = served or {}
    turns: dict[str, int] = {}
    ranked: list[tuple[int, int, int, R]] = []
    for position, delivery in enumerate(deliveries):
        turn = turns.get(delivery.recipient, 0)
        turns[delivery.recipient] = turn + 1
        ranked.append((turn, served.get(delivery.recipient, -1), position, delivery))
    ranked.sort(key=lambda item: (item[0], item[1], item[2]))
    return [delivery for _, _, _, delivery in ranked]


class OutboxRepo(_Repo):
    def enqueue(self, item: NewDelivery, now: datetime) -> bool:
        """Insert-or-ignore by key; True when a new row was written."""
        values = self._values(item, now)
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

    def enqueue_many(self, items: Sequence[NewDelivery], now: datetime) -> int:
        """Insert-or-ignore many rows by key (in bulk); returns how many are new."""
        return self._write_rows(
            table_of(DeliveryRow),
            [self._values(item, now) for item in items],
            lambda insert: insert.on_conflict_do_nothing(index_elements=["key"]),
            count=True,
        )

    @staticmethod
    def _values(item: NewDelivery, now: datetime) -> dict[str, Any]:
        return {
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
            "attachment": item.attachment,
            "created_at": now,
        }

    def _delivery(self, row: Any, conversation: str | None = None) -> Delivery:
        """A :class:`Delivery` from an ORM row or a Core row of the deliveries table."""
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
            conversation=conversation,
            claimed_before=row.claimed_at is not None,
            attachment=row.attachment,
        )

    def due(
        self,
        now: datetime,
        limit: int = 50,
        served: Mapping[str, int] | None = None,
        *,
        exclude: Collection[int] = (),
    ) -> list[Delivery]:
        """The next due rows: conversation replies before messages to people, so an answer
        never waits behind a 20,000-person launch; within each, fairly: each recipient's oldest
        first, then each one's second… (within a recipient the order is kept; across
        recipients nobody's backlog goes first; ``served`` continues the turns of the previous
        reads, see :func:`fair_order`).

        Each kind is one range of ``ix_deliveries_due`` (status, to_conversation,
        next_attempt_at, id), read up to :data:`FAIR_WINDOW` rows (or ``limit``) and ordered
        fairly in that window: the cost does not grow with the number of pending rows, and a
        backlog (bounded per sender by the per-minute limit) never hides another recipient.
        ``exclude``: rows the caller holds already (read by another of its lanes)."""
        found: list[Delivery] = []
        with self._in_index_order():
            for to_conversation in (True, False):
                wanted = limit - len(found)
                if wanted <= 0:
                    break
                query = self.due_query(
                    now, to_conversation=to_conversation, limit=max(wanted, FAIR_WINDOW)
                )
                if exclude:
                    query = query.where(~self._among(DeliveryRow.id, list(exclude)))
                rows = self.session.execute(query).all()
                # Ordered on the plain rows; only the rows taken become Delivery objects.
                taken = fair_order(rows, served)[:wanted]
                found.extend(self._delivery(row, row.direct_conversation) for row in taken)
        return found

    @contextmanager
    def _in_index_order(self) -> Iterator[None]:
        """On PostgreSQL, the due reads walk ``ix_deliveries_due`` in its order and stop at
        their limit. Right after a launch or a reminder enqueued thousands of rows, the table's
        statistics still say "almost nothing pending" (autovacuum analyzes a large table only
        after a tenth of it changed): the planner then gathers every pending row and sorts
        them (a bitmap scan and a sort), once per read — 16 ms a read at 20,000 pending rows
        instead of 0.8 ms, a launch's cost growing with its size. Sorting and bitmap scans are
        switched off for these reads only (``SET LOCAL``, set back after them)."""
        if self.session.get_bind().dialect.name != "postgresql":
            yield
            return
        before = self.session.execute(
            text(
                "SELECT current_setting('enable_sort'), current_setting('enable_bitmapscan'), "
                "set_config('enable_sort', 'off', true), "
                "set_config('enable_bitmapscan', 'off', true)"
            )
        ).one()
        yield  # a failed read rolls the transaction back, and the settings with it
        self.session.execute(
            text(
                "SELECT set_config('enable_sort', :sort, true), "
                "set_config('enable_bitmapscan', :bitmap, true)"
            ),
            {"sort": before[0], "bitmap": before[1]},
        )

    def claim(
        self, now: datetime, limit: int = 50, served: Mapping[str, int] | None = None
    ) -> list[Delivery]:
        """:meth:`due`, and the rows stamped as read for sending (one statement), so a later
        read knows an earlier process may have sent them before it stopped."""
        found = self.due(now, limit, served)
        self.stamp_claimed([d.id for d in found], now)
        return found

    def stamp_claimed(self, delivery_ids: Sequence[int], now: datetime) -> None:
        """Stamp rows as read for sending (see :meth:`claim`): one statement, the ids one
        array parameter on PostgreSQL (psycopg parses a statement of 500 placeholders anew each
        time, which was half the cost of a claim)."""
        if delivery_ids:
            self.session.execute(
                update(DeliveryRow)
                .where(self._among(DeliveryRow.id, list(delivery_ids)))
                .values(claimed_at=now)
            )

    def unclaim(self, delivery_ids: Sequence[int]) -> None:
        """Forget a claim that no send followed."""
        self.session.execute(
            update(DeliveryRow)
            .where(self._among(DeliveryRow.id, list(delivery_ids)))
            .values(claimed_at=None)
        )

    @staticmethod
    def due_query(now: datetime, *, to_conversation: bool, limit: int) -> Any:
        return (
            select(table_of(DeliveryRow), PersonRow.direct_conversation)
            .outerjoin(PersonRow, PersonRow.id == DeliveryRow.person_id)
            .where(
                DeliveryRow.status == DeliveryStatus.PENDING,
                DeliveryRow.to_conversation.is_(to_conversation),
                DeliveryRow.next_attempt_at <= now,
            )
            .order_by(DeliveryRow.next_attempt_at, DeliveryRow.id)
            .limit(limit)
        )

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

    def to_person(self, person_id: int) -> list[MessageRecord]:
        """Messages to one person (for ``mes données``), oldest first."""
        rows = self.session.execute(
            select(
                DeliveryRow.kind,
                CampaignRow.code,
                DeliveryRow.status,
                DeliveryRow.created_at,
                DeliveryRow.sent_at,
                DeliveryRow.next_attempt_at,
            )
            .outerjoin(CampaignRow, CampaignRow.id == DeliveryRow.campaign_id)
            .where(DeliveryRow.person_id == person_id)
            .order_by(DeliveryRow.created_at, DeliveryRow.id)
        ).all()
        return [
            MessageRecord(kind, code, DeliveryStatus(status), created, sent, leaves)
            for kind, code, status, created, sent, leaves in rows
        ]

    def delete(self, delivery_id: int) -> None:
        self.session.execute(delete(DeliveryRow).where(DeliveryRow.id == delivery_id))

    def mark_sent_many(self, sent: Sequence[tuple[int, str]], now: datetime) -> None:
        """Mark ``(delivery id, remote id)`` pairs as sent in one statement."""
        if not sent:
            return
        table = table_of(DeliveryRow)
        if self.session.get_bind().dialect.name == "postgresql":
            marks = pg_pairs(sent, Integer(), String())
            self.session.execute(
                update(table)
                .where(table.c.id == marks.c.key)
                .values(
                    status=DeliveryStatus.SENT,
                    remote_id=marks.c.value,
                    sent_at=now,
                    body=None,
                    attempts=table.c.attempts + 1,
                    last_error=None,
                )
            )
            return
        self.session.execute(
            update(table)
            .where(table.c.id == bindparam("delivery_id"))
            .values(
                status=DeliveryStatus.SENT,
                remote_id=bindparam("remote"),
                sent_at=now,
                body=None,
                attempts=table.c.attempts + 1,
                last_error=None,
            ),
            [{"delivery_id": did, "remote": remote} for did, remote in sent],
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

    def cancel(self, delivery_id: int) -> None:
        """Drop one pending message (e.g. a picture that can no longer be shown)."""
        self.session.execute(
            update(DeliveryRow)
            .where(DeliveryRow.id == delivery_id, DeliveryRow.status == DeliveryStatus.PENDING)
            .values(status=DeliveryStatus.CANCELLED, body=None)
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

    def cancel_pending_for_many(self, person_ids: Sequence[int], campaign_id: int) -> int:
        """:meth:`cancel_pending_for` for many people of one campaign."""
        cancelled = 0
        for part in chunks(person_ids):
            result: Any = self.session.execute(
                update(DeliveryRow)
                .where(
                    self._among(DeliveryRow.person_id, part),
                    DeliveryRow.campaign_id == campaign_id,
                    DeliveryRow.status == DeliveryStatus.PENDING,
                    DeliveryRow.kind.in_(["invitation", "reminder"]),
                )
                .values(status=DeliveryStatus.CANCELLED, body=None)
            )
            cancelled += int(result.rowcount or 0)
        return cancelled

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


@functools.lru_cache(maxsize=256)
def decode_buttons(text: str | None) -> tuple[Button, ...]:
    """Buttons from their stored text; cached (immutable): the rows of a launch carry the same
    few sets of buttons, and a claim read 500 of them at once."""
    if not text or text == "[]":
        return ()
    if not text.startswith("["):
        # Rows written before 0.2 held "label<TAB>reply" lines.
        pairs = [line.partition("\t")[::2] for line in text.split("\n") if line]
        return tuple(Button(label, reply or label) for label, reply in pairs)
    return tuple(Button(str(label), str(reply)) for label, reply in json.loads(text))
