"""Campaigns, their audiences and their reminder steps."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from bot.domain import (
    OPEN_STATUSES,
    Campaign,
    CampaignStatus,
    Person,
    ReminderStep,
)
from storage.errors import DuplicateError
from storage.models import (
    AudienceRow,
    CampaignRow,
    PersonRow,
    ReminderStepRow,
)
from storage.repositories.base import _Repo, table_of


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
        if self.by_code(code, [service]) is not None:
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

    def by_code(self, code: str, services: Iterable[str] | None = None) -> Campaign | None:
        """The campaign with this code among ``services`` (all when None; the oldest first,
        since several services may run the same Pix code)."""
        found = self.with_code(code, services)
        return found[0] if found else None

    def with_code(self, code: str, services: Iterable[str] | None = None) -> list[Campaign]:
        query = select(CampaignRow).where(CampaignRow.code == code).order_by(CampaignRow.id)
        if services is not None:
            ids = [self._service_id(name) for name in services]
            query = query.where(CampaignRow.service_id.in_([i for i in ids if i is not None]))
        names = self._service_names()
        return [self._campaign(row, names) for row in self.session.scalars(query)]

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

    def edit(
        self,
        campaign_id: int,
        *,
        title: str | None = None,
        deadline: date | None = None,
        event_name: str | None = None,
        event_date: date | None = None,
    ) -> None:
        """``campagne modifier``: the fields given change, the others stay."""
        values: dict[str, object] = {}
        if title is not None:
            values["title"] = title
        if deadline is not None:
            values["deadline"] = deadline
        if event_name is not None and event_date is not None:
            values["event_name"], values["event_date"] = event_name, event_date
        if values:
            self.session.execute(
                update(CampaignRow).where(CampaignRow.id == campaign_id).values(**values)
            )

    def set_start(self, campaign_id: int, start: date) -> None:
        self.session.execute(
            update(CampaignRow).where(CampaignRow.id == campaign_id).values(start_date=start)
        )

    # -- audience --------------------------------------------------------------------------

    def add_audience(self, campaign_id: int, person_ids: Iterable[int], now: datetime) -> int:
        """Add people to the audience in bulk (present ones are kept); returns how many are new."""
        return self._write_rows(
            table_of(AudienceRow),
            [
                {"campaign_id": campaign_id, "person_id": pid, "added_at": now}
                for pid in dict.fromkeys(person_ids)
            ],
            lambda insert: insert.on_conflict_do_nothing(
                index_elements=["campaign_id", "person_id"]
            ),
            count=True,
        )

    def audience(self, campaign_id: int, as_of: datetime | None = None) -> list[Person]:
        names = self._service_names()
        query = (
            select(PersonRow)
            .join(AudienceRow, AudienceRow.person_id == PersonRow.id)
            .where(AudienceRow.campaign_id == campaign_id)
            .order_by(PersonRow.id)
        )
        if as_of is not None:
            query = query.where(AudienceRow.added_at < as_of)
        rows = self.session.scalars(query)
        return [self._person(row, names) for row in rows]

    def audience_ids(self, campaign_id: int) -> set[int]:
        return set(
            self.session.scalars(
                select(AudienceRow.person_id).where(AudienceRow.campaign_id == campaign_id)
            )
        )

    def audience_names(self, campaign_id: int) -> list[tuple[int, str]]:
        """(person id, display name) of the audience members who have one (Core, no ORM
        object: a sync matching names over a large audience)."""
        rows = self.session.execute(
            select(PersonRow.id, PersonRow.display_name)
            .join(AudienceRow, AudienceRow.person_id == PersonRow.id)
            .where(AudienceRow.campaign_id == campaign_id, PersonRow.display_name.is_not(None))
        ).all()
        return [(pid, name) for pid, name in rows if name]

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

    def planned_for(self, campaign_ids: Iterable[int], person_id: int) -> list[ReminderStep]:
        """Planned steps that would write to this person: their campaigns' launches and
        reminders, and their own "plus tard" reminders."""
        ids = list(campaign_ids)
        rows = self.session.scalars(
            select(ReminderStepRow)
            .where(
                ReminderStepRow.status == "planned",
                ReminderStepRow.campaign_id.in_(ids),
                (ReminderStepRow.person_id.is_(None)) | (ReminderStepRow.person_id == person_id),
            )
            .order_by(ReminderStepRow.fire_at, ReminderStepRow.id)
        )
        return [self._step(row) for row in rows if row.kind != "close"]

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
