"""The participation event log (append-only) and the states folded from it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select, true
from sqlalchemy.orm import aliased

from bot.domain import (
    Participation,
    ParticipationEvent,
    ParticipationKind,
    ParticipationStatus,
    fold_participation,
)
from storage.models import (
    AudienceRow,
    CampaignRow,
    ParticipationEventRow,
    PersonRow,
)
from storage.repositories.base import PERSON_COLUMNS, _Repo, chunks, person_from, table_of

# Up to this many people, :meth:`ParticipationRepo.states_among` reads them by id.
FEW = 1000


def _event(
    person_id: Any, campaign_id: Any, kind: ParticipationKind, as_of: datetime | None = None
) -> Any:
    """A fresh alias of the event table, restricted to one person, campaign and kind (and to
    events before ``as_of``, the daily snapshot, when given)."""
    event = aliased(ParticipationEventRow)
    condition = and_(
        event.person_id == person_id,
        event.campaign_id == campaign_id
        if campaign_id is not None
        else event.campaign_id.is_(None),
        event.kind == kind,
        event.at < as_of if as_of is not None else true(),
    )
    return event, condition


def _after(event: Any, at: Any, event_id: Any) -> ColumnElement[bool]:
    """``event`` comes after (at, id) in the fold's order."""
    return or_(event.at > at, and_(event.at == at, event.id > event_id))


def event_flags(campaign_id: int, as_of: datetime | None = None) -> Any:
    """Per person, which kinds of event the campaign has: one index range, grouped."""
    event = aliased(ParticipationEventRow)

    def flag(kind: ParticipationKind) -> Any:
        return func.max(case((event.kind == kind.value, 1), else_=0)).label(kind.value)

    k = ParticipationKind
    return (
        select(
            event.person_id.label("person_id"),
            flag(k.COMPLETED),
            flag(k.OPTED_OUT),
            flag(k.STARTED),
            flag(k.INVITED),
        )
        .where(event.campaign_id == campaign_id, event.at < as_of if as_of else true())
        .group_by(event.person_id)
        .subquery("flags")
    )


def status_expression(
    flags: Any, person_id: Any, campaign_id: Any, as_of: datetime | None = None
) -> ColumnElement[str]:
    """:func:`bot.domain.fold_participation`'s status, computed by the database.

    With a completion: completed. Without an opt-out: started if a start was declared, else
    invited if invited. Otherwise opted out, unless a "resumed" R comes after every opt-out
    (then invited), and a start after such an R makes it started. Order is (at, id), as in the
    fold; the last two tests only run for people who opted out of this campaign (few).
    """
    k, s = ParticipationKind, ParticipationStatus

    def has(kind: ParticipationKind) -> ColumnElement[bool]:
        return func.coalesce(flags.c[kind.value], 0) == 1

    def after_every_opt_out(resume: Any) -> ColumnElement[bool]:
        opt, condition = _event(person_id, campaign_id, k.OPTED_OUT, as_of)
        later = select(opt.id).where(condition, _after(opt, resume.at, resume.id))
        return ~exists(later.correlate_except(opt))

    resume, resume_cond = _event(person_id, campaign_id, k.RESUMED, as_of)
    resumed = exists(
        select(resume.id).where(resume_cond, after_every_opt_out(resume)).correlate_except(resume)
    )
    resume2, resume2_cond = _event(person_id, campaign_id, k.RESUMED, as_of)
    start, start_cond = _event(person_id, campaign_id, k.STARTED, as_of)
    started_after_resume = exists(
        select(start.id)
        .where(
            resume2_cond,
            start_cond,
            after_every_opt_out(resume2),
            _after(start, resume2.at, resume2.id),
        )
        .correlate_except(resume2, start)
    )
    return case(
        (has(k.COMPLETED), s.COMPLETED.value),
        (
            ~has(k.OPTED_OUT),
            case(
                (has(k.STARTED), s.STARTED.value),
                (has(k.INVITED), s.INVITED.value),
                else_=s.NOT_INVITED.value,
            ),
        ),
        (~resumed, s.OPTED_OUT.value),
        (started_after_resume, s.STARTED.value),
        else_=s.INVITED.value,
    )


