"""Reporting a long send (a launch, a reminder) to whoever started it: progress about every
:data:`PROGRESS_EVERY` seconds while it goes, then a summary once nothing of it is pending.

The outbox tells the reporter each batch a flushed send belonged to (``on_batch_progress``);
the report itself is :meth:`bot.services.campaigns.CampaignService.report_batch`, written in the
database worker like every other transaction.
"""

from __future__ import annotations

import time

from bot.core import Clock
from bot.dbwork import DatabaseWorker, InlineDatabase
from bot.domain import DeliveryStatus
from bot.services.campaigns import CampaignService
from storage.uow import Store

PROGRESS_EVERY = 10.0  # seconds between two progress messages of one batch


class BatchReporter:
    def __init__(
        self,
        store: Store,
        database: DatabaseWorker | InlineDatabase,
        campaigns: CampaignService,
        clock: Clock,
    ) -> None:
        self.store = store
        self.database = database
        self.campaigns = campaigns
        self.clock = clock
        self._last_progress: dict[str, float] = {}

    async def __call__(self, batch: str) -> None:
        await self.database.run(self._report, batch, time.monotonic())

    def _report(self, batch: str, now_mono: float) -> None:
        with self.store.transaction() as uow:
            pending = uow.outbox.batch_counts(batch).get(DeliveryStatus.PENDING, 0)
            if pending == 0:
                self.campaigns.report_batch(uow, batch, self.clock.now(), final=True)
                self._last_progress.pop(batch, None)
                return
            last = self._last_progress.get(batch)
            if last is None:
                self._last_progress[batch] = now_mono
            elif now_mono - last >= PROGRESS_EVERY:
                self._last_progress[batch] = now_mono
                self.campaigns.report_batch(uow, batch, self.clock.now(), final=False)
