"""What every repository shares: the session and the row → dataclass helpers."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain import (
    Person,
)
from storage.models import (
    PersonRow,
    ServiceRow,
)


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
