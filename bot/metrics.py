"""Prometheus metrics (``GET /metrics``), all prefixed ``pixbot_``.

What an operator sees here must not follow one agent's declaration (docs/privacy.md, « Ce que
voit l'exploitant »): a counter split by command would tell when somebody said "fait" or
"stop tout", a count of invitations or reminders sent tells the audience minus those who
stopped, a count of waiting messages after ``relancer`` tells how many agents are not done.
So the series are:

* counters of what people *said to* the bot, without saying what (``messages_handled``), of
  the FAQ's outcome, and of the replies the bot sent back (one per message, whatever it said)
  and their failures; the platform's rate-limit answers;
* levels read when scraped: role, database up, campaigns by status and campaign-wide reminder
  steps by status (both chosen by ambassadors; a person's "plus tard" step is left out), the
  age of the oldest *overdue* message (sending health, not a count), incoming events not
  handled yet.

No series carries ``_created`` (its timestamp would stamp the first time a series moved), no
label is a person, a room, a text or a message kind.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.dbwork import DatabaseWorker, InlineDatabase
from storage.uow import Store

log = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Deliveries that answer what somebody just said: one per message handled, whatever was said.
# Everything else (invitations, reminders, thanks, reports, digests) leaves in numbers that
# follow agents' declarations, and is not counted here.
REPLY_KINDS = frozenset({"reply", "erasure", "my_data"})

COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pixbot_messages_handled": ("Incoming messages handled (any command or question)", ()),
    "pixbot_faq_questions": ("Questions answered from the FAQ or abstained on", ("outcome",)),
    "pixbot_replies_sent": ("Replies the platform accepted", ("platform",)),
    "pixbot_replies_failed": ("Replies that failed for good", ("platform",)),
    "pixbot_rate_limited": ("Rate-limit answers (HTTP 429, M_LIMIT_EXCEEDED)", ("platform",)),
}


class Metrics:
    def __init__(self, database: DatabaseWorker | InlineDatabase | None = None) -> None:
        # A scrape reads the database (the levels): it runs in the database worker.
        self.database = database or InlineDatabase()
        self.registry = CollectorRegistry(auto_describe=False)
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, tuple[str, ...]], float] = {}
        self.registry.register(_Counters(self))

    def inc(self, name: str, *labels: str) -> None:
        assert name in COUNTERS and len(labels) == len(COUNTERS[name][1])
        with self._lock:
            key = (name, labels)
            self._counts[key] = self._counts.get(key, 0.0) + 1.0

    def snapshot(self) -> dict[tuple[str, tuple[str, ...]], float]:
        with self._lock:
            return dict(self._counts)

    def watch(self, store: Store, role: Callable[[], str], clock: Callable[[], datetime]) -> None:
        self.registry.register(_Levels(store, role, clock))

    def watch_intake(self, backlog: Callable[[], int]) -> None:
        """Incoming events held durably and not handled yet (they pile up during an outage)."""
        self.registry.register(_Intake(backlog))

    def count_handled(self, handled: str | None, said: Iterable[str]) -> None:
        """One message handled; for a question, whether the FAQ answered. The command's name
        is not kept: it would split the count by declaration."""
        if handled is None:
            return
        self.inc("pixbot_messages_handled")
        if handled == "question":
            self.inc("pixbot_faq_questions", "answered" if "faq_answer" in said else "abstained")

    def count_delivery(self, platform: str, kind: str, outcome: str) -> None:
        if outcome == "rate_limited":
            self.inc("pixbot_rate_limited", platform)
        elif kind in REPLY_KINDS and outcome == "sent":
            self.inc("pixbot_replies_sent", platform)
        elif kind in REPLY_KINDS and outcome == "failed":
            self.inc("pixbot_replies_failed", platform)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    async def scrape(self) -> bytes:
        """:meth:`render`, off the event loop (its levels are read in one transaction)."""
        return await self.database.run(self.render)


class _Counters(Collector):
    """Counters without ``_created`` (prometheus_client's own Counter always adds one)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        counts = self.metrics.snapshot()
        for name, (help_text, labels) in COUNTERS.items():
            family = CounterMetricFamily(name, help_text, labels=list(labels))
            values = sorted((k[1], v) for k, v in counts.items() if k[0] == name)
            if not labels:
                family.add_metric([], dict(values).get((), 0.0))
            for label_values, value in values:
                if labels:
                    family.add_metric(list(label_values), value)
            yield family


class _Intake(Collector):
    def __init__(self, backlog: Callable[[], int]) -> None:
        self.backlog = backlog

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "pixbot_intake_pending",
            "Incoming events acknowledged to the platform and not handled yet",
            value=float(self.backlog()),
        )


class _Levels(Collector):
    """Read at scrape time; a database outage leaves them out rather than failing the scrape."""

    def __init__(self, store: Store, role: Callable[[], str], clock: Callable[[], datetime]):
        self.store = store
        self.role = role
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        role = GaugeMetricFamily("pixbot_role", "1 for this process's role", labels=["role"])
        current = self.role()
        for name in ("active", "standby"):
            role.add_metric([name], 1.0 if name == current else 0.0)
        yield role
        now = self.clock()
        try:
            with self.store.transaction() as uow:
                overdue = uow.ops.oldest_overdue(now)
                campaigns = uow.ops.campaigns_by_status()
                steps = uow.ops.steps_by_status()
        except Exception as error:
            log.debug("metrics: database unavailable (%s)", type(error).__name__)
            yield GaugeMetricFamily("pixbot_database_up", "Database answering", value=0.0)
            return
        yield GaugeMetricFamily("pixbot_database_up", "Database answering", value=1.0)
        age = 0.0
        if overdue is not None:
            overdue = overdue if overdue.tzinfo else overdue.replace(tzinfo=UTC)
            age = max(0.0, (now - overdue).total_seconds())
        yield GaugeMetricFamily(
            "pixbot_outbox_overdue_seconds",
            "How long the most overdue message has been due (0: nothing waits past its time)",
            value=age,
        )
        by_status = GaugeMetricFamily("pixbot_campaigns", "Campaigns by status", labels=["status"])
        for status in ("draft", "scheduled", "running", "closed", "cancelled"):
            by_status.add_metric([status], float(campaigns.get(status, 0)))
        yield by_status
        reminder = GaugeMetricFamily(
            "pixbot_reminder_steps", "Campaign-wide reminder steps by status", labels=["status"]
        )
        for status in ("planned", "done", "missed", "cancelled"):
            reminder.add_metric([status], float(steps.get(status, 0)))
        yield reminder
