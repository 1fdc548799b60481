"""The participation event log (append-only) and the states folded from it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import and_, select

from bot.domain import (
    Participation,
    ParticipationEvent,
    ParticipationKind,
    fold_participation,
)
from storage.models import (
    AudienceRow,
    CampaignRow,
    ParticipationEventRow,
    PersonRow,
)
from storage.repositories.base import PERSON_COLUMNS, _Repo, person_from


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
        self._execute_many(
            self._insert(ParticipationEventRow.__table__),
            (
                {
                    "campaign_id": campaign_id,
                    "person_id": person_id,
                    "kind": str(kind),
                    "source": source,
                    "at": now,
                }
                for person_id, kind, campaign_id in events
            ),
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

    def states(self, campaign_id: int, person_id: int | None = None) -> dict[int, Participation]:
        """The participation of every audience member, folded from the event log.

        One query: the audience joined to its people and their events for this campaign, in
        event order per person; the fold is :func:`bot.domain.fold_participation`.
        """
        names = self._service_names()
        query = (
            select(*PERSON_COLUMNS, ParticipationEventRow.kind, ParticipationEventRow.at)
            .select_from(AudienceRow)
            .join(PersonRow, PersonRow.id == AudienceRow.person_id)
            .outerjoin(
                ParticipationEventRow,
                and_(
                    ParticipationEventRow.person_id == AudienceRow.person_id,
                    ParticipationEventRow.campaign_id == AudienceRow.campaign_id,
                ),
            )
            .where(AudienceRow.campaign_id == campaign_id)
            .order_by(PersonRow.id, ParticipationEventRow.at, ParticipationEventRow.id)
        )
        if person_id is not None:
            query = query.where(AudienceRow.person_id == person_id)
        rows = self.session.execute(query)
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

    def state(self, campaign_id: int, person_id: int) -> Participation | None:
        return self.states(campaign_id, person_id).get(person_id)

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
