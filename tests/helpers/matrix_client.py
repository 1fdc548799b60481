"""One Matrix test client: a person on Tchap (agent or ambassador) as an E2EE nio client.

Used by the platform tests (driving :class:`MatrixPlatform` directly) and by the end-to-end
tests (driving the real bot process). What a person received is read from the homeserver's
history, so a duplicate in a second room would be seen too. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    InviteInfo,
    MegolmEvent,
    RoomCreateResponse,
    RoomMessagesResponse,
    RoomPreset,
    RoomSendResponse,
    SyncResponse,
)

from bot.core import Incoming
from bot.platforms.matrix import MatrixPlatform
from bot.platforms.matrix.connection import keep_keys
from tests.helpers.synapse import SynapseServer

T = TypeVar("T")
WAIT = 60.0  # upper bound for anything we wait for; never a timing assertion
MEGOLM = "m.megolm.v1.aes-sha2"
MESSAGE_TYPES = ("m.room.message", "m.room.encrypted")


def unique(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(4)}"


async def until(check: Callable[[], Awaitable[T | None]], what: str, within: float = WAIT) -> T:
    """Call ``check`` (which waits a little itself) until it returns something, or fail."""
    try:
        async with asyncio.timeout(within):
            while (result := await check()) is None:
                pass
            return result
    except TimeoutError:
        raise AssertionError(f"gave up after {within:.0f} s waiting for {what}") from None


@dataclass(frozen=True)
class BotMessage:
    room_id: str
    event_id: str
    body: str | None  # None while it cannot be decrypted


class MatrixUser:
    """A person on the homeserver with an E2EE-capable nio client and its own store.

    With ``auto_join`` every invitation is accepted at the next sync (what agents of the
    end-to-end tests do); without it the test joins rooms itself (:meth:`join_invite`).
    """

    def __init__(
        self,
        server: SynapseServer,
        store: Path,
        *,
        prefix: str = "agent",
        localpart: str | None = None,
        bot_id: str | None = None,
        auto_join: bool = False,
        request_timeout: float = 30.0,
    ) -> None:
        self.server = server
        self.bot_id = bot_id
        self.auto_join = auto_join
        self.localpart = localpart or unique(prefix)
        self.password = secrets.token_urlsafe(12)
        self.user_id = server.user_id(self.localpart)
        store.mkdir(parents=True, exist_ok=True)
        self.client = AsyncClient(
            server.base_url,
            self.user_id,
            device_id="PERSONDEVICE",
            store_path=str(store),
            config=AsyncClientConfig(encryption_enabled=True, request_timeout=request_timeout),
        )
        self.timeline: dict[str, list[Any]] = defaultdict(list)
        self.invites: dict[str, InviteInfo] = {}
        self.dm: str | None = None

    async def login(self) -> MatrixUser:
        await asyncio.to_thread(self.server.register, self.localpart, self.password)
        response = await self.client.login(self.password)
        assert not isinstance(response, ErrorResponse), response
        await self.sync()
        return self

    async def close(self) -> None:
        await self.client.close()

    async def sync(self, timeout_ms: int = 0) -> None:
        """One sync; keep the timeline, the invitations and the E2EE keys up to date."""
        client = self.client
        response = await client.sync(timeout=timeout_ms)
        assert isinstance(response, SyncResponse), response
        for room_id, info in response.rooms.join.items():
            self.timeline[room_id].extend(info.timeline.events)
        self.invites.update(response.rooms.invite)
        if self.auto_join:
            for room_id in response.rooms.invite:
                joined = await client.join(room_id)
                assert not isinstance(joined, ErrorResponse), joined
        await keep_keys(client)

    async def wait_for(self, found: Callable[[], T | None], what: str = "a condition") -> T:
        async def step() -> T | None:
            result = found()
            if result is None:
                await self.sync(timeout_ms=500)
            return result

        return await until(step, f"{self.user_id}: {what}")

    # -- rooms ---------------------------------------------------------------------------------

    async def join_invite(self, room_id: str) -> None:
        await self.wait_for(lambda: True if room_id in self.invites else None, "an invitation")
        response = await self.client.join(room_id)
        assert not isinstance(response, ErrorResponse), response
        await self.wait_for(lambda: True if room_id in self.client.rooms else None, "the join")

    def has_joined(self, room_id: str, user_id: str) -> bool | None:
        room = self.client.rooms.get(room_id)
        member = room.users.get(user_id) if room else None
        return True if member is not None and not member.invited else None

    async def open_dm(self, with_user: str | None = None) -> str:
        """Start an encrypted direct conversation and wait until the other side joined."""
        other = with_user or self.bot_id
        assert other is not None
        created = await self.client.room_create(
            is_direct=True,
            invite=[other],
            preset=RoomPreset.trusted_private_chat,
            initial_state=[
                {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}}
            ],
        )
        assert isinstance(created, RoomCreateResponse), created
        room_id = created.room_id
        await self.wait_for(lambda: self.has_joined(room_id, other), f"{other} to join")
        self.dm = room_id
        return room_id

    async def knows_devices_of(self, user_id: str) -> None:
        """Wait until our E2EE client knows the other's devices (else they cannot decrypt us)."""
        await self.wait_for(
            lambda: True if list(self.client.device_store.active_user_devices(user_id)) else None,
            f"the devices of {user_id}",
        )

    # -- messages ------------------------------------------------------------------------------

    def messages_from(self, sender: str, room_id: str) -> list[Any]:
        """The sender's messages seen by this client's syncs in that room."""
        return [
            event
            for event in self.timeline[room_id]
            if getattr(event, "sender", None) == sender
            and event.source.get("type") in MESSAGE_TYPES
        ]

    async def history_from(self, sender: str, room_id: str) -> list[Any]:
        """The sender's messages in the room, from the server's history."""
        response = await self.client.room_messages(room_id, limit=100)
        assert isinstance(response, RoomMessagesResponse), response
        return [
            event
            for event in response.chunk
            if event.sender == sender and event.source.get("type") in MESSAGE_TYPES
        ]

    async def send_text(self, room_id: str, body: str) -> str:
        response = await self.client.room_send(
            room_id,
            "m.room.message",
            {"msgtype": "m.text", "body": body},
            ignore_unverified_devices=True,
        )
        assert isinstance(response, RoomSendResponse), response
        return str(response.event_id)

    async def bot_messages(self) -> list[BotMessage]:
        """Everything the bot said to this person, from the server's history of every room."""
        found: list[BotMessage] = []
        for room_id in list(self.client.rooms):
            for event in reversed(await self.history_from(str(self.bot_id), room_id)):
                body = None if isinstance(event, MegolmEvent) else getattr(event, "body", None)
                found.append(BotMessage(room_id, event.event_id, body))
        return found

    async def wait_messages(
        self, check: Callable[[list[BotMessage]], T | None], what: str, within: float = WAIT
    ) -> T:
        seen: list[BotMessage] = []

        async def step() -> T | None:
            await self.sync(timeout_ms=1000)
            seen[:] = await self.bot_messages()
            return check(seen)

        try:
            return await until(step, f"{self.user_id}: {what}", within)
        except AssertionError as error:
            bodies = "\n---\n".join(str(m.body) for m in seen[-8:])
            raise AssertionError(f"{error}; last messages from the bot:\n{bodies}") from None

    async def settled_messages(self, within: float = WAIT) -> list[BotMessage]:
        """The bot's messages once every room is joined and every message decrypted."""

        def readable(messages: list[BotMessage]) -> list[BotMessage] | None:
            pending = self.client.invited_rooms
            if pending or not messages or any(m.body is None for m in messages):
                return None
            return messages

        return await self.wait_messages(readable, "every bot message readable", within)

    async def send(self, text: str) -> str:
        """Write to the bot in our direct conversation (the one it invited us to, if any)."""
        if self.dm is None:
            rooms = {m.room_id for m in await self.bot_messages()}
            assert len(rooms) == 1, rooms
            self.dm = rooms.pop()
        await self.knows_devices_of(str(self.bot_id))
        return await self.send_text(self.dm, text)

    async def say(self, text: str, expect: str, within: float = WAIT) -> str:
        """Send ``text``; return the bot's first new message containing ``expect``."""
        before = {m.event_id for m in await self.bot_messages()}
        await self.send(text)
        return await self.wait_for_text(expect, before, within)

    async def wait_for_text(
        self, expect: str, ignore: Iterable[str] = (), within: float = WAIT
    ) -> str:
        old = set(ignore)

        def match(messages: list[BotMessage]) -> str | None:
            for message in messages:
                if message.event_id not in old and message.body and expect in message.body:
                    return message.body
            return None

        return await self.wait_messages(match, f"a message containing {expect!r}", within)


class BotAccount:
    """The bot's account on the homeserver, and platforms logged into it."""

    def __init__(self, server: SynapseServer) -> None:
        self.server = server
        self.localpart = unique("pixbot")
        self.password = secrets.token_urlsafe(12)
        self.user_id, _ = server.register(self.localpart, self.password)

    def platform(self, store: Path, **options: Any) -> MatrixPlatform:
        return MatrixPlatform(
            homeserver=self.server.base_url,
            user_id=self.user_id,
            password=self.password,
            store_path=store,
            request_timeout=5.0,
            **options,
        )


@contextlib.asynccontextmanager
async def running(platform: MatrixPlatform) -> AsyncIterator[asyncio.Queue[Incoming]]:
    """Run the platform's sync loop in the background; yield what reaches the handler."""
    received: asyncio.Queue[Incoming] = asyncio.Queue()

    async def on_message(incoming: Incoming) -> None:
        await received.put(incoming)

    await platform.start()
    task = asyncio.create_task(platform.run(on_message))
    try:
        yield received
    finally:
        await platform.stop()
        await asyncio.wait_for(task, WAIT)


async def next_message(received: asyncio.Queue[Incoming]) -> Incoming:
    return await asyncio.wait_for(received.get(), WAIT)
