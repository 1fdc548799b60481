"""Figures for the health check and the metrics: counts only, never a person."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, text

from storage.models import CampaignRow, DeliveryRow, ReminderStepRow
from storage.repositories.base import _Repo


class OpsRepo(_Repo):
    def ping(self) -> None:
        self.session.execute(text("SELECT 1"))

    def oldest_overdue(self, now: datetime) -> datetime | None:
        """When the most overdue pending delivery became due (None: nothing is overdue).

        Not a count, and messages queued for a later window do not show: how many wait after
        ``relancer`` would be the number of agents not done (docs/privacy.md)."""
        oldest = self.session.scalar(
            select(func.min(DeliveryRow.next_attempt_at)).where(
                DeliveryRow.status == "pending", DeliveryRow.next_attempt_at <= now
            )
        )
        if isinstance(oldest, str):  # SQLite aggregates lose the column type
            oldest = datetime.fromisoformat(oldest)
        return oldest

    def campaigns_by_status(self) -> dict[str, int]:
        rows = self.session.execute(
            select(CampaignRow.status, func.count()).group_by(CampaignRow.status)
        ).all()
        return {str(status): int(count) for status, count in rows}

    def steps_by_status(self) -> dict[str, int]:
        """Campaign-wide steps only: a person's own step exists because they said "plus tard"."""
        rows = self.session.execute(
            select(ReminderStepRow.status, func.count())
            .where(ReminderStepRow.person_id.is_(None))
            .group_by(ReminderStepRow.status)
        ).all()
        return {str(status): int(count) for status, count in rows}
