"""Application wiring: platform → middleware → router → handler → outbox → dispatcher → platform."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from bot.config import Settings
from bot.core import Button, Clock, Incoming, Platform, SystemClock, encode_buttons
from bot.domain import DeliveryStatus, NewDelivery, Person, Roles
from bot.outbox import Dispatcher
from bot.render import Renderer
from bot.router import Context, Router
from bot.text import MAX_MESSAGE, fold
from storage.lock import InstanceLock
from storage.uow import Store, UnitOfWork

log = logging.getLogger(__name__)

Next = Callable[[Incoming], Awaitable[None]]
Middleware = Callable[[Incoming, Next], Awaitable[None]]
PromptHandler = Callable[[Context, str, str], Awaitable[bool]]

ROOM_PREFIX = re.compile(r"^\s*!pix\b[\s:,]*", re.IGNORECASE)
PROGRESS_EVERY = 10.0  # seconds between two progress messages of one batch


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
    ) -> None:
        from bot.handlers import build_router

        self.settings = settings
        self.store = store
        self.platform = platform
        self.clock = clock or SystemClock()
        self.renderer = renderer or Renderer(settings.bot.locale, settings.bot.timezone)
        self.router = router or build_router()
        self.drain_after_message = drain_after_message
        # Serialises this process's write transactions (see Dispatcher.lock).
        self.lock = asyncio.Lock()
        self.dispatcher = Dispatcher(
            store, platform, self.clock, on_batch_progress=self._batch_progress, lock=self.lock
        )
        self.prompt_handlers: dict[str, PromptHandler] = {}
        self.fallback: Callable[[Context, str], Awaitable[None]] | None = None
        self.middleware: list[Middleware] = [self._ignore_self_and_bots, self._listen_filter]
        self.services: dict[str, Any] = {}  # optional components (faq, scheduler), by name
        self._last_progress: dict[str, float] = {}
        from bot.handlers import install
        from scheduler.service import SchedulerService

        self.scheduler = SchedulerService(self, key=f"app-{id(self)}")
        self.services["scheduler"] = self.scheduler
        install(self)

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

    async def _dispatch(self, incoming: Incoming) -> None:
        async with self.lock:
            await self._dispatch_locked(incoming)

    async def _dispatch_locked(self, incoming: Incoming) -> None:
        now = self.clock.now()
        try:
            with self.store.transaction() as uow:
                if not uow.events.mark_processed(incoming.platform, incoming.event_id, now):
                    log.debug("event %s already handled", incoming.event_id)
                    return
                ctx = self._context(uow, incoming, now)
                await self._route(ctx)
                self._enqueue_replies(ctx)
        except Exception:
            log.exception("handler failed for event %s", incoming.event_id)
            with self.store.transaction() as uow:
                if not uow.events.mark_processed(incoming.platform, incoming.event_id, now):
                    return
                ctx = self._context(uow, incoming, now)
                ctx.say("error")
                self._enqueue_replies(ctx)

    def _context(self, uow: UnitOfWork, incoming: Incoming, now: datetime) -> Context:
        person = uow.people.ensure(incoming.sender_id, incoming.sender_name, now)
        return Context(self, incoming, uow, person, self.roles_of(uow, person), now)

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
            handler = self.prompt_handlers.get("reaction")
            if handler is not None:
                await handler(ctx, incoming.reaction, incoming.relates_to or "")
            return
        text = incoming.text.strip()
        if not text:
            return
        if len(text) > MAX_MESSAGE:
            ctx.say("too_long", limit=MAX_MESSAGE)
            return
        prompt = ctx.uow.prompts.pop(ctx.person.id, ctx.now)
        if prompt is not None:
            handler = self.prompt_handlers.get(prompt.kind)
            if handler is not None and await handler(ctx, text, prompt.payload):
                return
        match = self.router.match(text)
        if match is None:
            family = self.router.family_of(text)
            if family is not None:
                ctx.say("unknown_command", family=family, is_ambassador=_can_manage(ctx.roles))
            elif self.fallback is not None:
                await self.fallback(ctx, text)
            else:
                ctx.say("unknown")
            return
        if ctx.roles.name not in match.route.roles:
            ctx.say("not_allowed")
            return
        await match.route.handler(ctx, match.args)

    # -- outbound ----------------------------------------------------------------------------

    def _enqueue_replies(self, ctx: Context) -> None:
        incoming = ctx.incoming
        for index, reply in enumerate(ctx.replies):
            ctx.uow.outbox.enqueue(
                NewDelivery(
                    key=f"reply:{incoming.platform}:{incoming.event_id}:{index}",
                    kind="reply",
                    recipient=incoming.conversation_id,
                    to_conversation=True,
                    body=reply.text,
                    buttons=encode_buttons(reply.buttons),
                ),
                ctx.now,
            )

    def enqueue_to_person(
        self,
        uow: UnitOfWork,
        person: Person,
        template: str,
        /,
        *,
        key: str,
        now: datetime,
        campaign_id: int | None = None,
        kind: str = "notice",
        batch: str | None = None,
        buttons: Sequence[Button] = (),
        not_before: datetime | None = None,
        **variables: Any,
    ) -> bool:
        locale = self.renderer.locale_for(person.locale or self.settings.bot.locale)
        body = self.renderer.render(template, locale, **variables)
        return uow.outbox.enqueue(
            NewDelivery(
                key=key,
                kind=kind,
                recipient=person.platform_id,
                body=body,
                campaign_id=campaign_id,
                person_id=person.id,
                batch=batch,
                buttons=encode_buttons(buttons),
                not_before=not_before,
            ),
            now,
        )

    async def _batch_progress(self, batch: str) -> None:
        """Report a long send to whoever started it: progress every ~10 s, then a summary."""
        from bot.handlers.campaigns import batch_report

        now_mono = time.monotonic()
        async with self.lock:
            with self.store.transaction() as uow:
                counts = uow.outbox.batch_counts(batch)
                pending = counts.get(DeliveryStatus.PENDING, 0)
                if pending == 0:
                    batch_report(self, uow, batch, counts, self.clock.now(), final=True)
                    self._last_progress.pop(batch, None)
                    return
                last = self._last_progress.get(batch)
                if last is None:
                    self._last_progress[batch] = now_mono
                elif now_mono - last >= PROGRESS_EVERY:
                    self._last_progress[batch] = now_mono
                    batch_report(self, uow, batch, counts, self.clock.now(), final=False)

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
            self.scheduler.start()
            try:
                await self.platform.run(self.handle)
                await self.dispatcher.drain()
            finally:
                self.scheduler.stop()
                self.dispatcher.stop()
                await asyncio.gather(dispatcher, return_exceptions=True)
                await self.platform.stop()
        finally:
            lock.release()
        return 0


def _bind(middleware: Middleware, call_next: Next) -> Next:
    async def call(incoming: Incoming) -> None:
        await middleware(incoming, call_next)

    return call


def _can_manage(roles: Roles) -> bool:
    return roles.is_admin or roles.is_ambassador


def is_yes(text: str) -> bool:
    return fold(text).strip(" .!") in {"oui", "yes", "o", "y", "ok", "d'accord", "confirme"}


def is_no(text: str) -> bool:
    return fold(text).strip(" .!") in {"non", "no", "n", "annuler", "cancel"}
