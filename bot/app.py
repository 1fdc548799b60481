"""Application wiring: platform → middleware → router → handler → outbox → dispatcher → platform.

The :class:`App` builds the services once and hands handlers a typed :class:`~bot.router.Deps`;
nothing below it imports it. A message is handled in two phases: a command's ``prefetch``
(network lookups, short reads) runs first, then one short transaction records the event as
processed, runs the handler — which must not await the network — and enqueues its replies.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from datetime import datetime
from typing import Any

from bot.config import Settings
from bot.core import AcceptsInvitations, Clock, Incoming, Platform, SystemClock
from bot.dbwork import DatabaseWorker, InlineDatabase
from bot.domain import DeliveryStatus, Person, Roles
from bot.handlers import build_router
from bot.limits import SenderLimiter, Verdict
from bot.notifier import Notifier
from bot.outbox import ERASURE, Dispatcher
from bot.privacy import clean_display_name
from bot.render import Renderer
from bot.router import Context, Deps, Router
from bot.services.audience import Directory
from bot.services.campaigns import CampaignService
from bot.services.charts import Pictures
from bot.text import MAX_MESSAGE, clean_line, clean_message, is_clean_id
from scheduler.jobs import JobScheduler
from scheduler.planning import Planner
from scheduler.running import StepRunner
from storage.lock import InstanceLock
from storage.uow import Store, UnitOfWork

log = logging.getLogger(__name__)

Next = Callable[[Incoming], Awaitable[None]]
Middleware = Callable[[Incoming, Next], Awaitable[None]]

ROOM_PREFIX = re.compile(r"^\s*!pix\b[\s:,]*", re.IGNORECASE)
PROGRESS_EVERY = 10.0  # seconds between two progress messages of one batch


class HandlerSuspended(RuntimeError):
    """A handler awaited something that suspends (the network) inside its transaction."""


def run_to_completion(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a handler that must not suspend: transactions never stay open across an await."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    coroutine.close()
    raise HandlerSuspended("a handler awaited inside its transaction; use a prefetch")


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
        self.settings = settings
        self.store = store
        self.platform = platform
        self.clock = clock or SystemClock()
        self.renderer = renderer or Renderer(settings.bot.locale, settings.bot.timezone)
        self.router = router or build_router()
        self.drain_after_message = drain_after_message
        # Transactions run in worker threads: a busy database never blocks the event loop.
        self.database = database or DatabaseWorker(1 if store.database.dialect == "sqlite" else 4)
        self.limiter = SenderLimiter(settings.limits.messages_per_minute)
        self.notifier = Notifier(self.renderer, settings.bot.locale)
        self.campaigns = CampaignService(
            self.notifier, settings.stats.min_group, settings.stats.refresh, settings.bot.timezone
        )
        self.directory = Directory(platform)
        self.jobs = JobScheduler(settings, store, self.clock, key=f"app-{id(self)}")
        self.planner = Planner(settings, self.jobs)
        self.dispatcher = Dispatcher(
            store,
            platform,
            self.clock,
            on_batch_progress=self._batch_progress,
            concurrency=settings.limits.send_concurrency
            or int(getattr(platform, "send_concurrency", 1)),
            conversation_rate=getattr(platform, "conversation_rate_limit", None),
            pictures=Pictures(
                store, self.renderer, settings.stats.min_group, settings.stats.refresh
            ),
            database=self.database,
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
        )
        self.deps = Deps(
            settings=settings,
            clock=self.clock,
            renderer=self.renderer,
            notifier=self.notifier,
            campaigns=self.campaigns,
            planner=self.planner,
            directory=self.directory,
        )
        self.middleware: list[Middleware] = [
            self._clean_input,
            self._ignore_self_and_bots,
            self._listen_filter,
            self._rate_limit,
        ]
        self._last_progress: dict[str, float] = {}
        if isinstance(platform, AcceptsInvitations):
            platform.invite_policy = AppInvitePolicy(self)

    # -- inbound -----------------------------------------------------------------------------

    async def handle(self, incoming: Incoming) -> None:
        """Entry point for platforms: run the middleware chain, then the router."""

        async def terminal(message: Incoming) -> None:
            await self._dispatch(message)

        call: Next = terminal
        for middleware in reversed(self.middleware):
            call = _bind(middleware, call)
        await call(incoming)
        self.dispatcher.poke()
        if self.drain_after_message:
            await self.dispatcher.drain()

    async def _clean_input(self, incoming: Incoming, call_next: Next) -> None:
        """The one place inbound text is cleaned: no NUL, control or bidi character goes
        further. A sender or conversation id that holds one is not an id: dropped."""
        if not is_clean_id(incoming.sender_id) or not is_clean_id(incoming.conversation_id, 500):
            log.warning(
                "message %r dropped: malformed sender or conversation id", incoming.event_id
            )
            return
        name = clean_line(incoming.sender_name, 200) if incoming.sender_name else None
        await call_next(
            replace(
                incoming,
                text=clean_message(incoming.text),
                sender_name=name or None,
                reaction=clean_line(incoming.reaction, 50) if incoming.reaction else None,
            )
        )

    async def _rate_limit(self, incoming: Incoming, call_next: Next) -> None:
        """Beyond ``limits.messages_per_minute`` a sender gets one polite answer, then silence
        until their minute has room again."""
        verdict = self.limiter.check(incoming.sender_id, incoming.event_id, self.clock.now())
        if verdict == Verdict.ALLOW:
            await call_next(incoming)
        elif verdict == Verdict.WARN:
            log.info("sender %s over the message limit", incoming.sender_id)
            await self.database.run(self._reply_only, incoming, "rate_limited")

    def _reply_only(self, incoming: Incoming, template: str) -> None:
        now = self.clock.now()
        with self.store.transaction() as uow:
            if not uow.events.mark_processed(incoming.platform, incoming.event_id, now):
                return
            ctx = self._context(uow, incoming, now, None)
            ctx.say(template, limit=self.settings.limits.messages_per_minute)
            self._enqueue_replies(ctx)

    async def _ignore_self_and_bots(self, incoming: Incoming, call_next: Next) -> None:
        if incoming.sender_id == self.platform.bot_id or incoming.sender_is_bot:
            return
        await call_next(incoming)

    async def _listen_filter(self, incoming: Incoming, call_next: Next) -> None:
        """In rooms, only ``!pix …`` or messages that mention the bot are for us."""
        if incoming.is_direct or incoming.reaction:
            await call_next(incoming)
            return
        text = incoming.text
        prefixed = ROOM_PREFIX.match(text)
        if prefixed:
            await call_next(replace(incoming, text=text[prefixed.end() :]))
        elif incoming.mentions_bot:
            # "@pixbot:server: aide" → "aide" (platforms strip display-name pills themselves).
            stripped = text.replace(self.platform.bot_id, " ").strip().lstrip(":,").strip()
            await call_next(replace(incoming, text=stripped))

    async def _prefetch(self, incoming: Incoming) -> Any:
        """Network lookups a command declared, done before its transaction opens."""
        text = incoming.text.strip()
        if incoming.reaction or incoming.undecryptable or not text or len(text) > MAX_MESSAGE:
            return None
        match = self.router.match(text)
        if match is None or match.route.prefetch is None:
            return None
        try:
            return await match.route.prefetch(self.deps, self.store, match.args)
        except Exception:
            log.exception("prefetch failed for event %s", incoming.event_id)
            return None

    async def _dispatch(self, incoming: Incoming) -> None:
        prefetched = await self._prefetch(incoming)
        try:
            erased = await self.database.run(self._handle_in_transaction, incoming, prefetched)
        except Exception:
            log.exception("handler failed for event %s", incoming.event_id)
            erased = False
            try:
                await self.database.run(self._reply_only, incoming, "error")
            except Exception:
                log.exception("could not report the failure of event %s", incoming.event_id)
        if erased and not incoming.is_direct:
            # Erased from a room: the confirmation goes to the room, not to the person's own
            # conversation, so what the platform keeps locally about them goes now (in a direct
            # conversation it goes once the confirmation is delivered, see the outbox).
            forget = getattr(self.platform, "forget_person", None)
            if forget is not None:
                await forget(incoming.sender_id)

    def _handle_in_transaction(self, incoming: Incoming, prefetched: Any) -> bool:
        """One short transaction (in a database worker thread): record the event, run the
        handler to completion (it never awaits: see :func:`run_to_completion`), enqueue its
        replies. Returns whether the sender was erased."""
        now = self.clock.now()
        with self.store.transaction() as uow:
            if not uow.events.mark_processed(incoming.platform, incoming.event_id, now):
                log.debug("event %s already handled", incoming.event_id)
                return False
            ctx = self._context(uow, incoming, now, prefetched)
            run_to_completion(self._route(ctx))
            self._enqueue_replies(ctx)
            return ctx.erased

    def _context(
        self, uow: UnitOfWork, incoming: Incoming, now: datetime, prefetched: Any
    ) -> Context:
        name = clean_display_name(incoming.sender_name)
        person, created = uow.people.ensure_created(incoming.sender_id, name, now)
        if created:
            # Someone erased before who writes again chose to come back: their tombstone goes.
            uow.privacy.welcome_back(incoming.sender_id)
        roles = self.roles_of(uow, person)
        return Context(self.deps, incoming, uow, person, roles, now, prefetched)

    def roles_of(self, uow: UnitOfWork, person: Person) -> Roles:
        roles = uow.roles.roles_of(person.id)
        if person.platform_id in self.settings.bot.admins and not roles.is_admin:
            roles = Roles(is_admin=True, services=roles.services)
        return roles

    async def _route(self, ctx: Context) -> None:
        incoming = ctx.incoming
        if incoming.undecryptable:
            ctx.say("undecryptable")
            return
        if incoming.reaction:
            for reaction in self.router.reactions:
                if await reaction(ctx, incoming.reaction, incoming.relates_to or ""):
                    break
            return
        text = incoming.text.strip()
        if not text:
            return
        if len(text) > MAX_MESSAGE:
            ctx.say("too_long", limit=MAX_MESSAGE)
            return
        prompt = ctx.uow.prompts.pop(ctx.person.id, ctx.now)
        if prompt is not None:
            handler = self.router.prompts.get(prompt.kind)
            if handler is not None and await handler(ctx, text, prompt.payload):
                return
        match = self.router.match(text)
        if match is None:
            family = self.router.family_of(text)
            if family is not None:
                ctx.say("unknown_command", family=family, is_ambassador=_can_manage(ctx.roles))
            elif self.router.fallbacks:
                await self.router.fallbacks[0](ctx, text)
            else:
                ctx.say("unknown")
            return
        if ctx.roles.name not in match.route.roles:
            ctx.say("not_allowed")
            return
        await match.route.handler(ctx, match.args)

    # -- outbound ----------------------------------------------------------------------------

    def _enqueue_replies(self, ctx: Context) -> None:
        replies = [(reply.text, reply.buttons, reply.attachment) for reply in ctx.replies]
        kind = ERASURE if ctx.erased else "reply"
        self.notifier.replies(ctx.uow, ctx.incoming, replies, ctx.now, kind=kind)

    async def _batch_progress(self, batch: str) -> None:
        """Report a long send to whoever started it: progress every ~10 s, then a summary."""
        await self.database.run(self._report_progress, batch, time.monotonic())

    def _report_progress(self, batch: str, now_mono: float) -> None:
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

    # -- invitations -------------------------------------------------------------------------

    def inviter_known(self, platform_id: str) -> bool:
        """An agent (imported, with a service), an ambassador or an admin."""
        if not is_clean_id(platform_id):
            return False
        if platform_id in self.settings.bot.admins:
            return True
        with self.store.transaction() as uow:
            person = uow.people.by_platform_id(platform_id)
            if person is None:
                return False
            roles = uow.roles.roles_of(person.id)
        return person.service is not None or roles.is_admin or roles.is_ambassador

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> int:
        """Run until the platform stops (end of piped input, /quit, signal).

        Only one bot may schedule and send per database: a second one exits with code 3.
        """
        lock = InstanceLock(self.store.database)
        if not lock.acquire():
            log.error("another pixbot is already running on this database")
            print(
                "Un autre pixbot utilise déjà cette base de données : arrêtez-le avant d'en "
                "lancer un second (un seul bot planifie et envoie les messages).",
                file=sys.stderr,
            )
            return 3
        try:
            await self.platform.start()
            dispatcher = asyncio.create_task(self.dispatcher.run(), name="outbox")
            self.jobs.start(self.runner)
            try:
                await self.platform.run(self.handle)
                await self.dispatcher.drain()
            finally:
                self.jobs.stop()
                self.dispatcher.stop()
                await asyncio.gather(dispatcher, return_exceptions=True)
                await self.platform.stop()
        finally:
            lock.release()
        return 0


class AppInvitePolicy:
    """What a platform asks before joining a room it is invited to (platforms know no
    storage: they call this port)."""

    def __init__(self, app: App) -> None:
        self._app = app
        self.max_room_members = app.settings.limits.max_room_members

    async def inviter_known(self, platform_id: str) -> bool:
        return await self._app.database.run(self._app.inviter_known, platform_id)


def _bind(middleware: Middleware, call_next: Next) -> Next:
    async def call(incoming: Incoming) -> None:
        await middleware(incoming, call_next)

    return call


def _can_manage(roles: Roles) -> bool:
    return roles.is_admin or roles.is_ambassador
