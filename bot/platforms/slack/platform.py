"""Slack platform on slack-bolt's AsyncApp: Socket Mode, or HTTP events with signed requests.

The adapter only translates: Events API payloads and Block Kit button clicks become
:class:`bot.core.Incoming`, :class:`bot.core.Outgoing` becomes a ``chat.postMessage`` with
escaped mrkdwn and buttons; every Slack error becomes one :class:`bot.core.DeliveryError` here.
Retries belong to the caller's outbox, so the Web API client has no retry handler of its own.

Slack has no transaction id, so the idempotency key travels in the message metadata
(``pixbot_delivery``). Keys sent by this process are remembered; the first send to a
conversation also reads its recent history, so a key delivered just before a crash is found
again instead of being posted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core import (
    DeliveryError,
    Incoming,
    Member,
    MessageHandler,
    Outgoing,
    PlatformAuthError,
    SendResult,
)

logger = logging.getLogger(__name__)

PLATFORM = "slack"
THUMBS_UP = "👍"
EVENTS_PATH = "/slack/events"
# Buttons carry this action id prefix (plus their index, unique within a message).
ACTION_PREFIX = "pixbot_reply"
METADATA_EVENT_TYPE = "pixbot_delivery"
# How many recent messages of a conversation are searched for an already-delivered key.
HISTORY_WINDOW = 20
# Slack limits: 3000 characters per section text, 25 elements per actions block.
SECTION_LIMIT = 3000
MAX_BUTTONS = 25
BUTTON_LABEL_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000
PAGE_SIZE = 200
# How long stop() waits for the handlers in progress before cancelling them.
STOP_TIMEOUT = 10.0
MAX_BACKOFF = 30.0
_KEYS_KEPT = 50_000

# Error codes meaning our token is no longer accepted: the bot must stop.
AUTH_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)
# Error codes after which the same request cannot succeed.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "user_not_found",
        "users_not_found",
        "not_in_channel",
        "is_archived",
        "cannot_dm_bot",
        "user_disabled",
        "messages_tab_disabled",
        "restricted_action",
        "missing_scope",
        "not_allowed_token_type",
        "msg_too_long",
        "no_text",
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "metadata_too_large",
        "invalid_arguments",
        "team_access_not_granted",
    }
)
# Message subtypes that are a person writing; the others (edits, joins, bots…) are ignored.
_PERSON_SUBTYPES = frozenset({None, "file_share", "thread_broadcast", "me_message"})
# History errors after which posting can still work: the key is then not looked up.
_HISTORY_UNREADABLE = frozenset({"missing_scope", "not_in_channel"})
_NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)
_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_ENTITY = re.compile(r"<([^<>]*)>")

T = TypeVar("T")


class _Transient(Exception):
    """Slack answered with an error that may go away (5xx, ratelimited at start)."""


# -- pure helpers (sans-I/O) ---------------------------------------------------------------------


def escape_mrkdwn(text: str) -> str:
    """Slack's three control characters as entities: ``<!channel>`` typed by a user is inert."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape_mrkdwn(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _decode_entity(match: re.Match[str]) -> str:
    inner = match.group(1)
    target, _, label = inner.partition("|")
    if target.startswith("@"):  # <@U123> or <@U123|name>: the immutable id
        return target
    if target.startswith("#"):  # <#C123|general>
        return f"#{label}" if label else target
    if target.startswith("!"):  # <!here>, <!channel>, <!subteam^S1|@team>, <!date^…|fallback>
        if label:
            return label
        return "@" + target[1:].partition("^")[0]
    # <https://…|label>, <mailto:a@b|a@b>: what the person typed
    if label:
        return label
    return target.removeprefix("mailto:")


def decode_mrkdwn(text: str) -> str:
    """Incoming Slack text as the person typed it: links, mentions and entities decoded."""
    return unescape_mrkdwn(_ENTITY.sub(_decode_entity, text))


