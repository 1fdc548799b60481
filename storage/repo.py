"""Repositories: the only place that builds SQL. They return plain dataclasses.

A :class:`UnitOfWork` wraps one session/transaction; its attributes group the repositories by
area (``uow.people``, ``uow.campaigns``, ``uow.outbox``…). Commit happens when the ``with``
block of :meth:`Store.transaction` exits without an exception.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import (
    AudienceRow,
    AuditRow,
    CampaignRow,
    DeliveryRow,
    LockRow,
    ParticipationEventRow,
    PersonRow,
    ProcessedEventRow,
    PromptRow,
    QuestionRow,
    ReminderStepRow,
    RoleRow,
    ServiceRow,
)


class StorageError(Exception):
    pass


class DuplicateError(StorageError):
    pass


class ParticipationKind(enum.StrEnum):
    INVITED = "invited"
    STARTED = "started"
    COMPLETED = "completed"
    SNOOZED = "snoozed"
    OPTED_OUT = "opted_out"
    OPTED_OUT_ALL = "opted_out_all"
    RESUMED = "resumed"


class ParticipationStatus(enum.StrEnum):
    NOT_INVITED = "not_invited"
    INVITED = "invited"
    STARTED = "started"
    COMPLETED = "completed"
    OPTED_OUT = "opted_out"


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    CLOSED = "closed"
    CANCELLED = "cancelled"


OPEN_STATUSES = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.RUNNING)


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    platform_id: str
    display_name: str | None
    service: str | None
    email: str | None
    locale: str | None
    timezone: str | None
    created_at: datetime

    @property
    def name(self) -> str:
        return self.display_name or self.platform_id


@dataclass(frozen=True, slots=True)
class Roles:
    is_admin: bool
    services: frozenset[str]

    @property
    def is_ambassador(self) -> bool:
        return bool(self.services)

    @property
    def name(self) -> str:
        if self.is_admin:
            return "admin"
        return "ambassador" if self.services else "agent"


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    code: str
    title: str
    parcours: str | None
    url: str
    service: str
    start_date: date | None
    deadline: date
    event_name: str | None
    event_date: date | None
    status: CampaignStatus
    audience_kind: str
    audience_value: str
    reminders: str | None
    created_by: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    key: str
    kind: str
    campaign_id: int | None
    person_id: int | None
    recipient: str
    to_conversation: bool
    body: str | None
    mentions: tuple[str, ...]
    buttons: tuple[str, ...]
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    remote_id: str | None
    last_error: str | None
    batch: str | None


@dataclass(frozen=True, slots=True)
class NewDelivery:
    key: str
    kind: str
    recipient: str
    body: str
    to_conversation: bool = False
    campaign_id: int | None = None
    person_id: int | None = None
    mentions: tuple[str, ...] = ()
    buttons: tuple[str, ...] = ()
    batch: str | None = None
    not_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class Participation:
    person: Person
    status: ParticipationStatus
    snoozed_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class ParticipationEvent:
    campaign_code: str | None
    kind: ParticipationKind
    source: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ReminderStep:
    id: int
    campaign_id: int
    kind: str
    label: str
    day: date
    fire_at: datetime
    status: str
    person_id: int | None
    done_at: datetime | None


@dataclass(frozen=True, slots=True)
class Question:
    id: int
    text: str
    service: str | None
    asked_at: datetime
    asker_id: int | None
    handed_off_at: datetime | None
    answered_at: datetime | None


@dataclass(frozen=True, slots=True)
class Prompt:
    kind: str
    payload: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    campaign_id: int | None
    count: int | None
    detail: str | None


def _split(text: str) -> tuple[str, ...]:
    return tuple(item for item in text.split("\n") if item) if text else ()


class _Repo:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _service_id(self, name: str, *, create: bool = False) -> int | None:
        found = self.session.scalar(select(ServiceRow.id).where(ServiceRow.name == name))
        if found is None and create:
            row = ServiceRow(name=name)
            self.session.add(row)
            self.session.flush()
            return row.id
        return found

    def _service_names(self) -> dict[int, str]:
        rows = self.session.execute(select(ServiceRow.id, ServiceRow.name)).all()
        return {service_id: name for service_id, name in rows}

    def _person(self, row: PersonRow, services: dict[int, str] | None = None) -> Person:
        service = None
        if row.service_id is not None:
            if services is None:
                service = self.session.get_one(ServiceRow, row.service_id).name
            else:
                service = services[row.service_id]
        return Person(
            id=row.id,
            platform_id=row.platform_id,
            display_name=row.display_name,
            service=service,
            email=row.email,
            locale=row.locale,
            timezone=row.timezone,
            created_at=row.created_at,
        )


class ServiceRepo(_Repo):
    def ensure(self, name: str) -> int:
        service_id = self._service_id(name, create=True)
        assert service_id is not None
        return service_id

    def exists(self, name: str) -> bool:
        return self._service_id(name) is not None

    def canonical(self, name: str) -> str | None:
        """The stored spelling of a service name, matched case-insensitively."""
        return self.session.scalar(
            select(ServiceRow.name).where(func.lower(ServiceRow.name) == name.lower())
        )

    def all(self) -> list[str]:
        return list(self.session.scalars(select(ServiceRow.name).order_by(ServiceRow.name)))


class PeopleRepo(_Repo):
    def get(self, person_id: int) -> Person | None:
        row = self.session.get(PersonRow, person_id)
        return self._person(row) if row else None

    def by_platform_id(self, platform_id: str) -> Person | None:
        row = self.session.scalar(select(PersonRow).where(PersonRow.platform_id == platform_id))
        return self._person(row) if row else None

    def by_email(self, email: str) -> Person | None:
        row = self.session.scalar(
            select(PersonRow).where(func.lower(PersonRow.email) == email.strip().lower())
        )
        return self._person(row) if row else None

    def ensure(self, platform_id: str, display_name: str | None, now: datetime) -> Person:
        """The person with this id, created on first contact (with no service)."""
        row = self.session.scalar(select(PersonRow).where(PersonRow.platform_id == platform_id))
        if row is None:
            row = PersonRow(platform_id=platform_id, display_name=display_name, created_at=now)
            self.session.add(row)
            self.session.flush()
        elif display_name and not row.display_name:
            row.display_name = display_name
        return self._person(row)

    def upsert(
        self,
        platform_id: str,
        *,
        display_name: str | None,
        service: str | None,
        email: str | None,
        timezone: str | None,
        locale: str | None,
        now: datetime,
    ) -> tuple[Person, bool]:
        row = self.session.scalar(select(PersonRow).where(PersonRow.platform_id == platform_id))
        created = row is None
        if row is None:
            row = PersonRow(platform_id=platform_id, created_at=now)
            self.session.add(row)
        row.display_name = display_name
        row.service_id = self._service_id(service, create=True) if service else None
        row.email = email
        row.timezone = timezone
        row.locale = locale
        self.session.flush()
        return self._person(row), created

    def in_service(self, service: str) -> list[Person]:
        service_id = self._service_id(service)
        if service_id is None:
            return []
        rows = self.session.scalars(
            select(PersonRow).where(PersonRow.service_id == service_id).order_by(PersonRow.id)
        )
        names = self._service_names()
        return [self._person(row, names) for row in rows]

    def many(self, person_ids: Iterable[int]) -> list[Person]:
        ids = list(person_ids)
        if not ids:
            return []
        names = self._service_names()
        rows = self.session.scalars(
            select(PersonRow).where(PersonRow.id.in_(ids)).order_by(PersonRow.id)
        )
        return [self._person(row, names) for row in rows]

    def delete(self, person_id: int) -> None:
        """Erase a person and everything that points at them (cascades)."""
        self.session.execute(
            update(QuestionRow).where(QuestionRow.asker_id == person_id).values(asker_id=None)
        )
        self.session.execute(delete(DeliveryRow).where(DeliveryRow.person_id == person_id))
        self.session.execute(
            delete(ParticipationEventRow).where(ParticipationEventRow.person_id == person_id)
        )
        self.session.execute(delete(AudienceRow).where(AudienceRow.person_id == person_id))
        self.session.execute(delete(RoleRow).where(RoleRow.person_id == person_id))
        self.session.execute(delete(PromptRow).where(PromptRow.person_id == person_id))
        self.session.execute(delete(ReminderStepRow).where(ReminderStepRow.person_id == person_id))
        self.session.execute(
            update(CampaignRow).where(CampaignRow.created_by == person_id).values(created_by=None)
        )
        self.session.execute(delete(PersonRow).where(PersonRow.id == person_id))


class RoleRepo(_Repo):
    def roles_of(self, person_id: int) -> Roles:
        rows = self.session.execute(
            select(RoleRow.role, ServiceRow.name)
            .outerjoin(ServiceRow, ServiceRow.id == RoleRow.service_id)
            .where(RoleRow.person_id == person_id)
        ).all()
        is_admin = any(role == "admin" for role, _ in rows)
        services = frozenset(name for role, name in rows if role == "ambassador" and name)
        return Roles(is_admin=is_admin, services=services)

    def add(self, person_id: int, role: str, service: str | None = None) -> bool:
        service_id = self._service_id(service, create=True) if service else None
        exists = self.session.scalar(
            select(RoleRow.id).where(
                RoleRow.person_id == person_id,
                RoleRow.role == role,
                RoleRow.service_id.is_(None)
                if service_id is None
                else RoleRow.service_id == service_id,
            )
        )
        if exists is not None:
            return False
        self.session.add(RoleRow(person_id=person_id, role=role, service_id=service_id))
        self.session.flush()
        return True

    def remove(self, person_id: int, role: str, service: str | None = None) -> int:
        query = delete(RoleRow).where(RoleRow.person_id == person_id, RoleRow.role == role)
        if service is not None:
            query = query.where(RoleRow.service_id == self._service_id(service))
        result: Any = self.session.execute(query)
        return int(result.rowcount or 0)

    def holders(self, role: str) -> list[tuple[Person, str | None]]:
        rows = self.session.execute(
            select(PersonRow, ServiceRow.name)
            .join(RoleRow, RoleRow.person_id == PersonRow.id)
            .outerjoin(ServiceRow, ServiceRow.id == RoleRow.service_id)
            .where(RoleRow.role == role)
            .order_by(PersonRow.platform_id, ServiceRow.name)
        ).all()
        return [(self._person(person), service) for person, service in rows]

    def ambassadors_of(self, service: str) -> list[Person]:
        service_id = self._service_id(service)
        if service_id is None:
            return []
        rows = self.session.scalars(
            select(PersonRow)
            .join(RoleRow, RoleRow.person_id == PersonRow.id)
            .where(RoleRow.role == "ambassador", RoleRow.service_id == service_id)
            .order_by(PersonRow.id)
        )
        return [self._person(row) for row in rows]


class CampaignRepo(_Repo):
    def _campaign(self, row: CampaignRow, names: dict[int, str] | None = None) -> Campaign:
        names = names or self._service_names()
        return Campaign(
            id=row.id,
            code=row.code,
            title=row.title,
            parcours=row.parcours,
            url=row.url,
            service=names[row.service_id],
            start_date=row.start_date,
            deadline=row.deadline,
            event_name=row.event_name,
            event_date=row.event_date,
            status=CampaignStatus(row.status),
            audience_kind=row.audience_kind,
            audience_value=row.audience_value,
            reminders=row.reminders,
            created_by=row.created_by,
            created_at=row.created_at,
        )

    def create(
        self,
        *,
        code: str,
        title: str,
        url: str,
        service: str,
        deadline: date,
        audience_kind: str,
        audience_value: str,
        now: datetime,
        created_by: int | None,
        parcours: str | None = None,
        start_date: date | None = None,
        event_name: str | None = None,
        event_date: date | None = None,
        reminders: str | None = None,
    ) -> Campaign:
        if self.by_code(code) is not None:
            raise DuplicateError(code)
        row = CampaignRow(
            code=code,
            title=title,
            parcours=parcours,
            url=url,
            service_id=self._service_id(service, create=True),
            start_date=start_date,
            deadline=deadline,
            event_name=event_name,
            event_date=event_date,
            status=CampaignStatus.DRAFT,
            audience_kind=audience_kind,
            audience_value=audience_value,
            reminders=reminders,
            created_by=created_by,
            created_at=now,
        )
        self.session.add(row)
        try:
            self.session.flush()
        except IntegrityError as exc:
            raise DuplicateError(code) from exc
        return self._campaign(row)

    def by_code(self, code: str) -> Campaign | None:
        row = self.session.scalar(select(CampaignRow).where(CampaignRow.code == code))
        return self._campaign(row) if row else None

    def get(self, campaign_id: int) -> Campaign | None:
        row = self.session.get(CampaignRow, campaign_id)
        return self._campaign(row) if row else None

    def search(
        self, services: Iterable[str] | None = None, statuses: Iterable[str] | None = None
    ) -> list[Campaign]:
        query = select(CampaignRow).order_by(CampaignRow.deadline, CampaignRow.code)
        if services is not None:
            ids = [self._service_id(name) for name in services]
            query = query.where(CampaignRow.service_id.in_([i for i in ids if i is not None]))
        if statuses is not None:
            query = query.where(CampaignRow.status.in_(list(statuses)))
        names = self._service_names()
        return [self._campaign(row, names) for row in self.session.scalars(query)]

    def set_status(self, campaign_id: int, status: CampaignStatus) -> None:
        self.session.execute(
            update(CampaignRow).where(CampaignRow.id == campaign_id).values(status=status)
        )

    def set_reminders(self, campaign_id: int, reminders: str | None) -> None:
        self.session.execute(
            update(CampaignRow).where(CampaignRow.id == campaign_id).values(reminders=reminders)
        )

    def set_start(self, campaign_id: int, start: date) -> None:
        self.session.execute(
            update(CampaignRow).where(CampaignRow.id == campaign_id).values(start_date=start)
        )

    # -- audience --------------------------------------------------------------------------

    def add_audience(self, campaign_id: int, person_ids: Iterable[int], now: datetime) -> int:
        existing = set(
            self.session.scalars(
                select(AudienceRow.person_id).where(AudienceRow.campaign_id == campaign_id)
            )
        )
        new = [pid for pid in dict.fromkeys(person_ids) if pid not in existing]
        self.session.add_all(
            AudienceRow(campaign_id=campaign_id, person_id=pid, added_at=now) for pid in new
        )
        self.session.flush()
        return len(new)

    def audience(self, campaign_id: int) -> list[Person]:
        names = self._service_names()
        rows = self.session.scalars(
            select(PersonRow)
            .join(AudienceRow, AudienceRow.person_id == PersonRow.id)
            .where(AudienceRow.campaign_id == campaign_id)
            .order_by(PersonRow.id)
        )
        return [self._person(row, names) for row in rows]

    def audience_size(self, campaign_id: int) -> int:
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(AudienceRow)
                .where(AudienceRow.campaign_id == campaign_id)
            )
            or 0
        )

    def campaigns_of(
        self, person_id: int, statuses: Iterable[str] = OPEN_STATUSES
    ) -> list[Campaign]:
        """Campaigns whose audience includes the person, most recent deadline last."""
        names = self._service_names()
        rows = self.session.scalars(
            select(CampaignRow)
            .join(AudienceRow, AudienceRow.campaign_id == CampaignRow.id)
            .where(AudienceRow.person_id == person_id, CampaignRow.status.in_(list(statuses)))
            .order_by(CampaignRow.deadline, CampaignRow.code)
        )
        return [self._campaign(row, names) for row in rows]


class ParticipationRepo(_Repo):
    def record(
        self,
        person_id: int,
        kind: ParticipationKind,
        now: datetime,
        campaign_id: int | None = None,
        source: str = "chat",
    ) -> None:
        self.session.add(
            ParticipationEventRow(
                campaign_id=campaign_id, person_id=person_id, kind=kind, source=source, at=now
            )
        )
        self.session.flush()

    def has_event(self, campaign_id: int, person_id: int, kind: ParticipationKind) -> bool:
        return (
            self.session.scalar(
                select(ParticipationEventRow.id).where(
                    ParticipationEventRow.campaign_id == campaign_id,
                    ParticipationEventRow.person_id == person_id,
                    ParticipationEventRow.kind == kind,
                )
            )
            is not None
        )

    def states(self, campaign_id: int) -> dict[int, Participation]:
        """The participation of every audience member, folded from the event log."""
        people = {p.id: p for p in CampaignRepo(self.session).audience(campaign_id)}
        rows = self.session.execute(
            select(
                ParticipationEventRow.person_id,
                ParticipationEventRow.kind,
                ParticipationEventRow.at,
            )
            .where(ParticipationEventRow.campaign_id == campaign_id)
            .order_by(ParticipationEventRow.at, ParticipationEventRow.id)
        ).all()
        events: dict[int, list[tuple[str, datetime]]] = {}
        for person_id, kind, at in rows:
            events.setdefault(person_id, []).append((kind, at))
        return {pid: _fold(person, events.get(pid, [])) for pid, person in people.items()}

    def state(self, campaign_id: int, person_id: int) -> Participation | None:
        return self.states(campaign_id).get(person_id)

    def opted_out_all(self, person_ids: Iterable[int] | None = None) -> set[int]:
        """People whose latest global event is ``opted_out_all`` (until ``resumed``)."""
        query = (
            select(ParticipationEventRow.person_id, ParticipationEventRow.kind)
            .where(
                ParticipationEventRow.campaign_id.is_(None),
                ParticipationEventRow.kind.in_(
                    [ParticipationKind.OPTED_OUT_ALL, ParticipationKind.RESUMED]
                ),
            )
            .order_by(ParticipationEventRow.at, ParticipationEventRow.id)
        )
        if person_ids is not None:
            query = query.where(ParticipationEventRow.person_id.in_(list(person_ids)))
        latest: dict[int, str] = {}
        for person_id, kind in self.session.execute(query).all():
            latest[person_id] = kind
        return {pid for pid, kind in latest.items() if kind == ParticipationKind.OPTED_OUT_ALL}

    def history(self, person_id: int) -> list[ParticipationEvent]:
        rows = self.session.execute(
            select(
                CampaignRow.code,
                ParticipationEventRow.kind,
                ParticipationEventRow.source,
                ParticipationEventRow.at,
            )
            .outerjoin(CampaignRow, CampaignRow.id == ParticipationEventRow.campaign_id)
            .where(ParticipationEventRow.person_id == person_id)
            .order_by(ParticipationEventRow.at, ParticipationEventRow.id)
        ).all()
        return [
            ParticipationEvent(code, ParticipationKind(kind), source, at)
            for code, kind, source, at in rows
        ]

    def completions(self, campaign_id: int) -> list[datetime]:
        return list(
            self.session.scalars(
                select(ParticipationEventRow.at)
                .where(
                    ParticipationEventRow.campaign_id == campaign_id,
                    ParticipationEventRow.kind == ParticipationKind.COMPLETED,
                )
                .order_by(ParticipationEventRow.at)
            )
        )


def _fold(person: Person, events: Sequence[tuple[str, datetime]]) -> Participation:
    status = ParticipationStatus.NOT_INVITED
    snoozed_at: datetime | None = None
    updated_at: datetime | None = None
    for kind, at in events:
        updated_at = at
        if kind == ParticipationKind.INVITED and status == ParticipationStatus.NOT_INVITED:
            status = ParticipationStatus.INVITED
        elif kind == ParticipationKind.STARTED and status in (
            ParticipationStatus.NOT_INVITED,
            ParticipationStatus.INVITED,
        ):
            status = ParticipationStatus.STARTED
        elif kind == ParticipationKind.COMPLETED:
            status = ParticipationStatus.COMPLETED
        elif kind == ParticipationKind.OPTED_OUT and status != ParticipationStatus.COMPLETED:
            status = ParticipationStatus.OPTED_OUT
        elif kind == ParticipationKind.SNOOZED:
            snoozed_at = at
        elif kind == ParticipationKind.RESUMED and status == ParticipationStatus.OPTED_OUT:
            status = ParticipationStatus.INVITED
    return Participation(person, status, snoozed_at, updated_at)


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
            "buttons": "\n".join(item.buttons),
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

    def exists(self, key: str) -> bool:
        return self.session.scalar(select(DeliveryRow.id).where(DeliveryRow.key == key)) is not None

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
            buttons=_split(row.buttons),
            status=DeliveryStatus(row.status),
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            remote_id=row.remote_id,
            last_error=row.last_error,
            batch=row.batch,
        )

    def due(self, now: datetime, limit: int = 50) -> list[Delivery]:
        rows = self.session.scalars(
            select(DeliveryRow)
            .where(DeliveryRow.status == DeliveryStatus.PENDING, DeliveryRow.next_attempt_at <= now)
            # Conversation replies first: an answer must not wait behind a 450-person launch.
            .order_by(
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

    def sent_for(self, campaign_id: int, person_id: int) -> list[Delivery]:
        rows = self.session.scalars(
            select(DeliveryRow)
            .where(DeliveryRow.campaign_id == campaign_id, DeliveryRow.person_id == person_id)
            .order_by(DeliveryRow.id)
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

    def entries(self, campaign_id: int | None = None) -> list[AuditEntry]:
        query = select(AuditRow).order_by(AuditRow.at, AuditRow.id)
        if campaign_id is not None:
            query = query.where(AuditRow.campaign_id == campaign_id)
        return [
            AuditEntry(r.at, r.actor, r.action, r.campaign_id, r.count, r.detail)
            for r in self.session.scalars(query)
        ]


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

    def peek(self, person_id: int, now: datetime) -> Prompt | None:
        row = self.session.get(PromptRow, person_id)
        if row is None or row.expires_at <= now:
            return None
        return Prompt(row.kind, row.payload, row.expires_at)


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

    def add_unanswered(self, text: str, service: str | None, now: datetime) -> int:
        row = QuestionRow(
            text=text[:1000],
            service_id=self._service_id(service) if service else None,
            asked_at=now,
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


class StepRepo(_Repo):
    def _step(self, row: ReminderStepRow) -> ReminderStep:
        return ReminderStep(
            row.id,
            row.campaign_id,
            row.kind,
            row.label,
            row.day,
            row.fire_at,
            row.status,
            row.person_id,
            row.done_at,
        )

    def add(
        self,
        campaign_id: int,
        kind: str,
        label: str,
        day: date,
        fire_at: datetime,
        person_id: int | None = None,
        status: str = "planned",
    ) -> ReminderStep:
        row = ReminderStepRow(
            campaign_id=campaign_id,
            kind=kind,
            label=label,
            day=day,
            fire_at=fire_at,
            status=status,
            person_id=person_id,
        )
        self.session.add(row)
        self.session.flush()
        return self._step(row)

    def get(self, step_id: int) -> ReminderStep | None:
        row = self.session.get(ReminderStepRow, step_id)
        return self._step(row) if row else None

    def for_campaign(self, campaign_id: int) -> list[ReminderStep]:
        rows = self.session.scalars(
            select(ReminderStepRow)
            .where(ReminderStepRow.campaign_id == campaign_id)
            .order_by(ReminderStepRow.fire_at, ReminderStepRow.id)
        )
        return [self._step(row) for row in rows]

    def planned(self, before: datetime | None = None) -> list[ReminderStep]:
        query = select(ReminderStepRow).where(ReminderStepRow.status == "planned")
        if before is not None:
            query = query.where(ReminderStepRow.fire_at <= before)
        rows = self.session.scalars(query.order_by(ReminderStepRow.fire_at, ReminderStepRow.id))
        return [self._step(row) for row in rows]

    def set_status(
        self, step_id: int, status: str, now: datetime | None = None, expect: str = "planned"
    ) -> bool:
        """Move a step out of ``expect``; False when another wake-up already did."""
        result: Any = self.session.execute(
            update(ReminderStepRow)
            .where(ReminderStepRow.id == step_id, ReminderStepRow.status == expect)
            .values(status=status, done_at=now)
        )
        return bool(result.rowcount)

    def reschedule(self, step_id: int, fire_at: datetime) -> None:
        self.session.execute(
            update(ReminderStepRow).where(ReminderStepRow.id == step_id).values(fire_at=fire_at)
        )

    def delete_planned(self, campaign_id: int, kinds: Iterable[str]) -> list[int]:
        """Drop planned steps that a new plan replaces (they never ran)."""
        ids = list(
            self.session.scalars(
                select(ReminderStepRow.id).where(
                    ReminderStepRow.campaign_id == campaign_id,
                    ReminderStepRow.status == "planned",
                    ReminderStepRow.kind.in_(list(kinds)),
                )
            )
        )
        if ids:
            self.session.execute(delete(ReminderStepRow).where(ReminderStepRow.id.in_(ids)))
        return ids

    def cancel_planned(self, campaign_id: int, kinds: Iterable[str] | None = None) -> list[int]:
        query = select(ReminderStepRow.id).where(
            ReminderStepRow.campaign_id == campaign_id, ReminderStepRow.status == "planned"
        )
        if kinds is not None:
            query = query.where(ReminderStepRow.kind.in_(list(kinds)))
        ids = list(self.session.scalars(query))
        if ids:
            self.session.execute(
                update(ReminderStepRow)
                .where(ReminderStepRow.id.in_(ids))
                .values(status="cancelled")
            )
        return ids


class LockRepo(_Repo):
    def acquire(self, name: str, owner: str, now: datetime, stale_after: timedelta) -> bool:
        """Take (or refresh) a named lock row; a lock whose heartbeat is stale can be taken."""
        row = self.session.get(LockRow, name, with_for_update=True)
        if row is None:
            self.session.add(LockRow(name=name, owner=owner, heartbeat_at=now))
            try:
                self.session.flush()
            except IntegrityError:
                return False
            return True
        if row.owner == owner or row.heartbeat_at < now - stale_after:
            row.owner, row.heartbeat_at = owner, now
            return True
        return False

    def release(self, name: str, owner: str) -> None:
        self.session.execute(
            delete(LockRow).where(and_(LockRow.name == name, LockRow.owner == owner))
        )

    def holder(self, name: str) -> tuple[str, datetime] | None:
        row = self.session.get(LockRow, name)
        return (row.owner, row.heartbeat_at) if row else None


class UnitOfWork:
    """One transaction and the repositories that work in it."""

    def __init__(self, session: Session) -> None:
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
        self.locks = LockRepo(session)


class Store:
    """Entry point of the storage layer: ``with store.transaction() as uow: ...``."""

    def __init__(self, database: Database) -> None:
        self.database = database

    @classmethod
    def from_url(cls, url: str) -> Store:
        return cls(Database(url))

    def upgrade(self) -> None:
        self.database.upgrade()

    @contextmanager
    def transaction(self) -> Iterator[UnitOfWork]:
        with self.database.session() as session:
            yield UnitOfWork(session)

    def close(self) -> None:
        self.database.dispose()
