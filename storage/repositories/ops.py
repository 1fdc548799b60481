"""Figures for the health check and the metrics: counts only, never a person."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, text

from storage.models import CampaignRow, DeliveryRow, ReminderStepRow
from storage.repositories.base import _Repo


class OpsRepo(_Repo):
    def ping(self) -> None:
        self.session.execute(text("SELECT 1"))

    def outbox_backlog(self) -> tuple[int, datetime | None]:
        """Pending deliveries and the creation time of the oldest one."""
        count, oldest = self.session.execute(
            select(func.count(), func.min(DeliveryRow.created_at)).where(
                DeliveryRow.status == "pending"
            )
        ).one()
        if isinstance(oldest, str):  # SQLite aggregates lose the column type
            oldest = datetime.fromisoformat(oldest)
        return int(count or 0), oldest

    def campaigns_by_status(self) -> dict[str, int]:
        rows = self.session.execute(
            select(CampaignRow.status, func.count()).group_by(CampaignRow.status)
        ).all()
        return {str(status): int(count) for status, count in rows}

    def steps_by_status(self) -> dict[str, int]:
        rows = self.session.execute(
            select(ReminderStepRow.status, func.count()).group_by(ReminderStepRow.status)
        ).all()
        return {str(status): int(count) for status, count in rows}