def strip_mention(text: str, user_id: str) -> tuple[str, bool]:
    """Remove the bot's ``<@U…>`` mentions (and a following ``:`` or ``,``); True if any."""
    if not user_id:
        return text, False
    pattern = re.compile(rf"<@{re.escape(user_id)}(?:\|[^>]*)?>[:,]?[ \t]*")
    stripped, count = pattern.subn("", text)
    return (stripped.strip(), True) if count else (text, False)


def normalise_reaction(name: str) -> str:
    """``+1``, ``thumbsup`` and their skin tones count as 👍."""
    base = name.partition("::")[0]
    return THUMBS_UP if base in {"+1", "thumbsup"} else name


def timestamp_of(ts: Any) -> datetime:
    try:
        return datetime.fromtimestamp(float(ts), tz=UTC)
    except (TypeError, ValueError):
        return datetime.now(UTC)


def _chunks(text: str, limit: int) -> list[str]:
    """Split at line ends so each piece fits a section block."""
    pieces: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        if len(current) + len(line) > limit:
            pieces.append(current)
            current = ""
        current += line
    if current:
        pieces.append(current)
    return [piece for piece in pieces if piece.strip()]


def message_text(message: Outgoing) -> str:
    """The escaped mrkdwn text; only the ids listed in ``mentions`` become real mentions."""
    text = escape_mrkdwn(message.text)
    for user_id in dict.fromkeys(message.mentions):
        if _ID.match(user_id):
            text = re.sub(rf"@{user_id}\b", f"<@{user_id}>", text)
    return text


def build_message(message: Outgoing) -> dict[str, Any]:
    """The ``chat.postMessage`` arguments (without the channel) for an outgoing message."""
    text = message_text(message)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
        for chunk in _chunks(text, SECTION_LIMIT)
    ]
    if message.buttons:
        blocks.append(
            {
                "type": "actions",
                "block_id": "pixbot_replies",
                "elements": [
                    {
                        "type": "button",
                        "action_id": f"{ACTION_PREFIX}_{index}",
                        "text": {
                            "type": "plain_text",
                            "text": button.label[:BUTTON_LABEL_LIMIT] or button.reply[:1],
                            "emoji": True,
                        },
                        "value": button.reply[:BUTTON_VALUE_LIMIT],
                    }
                    for index, button in enumerate(message.buttons[:MAX_BUTTONS])
                ],
            }
        )
    arguments: dict[str, Any] = {
        # The notification and accessibility fallback; the blocks are what is shown.
        "text": text or " · ".join(escape_mrkdwn(b.label) for b in message.buttons),
        "blocks": blocks,
        "metadata": {"event_type": METADATA_EVENT_TYPE, "event_payload": {"key": message.key}},
        "unfurl_links": False,
        "unfurl_media": False,
    }
    if message.in_reply_to:
        arguments["thread_ts"] = message.in_reply_to
    return arguments


def delivery_key(message: Mapping[str, Any]) -> str | None:
    """The idempotency key of a message from ``conversations.history``, if it is ours."""
    metadata = message.get("metadata")
    if not isinstance(metadata, Mapping) or metadata.get("event_type") != METADATA_EVENT_TYPE:
        return None
    payload = metadata.get("event_payload")
    key = payload.get("key") if isinstance(payload, Mapping) else None
    return key if isinstance(key, str) else None


def error_code(error: SlackApiError) -> str:
    response = error.response
    data = getattr(response, "data", None)
    code = data.get("error") if isinstance(data, Mapping) else None
    if isinstance(code, str) and code:
        return code
    return f"http_{getattr(response, 'status_code', 'error')}"


def retry_after_of(error: SlackApiError) -> float | None:
    response = error.response
    if error_code(error) != "ratelimited" and getattr(response, "status_code", None) != 429:
        return None
    headers = getattr(response, "headers", None) or {}
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(float(value), 0.0)
            except (TypeError, ValueError):
                break
    return 1.0


