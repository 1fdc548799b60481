"""Stored daily statistics: the figures of a campaign for one day, written the first time they
are asked for that day and read as they are afterwards (counts only, never a person)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from storage.models import NoteOptOutRow, PoolSnapshotRow, StatsSnapshotRow
from storage.repositories.base import _Repo, table_of

# (invited, started, completed, opted_out) of one group
Row = tuple[int, int, int, int]
MARKER = ""  # the row that says "a snapshot was taken" (a campaign may have no audience)
CURVE = "~"  # rows "~YYYY-MM-DD": completions on that day (the chart's curve)
KEPT_DAYS = 8  # older snapshots of a campaign go when a new one is taken


class SnapshotRepo(_Repo):
    def get(self, campaign_id: int, day: date) -> dict[str, Row] | None:
        """The stored figures per group, or None when no snapshot was taken that day."""
        rows = self.session.scalars(
            select(StatsSnapshotRow).where(
                StatsSnapshotRow.campaign_id == campaign_id, StatsSnapshotRow.day == day
            )
        ).all()
        if not rows:
            return None
        return {
            r.grp: (r.invited, r.started, r.completed, r.opted_out)
            for r in rows
            if r.grp != MARKER and not r.grp.startswith(CURVE)
        }

    def curve(self, campaign_id: int, day: date) -> list[tuple[date, int]]:
        """Completions per local day stored with the day's snapshot (the chart's curve)."""
        rows = self.session.scalars(
            select(StatsSnapshotRow).where(
                StatsSnapshotRow.campaign_id == campaign_id,
                StatsSnapshotRow.day == day,
                StatsSnapshotRow.grp.startswith(CURVE),
            )
        ).all()
        return sorted((date.fromisoformat(r.grp[len(CURVE) :]), r.completed) for r in rows)

    def put(
        self,
        campaign_id: int,
        day: date,
        groups: Mapping[str, Row],
        curve: Mapping[date, int],
    ) -> dict[str, Row]:
        """Store the day's figures unless another transaction already did; returns what is
        stored (the first writer wins, so two readers never see two versions of one day)."""

        def row(name: str, counts: Row) -> dict[str, object]:
            invited, started, completed, opted_out = counts
            return {
                "campaign_id": campaign_id,
                "day": day,
                "grp": name,
                "invited": invited,
                "started": started,
                "completed": completed,
                "opted_out": opted_out,
            }

        def conflict(insert: Any) -> Any:
            return insert.on_conflict_do_nothing(index_elements=["campaign_id", "day", "grp"])

        table = table_of(StatsSnapshotRow)
        # The marker first: whoever writes it owns the day (a concurrent writer waits for it
        # on PostgreSQL, SQLite writes one at a time), the other one reads what it stored.
        if self._write_rows(table, [row(MARKER, (0, 0, 0, 0))], conflict, count=True):
            rows = [row(n, c) for n, c in groups.items()]
            rows += [row(f"{CURVE}{d.isoformat()}", (0, 0, n, 0)) for d, n in curve.items()]
            self._write_rows(table, rows, conflict)
            self.session.execute(
                delete(StatsSnapshotRow).where(
                    StatsSnapshotRow.campaign_id == campaign_id,
                    StatsSnapshotRow.day < day - timedelta(days=KEPT_DAYS),
                )
            )
        stored = self.get(campaign_id, day)
        assert stored is not None
        return stored

    def pool(self, day: date) -> list[int] | None:
        """The campaigns pooled for the ministry's figures that day; None: not taken yet."""
        ids = self.session.scalars(
            select(PoolSnapshotRow.campaign_id).where(PoolSnapshotRow.day == day)
        ).all()
        if not ids:
            return None
        return sorted(i for i in ids if i != 0)

    def put_pool(self, day: date, campaign_ids: Iterable[int]) -> list[int]:
        """Fix the day's pool unless another transaction already did (the first writer wins,
        as for the snapshots); returns what is stored. Older pools go."""

        def conflict(insert: Any) -> Any:
            return insert.on_conflict_do_nothing(index_elements=["day", "campaign_id"])

        table = table_of(PoolSnapshotRow)
        if self._write_rows(table, [{"day": day, "campaign_id": 0}], conflict, count=True):
            rows = [{"day": day, "campaign_id": i} for i in sorted(set(campaign_ids)) if i]
            self._write_rows(table, rows, conflict)
            self.session.execute(
                delete(PoolSnapshotRow).where(PoolSnapshotRow.day < day - timedelta(KEPT_DAYS))
            )
        stored = self.pool(day)
        assert stored is not None
        return stored


class NoteRepo(_Repo):
    """Who switched the morning note off (``note du matin arrêter``)."""

    def is_off(self, person_id: int) -> bool:
        return self.session.get(NoteOptOutRow, person_id) is not None

    def since(self, person_id: int) -> datetime | None:
        """When the person switched the note off (``mes données`` shows it); None: on."""
        row = self.session.get(NoteOptOutRow, person_id)
        return None if row is None else row.since

    def switch(self, person_id: int, on: bool, now: datetime) -> bool:
        """Switch the note on or off; False when it already was so."""
        row = self.session.get(NoteOptOutRow, person_id)
        if on:
            if row is None:
                return False
            self.session.delete(row)
            return True
        if row is not None:
            return False
        self.session.add(NoteOptOutRow(person_id=person_id, since=now))
        return True

    def off_among(self, person_ids: Iterable[int]) -> set[int]:
        ids = list(person_ids)
        if not ids:
            return set()
        return set(
            self.session.scalars(
                select(NoteOptOutRow.person_id).where(NoteOptOutRow.person_id.in_(ids))
            )
        )

    def forget(self, person_id: int) -> None:
        self.session.execute(delete(NoteOptOutRow).where(NoteOptOutRow.person_id == person_id))
