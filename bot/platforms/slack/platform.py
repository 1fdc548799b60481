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
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core import (
    DeliveryError,
    ErasureStep,
    Member,
    MessageHandler,
    Outgoing,
    PlatformAuthError,
    SendResult,
)
from bot.platforms.slack import transport
from bot.platforms.slack.codec import (
    ACTION_PREFIX,
    AUTH_ERRORS,
    PLATFORM,
    as_mapping,
    auth_refused,
    build_message,
    delivery_error,
    delivery_key,
    error_code,
    next_cursor,
    unreachable,
)
from bot.platforms.slack.files import file_marker, shared_files, upload_arguments
from bot.platforms.slack.inbox import ConversationQueues
from bot.platforms.slack.intake import Intake, open_spool
from bot.platforms.slack.spool import Spool, SpoolErasure
from bot.platforms.slack.transport import MAX_BACKOFF, NETWORK_ERRORS, sleep_or_stop

logger = logging.getLogger(__name__)

# How many recent messages of a conversation are searched for an already-delivered key.
HISTORY_WINDOW = 20
PAGE_SIZE = 200
# How long stop() waits for the handlers in progress before cancelling them.
STOP_TIMEOUT = 10.0
_KEYS_KEPT = 50_000

# History errors after which posting can still work: the key is then not looked up.
_HISTORY_UNREADABLE = frozenset({"missing_scope", "not_in_channel"})
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")

T = TypeVar("T")


class _Transient(Exception):
    """Slack answered with an error that may go away (5xx, ratelimited at start)."""


