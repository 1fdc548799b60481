"""APScheduler wiring: it only wakes the bot up; the database holds the truth.

Jobs are module-level coroutines taking ids (so a persistent job store could hold them); they
find the running :class:`StepRunner` through a registry keyed by the scheduler's key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from bot.config import Settings
from bot.core import Clock
from bot.domain import ReminderStep
from bot.resilience import Deferred, Resilience
from bot.services import retention
from bot.services.pix_sync import PixSync, client_from
from scheduler.running import StepRunner
from storage.uow import Store

log = logging.getLogger(__name__)

_RUNNERS: dict[str, StepRunner] = {}
_SCHEDULERS: dict[str, JobScheduler] = {}
TICK_MINUTES = 5
# How long stopping waits for a job in progress (it gives up at once during an outage).
STOP_GRACE = 5.0
PURGE_HOUR, PURGE_MINUTE = 3, 30  # the daily retention job, at night


async def run_step(key: str, step_id: int) -> None:
    runner = _RUNNERS.get(key)
    if runner is not None:
        await _guarded(key, lambda: runner.run_step(step_id), f"step {step_id}")


async def run_due(key: str) -> None:
    runner = _RUNNERS.get(key)
    if runner is not None:
        await _guarded(key, runner.tick, "tick")


async def send_digest(key: str) -> None:
    runner = _RUNNERS.get(key)
    if runner is not None:
        await _guarded(key, lambda: runner.database.run(runner.digest), "digest")


async def send_morning_notes(key: str) -> None:
    """The morning note: woken every few minutes, each ambassador's note leaves once their
    sending window opens, once per day (the runner decides; the outbox key makes it once)."""
    runner = _RUNNERS.get(key)
    if runner is not None:
        await _guarded(key, lambda: runner.database.run(runner.morning_notes), "morning notes")


async def purge_expired(key: str) -> None:
    """The daily retention job."""
    jobs, runner = _SCHEDULERS.get(key), _RUNNERS.get(key)
    if jobs is None or runner is None:
        return
    purge = partial(retention.purge, dry_run=False)
    days = jobs.settings.privacy.retention_days
    await _guarded(
        key, lambda: runner.database.run(purge, jobs.store, jobs.clock.now(), days), "retention"
    )


async def sync_pix(key: str) -> None:
    """The Pix sync job: every ``[pix] sync_minutes`` during working hours (the calendar of
    ``[schedule]``, in the bot's time zone)."""
    jobs, runner = _SCHEDULERS.get(key), _RUNNERS.get(key)
    if jobs is None or runner is None or jobs.pix is None:
        return
    if not runner.planner.calendar.is_working_time(jobs.clock.now(), runner.planner.tz):
        return
    pix = jobs.pix

    async def work() -> None:
        for report in await pix.sync():
            if report.error is None:
                # No count: how many agents Pix saw finish since the last sync moves with one
                # person's progress, and logs outlive erasure (`pixbot pix status` shows them).
                log.info("synchronisation Pix %s : faite", report.code)

    await _guarded(key, work, "pix sync")


async def _guarded(key: str, work: Callable[[], Awaitable[object]], what: str) -> None:
    """Run a job: retried through a database outage, tracked so that stopping waits for it.

    A step left undone by a stop stays ``planned`` in the database and runs after the restart.
    """
    jobs = _SCHEDULERS.get(key)
    task = asyncio.current_task()
    if jobs is not None and task is not None:
        jobs.running.add(task)
    try:
        if jobs is not None and jobs.resilience is not None:
            await jobs.resilience.run(work, what)
        else:
            await work()
    except Deferred:
        log.info("tâche %s laissée pour après le redémarrage", what)
    finally:
        if jobs is not None and task is not None:
            jobs.running.discard(task)


class JobScheduler:
    """Implements :class:`scheduler.planning.Wakeups` with APScheduler jobs."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        clock: Clock,
        key: str,
        resilience: Resilience | None = None,
    ) -> None:
        self.settings = settings
        self.resilience = resilience
        self.running: set[asyncio.Task[object]] = set()
        self.store = store
        self.clock = clock
        self.key = key
        self.scheduler: AsyncIOScheduler | None = None
        self.runner: StepRunner | None = None
        self.pix: PixSync | None = None

    async def start(self, runner: StepRunner) -> None:
        """Wake up for every planned step; catch up on missed ones right away."""
        self.runner = runner
        _RUNNERS[self.key] = runner
        _SCHEDULERS[self.key] = self
        self.scheduler = AsyncIOScheduler(timezone=runner.planner.tz)
        self.scheduler.add_job(
            run_due,
            "interval",
            minutes=TICK_MINUTES,
            args=[self.key],
            id=f"{self.key}:tick",
            replace_existing=True,
            next_run_time=self.clock.now(),
            coalesce=True,
            max_instances=1,
            # Late (a busy start, a database outage) is not a reason to skip catching up.
            misfire_grace_time=None,
        )
        digest = self.settings.schedule.digest.strip()
        if digest:
            day, _, hour = digest.partition(" ")
            hours, _, minutes = (hour or "09:30").partition(":")
            self.scheduler.add_job(
                send_digest,
                CronTrigger(
                    day_of_week=day[:3].lower(),
                    hour=int(hours),
                    minute=int(minutes or 0),
                    timezone=runner.planner.tz,
                ),
                args=[self.key],
                id=f"{self.key}:digest",
                replace_existing=True,
            )
        if self.settings.schedule.morning_note:
            self.scheduler.add_job(
                send_morning_notes,
                "interval",
                minutes=TICK_MINUTES,
                args=[self.key],
                id=f"{self.key}:notes",
                replace_existing=True,
                # At once, in APScheduler's time (the wall clock), whatever the bot's clock says
                # (the demo's runs ahead of it): a restart catches up on today's notes.
                next_run_time=datetime.now(UTC),
                coalesce=True,
                max_instances=1,
            )
        self.scheduler.add_job(
            purge_expired,
            CronTrigger(hour=PURGE_HOUR, minute=PURGE_MINUTE, timezone=runner.planner.tz),
            args=[self.key],
            id=f"{self.key}:retention",
            replace_existing=True,
            coalesce=True,
            misfire_grace_time=None,
        )
        self._schedule_pix(runner)
        planned = await runner.database.run(self._planned)
        self.scheduler.start()
        for step in planned:
            self.schedule(step)

    def _planned(self) -> list[ReminderStep]:
        with self.store.transaction() as uow:
            return list(uow.steps.planned())

    def _schedule_pix(self, runner: StepRunner) -> None:
        """The Pix sync, when ``[pix]`` is configured (the settings refuse a URL without
        credentials; ``pixbot pix status`` checks them against Pix)."""
        pix = self.settings.pix
        if not pix.api_url:
            return
        client = client_from(self.settings, self.clock)
        assert client is not None and self.scheduler is not None
        self.pix = PixSync(
            client,
            self.store,
            self.clock,
            overlap=timedelta(minutes=pix.overlap_minutes),
            database=runner.database,
            tz=runner.planner.tz,
        )
        self.scheduler.add_job(
            sync_pix,
            "interval",
            minutes=pix.sync_minutes,
            args=[self.key],
            id=f"{self.key}:pix",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
        )

    def stop(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.scheduler = None
        _RUNNERS.pop(self.key, None)
        _SCHEDULERS.pop(self.key, None)

    async def stop_gracefully(self) -> None:
        """Stop waking up, and let a job in progress finish (or give up) before returning.

        Without this, a job still running when the event loop closes is cancelled and
        APScheduler prints a ``CancelledError`` traceback.
        """
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.pause()  # no new job; APScheduler's shutdown cancels running ones
        running = set(self.running)
        if running:
            _, pending = await asyncio.wait(running, timeout=STOP_GRACE)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self.pix is not None:
            await self.pix.close()
            self.pix = None
        self.stop()

    def schedule(self, step: ReminderStep) -> None:
        if self.scheduler is None or step.status != "planned":
            return
        self.scheduler.add_job(
            run_step,
            DateTrigger(run_date=step.fire_at),
            args=[self.key, step.id],
            id=f"{self.key}:step:{step.id}",
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
        )

    def unschedule(self, step_ids: list[int]) -> None:
        if self.scheduler is None:
            return
        for step_id in step_ids:
            job = self.scheduler.get_job(f"{self.key}:step:{step_id}")
            if job is not None:
                job.remove()