def delivery_error(error: SlackApiError) -> DeliveryError:
    """One exception for every Slack API error.

    Authentication errors are not permanent: the bot stops (see ``SlackPlatform``) and the
    delivery is retried once the operator has fixed the token.
    """
    code = error_code(error)
    return DeliveryError(
        PLATFORM,
        code,
        retry_after=retry_after_of(error),
        permanent=code in PERMANENT_ERRORS,
    )


def unreachable(error: BaseException) -> DeliveryError:
    return DeliveryError(PLATFORM, "unreachable", f"{type(error).__name__}: {error}".strip())


def incoming_from_event(body: Mapping[str, Any], bot_user_id: str) -> Incoming | None:
    """An Events API payload as :class:`Incoming`, or None when it is not for the bot.

    A message and its ``app_mention`` twin get the same id (channel and ts), so the core's
    de-duplication answers once, and a Slack retry of either is recognised too.
    """
    event = body.get("event")
    if not isinstance(event, Mapping):
        return None
    kind = event.get("type")
    if kind in ("message", "app_mention"):
        return _message_incoming(event, bot_user_id)
    if kind == "reaction_added":
        return _reaction_incoming(body, event, bot_user_id)
    return None


def _message_incoming(event: Mapping[str, Any], bot_user_id: str) -> Incoming | None:
    if event.get("subtype") not in _PERSON_SUBTYPES or event.get("hidden"):
        return None
    sender = event.get("user")
    channel = event.get("channel")
    ts = event.get("ts")
    if not isinstance(sender, str) or not isinstance(channel, str) or not isinstance(ts, str):
        return None
    if event.get("bot_id") or event.get("bot_profile") or sender == bot_user_id:
        return None  # other bots and our own messages
    raw = event.get("text") or ""
    text, mentioned = strip_mention(str(raw), bot_user_id)
    is_direct = event.get("channel_type") == "im" or channel.startswith("D")
    thread = event.get("thread_ts")
    return Incoming(
        platform=PLATFORM,
        event_id=f"{channel}/{ts}",
        sender_id=sender,
        text=decode_mrkdwn(text),
        conversation_id=channel,
        is_direct=is_direct,
        timestamp=timestamp_of(ts),
        mentions_bot=mentioned or event.get("type") == "app_mention",
        relates_to=thread if isinstance(thread, str) and thread != ts else None,
    )


def _reaction_incoming(
    body: Mapping[str, Any], event: Mapping[str, Any], bot_user_id: str
) -> Incoming | None:
    item = event.get("item")
    sender = event.get("user")
    reaction = event.get("reaction")
    if not isinstance(item, Mapping) or item.get("type") != "message":
        return None
    channel, ts = item.get("channel"), item.get("ts")
    if not all(isinstance(value, str) for value in (sender, reaction, channel, ts)):
        return None
    if sender == bot_user_id:
        return None
    event_id = body.get("event_id") or f"reaction/{channel}/{ts}/{sender}/{event.get('event_ts')}"
    return Incoming(
        platform=PLATFORM,
        event_id=str(event_id),
        sender_id=str(sender),
        text="",
        conversation_id=str(channel),
        is_direct=str(channel).startswith("D"),
        timestamp=timestamp_of(event.get("event_ts")),
        reaction=normalise_reaction(str(reaction)),
        relates_to=str(ts),
    )


def incoming_from_action(body: Mapping[str, Any], bot_user_id: str) -> Incoming | None:
    """A click on one of our buttons: the button's reply, as if the person had typed it."""
    actions = body.get("actions")
    user = body.get("user")
    if not isinstance(actions, list) or not actions or not isinstance(user, Mapping):
        return None
    action = actions[0]
    sender = user.get("id")
    container = _mapping(body.get("container"))
    channel_info = _mapping(body.get("channel"))
    message = _mapping(body.get("message"))
    channel = container.get("channel_id") or channel_info.get("id")
    message_ts = container.get("message_ts") or message.get("ts")
    value = action.get("value") if isinstance(action, Mapping) else None
    if not isinstance(sender, str) or not isinstance(channel, str) or not isinstance(value, str):
        return None
    if sender == bot_user_id:
        return None
    action_ts = action.get("action_ts") or ""
    return Incoming(
        platform=PLATFORM,
        event_id=f"action/{channel}/{message_ts}/{sender}/{action_ts}",
        sender_id=sender,
        text=value,
        conversation_id=channel,
        is_direct=channel.startswith("D"),
        timestamp=timestamp_of(action_ts),
        # A click on the bot's own button is addressed to the bot, in a room too.
        mentions_bot=True,
        relates_to=message_ts if isinstance(message_ts, str) else None,
    )


