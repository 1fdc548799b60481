"""Slack platform on slack-bolt's AsyncApp: Socket Mode, or HTTP events with signed requests.

The adapter only translates (the wire format is in :mod:`bot.platforms.slack.codec`): Events API
payloads and Block Kit button clicks become :class:`bot.core.Incoming`, :class:`bot.core.Outgoing`
becomes a ``chat.postMessage`` with escaped mrkdwn and buttons; every Slack error becomes one
:class:`bot.core.DeliveryError` here. Retries belong to the caller's outbox, so the Web API client
has no retry handler of its own. What Slack sends is written to a spool on disk before it is
acknowledged, and leaves it once handled (:mod:`bot.platforms.slack.intake`).

Slack has no transaction id, so the idempotency key travels in the message metadata
(``pixbot_delivery``), or in the file name of a picture (:mod:`bot.platforms.slack.files`).
Keys sent by this process are remembered; the first send to a conversation also reads its
recent history, so a key delivered just before a crash is found again instead of being posted
twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core import (
    Capabilities,
    DeliveryError,
    ErasureStep,
    Member,
    MessageHandler,
    Outgoing,
    PlatformAuthError,
    SendResult,
)
from bot.platforms.slack.codec import (
    ACTION_PREFIX,
    AUTH_ERRORS,
    PLATFORM,
    auth_refused,
    error_code,
    unreachable,
)
from bot.platforms.slack.inbox import ConversationQueues
from bot.platforms.slack.intake import Intake, open_spool
from bot.platforms.slack.spool import Spool, SpoolErasure
from bot.platforms.slack.transport import (
    EVENTS_PATH,
    MAX_BACKOFF,
    NETWORK_ERRORS,
    connect_socket_mode,
    events_runner,
    listen,
    sleep_or_stop,
)
from bot.platforms.slack.webapi import SlackWebApi

logger = logging.getLogger(__name__)

# How long stop() waits for the handlers in progress before cancelling them.
STOP_TIMEOUT = 10.0


class _Transient(Exception):
    """Slack answered with an error that may go away (5xx, ratelimited at start)."""


class SlackPlatform:
    name = PLATFORM

    def __init__(
        self,
        *,
        bot_token: str,
        signing_secret: str = "",
        app_token: str = "",
        rate_limit: float = 1.0,
        conversation_rate_limit: float = 1.0,
        base_url: str | None = None,
        http_host: str = "127.0.0.1",
        http_port: int = 3000,
        bot_user_id: str | None = None,
        team_id: str | None = None,
        request_timeout: int = 20,
        spool_path: Path | None = None,
    ) -> None:
        if not bot_token:
            raise ValueError("SlackPlatform needs a bot token (xoxb-…)")
        self.capabilities = Capabilities(
            rate_limit,
            # Longest text posted in one message (the outbox splits longer ones into numbered
            # parts): Slack truncates ``text`` past 40,000 characters and a message holds at
            # most 50 blocks; 12,000 characters are four 3,000-character sections.
            max_text_length=12_000,
            # Slack paces chat.postMessage per channel (about 1/s) under a workspace ceiling
            # (``rate_limit``): the outbox sends to several conversations at once.
            send_concurrency=8,
            conversation_rate_limit=conversation_rate_limit,
        )
        self.http_host = http_host
        self.http_port = http_port
        self.app_token = app_token
        self.bot_id = bot_user_id or ""
        self.team_id = team_id
        self._given_user_id = bot_user_id
        self._given_team_id = team_id
        self._signing_secret = signing_secret
        client_options: dict[str, Any] = {"base_url": base_url} if base_url else {}
        self.client = AsyncWebClient(
            token=bot_token,
            timeout=request_timeout,
            # The outbox owns retries: 429s and connection errors come back at once.
            retry_handlers=[],
            logger=logger,
            **client_options,
        )
        self.app = AsyncApp(
            client=self.client,
            signing_secret=signing_secret,
            # Listeners only spool the message: Slack gets its ack once it is on disk.
            process_before_response=True,
            logger=logger,
            name="pixbot",
        )

        self._started = False
        self._start_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._fatal: PlatformAuthError | None = None
        # Accepted events wait on disk until handled (see .spool): nothing acknowledged to
        # Slack lives in memory only.
        self._spool = Spool(spool_path)
        self._inbox = ConversationQueues(self._spool, self._stopping)
        self.intake = Intake(self._spool, self._inbox, self._stopping, bot_id=self._bot_id)
        # Every event type: those the bot does not use are acknowledged, not refused (404).
        self.app.event(re.compile(r".*"))(self.intake.on_event)
        self.app.action(re.compile(rf"^{ACTION_PREFIX}"))(self.intake.on_action)
        self._runner: web.AppRunner | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._run_finished = asyncio.Event()
        self._run_finished.set()
        # Set once the HTTP server listens (or the Socket Mode connection is up).
        self.listening = asyncio.Event()
        self.bound_port: int | None = None

        self.web = SlackWebApi(
            self.client, ready=self._ready, on_auth_error=self._auth_error, bot_id=self._bot_id
        )

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Check the token with ``auth.test`` and learn who the bot is; retry while unreachable."""
        backoff = 0.5
        while not self._started:
            try:
                await self._start_once()
            except (*NETWORK_ERRORS, _Transient) as error:
                logger.warning(
                    "Slack injoignable (%s : %s) ; nouvel essai dans %.1f s",
                    type(error).__name__,
                    error,
                    backoff,
                )
                if await sleep_or_stop(self._stopping, backoff):
                    return
                backoff = min(backoff * 2, MAX_BACKOFF)

    async def _start_once(self) -> None:
        async with self._start_lock:
            if self._started:
                return
            try:
                response = await self.client.auth_test()
            except SlackApiError as error:
                code = error_code(error)
                if code in AUTH_ERRORS:
                    raise self._auth_error(f"auth.test: {code}") from error
                raise _Transient(code) from error
            self.bot_id = self._given_user_id or str(response.get("user_id") or "")
            self.team_id = self._given_team_id or response.get("team_id")
            self._started = True
            logger.info("Slack : connecté en tant que %s (équipe %s)", self.bot_id, self.team_id)

    def _bot_id(self) -> str:
        return self.bot_id

    def _auth_error(self, detail: str) -> PlatformAuthError:
        """Remember that the token was refused: ``run`` stops and raises it."""
        error = auth_refused(detail)
        logger.error("%s", error)
        if self._fatal is None:
            self._fatal = error
        self._stopping.set()
        return error

    async def _ready(self) -> None:
        """Start lazily for callers that send before ``run`` (one attempt, no waiting)."""
        if self._started:
            return
        try:
            await self._start_once()
        except NETWORK_ERRORS as error:
            raise unreachable(error) from error
        except _Transient as error:
            raise DeliveryError(PLATFORM, str(error)) from error

    async def stop(self) -> None:
        """End ``run`` (after the handlers in progress, at most ``STOP_TIMEOUT`` s)."""
        self._stopping.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._run_finished.wait(), STOP_TIMEOUT + 5)

    # -- receiving ----------------------------------------------------------------------------

    async def run(self, on_message: MessageHandler) -> None:
        """Receive events until :meth:`stop`: Socket Mode with an app token, else HTTP."""
        if not self.app_token and not self._signing_secret:
            raise PlatformAuthError(
                "Slack: app_token (Socket Mode) ou signing_secret (événements HTTP) requis / "
                "app_token (Socket Mode) or signing_secret (HTTP events) required"
            )
        self._run_finished.clear()
        try:
            await self.start()
            waiting = await open_spool(self._spool, self._stopping)
            if self._fatal is None and not self._stopping.is_set() and waiting is not None:
                self.intake.handler = on_message
                for incoming in waiting:  # accepted before a stop or a crash: in their order
                    self._inbox.put(incoming, on_message)
                if self.app_token:
                    await self._connect_socket_mode()
                else:
                    await self._serve_http()
                await self._stopping.wait()
        finally:
            await self._close_transport()
            await self._inbox.finish(STOP_TIMEOUT)
            self._spool.close()
            self.intake.handler = None
            self._run_finished.set()
        if self._fatal is not None:
            raise self._fatal

    async def _serve_http(self) -> None:
        runner = self._runner = await events_runner(self.app)
        self.bound_port = await listen(runner, self.http_host, self.http_port)
        self.listening.set()
        logger.info(
            "Slack : événements sur http://%s:%s%s",
            self.http_host,
            self.bound_port,
            EVENTS_PATH,
        )

    async def _connect_socket_mode(self) -> None:
        self._socket = AsyncSocketModeHandler(self.app, self.app_token)
        if await connect_socket_mode(self._socket, self._stopping, self._auth_error):
            self.listening.set()
            logger.info("Slack : connecté en mode Socket")

    async def _close_transport(self) -> None:
        self.listening.clear()
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close_async()
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- stores ------------------------------------------------------------------------------

    def intake_backlog(self) -> int:
        """Events acknowledged to Slack (spooled) and not handled yet."""
        return len(self._spool)

    def opens_conversation(self, person_id: str) -> bool:
        return False  # conversations.open costs no chat.postMessage token

    def erasure_steps(self) -> list[ErasureStep]:
        return [SpoolErasure(self._spool)]  # bot/erasure.py

    # -- sending and rooms (the Web API part, bot/platforms/slack/webapi.py) ------------------

    async def send(self, message: Outgoing) -> SendResult:
        return await self.web.send(message)

    async def open_direct(self, person_id: str) -> str:
        return await self.web.open_direct(person_id)

    async def room_members(self, conversation_id: str) -> Sequence[Member]:
        return await self.web.room_members(conversation_id)
