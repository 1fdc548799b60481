"""Prometheus metrics (``GET /metrics``), all prefixed ``pixbot_``.

Counters are kept in memory by the parts that act (dispatcher, router); levels (outbox backlog,
campaigns and reminder steps by status, role) are read when scraped. Labels are platforms,
message kinds, command names and statuses: never a person, a room or a text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from storage.uow import Store

log = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def kind_label(kind: str) -> str:
    """``reminder:12`` → ``reminder``: a bounded set of label values."""
    return kind.split(":", 1)[0][:40] or "other"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.sent = Counter(
            "pixbot_messages_sent",
            "Messages the platform accepted",
            ["platform", "kind"],
            registry=self.registry,
        )
        self.failed = Counter(
            "pixbot_messages_failed",
            "Messages that failed for good",
            ["platform", "kind"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "pixbot_rate_limited",
            "Rate-limit answers (HTTP 429, M_LIMIT_EXCEEDED) received",
            ["platform"],
            registry=self.registry,
        )
        self.commands = Counter(
            "pixbot_commands_handled",
            "Commands handled, by command name",
            ["command"],
            registry=self.registry,
        )
        self.faq = Counter(
            "pixbot_faq_questions",
            "Questions answered from the FAQ or abstained on",
            ["outcome"],
            registry=self.registry,
        )

    def watch(self, store: Store, role: Callable[[], str], clock: Callable[[], datetime]) -> None:
        self.registry.register(_Levels(store, role, clock))

    def watch_intake(self, backlog: Callable[[], int]) -> None:
        """Incoming events held durably and not handled yet (they pile up during an outage)."""
        gauge = Gauge(
            "pixbot_intake_pending",
            "Incoming events acknowledged to the platform and not handled yet",
            registry=self.registry,
        )
        gauge.set_function(lambda: float(backlog()))

    def count_handled(self, handled: str | None, said: Iterable[str]) -> None:
        """One message handled: its command, and for a question whether the FAQ answered."""
        if handled is None:
            return
        self.commands.labels(handled).inc()
        if handled == "question":
            self.faq.labels("answered" if "faq_answer" in said else "abstained").inc()

    def count_delivery(self, platform: str, kind: str, outcome: str) -> None:
        if outcome == "sent":
            self.sent.labels(platform, kind_label(kind)).inc()
        elif outcome == "failed":
            self.failed.labels(platform, kind_label(kind)).inc()
        elif outcome == "rate_limited":
            self.rate_limited.labels(platform).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Levels(Collector):
    """Read at scrape time; a database outage leaves them out rather than failing the scrape."""

    def __init__(self, store: Store, role: Callable[[], str], clock: Callable[[], datetime]):
        self.store = store
        self.role = role
        self.clock = clock

    def describe(self) -> list[GaugeMetricFamily]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        role = GaugeMetricFamily("pixbot_role", "1 for this process's role", labels=["role"])
        current = self.role()
        for name in ("active", "standby"):
            role.add_metric([name], 1.0 if name == current else 0.0)
        yield role
        try:
            with self.store.transaction() as uow:
                pending, oldest = uow.ops.outbox_backlog()
                campaigns = uow.ops.campaigns_by_status()
                steps = uow.ops.steps_by_status()
        except Exception as error:
            log.debug("metrics: database unavailable (%s)", type(error).__name__)
            yield GaugeMetricFamily("pixbot_database_up", "Database answering", value=0.0)
            return
        yield GaugeMetricFamily("pixbot_database_up", "Database answering", value=1.0)
        yield GaugeMetricFamily("pixbot_outbox_pending", "Messages waiting", value=float(pending))
        age = 0.0
        if oldest is not None:
            oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
            age = max(0.0, (self.clock() - oldest).total_seconds())
        yield GaugeMetricFamily(
            "pixbot_outbox_oldest_seconds", "Age of the oldest waiting message", value=age
        )
        by_status = GaugeMetricFamily("pixbot_campaigns", "Campaigns by status", labels=["status"])
        for status in ("draft", "scheduled", "running", "closed", "cancelled"):
            by_status.add_metric([status], float(campaigns.get(status, 0)))
        yield by_status
        reminder = GaugeMetricFamily(
            "pixbot_reminder_steps", "Reminder steps by status", labels=["status"]
        )
        for status in ("planned", "done", "missed", "cancelled"):
            reminder.add_metric([status], float(steps.get(status, 0)))
        yield reminder
