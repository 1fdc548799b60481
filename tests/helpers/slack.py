"""A fake Slack for tests: the Web API (aiohttp on 127.0.0.1) and signed Events API requests.

The fake implements the Web API methods the adapter calls, keeps its state in memory and records
every request. Inbound events are POSTed to the adapter's HTTP endpoint signed like Slack does
(``v0=`` HMAC-SHA256 of ``v0:{timestamp}:{body}``), or pushed through a fake Socket Mode
WebSocket. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web

from bot.app import App
from bot.core import Incoming
from bot.domain import CampaignStatus, ParticipationKind
from bot.platforms.slack import SlackPlatform
from storage.uow import Store
from tests.helpers.bot import make_settings

T = TypeVar("T")
WAIT = 10.0  # upper bound for anything we wait for; never a timing assertion
BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT = "UBOT"
ALICE = "UALICE"
BOB = "UBOB"


async def bounded(awaitable: Awaitable[T]) -> T:
    return await asyncio.wait_for(awaitable, WAIT)


# -- the fake Slack Web API ------------------------------------------------------------------------


@dataclass
class FakeSlack:
    """Slack's Web API as far as the adapter uses it, in memory."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # Answer the next N chat.postMessage calls with HTTP 429 + Retry-After: 3.
    ratelimit_posts: int = 0
    # Answer every call with this error (e.g. "invalid_auth").
    auth_error: str | None = None
    # Answer conversations.history with this error (e.g. "missing_scope").
    history_error: str | None = None
    posted: asyncio.Condition = field(default_factory=asyncio.Condition)
    port: int = 0
    socket_envelopes: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    socket_acks: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    _clock: int = 0

    def __post_init__(self) -> None:
        for user_id, name, is_bot in [
            (BOT, "pixbot", True),
            (ALICE, "Alice", False),
            (BOB, "Bob", False),
            ("UCAROL", "Carol", False),
            ("UHELPER", "Helper", True),
        ]:
            self.users[user_id] = {
                "id": user_id,
                "name": name.lower(),
                "is_bot": is_bot,
                "deleted": False,
                "profile": {"display_name": name, "real_name": name},
            }
        self.channels["CROOM"] = {
            "id": "CROOM",
            "name": "campagne-pix",
            "members": [ALICE, BOT, BOB, "UHELPER", "UCAROL"],
        }
        self.channels["CNEWS"] = {"id": "CNEWS", "name": "annonces", "members": [ALICE]}
        self.channels["CDRAFT"] = {"id": "CDRAFT", "name": "brouillon", "members": [BOT, BOB]}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def calls(self, method: str) -> list[dict[str, Any]]:
        return [payload for name, payload in self.requests if name == method]

    def dm_of(self, user_id: str) -> str:
        return f"D{user_id[1:]}"

    async def wait_for_posts(self, channel: str, count: int) -> list[dict[str, Any]]:
        async with self.posted:
            await self.posted.wait_for(lambda: len(self.messages[channel]) >= count)
        return self.messages[channel]

    # -- HTTP plumbing

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        payload: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            payload.update(await request.json())
        elif request.can_read_body:
            payload.update(await request.post())
        self.requests.append((method, payload))
        expected = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        if self.auth_error is not None:
            return web.json_response({"ok": False, "error": self.auth_error})
        if request.headers.get("Authorization") != f"Bearer {expected}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if method == "chat.postMessage" and self.ratelimit_posts > 0:
            self.ratelimit_posts -= 1
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "3"}
            )
        handler = getattr(self, "api_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"}, status=404)
        answer: dict[str, Any] = handler(payload)
        if method == "chat.postMessage":
            async with self.posted:
                self.posted.notify_all()
        return web.json_response(answer)

    # -- methods

    def api_auth_test(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "user_id": BOT, "bot_id": "BBOT", "team_id": "TPIX", "user": "pixbot"}

    def api_apps_connections_open(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}

    def api_conversations_open(self, payload: dict[str, Any]) -> dict[str, Any]:
        user = str(payload.get("users", ""))
        if user not in self.users:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "channel": {"id": self.dm_of(user)}}

    def _known_channel(self, channel: str) -> bool:
        return channel in self.channels or (
            channel.startswith("D") and f"U{channel[1:]}" in self.users
        )

    def api_chat_postMessage(self, payload: dict[str, Any]) -> dict[str, Any]:
        channel = str(payload.get("channel", ""))
        if not self._known_channel(channel):
            return {"ok": False, "error": "channel_not_found"}
        self._clock += 1
        ts = f"1700000000.{self._clock:06d}"
        message = {
            "type": "message",
            "ts": ts,
            "user": BOT,
            "bot_id": "BBOT",
            "text": payload.get("text", ""),
            "blocks": payload.get("blocks"),
            "metadata": payload.get("metadata"),
        }
        self.messages[channel].append(message)
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def api_conversations_history(self, payload: dict[str, Any]) -> dict[str, Any]:
        channel = str(payload.get("channel", ""))
        if not self._known_channel(channel):
            return {"ok": False, "error": "channel_not_found"}
        if self.history_error:
            return {"ok": False, "error": self.history_error}
        limit = int(payload.get("limit", 100))
        with_metadata = str(payload.get("include_all_metadata", "")).lower() in ("1", "true")
        newest_first = list(reversed(self.messages[channel]))[:limit]
        return {
            "ok": True,
            "messages": [
                {k: v for k, v in m.items() if k != "metadata" or with_metadata}
                for m in newest_first
            ],
        }

    def _page(self, items: list[Any], payload: dict[str, Any]) -> tuple[list[Any], str]:
        """Two items per page, whatever the limit asked: pagination is always exercised."""
        start = int(payload.get("cursor") or 0)
        end = start + 2
        return items[start:end], (str(end) if end < len(items) else "")

    def api_conversations_members(self, payload: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(payload.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        members, cursor = self._page(channel["members"], payload)
        return {"ok": True, "members": members, "response_metadata": {"next_cursor": cursor}}

    def api_conversations_list(self, payload: dict[str, Any]) -> dict[str, Any]:
        listed = [{"id": c["id"], "name": c["name"]} for c in self.channels.values()]
        channels, cursor = self._page(listed, payload)
        return {"ok": True, "channels": channels, "response_metadata": {"next_cursor": cursor}}

    def api_users_info(self, payload: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(payload.get("user", "")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": user}

    # -- Socket Mode

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"type": "hello", "num_connections": 1})

        async def pump() -> None:
            while True:
                await ws.send_json(await self.socket_envelopes.get())

        sender = asyncio.ensure_future(pump())
        try:
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    await self.socket_acks.put(json.loads(message.data))
        finally:
            sender.cancel()
        return ws


Fake = TypeVar("Fake", bound=FakeSlack)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def serving(fake: Fake, *routes: tuple[str, str, Handler]) -> AsyncIterator[Fake]:
    """Serve ``fake``'s Web API (and ``routes``: method, path, handler) on an ephemeral port."""
    app = web.Application()
    app.router.add_route("*", "/api/{method}", fake.handle)
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.port = runner.addresses[0][1]
    try:
        yield fake
    finally:
        await runner.cleanup()


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    async with serving(fake, ("GET", "/socket", fake.socket)):
        yield fake


def make_platform(fake: FakeSlack, **options: Any) -> SlackPlatform:
    settings: dict[str, Any] = {
        "bot_token": BOT_TOKEN,
        "signing_secret": SECRET,
        "base_url": fake.base_url,
        "http_port": 0,
    }
    settings.update(options)
    return SlackPlatform(**settings)


async def stop_platform(platform: SlackPlatform, running: asyncio.Future[None]) -> None:
    await bounded(platform.stop())
    with contextlib.suppress(Exception):
        await bounded(running)


@dataclass
class EventsEndpoint:
    platform: SlackPlatform
    received: asyncio.Queue[Incoming]
    session: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.platform.bound_port}/slack/events"

    async def post(
        self,
        body: str,
        *,
        content_type: str = "application/json",
        secret: str = SECRET,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        return await signed_post(
            self.session, self.url, body, content_type=content_type, secret=secret, headers=headers
        )

    async def event(self, event: dict[str, Any], event_id: str | None = None) -> int:
        status, _ = await self.post(json.dumps(envelope(event, event_id)))
        return status

    async def next(self) -> Incoming:
        return await bounded(self.received.get())


def envelope(event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {
        "token": "legacy",
        "team_id": "TPIX",
        "api_app_id": "APIX",
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()),
        "authorizations": [{"team_id": "TPIX", "user_id": BOT, "is_bot": True}],
    }


def dm(text: str, ts: str = "1700000100.000100", user: str = ALICE) -> dict[str, Any]:
    return {
        "type": "message",
        "channel": f"D{user[1:]}",
        "channel_type": "im",
        "user": user,
        "text": text,
        "ts": ts,
        "client_msg_id": str(uuid.uuid4()),
    }


async def signed_post(
    session: aiohttp.ClientSession,
    url: str,
    body: str,
    *,
    content_type: str = "application/json",
    secret: str = SECRET,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    """POST ``body`` to the adapter signed like Slack does; (status, text) of the answer."""
    timestamp = str(int(time.time()))
    base = f"v0:{timestamp}:{body}".encode()
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    all_headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
        **(headers or {}),
    }
    async with session.post(url, data=body.encode(), headers=all_headers) as answer:
        return answer.status, await answer.text()


def events_url(port: int | None) -> str:
    return f"http://127.0.0.1:{port}/slack/events"


def retry_headers(number: int) -> dict[str, str]:
    """What Slack adds to a redelivery of an event it has no acknowledgement for."""
    return {"X-Slack-Retry-Num": str(number), "X-Slack-Retry-Reason": "http_timeout"}


def button_click(
    value: str, action_ts: str, user: str = ALICE, message_ts: str = "1700000000.000042"
) -> str:
    """The form body of a click on one of the bot's buttons in ``user``'s direct conversation."""
    channel = f"D{user[1:]}"
    payload = {
        "type": "block_actions",
        "team": {"id": "TPIX"},
        "user": {"id": user, "username": user.lower(), "team_id": "TPIX"},
        "api_app_id": "APIX",
        "token": "legacy",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": "1.2.3",
        "channel": {"id": channel, "name": "directmessage"},
        "message": {"type": "message", "ts": message_ts, "user": BOT, "text": "x"},
        "actions": [
            {
                "type": "button",
                "action_id": "pixbot_reply_0",
                "block_id": "pixbot_replies",
                "text": {"type": "plain_text", "text": value},
                "value": value,
                "action_ts": action_ts,
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


# -- a bot on Slack with Alice invited -------------------------------------------------------------


def invite_alice(url: str, *, name: str = "Alice", email: str | None = None) -> None:
    """On the (migrated) database at ``url``: Alice (Slack ``ALICE``) invited to a running
    campaign of the DREAL service, whose ambassador is Ambre."""
    store = Store.from_url(url)
    now = datetime.now(UTC)
    with store.transaction() as uow:
        ambassador = uow.people.ensure("UAMB", "Ambre", now)
        uow.roles.add(ambassador.id, "ambassador", "DREAL")
        campaign = uow.campaigns.create(
            code="ABCDEF234",
            title="Cybersécurité",
            url="https://app.pix.fr/campagnes/ABCDEF234",
            service="DREAL",
            deadline=date(now.year + 1, 12, 15),
            audience_kind="service",
            audience_value="DREAL",
            now=now,
            created_by=ambassador.id,
        )
        uow.campaigns.set_status(campaign.id, CampaignStatus.RUNNING)
        alice, _ = uow.people.upsert(
            ALICE, display_name=name, service="DREAL", email=email, timezone=None,
            locale=None, now=now,
        )  # fmt: skip
        uow.campaigns.add_audience(campaign.id, [alice.id], now)
        uow.participation.record(
            alice.id, ParticipationKind.INVITED, now, campaign.id, source="system"
        )
    store.close()


@contextlib.asynccontextmanager
async def slack_bot(
    fake: FakeSlack, url: str, spool: Path, wait: float
) -> AsyncIterator[tuple[App, SlackPlatform]]:
    """Platform + application in this process, on ``spool``; stopped cleanly at the end (each
    step bounded by ``wait``)."""
    store = Store.from_url(url)
    platform = make_platform(fake, spool_path=spool)
    app = App(make_settings(url), store, platform)
    running = asyncio.ensure_future(app.run())
    try:
        await asyncio.wait_for(platform.listening.wait(), wait)
        yield app, platform
    finally:
        await asyncio.wait_for(app.request_stop(), wait)
        await asyncio.wait_for(running, wait)
        store.close()
