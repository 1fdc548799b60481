"""Retention: what is deleted once a campaign has been closed for ``retention_days``.

Deliveries, participation events and audiences of the campaign go, and so do the people who
were in it and are in no other campaign still kept and hold no role; what remains is the
counts per campaign and service (``retained_counts``) and the campaign itself.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, select

from bot.domain import CampaignStatus, ParticipationStatus
from storage.models import (
    AudienceRow,
    AuditRow,
    CampaignRow,
    DeliveryRow,
    ParticipationEventRow,
    PersonRow,
    ReminderStepRow,
    RetainedCountsRow,
    RoleRow,
)
from storage.repositories.base import _Repo
from storage.repositories.participation import ParticipationRepo

ENDED = (CampaignStatus.CLOSED.value, CampaignStatus.CANCELLED.value)


@dataclass
class PurgeReport:
    campaigns: list[str] = field(default_factory=list)  # codes
    deliveries: int = 0
    participation_events: int = 0
    audiences: int = 0
    people: int = 0


class RetentionRepo(_Repo):
    def expired(self, cutoff: date) -> list[tuple[int, str]]:
        """Ended campaigns whose end (deadline or last audit entry) is before ``cutoff``."""
        last_action = (
            select(AuditRow.campaign_id, func.max(AuditRow.at).label("at"))
            .group_by(AuditRow.campaign_id)
            .subquery()
        )
        rows = self.session.execute(
            select(CampaignRow.id, CampaignRow.code, CampaignRow.deadline, last_action.c.at)
            .outerjoin(last_action, last_action.c.campaign_id == CampaignRow.id)
            .where(CampaignRow.status.in_(ENDED))
            .order_by(CampaignRow.id)
        ).all()
        expired = []
        for campaign_id, code, deadline, last in rows:
            ended = max(deadline, _as_date(last) or deadline)
            if ended < cutoff and self._has_personal_data(campaign_id):
                expired.append((int(campaign_id), str(code)))
        return expired

    def _has_personal_data(self, campaign_id: int) -> bool:
        for model in (AudienceRow, ParticipationEventRow, DeliveryRow):
            found = self.session.scalar(
                select(model.id).where(model.campaign_id == campaign_id).limit(1)
            )
            if found is not None:
                return True
        return False

    def purge(self, campaign_id: int, now: datetime, report: PurgeReport) -> None:
        self._keep_counts(campaign_id, now)
        members = set(
            self.session.scalars(
                select(AudienceRow.person_id).where(AudienceRow.campaign_id == campaign_id)
            )
        )
        members |= set(
            self.session.scalars(
                select(ParticipationEventRow.person_id).where(
                    ParticipationEventRow.campaign_id == campaign_id
                )
            )
        )
        report.deliveries += self._delete(DeliveryRow, DeliveryRow.campaign_id == campaign_id)
        report.participation_events += self._delete(
            ParticipationEventRow, ParticipationEventRow.campaign_id == campaign_id
        )
        report.audiences += self._delete(AudienceRow, AudienceRow.campaign_id == campaign_id)
        self._delete(
            ReminderStepRow,
            ReminderStepRow.campaign_id == campaign_id,
            ReminderStepRow.person_id.is_not(None),
        )
        report.people += self._forget_unattached(members)

    def purge_finished_deliveries(self, before: datetime, report: PurgeReport) -> None:
        """Deliveries done with (sent, failed, cancelled) and older than ``before``."""
        report.deliveries += self._delete(
            DeliveryRow, DeliveryRow.status != "pending", DeliveryRow.created_at < before
        )

    def _keep_counts(self, campaign_id: int, now: datetime) -> None:
        states = ParticipationRepo(self.session).states(campaign_id)
        counts: dict[str, Counter[str]] = {}
        for participation in states.values():
            service = participation.person.service or "-"
            counter = counts.setdefault(service, Counter())
            if participation.status != ParticipationStatus.NOT_INVITED:
                counter["ever_invited"] += 1
            counter[participation.status.value] += 1
        for service, counter in counts.items():
            self.session.merge(
                RetainedCountsRow(
                    campaign_id=campaign_id,
                    service=service[:100],
                    invited=counter["ever_invited"],
                    started=counter[ParticipationStatus.STARTED.value],
                    completed=counter[ParticipationStatus.COMPLETED.value],
                    opted_out=counter[ParticipationStatus.OPTED_OUT.value],
                    purged_at=now,
                )
            )

    def _forget_unattached(self, people: set[int]) -> int:
        """Delete those of ``people`` in no kept campaign and with no role."""
        if not people:
            return 0
        kept = set(
            self.session.scalars(
                select(AudienceRow.person_id).where(AudienceRow.person_id.in_(people))
            )
        )
        with_role = set(
            self.session.scalars(select(RoleRow.person_id).where(RoleRow.person_id.in_(people)))
        )
        gone = people - kept - with_role
        if not gone:
            return 0
        self._delete(ParticipationEventRow, ParticipationEventRow.person_id.in_(gone))
        self._delete(DeliveryRow, DeliveryRow.person_id.in_(gone))
        # Replies in a conversation name it, not the person: a console "dm:ID" names both.
        for platform_id in self.session.scalars(
            select(PersonRow.platform_id).where(PersonRow.id.in_(gone))
        ):
            self._delete(DeliveryRow, DeliveryRow.recipient.endswith(platform_id, autoescape=True))
        return self._delete(PersonRow, PersonRow.id.in_(gone))

    def _delete(self, model: Any, *conditions: Any) -> int:
        result: Any = self.session.execute(delete(model).where(*conditions))
        return int(result.rowcount or 0)

    def retained(self, campaign_id: int) -> dict[str, dict[str, int]]:
        """Service → the counts kept for the campaign."""
        rows = self.session.scalars(
            select(RetainedCountsRow).where(RetainedCountsRow.campaign_id == campaign_id)
        )
        return {
            row.service: {
                "invited": row.invited,
                "started": row.started,
                "completed": row.completed,
                "opted_out": row.opted_out,
            }
            for row in rows
        }


def _as_date(moment: datetime | str | None) -> date | None:
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.date()
