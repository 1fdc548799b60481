"""The fencing check: is this epoch still the instance lock's current one?"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from storage.models import DeliveryRow, LockRow
from storage.repositories.base import _Repo

LOCK_NAME = "instance"


class LeaseRepo(_Repo):
    def current_epoch(self) -> int | None:
        return self.session.scalar(select(LockRow.epoch).where(LockRow.name == LOCK_NAME))

    def is_current(self, epoch: int | None) -> bool:
        """True when ``epoch`` is the lock's epoch (None: no fencing, e.g. an in-memory base)."""
        return epoch is None or self.current_epoch() == epoch

    def sendable(self, delivery_id: int, epoch: int | None) -> tuple[bool, bool]:
        """(is ``epoch`` current, is the delivery still pending), in one round trip: the
        check made before every send."""
        current = select(LockRow.epoch).where(LockRow.name == LOCK_NAME).scalar_subquery()
        status = select(DeliveryRow.status).where(DeliveryRow.id == delivery_id).scalar_subquery()
        row = self.session.execute(select(current, status)).one()
        return (epoch is None or row[0] == epoch), row[1] == "pending"

    def sendable_many(
        self, delivery_ids: Sequence[int], epoch: int | None
    ) -> tuple[bool, set[int]]:
        """(is ``epoch`` current, which of the deliveries are still pending), in one round
        trip: the check made before a run of sends (:meth:`bot.outbox.Dispatcher`)."""
        current = select(LockRow.epoch).where(LockRow.name == LOCK_NAME).scalar_subquery()
        rows = self.session.execute(
            select(current, DeliveryRow.id).where(
                self._among(DeliveryRow.id, list(delivery_ids)), DeliveryRow.status == "pending"
            )
        ).all()
        if not rows:  # nothing pending: the epoch still has to be read
            return self.is_current(epoch), set()
        return (epoch is None or rows[0][0] == epoch), {row[1] for row in rows}
