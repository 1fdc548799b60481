"""Services, people and their roles."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, bindparam, delete, func, select, update

from bot.domain import (
    Person,
    Roles,
)
from storage.models import (
    AudienceRow,
    CampaignRow,
    DeliveryRow,
    NoteOptOutRow,
    ParticipationEventRow,
    PersonRow,
    PromptRow,
    QuestionRow,
    QuotaRow,
    ReminderStepRow,
    RoleRow,
    ServiceRow,
)
from storage.repositories.base import (
    PERSON_COLUMNS,
    _Repo,
    chunks,
    normalise_email,
    person_from,
    pg_pairs,
    table_of,
)


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """One agent of an import, as the bulk upsert takes it."""

    platform_id: str
    display_name: str | None
    service: str
    email: str | None
    timezone: str | None
    locale: str | None


class ServiceRepo(_Repo):
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
            select(PersonRow).where(PersonRow.email_norm == normalise_email(email)).limit(1)
        )
        return self._person(row) if row else None

    def by_emails(self, emails: Iterable[str]) -> dict[str, list[Person]]:
        """People by normalised email (trimmed, lower case), through its index, in chunks."""
        wanted = sorted({n for n in (normalise_email(e) for e in emails) if n})
        names = self._service_names()
        found: dict[str, list[Person]] = {}
        for part in chunks(wanted):
            rows = self.session.execute(
                select(*PERSON_COLUMNS, PersonRow.email_norm)
                .where(self._among(PersonRow.email_norm, part))
                .order_by(PersonRow.id)
            )
            for row in rows:
                found.setdefault(row.email_norm or "", []).append(person_from(row, names))
        return found

    def by_platform_ids(self, platform_ids: Iterable[str]) -> dict[str, Person]:
        wanted = sorted(set(platform_ids))
        names = self._service_names()
        found: dict[str, Person] = {}
        for part in chunks(wanted):
            rows = self.session.execute(
                select(*PERSON_COLUMNS).where(self._among(PersonRow.platform_id, part))
            )
            found.update((row.platform_id, person_from(row, names)) for row in rows)
        return found

    def existing_platform_ids(self, platform_ids: Iterable[str]) -> set[str]:
        """Which of these platform ids are known (ids only: no person is built)."""
        found: set[str] = set()
        for part in chunks(sorted(set(platform_ids))):
            found.update(
                self.session.scalars(
                    select(PersonRow.platform_id).where(self._among(PersonRow.platform_id, part))
                )
            )
        return found

    def by_ids(self, person_ids: Iterable[int]) -> list[Person]:
        wanted = sorted(set(person_ids))
        if not wanted:
            return []
        names = self._service_names()
        rows = self.session.scalars(
            select(PersonRow).where(PersonRow.id.in_(wanted)).order_by(PersonRow.id)
        )
        return [self._person(row, names) for row in rows]

    def email_owner(self, email: str, other_than: str) -> str | None:
        """The platform id of another person using this email (case-insensitive), if any."""
        return self.session.scalar(
            select(PersonRow.platform_id).where(
                PersonRow.email_norm == normalise_email(email),
                PersonRow.platform_id != other_than,
            )
        )

    def ensure(self, platform_id: str, display_name: str | None, now: datetime) -> Person:
        """The person with this id, created on first contact (with no service).

        Names from the agents import win: the platform's display name (which anyone can set
        to anything) is only kept when no name was imported, and never replaces one.
        """
        return self.ensure_created(platform_id, display_name, now)[0]

    def ensure_created(
        self, platform_id: str, display_name: str | None, now: datetime
    ) -> tuple[Person, bool]:
        """Like :meth:`ensure`; also says whether the person was created just now."""
        row = self.session.scalar(select(PersonRow).where(PersonRow.platform_id == platform_id))
        created = row is None
        if row is None:
            row = PersonRow(platform_id=platform_id, display_name=display_name, created_at=now)
            self.session.add(row)
            self.session.flush()
        elif display_name and not row.display_name:
            row.display_name = display_name
        return self._person(row), created

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
        row.email_norm = normalise_email(email)
        row.timezone = timezone
        row.locale = locale
        self.session.flush()
        return self._person(row), created

    def upsert_many(self, agents: Sequence[AgentRecord], now: datetime) -> tuple[int, int]:
        """Insert or update agents in bulk; returns (created, updated)."""
        services = {name: sid for sid, name in self._service_names().items()}
        missing = sorted({a.service for a in agents} - set(services))
        if missing:
            self._execute_many(
                self._insert(ServiceRow).on_conflict_do_nothing(index_elements=["name"]),
                ({"name": name} for name in missing),
            )
            services = {name: sid for sid, name in self._service_names().items()}
        existing = self.existing_platform_ids(a.platform_id for a in agents)
        columns = ("display_name", "service_id", "email", "email_norm", "timezone", "locale")
        self._write_rows(
            table_of(PersonRow),
            [
                {
                    "platform_id": a.platform_id,
                    "display_name": a.display_name,
                    "service_id": services[a.service],
                    "email": a.email,
                    "email_norm": normalise_email(a.email),
                    "timezone": a.timezone,
                    "locale": a.locale,
                    "created_at": now,
                }
                for a in agents
            ],
            lambda insert: insert.on_conflict_do_update(
                index_elements=["platform_id"],
                set_={name: insert.excluded[name] for name in columns},
            ),
        )
        updated = len(existing)
        return len(agents) - updated, updated

    def in_service(self, service: str) -> list[Person]:
        service_id = self._service_id(service)
        if service_id is None:
            return []
        rows = self.session.execute(
            select(*PERSON_COLUMNS).where(PersonRow.service_id == service_id).order_by(PersonRow.id)
        )
        names = self._service_names()
        return [person_from(row, names) for row in rows]

    def count_in_service(self, service: str) -> int:
        service_id = self._service_id(service)
        if service_id is None:
            return 0
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(PersonRow)
                .where(PersonRow.service_id == service_id)
            )
            or 0
        )

    def direct_conversations(self, person_ids: Iterable[int]) -> dict[int, str]:
        """Known direct conversations (e.g. Slack DM channel ids) of these people."""
        found: dict[int, str] = {}
        for part in chunks(sorted(set(person_ids))):
            rows = self.session.execute(
                select(PersonRow.id, PersonRow.direct_conversation).where(
                    self._among(PersonRow.id, part), PersonRow.direct_conversation.is_not(None)
                )
            )
            found.update({pid: conversation for pid, conversation in rows if conversation})
        return found

    def last_direct_conversations(self) -> dict[str, str]:
        """Platform id → the direct conversation the bot last wrote to them in, for everyone
        it wrote to (ids and conversations only)."""
        rows = self.session.execute(
            select(PersonRow.platform_id, PersonRow.direct_conversation).where(
                PersonRow.direct_conversation.is_not(None)
            )
        )
        return {platform_id: conversation for platform_id, conversation in rows if conversation}

    def set_direct_conversations(self, conversations: Mapping[int, str]) -> None:
        if not conversations:
            return
        table = table_of(PersonRow)
        if self.session.get_bind().dialect.name == "postgresql":
            pairs = pg_pairs(list(conversations.items()), Integer(), String())
            self.session.execute(
                update(table)
                .where(table.c.id == pairs.c.key)
                .values(direct_conversation=pairs.c.value)
            )
            return
        self.session.execute(
            update(table)
            .where(table.c.id == bindparam("pid"))
            .values(direct_conversation=bindparam("conversation")),
            [{"pid": pid, "conversation": c} for pid, c in conversations.items()],
        )

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
        self.session.execute(delete(QuotaRow).where(QuotaRow.person_id == person_id))
        self.session.execute(delete(NoteOptOutRow).where(NoteOptOutRow.person_id == person_id))
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

    def commanders(self) -> set[str]:
        """Platform ids of everyone who holds a role (admins, ambassadors)."""
        rows = self.session.scalars(
            select(PersonRow.platform_id).join(RoleRow, RoleRow.person_id == PersonRow.id)
        )
        return set(rows)

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