class SlackPlatform(Intake):
    name = PLATFORM
    # Slack paces chat.postMessage per channel (about 1/s) under a workspace ceiling
    # (``rate_limit``): the outbox sends to several conversations at once.
    conversation_rate_limit = 1.0
    send_concurrency = 8
    # Longest text posted in one message (the outbox splits longer ones into numbered parts):
    # Slack truncates ``text`` past 40,000 characters and a message holds at most 50 blocks;
    # 12,000 characters are four 3,000-character sections.
    max_text_length = 12_000

    def __init__(
        self,
        *,
        bot_token: str,
        signing_secret: str = "",
        app_token: str = "",
        rate_limit: float = 1.0,
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
        self.rate_limit = rate_limit
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
        # Every event type: those the bot does not use are acknowledged, not refused (404).
        self.app.event(re.compile(r".*"))(self._on_event)
        self.app.action(re.compile(rf"^{ACTION_PREFIX}"))(self._on_action)

        self._started = False
        self._start_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._fatal: PlatformAuthError | None = None
        self._on_message: MessageHandler | None = None
        # Accepted events wait on disk until handled (see .spool): nothing acknowledged to
        # Slack lives in memory only.
        self._spool = Spool(spool_path)
        self._inbox = ConversationQueues(self._spool, self._stopping)
        self._runner: web.AppRunner | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._run_finished = asyncio.Event()
        self._run_finished.set()
        # Set once the HTTP server listens (or the Socket Mode connection is up).
        self.listening = asyncio.Event()
        self.bound_port: int | None = None

        self._direct_cache: dict[str, str] = {}
        self._channel_names: dict[str, str] = {}
        self._users: dict[str, Member] = {}
        self._delivered: OrderedDict[str, SendResult] = OrderedDict()
        self._scanned: set[str] = set()
        self._conversation_locks: dict[str, asyncio.Lock] = {}

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Check the token with ``auth.test`` and learn who the bot is; retry while unreachable."""
        backoff = 0.5
        while not self._started:
            try:
                await self._start_once()
            except (*NETWORK_ERRORS, _Transient) as error:
                logger.warning(
                    "Slack injoignable / Slack unreachable (%s: %s); nouvel essai dans %.1f s",
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
            logger.info("Slack: connected as %s (team %s)", self.bot_id, self.team_id)

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
                self._on_message = on_message
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
            self._on_message = None
            self._run_finished.set()
        if self._fatal is not None:
            raise self._fatal

    async def _serve_http(self) -> None:
        runner = self._runner = await transport.events_runner(self.app)
        self.bound_port = await transport.listen(runner, self.http_host, self.http_port)
        self.listening.set()
        logger.info(
            "Slack: events on http://%s:%s%s",
            self.http_host,
            self.bound_port,
            transport.EVENTS_PATH,
        )

    async def _connect_socket_mode(self) -> None:
        self._socket = AsyncSocketModeHandler(self.app, self.app_token)
        if await transport.connect_socket_mode(self._socket, self._stopping, self._auth_error):
            self.listening.set()
            logger.info("Slack: connected in Socket Mode")

    async def _close_transport(self) -> None:
        self.listening.clear()
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close_async()
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- Web API calls ------------------------------------------------------------------------

    def intake_backlog(self) -> int:
        """Events acknowledged to Slack (spooled) and not handled yet."""
        return len(self._spool)

    def erasure_steps(self) -> list[ErasureStep]:
        return [SpoolErasure(self._spool)]  # bot/erasure.py

    async def _call(self, method: Callable[..., Awaitable[T]], **arguments: Any) -> T:
        """One Web API call; every failure becomes a :class:`DeliveryError`."""
        try:
            return await method(**arguments)
        except SlackApiError as error:
            failure = delivery_error(error)
            if failure.code in AUTH_ERRORS:
                self._auth_error(failure.code)
            raise failure from error
        except (*NETWORK_ERRORS, SlackClientError) as error:
            raise unreachable(error) from error

    # -- sending ------------------------------------------------------------------------------

    async def send(self, message: Outgoing) -> SendResult:
        await self._ready()
        known = self._delivered.get(message.key)
        if known is not None:
            return known
        if message.person_id is not None:
            channel = self._hinted(message.person_id, message.direct_hint)
            if channel is None:
                channel = await self.open_direct(message.person_id)
        else:
            assert message.conversation_id is not None
            channel = await self._resolve_channel(message.conversation_id)
        lock = self._conversation_locks.setdefault(channel, asyncio.Lock())
        async with lock:
            known = self._delivered.get(message.key)
            if known is not None:
                return known
            # Only a message that may have gone out before (read to be sent by an earlier
            # attempt) needs the history: a first attempt costs no Tier-3 call.
            if message.resend and channel not in self._scanned:
                await self._scan_history(channel)
                known = self._delivered.get(message.key)
                if known is not None:
                    logger.info("Slack: %s already delivered (found in history)", message.key)
                    return known
            if message.image is not None:
                result = await self._upload(channel, message)
            else:
                arguments = build_message(message)
                response = await self._call(
                    self.client.chat_postMessage, channel=channel, **arguments
                )
                result = SendResult(
                    remote_id=str(response["ts"]), conversation_id=str(response["channel"])
                )
            self._remember(message.key, result)
            return result

    async def _upload(self, channel: str, message: Outgoing) -> SendResult:
        """A picture: ``files_upload_v2`` into the conversation, unless already shared there."""
        arguments = upload_arguments(message, channel)
        marker = file_marker(arguments["filename"])
        known = self._delivered.get(marker)
        if known is not None:
            logger.info("Slack: picture %s already shared (found in history)", message.key)
            return known
        response = await self._call(self.client.files_upload_v2, **arguments)
        file = as_mapping(response.get("file"))
        result = SendResult(remote_id=str(file.get("id") or ""), conversation_id=channel)
        self._remember(marker, result)
        return result

    async def _scan_history(self, channel: str) -> None:
        """Remember the keys of the bot's recent messages in ``channel`` (once per process).

        After that, every key this process delivers there is remembered as it is sent, so one
        look per conversation finds what a previous process sent just before it stopped.
        """
        try:
            response = await self._call(
                self.client.conversations_history,
                channel=channel,
                limit=HISTORY_WINDOW,
                include_all_metadata=True,
            )
        except DeliveryError as error:
            if error.code not in _HISTORY_UNREADABLE:
                raise
            # Without the history scope (or in a public channel the bot posts to without being
            # a member), a crash between post and record could repeat one message.
            logger.warning("Slack: history of %s unreadable (%s); not checked", channel, error)
            self._scanned.add(channel)
            return
        for item in response.get("messages") or []:
            if isinstance(item, Mapping):
                key = delivery_key(item)
                if key is not None and key not in self._delivered:
                    self._remember(key, SendResult(str(item.get("ts")), channel))
                for marker, file_id in shared_files(item):
                    self._remember(marker, SendResult(file_id, channel))
        self._scanned.add(channel)

    def _remember(self, key: str, result: SendResult) -> None:
        self._delivered[key] = result
        self._delivered.move_to_end(key)
        while len(self._delivered) > _KEYS_KEPT:
            self._delivered.popitem(last=False)

    def _hinted(self, person_id: str, hint: str | None) -> str | None:
        """The DM channel the outbox remembered (persisted), trusted like the cache."""
        cached = self._direct_cache.get(person_id)
        if cached is not None:
            return cached
        if hint is not None and _CHANNEL_ID.match(hint):
            self._direct_cache[person_id] = hint
            return hint
        return None

    async def open_direct(self, person_id: str) -> str:
        """The direct conversation with ``person_id`` (``conversations.open``, cached)."""
        cached = self._direct_cache.get(person_id)
        if cached is not None:
            return cached
        await self._ready()
        response = await self._call(self.client.conversations_open, users=person_id)
        channel = response.get("channel")
        channel_id = channel.get("id") if isinstance(channel, Mapping) else None
        if not isinstance(channel_id, str):
            raise DeliveryError(PLATFORM, "no_channel", f"conversations.open for {person_id}")
        self._direct_cache[person_id] = channel_id
        return channel_id

    async def _resolve_channel(self, conversation_id: str) -> str:
        """``C0123``, ``#C0123`` or ``#general`` → the channel id."""
        name = conversation_id.strip().removeprefix("#")
        if not conversation_id.startswith("#") or _CHANNEL_ID.match(name):
            return name
        cached = self._channel_names.get(name.lower())
        if cached is not None:
            return cached
        cursor: str | None = None
        while True:
            response = await self._call(
                self.client.conversations_list,
                types="public_channel,private_channel",
                exclude_archived=True,
                limit=PAGE_SIZE,
                cursor=cursor,
            )
            for channel in response.get("channels") or []:
                if isinstance(channel, Mapping) and isinstance(channel.get("name"), str):
                    self._channel_names[channel["name"].lower()] = str(channel["id"])
            if name.lower() in self._channel_names:
                return self._channel_names[name.lower()]
            cursor = next_cursor(response)
            if not cursor:
                raise DeliveryError(PLATFORM, "channel_not_found", conversation_id, permanent=True)

    # -- rooms --------------------------------------------------------------------------------

    async def room_members(self, conversation_id: str) -> Sequence[Member]:
        """The channel's members other than the bot; bots are flagged (``users.info``)."""
        await self._ready()
        channel = await self._resolve_channel(conversation_id)
        member_ids: list[str] = []
        cursor: str | None = None
        while True:
            try:
                response = await self._call(
                    self.client.conversations_members,
                    channel=channel,
                    limit=PAGE_SIZE,
                    cursor=cursor,
                )
            except DeliveryError as error:
                # Like an unknown room; only an outage, a rate limit or the token may pass.
                transient = error.code == "unreachable" or error.retry_after is not None
                if not transient and error.code not in AUTH_ERRORS:
                    error.permanent = True
                raise
            member_ids.extend(str(member) for member in response.get("members") or [])
            cursor = next_cursor(response)
            if not cursor:
                break
        members = []
        for user_id in dict.fromkeys(member_ids):
            if user_id == self.bot_id:
                continue
            member = await self._user(user_id)
            if member is not None:
                members.append(member)
        return members

    async def _user(self, user_id: str) -> Member | None:
        """Who a member is (cached); None for a deactivated account."""
        cached = self._users.get(user_id)
        if cached is not None:
            return cached
        response = await self._call(self.client.users_info, user=user_id)
        user = response.get("user")
        if not isinstance(user, Mapping):
            return Member(platform_id=user_id)
        if user.get("deleted"):
            return None
        profile = as_mapping(user.get("profile"))
        name = profile.get("display_name") or profile.get("real_name") or user.get("real_name")
        member = Member(
            platform_id=user_id,
            display_name=str(name) if name else None,
            is_bot=bool(user.get("is_bot")) or user_id == "USLACKBOT",
        )
        self._users[user_id] = member
        return member
