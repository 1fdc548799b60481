"""The participation event log (append-only) and the states folded from it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

from bot.domain import (
    Participation,
    ParticipationEvent,
    ParticipationKind,
    fold_participation,
)
from storage.models import (
    CampaignRow,
    ParticipationEventRow,
)
from storage.repositories.base import _Repo
from storage.repositories.campaigns import CampaignRepo


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

    def states(self, campaign_id: int, as_of: datetime | None = None) -> dict[int, Participation]:
        """The participation of every audience member, folded from the event log (as it stood
        at ``as_of`` when given: the daily snapshot ambassadors see)."""
        people = {p.id: p for p in CampaignRepo(self.session).audience(campaign_id, as_of)}
        query = (
            select(
                ParticipationEventRow.person_id,
                ParticipationEventRow.kind,
                ParticipationEventRow.at,
            )
            .where(ParticipationEventRow.campaign_id == campaign_id)
            .order_by(ParticipationEventRow.at, ParticipationEventRow.id)
        )
        if as_of is not None:
            query = query.where(ParticipationEventRow.at < as_of)
        rows = self.session.execute(query).all()
        events: dict[int, list[tuple[str, datetime]]] = {}
        for person_id, kind, at in rows:
            events.setdefault(person_id, []).append((kind, at))
        return {
            pid: fold_participation(person, events.get(pid, [])) for pid, person in people.items()
        }

    def state(self, campaign_id: int, person_id: int) -> Participation | None:
        return self.states(campaign_id).get(person_id)

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