def opted_out_all_expression(person_id: Any, as_of: datetime | None = None) -> ColumnElement[bool]:
    """The person's latest global opt event is ``opted_out_all`` (not ``resumed``)."""
    event = aliased(ParticipationEventRow)
    latest = (
        select(event.kind)
        .where(
            event.person_id == person_id,
            event.campaign_id.is_(None),
            event.kind.in_([ParticipationKind.OPTED_OUT_ALL, ParticipationKind.RESUMED]),
            event.at < as_of if as_of is not None else true(),
        )
        .order_by(event.at.desc(), event.id.desc())
        .limit(1)
        .correlate_except(event)
        .scalar_subquery()
    )
    return func.coalesce(latest, "") == ParticipationKind.OPTED_OUT_ALL.value


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

    def record_many(
        self,
        events: Sequence[tuple[int, ParticipationKind, int | None]],
        now: datetime,
        source: str = "chat",
    ) -> None:
        """Append many ``(person_id, kind, campaign_id)`` events at once."""
        self._write_rows(
            table_of(ParticipationEventRow),
            [
                {
                    "campaign_id": campaign_id,
                    "person_id": person_id,
                    "kind": str(kind),
                    "source": source,
                    "at": now,
                }
                for person_id, kind, campaign_id in events
            ],
            lambda insert: insert,
        )

    def people_with(self, campaign_id: int, kind: ParticipationKind) -> set[int]:
        """Everyone with at least one event of this kind for the campaign (one index range)."""
        return set(
            self.session.scalars(
                select(ParticipationEventRow.person_id)
                .where(
                    ParticipationEventRow.campaign_id == campaign_id,
                    ParticipationEventRow.kind == kind,
                )
                .distinct()
            )
        )

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

    def states(
        self, campaign_id: int, person_id: int | None = None, as_of: datetime | None = None
    ) -> dict[int, Participation]:
        """The participation of every audience member, folded from the event log (as it stood
        at ``as_of`` when given: the daily snapshot ambassadors see).

        One query: the audience joined to its people and their events for this campaign, in
        event order per person; the fold is :func:`bot.domain.fold_participation`.
        """
        names = self._service_names()
        rows = self.session.execute(self.states_query(campaign_id, person_id, as_of))
        return self._fold(rows, names)

    def states_among(self, campaign_id: int, person_ids: Iterable[int]) -> dict[int, Participation]:
        """:meth:`states` of these people only (those of them in the audience): a sync that
        reports on a few agents of a large campaign does not fold everyone's events."""
        wanted = set(person_ids)
        if len(wanted) > FEW:  # many: one pass over the campaign beats lists of ids
            return {pid: s for pid, s in self.states(campaign_id).items() if pid in wanted}
        names = self._service_names()
        states: dict[int, Participation] = {}
        for part in chunks(sorted(wanted)):
            query = self.states_query(campaign_id).where(self._among(AudienceRow.person_id, part))
            states.update(self._fold(self.session.execute(query), names))
        return states

    @staticmethod
    def _fold(rows: Iterable[Any], names: dict[int, str]) -> dict[int, Participation]:
        """Rows of :meth:`states_query` (in its order) folded into participations."""
        states: dict[int, Participation] = {}
        current: list[tuple[str, datetime]] = []
        person = None
        for row in rows:
            if person is None or row.id != person.id:
                if person is not None:
                    states[person.id] = fold_participation(person, current)
                person, current = person_from(row, names), []
            if row.kind is not None:
                current.append((row.kind, row.at))
        if person is not None:
            states[person.id] = fold_participation(person, current)
        return states

    def status_counts(
        self, campaign_id: int, as_of: datetime | None = None
    ) -> dict[tuple[str | None, ParticipationStatus], int]:
        """Audience members per (service, status for this campaign): statistics in one
        aggregate query (as they stood at ``as_of`` when given). "stop tout" is not a status
        of the campaign and does not count here (see ``bot/stats.py``)."""
        audience = AudienceRow
        flags = event_flags(campaign_id, as_of)
        inner = (
            select(
                PersonRow.service_id.label("service_id"),
                status_expression(flags, audience.person_id, audience.campaign_id, as_of).label(
                    "status"
                ),
            )
            .select_from(audience)
            .join(PersonRow, PersonRow.id == audience.person_id)
            .outerjoin(flags, flags.c.person_id == audience.person_id)
            .where(
                audience.campaign_id == campaign_id,
                audience.added_at < as_of if as_of is not None else true(),
            )
            .subquery()
        )
        rows = self.session.execute(
            select(inner.c.service_id, inner.c.status, func.count()).group_by(
                inner.c.service_id, inner.c.status
            )
        ).all()
        names = self._service_names()
        counts: dict[tuple[str | None, ParticipationStatus], int] = {}
        for service_id, status, count in rows:
            key = (
                names.get(service_id) if service_id is not None else None,
                ParticipationStatus(status),
            )
            counts[key] = counts.get(key, 0) + int(count)
        return counts

    def due(self, campaign_id: int) -> list[Participation]:
        """Audience members invited or started, and not opted out of everything: the people a
        reminder step goes to, selected by the database."""
        names = self._service_names()
        rows = self.session.execute(self.due_query(campaign_id)).all()
        return [
            Participation(person_from(row, names), ParticipationStatus(row.status), None, None)
            for row in rows
        ]

    @staticmethod
    def due_query(campaign_id: int) -> Any:
        flags = event_flags(campaign_id)
        status = status_expression(flags, AudienceRow.person_id, AudienceRow.campaign_id)
        inner = (
            select(*PERSON_COLUMNS, status.label("status"))
            .select_from(AudienceRow)
            .join(PersonRow, PersonRow.id == AudienceRow.person_id)
            .outerjoin(flags, flags.c.person_id == AudienceRow.person_id)
            .where(
                AudienceRow.campaign_id == campaign_id,
                ~opted_out_all_expression(AudienceRow.person_id),
            )
            .subquery()
        )
        return (
            select(inner)
            .where(
                inner.c.status.in_(
                    [ParticipationStatus.INVITED.value, ParticipationStatus.STARTED.value]
                )
            )
            .order_by(inner.c.id)
        )

    @staticmethod
    def states_query(
        campaign_id: int, person_id: int | None = None, as_of: datetime | None = None
    ) -> Any:
        """The audience, its people and their events for one campaign, in fold order (as they
        stood at ``as_of`` when given)."""
        query = (
            select(*PERSON_COLUMNS, ParticipationEventRow.kind, ParticipationEventRow.at)
            .select_from(AudienceRow)
            .join(PersonRow, PersonRow.id == AudienceRow.person_id)
            .outerjoin(
                ParticipationEventRow,
                and_(
                    ParticipationEventRow.person_id == AudienceRow.person_id,
                    ParticipationEventRow.campaign_id == AudienceRow.campaign_id,
                    ParticipationEventRow.at < as_of if as_of is not None else true(),
                ),
            )
            .where(AudienceRow.campaign_id == campaign_id)
            .order_by(PersonRow.id, ParticipationEventRow.at, ParticipationEventRow.id)
        )
        if person_id is not None:
            query = query.where(AudienceRow.person_id == person_id)
        if as_of is not None:
            query = query.where(AudienceRow.added_at < as_of)
        return query

    def state(self, campaign_id: int, person_id: int) -> Participation | None:
        return self.states(campaign_id, person_id).get(person_id)

    def opted_out_all(
        self, person_ids: Iterable[int] | None = None, as_of: datetime | None = None
    ) -> set[int]:
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
        if as_of is not None:
            query = query.where(ParticipationEventRow.at < as_of)
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
