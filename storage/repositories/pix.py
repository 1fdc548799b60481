"""Campaigns linked to their Pix campaign, the sync cursor, and unmatched participations
(counted for operators: Pix's participation number and a reason, nothing about a person)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import delete, func, select, update

from bot.domain import PixLink
from storage.models import PixLinkRow, PixUnmatchedRow
from storage.repositories.base import _Repo, chunks, table_of


def _link(row: PixLinkRow) -> PixLink:
    return PixLink(
        campaign_id=row.campaign_id,
        pix_campaign_id=row.pix_campaign_id,
        pix_organization_id=row.pix_organization_id,
        linked_at=row.linked_at,
        synced_until=row.synced_until,
        last_sync_at=row.last_sync_at,
        matched_by_name=row.matched_by_name or 0,
        last_error=row.last_error,
        last_error_at=row.last_error_at,
    )


class PixRepo(_Repo):
    def link(self, campaign_id: int) -> PixLink | None:
        row = self.session.get(PixLinkRow, campaign_id)
        return _link(row) if row else None

    def links(self, campaign_ids: Iterable[int] | None = None) -> dict[int, PixLink]:
        query = select(PixLinkRow)
        if campaign_ids is not None:
            query = query.where(PixLinkRow.campaign_id.in_(list(campaign_ids)))
        return {row.campaign_id: _link(row) for row in self.session.scalars(query)}

    def save_link(
        self, campaign_id: int, pix_campaign_id: int, organization_id: int, now: datetime
    ) -> None:
        """Link (or re-link) a campaign; a different Pix campaign starts from scratch."""
        row = self.session.get(PixLinkRow, campaign_id)
        if row is None:
            self.session.add(
                PixLinkRow(
                    campaign_id=campaign_id,
                    pix_campaign_id=pix_campaign_id,
                    pix_organization_id=organization_id,
                    linked_at=now,
                    matched_by_name=0,
                )
            )
        elif row.pix_campaign_id != pix_campaign_id:
            row.pix_campaign_id, row.pix_organization_id = pix_campaign_id, organization_id
            row.linked_at, row.synced_until, row.matched_by_name = now, None, 0
            self.session.execute(
                delete(PixUnmatchedRow).where(PixUnmatchedRow.campaign_id == campaign_id)
            )
        self.session.flush()

    def claim(self, campaign_id: int) -> PixLink | None:
        """The link, write-locked for this transaction (a row lock on PostgreSQL, the write
        lock on SQLite): two syncs of one campaign apply one after the other, the second
        reading what the first wrote."""
        self.session.execute(
            update(PixLinkRow)
            .where(PixLinkRow.campaign_id == campaign_id)
            .values(matched_by_name=PixLinkRow.matched_by_name)
        )
        row = self.session.get(PixLinkRow, campaign_id, populate_existing=True)
        return _link(row) if row else None

    def advance(
        self, campaign_id: int, synced_until: datetime, now: datetime, matched_by_name: int
    ) -> None:
        """A successful sync: the cursor moves and the last error is cleared."""
        self.session.execute(
            update(PixLinkRow)
            .where(PixLinkRow.campaign_id == campaign_id)
            .values(
                synced_until=synced_until,
                last_sync_at=now,
                matched_by_name=PixLinkRow.matched_by_name + matched_by_name,
                last_error=None,
                last_error_at=None,
            )
        )

    def failed(self, campaign_id: int, error: str, now: datetime) -> None:
        self.session.execute(
            update(PixLinkRow)
            .where(PixLinkRow.campaign_id == campaign_id)
            .values(last_error=error[:300], last_error_at=now)
        )

    def set_unmatched(
        self, campaign_id: int, unmatched: Mapping[int, str], matched: Iterable[int]
    ) -> None:
        """Record participations that matched nobody (by reason) and forget those that
        matched someone (or belong to an erased person) this time."""
        gone = sorted(set(matched) | set(unmatched))
        for part in chunks(gone):
            self.session.execute(
                delete(PixUnmatchedRow).where(
                    PixUnmatchedRow.campaign_id == campaign_id,
                    self._among(PixUnmatchedRow.participation_id, part),
                )
            )
        self._write_rows(
            table_of(PixUnmatchedRow),
            [
                {"campaign_id": campaign_id, "participation_id": pid, "reason": reason}
                for pid, reason in sorted(unmatched.items())
            ],
            lambda insert: insert,
        )

    def unmatched_counts(self, campaign_id: int) -> dict[str, int]:
        rows = self.session.execute(
            select(PixUnmatchedRow.reason, func.count())
            .where(PixUnmatchedRow.campaign_id == campaign_id)
            .group_by(PixUnmatchedRow.reason)
        ).all()
        return {reason: int(count) for reason, count in rows}
