"""Application wiring: platform → middleware → router → handler → outbox → dispatcher → platform.

The :class:`App` builds the services once and hands handlers a typed :class:`~bot.router.Deps`;
nothing below it imports it. A message is handled in two phases: a command's ``prefetch``
(network lookups, short reads) runs first, then one short transaction records the event as
processed, runs the handler — which must not await the network — and enqueues its replies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from bot import logs
from bot.batches import BatchReporter
from bot.config import Settings
from bot.conversation import route
from bot.core import (
    Clock,
    ErasedPerson,
    HoldsIntake,
    Incoming,
    MovesPeople,
    Platform,
    SystemClock,
)
from bot.dbwork import DatabaseWorker, InlineDatabase
from bot.domain import Person, Roles
from bot.erasure import DatabaseScrub, ErasureCoordinator, ErasurePipeline
from bot.fencing import SendFence
from bot.handlers import build_router
from bot.inbound import InboundPipeline
from bot.lease import Lease
from bot.limits import SenderLimiter
from bot.metrics import Metrics
from bot.notifier import Notifier
from bot.ops_http import Check, Health, database_check, platform_check
from bot.outbox import ERASURE, Dispatcher
from bot.privacy import clean_display_name
from bot.render import Renderer
from bot.resilience import Deferred, Resilience
from bot.router import Context, Deps, Policy, Router
from bot.services.audience import Directory
from bot.services.campaigns import CampaignService
from bot.services.charts import Pictures
from bot.services.senders import announce_moves
from bot.text import MAX_MESSAGE
from scheduler.jobs import JobScheduler
from scheduler.planning import Planner
from scheduler.running import StepRunner
from scheduler.views import calendar_from
from storage.health import DatabaseHealth, is_transient
from storage.lock import InstanceLock, LeaseLost
from storage.uow import Store, UnitOfWork

log = logging.getLogger(__name__)

# Exit code when another process took the instance lock over (a supervisor restarts this one,
# which then stands by).
EXIT_TAKEN_OVER = 75
STOP_GRACE = 5.0  # seconds a stop waits for the delivery in flight


def policy_of(settings: Settings) -> Policy:
    """What handlers may read of the settings (no secret reaches them)."""
    return Policy(
        min_group=settings.stats.min_group,
        deadline_horizon_days=settings.limits.deadline_horizon_days,
        thank_completers=settings.schedule.thank_completers,
        snooze_working_days=settings.schedule.snooze_working_days,
        questions_per_day=settings.limits.questions_per_day,
        handoffs_per_day=settings.limits.handoffs_per_day,
        faq_overrides=settings.bot.faq_overrides,
        morning_note=settings.schedule.morning_note,
    )


class App:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        platform: Platform,
        *,
        clock: Clock | None = None,
        renderer: Renderer | None = None,
        router: Router | None = None,
        drain_after_message: bool = False,
        database: DatabaseWorker | InlineDatabase | None = None,
    ) -> None:
        logs.install()  # every log record names people by pseudonym only (bot/logs.py)
        self.settings = settings
        self.store = store
        self.platform = platform
        self.clock = clock or SystemClock()
        self.renderer = renderer or Renderer(settings.bot.locale, settings.bot.timezone)
        self.router = router or build_router()
        self.drain_after_message = drain_after_message
        self.health = DatabaseHealth()
        self.stopping = asyncio.Event()
        self.resilience = Resilience(self.health, self.stopping)
        self.lease: Lease | None = None
        self.exit_code = 0
        self._outbox_task: asyncio.Task[None] | None = None
        self.platform_state = "idle"
        # Transactions run in worker threads: a busy database never blocks the event loop.
        self.database = database or DatabaseWorker.for_dialect(store.database.dialect)
        self.metrics = Metrics(self.database)  # a scrape reads the database: in the worker
        self.metrics.watch(store, self.role, self.clock.now)
        if isinstance(platform, HoldsIntake):
            self.metrics.watch_intake(platform.intake_backlog)
        self.checks = Health(self.role)
        self.checks.register("database", database_check(store, self.health, self.database))
        self.checks.register("platform", self._check_platform)
        self.checks.register("scheduler", self._check_scheduler)
        self.notifier = Notifier(self.renderer, settings.bot.locale)
        self.campaigns = CampaignService(
            self.notifier,
            settings.stats.min_group,
            settings.stats.refresh,
            settings.bot.timezone,
            calendar=calendar_from(settings),
        )
        self.directory = Directory(platform)
        self.jobs = JobScheduler(
            settings, store, self.clock, key=f"app-{id(self)}", resilience=self.resilience
        )
        self.planner = Planner(settings, self.jobs)
        self.fencing = SendFence(store, self.database)  # engaged with the lock by run()
        self.erasure = ErasureCoordinator(
            ErasurePipeline([DatabaseScrub(store, self.database)]), platform
        )
        self.dispatcher = Dispatcher(
            store,
            platform,
            self.clock,
            on_batch_progress=BatchReporter(store, self.database, self.campaigns, self.clock),
            concurrency=settings.limits.send_concurrency or platform.capabilities.send_concurrency,
            conversation_rate=platform.capabilities.conversation_rate_limit,
            pictures=Pictures(
                store,
                self.renderer,
                settings.stats.min_group,
                settings.stats.refresh,
                database=self.database,
            ),
            health=self.health,
            database=self.database,
            fencing=self.fencing,
            on_outcome=partial(self.metrics.count_delivery, platform.name),
            on_erasure_delivered=self.erasure.delivered,
        )
        self.runner = StepRunner(
            settings=settings,
            store=store,
            clock=self.clock,
            planner=self.planner,
            campaigns=self.campaigns,
            notifier=self.notifier,
            directory=self.directory,
            poke=self.dispatcher.poke,
            database=self.database,
        )
        self.deps = Deps(
            policy=policy_of(settings),
            clock=self.clock,
            renderer=self.renderer,
            notifier=self.notifier,
            campaigns=self.campaigns,
            planner=self.planner,
            directory=self.directory,
            help_for=self.router.help_for,
        )
        self.inbound = InboundPipeline(
            platform,
            SenderLimiter(settings.limits.messages_per_minute),
            self.clock,
            over_limit=self._over_limit,
            terminal=self._dispatch,
        )

    # -- inbound -----------------------------------------------------------------------------

    async def handle(self, incoming: Incoming) -> None:
        """Entry point for platforms: run the middleware chain, then the router.

        Returns once the message is handled (its replies durably queued). While the database
        is away it waits and retries; if the bot is stopped meanwhile it raises
        :class:`~bot.resilience.Deferred` and the platform keeps the event for later.
        """

        await self.inbound(incoming)
        self.dispatcher.poke()
        if self.drain_after_message:
            await self.resilience.run(self.dispatcher.drain, "outbox")

    async def _over_limit(self, incoming: Incoming) -> None:
        """The one polite answer to a sender over the message limit."""

        async def reply() -> None:
            await self.database.run(self._reply_only, incoming, "rate_limited")

        await self.resilience.run(reply, "message")

    def _reply_only(self, incoming: Incoming, template: str) -> None:
        now = self.clock.now()
        with self.store.transaction() as uow:
            if not uow.events.mark_processed(
                incoming.platform, uow.privacy.event_digest(incoming.event_id), now
            ):
                return
            ctx = self._context(uow, incoming, now, None)
            if ctx is None:
                return
            ctx.say(template, limit=self.settings.limits.messages_per_minute)
            self._enqueue_replies(ctx)

    async def _prefetch(self, incoming: Incoming) -> Any:
        """Network lookups a command declared, done before its transaction opens."""
        text = incoming.text.strip()
        if incoming.reaction or incoming.undecryptable or not text or len(text) > MAX_MESSAGE:
            return None
        match = self.router.match(text)
        if match is None or match.route.prefetch is None:
            return None
        try:
            return await match.route.prefetch(self.deps, self._read, match.args)
        except Exception as error:
            if is_transient(error):
                raise
            log.exception("lecture préalable en échec pour l'événement %s", incoming.event_id)
            return None

    async def _read(self, work: Callable[[UnitOfWork], Any]) -> Any:
        """One short transaction in the database worker (what a prefetch may read)."""

        def in_transaction() -> Any:
            with self.store.transaction() as uow:
                return work(uow)

        return await self.database.run(in_transaction)

    async def _dispatch(self, incoming: Incoming) -> None:
        async def attempt() -> None:
            await self._handle_once(incoming)

        await self.resilience.run(attempt, "message")

    async def _handle_once(self, incoming: Incoming) -> None:
        """One attempt; a database failure rolls it back entirely and is raised for a retry."""
        prefetched = await self._prefetch(incoming)
        try:
            erased = await self.database.run(self._handle_in_transaction, incoming, prefetched)
        except Exception as error:
            if is_transient(error) or isinstance(error, LeaseLost):
                raise  # rolled back: the whole message is tried again (bot.resilience)
            log.exception("traitement en échec pour l'événement %s", incoming.event_id)
            erased = None
            try:
                await self.database.run(self._reply_only, incoming, "error")
            except Exception:
                log.exception("impossible de signaler l'échec de l'événement %s", incoming.event_id)
        if erased is not None:  # the rest of the pipeline runs once the confirmation is out
            self.erasure.erased(incoming.conversation_id, erased)

    def _handle_in_transaction(self, incoming: Incoming, prefetched: Any) -> ErasedPerson | None:
        """One short transaction (in a database worker thread): record the event, run the handler
        (a plain function: it cannot await), enqueue its replies; the sender if they were erased."""
        now = self.clock.now()
        with self.store.transaction() as uow:
            if not uow.events.mark_processed(
                incoming.platform, uow.privacy.event_digest(incoming.event_id), now
            ):
                log.debug("event %s already handled", incoming.event_id)
                return None
            ctx = self._context(uow, incoming, now, prefetched)
            if ctx is None:
                return None
            handled = route(self.router, ctx)
            self._enqueue_replies(ctx)
            for followup in ctx.followups:
                followup()
        self.metrics.count_handled(handled, ctx.said)
        person = ctx.person
        return (
            ErasedPerson(person.platform_id, now, person.display_name, person.email)
            if (ctx.erased)
            else None
        )

    def _context(
        self, uow: UnitOfWork, incoming: Incoming, now: datetime, prefetched: Any
    ) -> Context | None:
        name = clean_display_name(incoming.sender_name)
        person, created = uow.people.ensure_created(incoming.sender_id, name, now)
        if created and not uow.privacy.welcome_back(incoming.sender_id, incoming.timestamp):
            log.info(
                "événement %s antérieur à l'effacement de son auteur : écarté", incoming.event_id
            )
            uow.people.delete(person.id)
            return None
        roles = self.roles_of(uow, person)
        return Context(self.deps, incoming, uow, person, roles, now, prefetched)

    def roles_of(self, uow: UnitOfWork, person: Person) -> Roles:
        roles = uow.roles.roles_of(person.id)
        if person.platform_id in self.settings.bot.admins and not roles.is_admin:
            roles = Roles(is_admin=True, services=roles.services)
        return roles

    # -- health and metrics ------------------------------------------------------------------

    def role(self) -> str:
        return self.lease.role if self.lease is not None else "standby"

    async def _check_platform(self) -> Check:
        if self.role() != "active":
            return {"status": "idle", "name": self.platform.name}
        state = self.platform_state
        if state == "up" and self.dispatcher.platform_unreachable:
            state = "unreachable"
        return platform_check(self.platform, state)

    async def _check_scheduler(self) -> Check:
        if self.role() != "active":
            return {"status": "idle"}
        running = self.jobs.scheduler is not None and self.jobs.scheduler.running
        return {"status": "running" if running else "stopped"}

    # -- outbound ----------------------------------------------------------------------------

    def _enqueue_replies(self, ctx: Context) -> None:
        replies = [(reply.text, reply.buttons, reply.attachment) for reply in ctx.replies]
        kind = ERASURE if ctx.erased else "reply"
        self.notifier.replies(ctx.uow, ctx.incoming, replies, ctx.now, kind=kind)

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> int:
        """Run until the platform stops (end of piped input, /quit, signal).

        Only one bot may schedule and send per database: a second one stands by until the
        first one stops or dies, then takes over (see :mod:`bot.lease`).
        """
        lease = self.lease = Lease(InstanceLock(self.store.database), self.health)
        self.resilience.lease = lease
        self.fencing.engage(lease)
        try:
            if not await lease.acquire(self.stopping):
                return self.exit_code
            watchdog = asyncio.create_task(lease.watch(self.stopping), name="lease")
            step_down = asyncio.create_task(self._step_down_when_taken_over(), name="step-down")
            try:
                await self._serve()
            finally:
                step_down.cancel()
                self.stopping.set()
                await asyncio.gather(watchdog, step_down, return_exceptions=True)
        finally:
            lease.release()
        return self.exit_code

    async def _serve(self) -> None:
        self.platform_state = "starting"
        await self.platform.start()
        if self.stopping.is_set():  # stopped while the platform was unreachable
            await self.platform.stop()
            self.platform_state = "stopped"
            return
        self.platform_state = "up"
        if isinstance(self.platform, MovesPeople):
            await self.resilience.run(self._announce_moves, "accounts")
        dispatcher = self._outbox_task = asyncio.create_task(self.dispatcher.run(), name="outbox")
        try:
            await self.resilience.run(self._start_jobs, "scheduler")
            await self.platform.run(self.handle)
            if not self.stopping.is_set():
                await self.resilience.run(self.dispatcher.drain, "outbox")
        except Deferred as deferred:
            log.info("arrêt avant la réponse de la base : %s", deferred)
        finally:
            await self.jobs.stop_gracefully()
            self.dispatcher.stop()
            await asyncio.gather(dispatcher, return_exceptions=True)
            await self.platform.stop()
            self.platform_state = "stopped"

    async def _announce_moves(self) -> None:
        """Keep the people who command the bot on the main account; tell, once, whoever another
        sender account writes to from now on (an account added or removed: bot/services)."""
        platform = self.platform
        assert isinstance(platform, MovesPeople)

        def read() -> tuple[set[str], dict[str, str]]:
            with self.store.transaction() as uow:
                return uow.roles.commanders(), uow.people.last_direct_conversations()

        commanders, conversations = await self.database.run(read)
        platform.keep_on_main(commanders | set(self.settings.bot.admins))
        moves = platform.moved_people()
        told_in_old_room = {move.person_id for move in moves}
        moves += [
            m for m in platform.orphaned(conversations) if m.person_id not in told_in_old_room
        ]
        if not moves:
            return
        now = self.clock.now()

        def work() -> int:
            with self.store.transaction() as uow:
                return announce_moves(uow, self.notifier, moves, now)

        told = await self.database.run(work)
        log.info(
            "comptes d'envoi : %d personnes écrites par un autre compte, %d prévenues",
            len(moves),
            told,
        )

    async def _start_jobs(self) -> None:
        await self.jobs.start(self.runner)

    async def _step_down_when_taken_over(self) -> None:
        assert self.lease is not None
        await self.lease.taken_over.wait()
        self.exit_code = EXIT_TAKEN_OVER
        await self.request_stop()

    async def request_stop(self) -> None:
        """Stop taking new work: the message and the delivery in flight are finished (or left
        for later, when the database is away), then the platform connection is closed."""
        self.stopping.set()
        self.dispatcher.stop()
        outbox = self._outbox_task
        if outbox is not None and not outbox.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(outbox), STOP_GRACE)
        await self.platform.stop()