# -- the adapter ---------------------------------------------------------------------------------


class SlackPlatform:
    name = PLATFORM

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
            # Listeners only queue the message: Slack gets its ack at once.
            process_before_response=False,
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
        self._queues: dict[str, deque[Incoming]] = {}
        self._workers: set[asyncio.Task[None]] = set()
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
            except (*_NETWORK_ERRORS, _Transient) as error:
                logger.warning(
                    "Slack injoignable / Slack unreachable (%s: %s); nouvel essai dans %.1f s",
                    type(error).__name__,
                    error,
                    backoff,
                )
                if await self._sleep_or_stop(backoff):
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
        error = PlatformAuthError(
            f"jeton Slack refusé / Slack token refused ({detail}): vérifiez bot_token et app_token"
        )
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
        except _NETWORK_ERRORS as error:
            raise unreachable(error) from error
        except _Transient as error:
            raise DeliveryError(PLATFORM, str(error)) from error

    async def stop(self) -> None:
        """End ``run`` (after the handlers in progress, at most ``STOP_TIMEOUT`` s)."""
        self._stopping.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._run_finished.wait(), STOP_TIMEOUT + 5)

    async def _sleep_or_stop(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        return self._stopping.is_set()

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
            if self._fatal is None and not self._stopping.is_set():
                self._on_message = on_message
                if self.app_token:
                    await self._connect_socket_mode()
                else:
                    await self._serve_http()
                await self._stopping.wait()
        finally:
            await self._close_transport()
            await self._finish_workers()
            self._on_message = None
            self._run_finished.set()
        if self._fatal is not None:
            raise self._fatal

    async def _serve_http(self) -> None:
        web_app = web.Application()
        web_app.router.add_post(EVENTS_PATH, self._handle_http)
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(runner, self.http_host, self.http_port)
        await site.start()
        addresses = runner.addresses
        self.bound_port = addresses[0][1] if addresses else self.http_port
        self.listening.set()
        logger.info("Slack: events on http://%s:%s%s", self.http_host, self.bound_port, EVENTS_PATH)

    async def _handle_http(self, request: web.Request) -> web.Response:
        # Bolt checks the signature (signing secret, 5-minute window) before any listener.
        bolt_response = await self.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    async def _connect_socket_mode(self) -> None:
        handler = self._socket = AsyncSocketModeHandler(self.app, self.app_token)
        # The SDK retries a refused connection forever: ask for the WebSocket URL ourselves
        # first, so that a revoked app token stops the bot with a clear message.
        backoff = 0.5
        while handler.client.wss_uri is None:
            try:
                handler.client.wss_uri = await handler.client.issue_new_wss_url()
            except SlackApiError as error:
                code = error_code(error)
                if code in AUTH_ERRORS:
                    raise self._auth_error(f"apps.connections.open: {code}") from error
                failure: BaseException = error
            except _NETWORK_ERRORS as error:
                failure = error
            else:
                break
            logger.warning(
                "Slack Socket Mode injoignable / unreachable (%s); nouvel essai dans %.1f s",
                failure,
                backoff,
            )
            if await self._sleep_or_stop(backoff):
                return
            backoff = min(backoff * 2, MAX_BACKOFF)
        connect = asyncio.ensure_future(handler.connect_async())
        stopped = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({connect, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if not connect.done():  # stopped while connecting: close_async() ends the attempts
            connect.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await connect
            return
        connect.result()
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

    async def _on_event(self, body: dict[str, Any]) -> None:
        incoming = incoming_from_event(body, self.bot_id)
        if incoming is not None:
            self._enqueue(incoming)

    async def _on_action(self, ack: Callable[[], Awaitable[Any]], body: dict[str, Any]) -> None:
        await ack()
        incoming = incoming_from_action(body, self.bot_id)
        if incoming is not None:
            self._enqueue(incoming)

    def _enqueue(self, incoming: Incoming) -> None:
        """Hand over in order, one message at a time per conversation."""
        if self._on_message is None or self._stopping.is_set():
            return
        conversation = incoming.conversation_id
        queue = self._queues.get(conversation)
        if queue is not None:
            queue.append(incoming)
            return
        self._queues[conversation] = deque([incoming])
        worker = asyncio.ensure_future(self._drain(conversation, self._on_message))
        self._workers.add(worker)
        worker.add_done_callback(self._workers.discard)

    async def _drain(self, conversation: str, on_message: MessageHandler) -> None:
        queue = self._queues[conversation]
        try:
            while queue:
                incoming = queue.popleft()
                try:
                    await on_message(incoming)
                except Exception:
                    logger.exception("Handler failed for Slack event %s", incoming.event_id)
        finally:
            del self._queues[conversation]

    async def _finish_workers(self) -> None:
        workers = set(self._workers)
        if not workers:
            return
        _, pending = await asyncio.wait(workers, timeout=STOP_TIMEOUT)
        for worker in pending:
            worker.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    # -- Web API calls ------------------------------------------------------------------------

    async def _call(self, method: Callable[..., Awaitable[T]], **arguments: Any) -> T:
        """One Web API call; every failure becomes a :class:`DeliveryError`."""
        try:
            return await method(**arguments)
        except SlackApiError as error:
            failure = delivery_error(error)
            if failure.code in AUTH_ERRORS:
                self._auth_error(failure.code)
            raise failure from error
        except (*_NETWORK_ERRORS, SlackClientError) as error:
            raise unreachable(error) from error

    # -- sending ------------------------------------------------------------------------------

    async def send(self, message: Outgoing) -> SendResult:
        await self._ready()
        known = self._delivered.get(message.key)
        if known is not None:
            return known
        if message.person_id is not None:
            channel = await self.open_direct(message.person_id)
        else:
            assert message.conversation_id is not None
            channel = await self._resolve_channel(message.conversation_id)
        lock = self._conversation_locks.setdefault(channel, asyncio.Lock())
        async with lock:
            known = self._delivered.get(message.key)
            if known is not None:
                return known
            if channel not in self._scanned:
                await self._scan_history(channel)
                known = self._delivered.get(message.key)
                if known is not None:
                    logger.info("Slack: %s already delivered (found in history)", message.key)
                    return known
            arguments = build_message(message)
            response = await self._call(self.client.chat_postMessage, channel=channel, **arguments)
            result = SendResult(
                remote_id=str(response["ts"]), conversation_id=str(response["channel"])
            )
            self._remember(message.key, result)
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
        self._scanned.add(channel)

    def _remember(self, key: str, result: SendResult) -> None:
        self._delivered[key] = result
        self._delivered.move_to_end(key)
        while len(self._delivered) > _KEYS_KEPT:
            self._delivered.popitem(last=False)

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
            cursor = _next_cursor(response)
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
            cursor = _next_cursor(response)
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
        profile = _mapping(user.get("profile"))
        name = profile.get("display_name") or profile.get("real_name") or user.get("real_name")
        member = Member(
            platform_id=user_id,
            display_name=str(name) if name else None,
            is_bot=bool(user.get("is_bot")) or user_id == "USLACKBOT",
        )
        self._users[user_id] = member
        return member


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _next_cursor(response: Any) -> str | None:
    metadata = response.get("response_metadata")
    cursor = metadata.get("next_cursor") if isinstance(metadata, Mapping) else None
    return cursor or None
