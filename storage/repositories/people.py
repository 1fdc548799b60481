"""Services, people and their roles."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from bot.domain import (
    Person,
    Roles,
)
from storage.models import (
    AudienceRow,
    CampaignRow,
    DeliveryRow,
    ParticipationEventRow,
    PersonRow,
    PromptRow,
    QuestionRow,
    QuotaRow,
    ReminderStepRow,
    RoleRow,
    ServiceRow,
)
from storage.repositories.base import _Repo


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
            select(PersonRow).where(func.lower(PersonRow.email) == email.strip().lower())
        )
        return self._person(row) if row else None

    def ensure(self, platform_id: str, display_name: str | None, now: datetime) -> Person:
        """The person with this id, created on first contact (with no service).

        Names from the agents import win: the platform's display name (which anyone can set
        to anything) is only kept when no name was imported, and never replaces one.
        """
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
