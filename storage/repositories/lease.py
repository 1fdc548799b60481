"""The fencing check: is this epoch still the instance lock's current one?"""

from __future__ import annotations

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
