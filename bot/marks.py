"""What the outbox sent and has not written down yet, and the progress of the batches it sends.

The platform's acceptances are written in one statement per batch of sends (:class:`MarkBook`):
at most :data:`MARK_EVERY` sends or :data:`MARK_INTERVAL` seconds after the first, and always
before the outbox reads again (a row sent and not marked would look due). A send accepted and
not marked when the process dies is sent again with the same key, which the platform
de-duplicates. The batches with new sends are reported (``on_batch_progress``, bot/batches.py)
at most every :data:`REPORT_EVERY` seconds and when a drain ends: a report counts the whole
batch, so reporting after every write cost a quadratic number of rows read in a launch.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

# Sent rows are marked together: at most this many (a claim's worth, bot/outbox.py MAX_CLAIM),
# or this many seconds, after their send.
MARK_EVERY = 500
MARK_INTERVAL = 1.0
# Seconds between two progress reports of the batches being sent (and at the end of a drain).
REPORT_EVERY = 1.0

BatchHook = Callable[[str], Awaitable[None]]


@dataclass
class DispatchStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0


@dataclass
class Marks:
    """Sends the platform accepted and the database does not know yet."""

    sent: list[tuple[int, str]] = field(default_factory=list)
    conversations: dict[int, str] = field(default_factory=dict)
    batches: dict[str, None] = field(default_factory=dict)
    since: float = field(default_factory=time.monotonic)


class MarkBook:
    """The marks not written yet, their writing (``write``: one transaction) and the batch
    reports (``report``: told each batch with news)."""

    def __init__(self, write: Callable[[Marks], Awaitable[None]], report: BatchHook | None) -> None:
        self._write = write
        self.report = report
        self._marks = Marks()
        self._flushing: set[int] = set()  # sent rows whose marks are being written
        self._unreported: dict[str, None] = {}
        self._reported_at = 0.0

    def sent(self, delivery_id: int, remote_id: str, batch: str | None) -> None:
        """A send the platform accepted."""
        self._marks.sent.append((delivery_id, remote_id))
        if batch:
            self._marks.batches[batch] = None

    def direct_conversation(self, person_id: int, conversation: str) -> None:
        """The platform wrote to a person in a direct conversation the database does not know."""
        self._marks.conversations[person_id] = conversation

    def failed(self, batch: str | None) -> None:
        """A row of ``batch`` failed for good (its report says so)."""
        if batch:
            self._marks.batches[batch] = None

    def unmarked_ids(self) -> set[int]:
        """Rows sent whose mark is not written yet (still due in the database)."""
        return {delivery_id for delivery_id, _ in self._marks.sent} | self._flushing

    async def maybe_flush(self) -> None:
        marks = self._marks
        if len(marks.sent) >= MARK_EVERY or time.monotonic() - marks.since >= MARK_INTERVAL:
            await self.flush()

    async def flush(self, *, final: bool = False) -> bool:
        """Write the accepted sends in one transaction, then report the batches (see the
        module). Returns whether any batch was reported (a report may have enqueued a
        message)."""
        marks, self._marks = self._marks, Marks()
        if marks.sent or marks.conversations:
            # Until written, a lane reading again must not take these rows for due ones.
            flushing = {delivery_id for delivery_id, _ in marks.sent}
            self._flushing |= flushing
            try:
                await self._write(marks)
            finally:
                self._flushing -= flushing
        self._unreported.update(marks.batches)
        due = final or time.monotonic() - self._reported_at >= REPORT_EVERY
        if self.report is not None and self._unreported and due:
            batches, self._unreported = self._unreported, {}
            self._reported_at = time.monotonic()
            for batch in batches:
                await self.report(batch)
            return True
        return False
