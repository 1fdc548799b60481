"""Holds under abuse (#18) on Matrix: who brings the bot into a room, what in a room is for the
bot, replies too long for one event, a join refused with M_LIMIT_EXCEEDED — on a real Synapse;
the allow-list for every sender and reply fallbacks on parsed events (sans network)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from nio import (
    ErrorResponse,
    JoinError,
    MatrixRoom,
    RoomCreateResponse,
    RoomMessageText,
    RoomPreset,
)

from bot.app import App
from bot.dbwork import DatabaseWorker
from bot.invites import StoreInvitePolicy
from bot.platforms.matrix import MatrixPlatform
from storage.uow import Store
from tests.helpers.bot import make_settings
from tests.helpers.campaigns import put_person
from tests.helpers.matrix_client import WAIT, BotAccount, MatrixUser, until
from tests.helpers.synapse import SynapseServer

SERVICE = "DREAL-BZH"
BOT = "@pixbot:agents.gouv.fr"
PILL = f'<a href="https://matrix.to/#/{BOT}">pixbot</a>'


@contextlib.asynccontextmanager
async def bot_app(bot: BotAccount, tmp_path: Path, **limits: int) -> AsyncIterator[App]:
    url = f"sqlite:///{tmp_path / 'pixbot.db'}"
    store = Store.from_url(url)
    store.upgrade()
    settings = make_settings(url)
    for key, value in limits.items():
        setattr(settings.limits, key, value)
    # As bot.runner does: the platform is built with the policy it asks before joining a room.
    database = DatabaseWorker.for_dialect(store.database.dialect)
    policy = StoreInvitePolicy(
        store, database, settings.bot.admins, settings.limits.max_room_members
    )
    platform = bot.platform(tmp_path / "store", invite_policy=policy)
    app = App(settings, store, platform, database=database)
    task = asyncio.create_task(app.run())
    try:
        await until(_started(platform), "the bot to start")
        yield app
    finally:
        await platform.stop()
        await asyncio.wait_for(task, WAIT)
        store.close()


def _started(platform: MatrixPlatform) -> Any:
    async def check() -> bool | None:
        if platform.connection.started:
            return True
        await asyncio.sleep(0.1)
        return None

    return check


def register_agent(app: App, user_id: str) -> None:
    with app.store.transaction() as uow:
        put_person(uow, user_id, datetime.now(UTC), display_name="Agent", service=SERVICE)


@pytest.fixture
async def stranger(synapse: SynapseServer, tmp_path: Path) -> AsyncIterator[MatrixUser]:
    person = await MatrixUser(synapse, tmp_path / "stranger-store").login()
    yield person
    await person.close()


@pytest.fixture
async def colleague(synapse: SynapseServer, tmp_path: Path) -> AsyncIterator[MatrixUser]:
    person = await MatrixUser(synapse, tmp_path / "colleague-store").login()
    yield person
    await person.close()


@pytest.mark.synapse
async def test_joins_only_for_known_inviters_and_small_rooms_and_ignores_chatter(
    synapse: SynapseServer,
    agent: MatrixUser,
    stranger: MatrixUser,
    colleague: MatrixUser,
    tmp_path: Path,
) -> None:
    bot = BotAccount(synapse)
    agent.bot_id = stranger.bot_id = bot.user_id
    async with bot_app(bot, tmp_path, max_room_members=3) as app:
        register_agent(app, agent.user_id)
        # A stranger's invitation is declined.
        declined = await stranger.client.room_create(name="Public", invite=[bot.user_id])
        assert isinstance(declined, RoomCreateResponse), declined

        def left() -> bool | None:
            room = stranger.client.rooms.get(declined.room_id)
            return True if room and bot.user_id not in room.users else None

        await stranger.wait_for(left, "the bot to decline")
        # An agent's invitation to a small room (three people with the bot) is accepted.
        small = await agent.client.room_create(
            name="Équipe", invite=[bot.user_id, colleague.user_id], preset=RoomPreset.private_chat
        )
        assert isinstance(small, RoomCreateResponse), small
        await colleague.join_invite(small.room_id)
        await agent.wait_for(lambda: agent.has_joined(small.room_id, bot.user_id), "the join")
        # Chatter is not for the bot; "!pix" is.
        await agent.send_text(small.room_id, "Quelqu'un a déjà utilisé pixbot ? Je trouve ça nul")
        await agent.send_text(small.room_id, "!pix aide")
        answer = await agent.wait_for_text("Pour tout le monde")
        assert "Je ne sais pas" not in answer
        messages = [m for m in await agent.bot_messages() if m.room_id == small.room_id]
        assert len(messages) == 1
        with app.store.transaction() as uow:
            assert uow.questions.unanswered() == []
        # A room bigger than limits.max_room_members is left at once.
        big = await agent.client.room_create(
            name="Grand",
            invite=[stranger.user_id, colleague.user_id],
            preset=RoomPreset.public_chat,
        )
        assert isinstance(big, RoomCreateResponse), big
        await stranger.join_invite(big.room_id)
        await colleague.join_invite(big.room_id)
        invited = await agent.client.room_invite(big.room_id, bot.user_id)
        assert not isinstance(invited, ErrorResponse), invited

        def bot_gone(room_id: str) -> Any:
            async def check() -> bool | None:
                """The bot's membership on the server: it joined, counted, and left."""
                state = await agent.client.room_get_state_event(
                    room_id, "m.room.member", bot.user_id
                )
                if getattr(state, "content", {}).get("membership") == "leave":
                    return True
                await asyncio.sleep(0.2)
                return None

            return check

        await until(bot_gone(big.room_id), "the bot to leave the big room")
        # The small room grows past the limit (a fourth person joins): the bot leaves it too.
        invited = await agent.client.room_invite(small.room_id, stranger.user_id)
        assert not isinstance(invited, ErrorResponse), invited
        await stranger.join_invite(small.room_id)
        await until(bot_gone(small.room_id), "the bot to leave the room that grew")


@pytest.mark.synapse
async def test_long_replies_arrive_in_parts_and_rate_limited_joins_are_retried(
    synapse: SynapseServer, agent: MatrixUser, tmp_path: Path
) -> None:
    bot = BotAccount(synapse)
    agent.bot_id = bot.user_id
    async with bot_app(bot, tmp_path) as app:
        register_agent(app, agent.user_id)
        platform = app.platform
        assert isinstance(platform, MatrixPlatform)
        real_join = platform.client.join
        refused: list[str] = []

        async def join_once_refused(room_id: str) -> Any:
            if not refused:
                refused.append(room_id)
                return JoinError("Too Many Requests", "M_LIMIT_EXCEEDED", 200)
            return await real_join(room_id)

        platform.client.join = join_once_refused  # type: ignore[method-assign]
        room = await agent.open_dm()
        assert refused == [room]
        text = "\n".join(f"Ligne {n} : " + "é" * 70 for n in range(400))  # ~30,000 characters
        with app.store.transaction() as uow:
            app.notifier.enqueue_text(
                uow, room, text, key="long-1", now=datetime.now(UTC), kind="reply"
            )
        app.dispatcher.poke()

        def numbered(messages: list[Any]) -> list[str] | None:
            bodies = [m.body for m in messages if m.body and m.body.startswith("(")]
            total = bodies[0].split("/", 1)[1].split(")", 1)[0] if bodies else ""
            return bodies if total.isdigit() and len(bodies) == int(total) else None

        parts = await agent.wait_messages(numbered, "every part", within=120)
        assert len(parts) >= 8 and all(len(p) <= 4000 for p in parts)
        assert "Ligne 0 " in parts[0] and "Ligne 399 " in parts[-1]


# -- parsed events, no network -------------------------------------------------------------------


def _platform(tmp_path: Path, **options: Any) -> MatrixPlatform:
    platform = MatrixPlatform(
        homeserver="http://127.0.0.1:9",
        user_id=BOT,
        password="p",
        store_path=tmp_path,
        display_name="pixbot",
        **options,
    )
    platform.login.new_client().user_id = BOT  # as after a login
    return platform


def _event(sender: str, content: dict[str, Any], event_id: str) -> RoomMessageText:
    source = {
        "type": "m.room.message",
        "sender": sender,
        "event_id": event_id,
        "origin_server_ts": 1_700_000_000_000,
        "content": content,
    }
    event = RoomMessageText.from_dict(source)
    assert isinstance(event, RoomMessageText)
    return event


def test_the_allow_list_applies_to_every_sender_and_replies_are_read_without_fallback(
    tmp_path: Path,
) -> None:
    platform = _platform(tmp_path)
    room = MatrixRoom("!room:agents.gouv.fr", platform.bot_id)
    for user in (platform.bot_id, "@alice:agents.gouv.fr", "@eve:evil.example"):
        room.add_member(user, None, None)
    reply = {
        "msgtype": "m.text",
        "body": f"> <{BOT}> Je ne sais pas répondre…\n> aide\n\nmerci, bonne journée",
        "format": "org.matrix.custom.html",
        "formatted_body": f"<mx-reply><blockquote>{PILL} aide</blockquote></mx-reply>merci",
        "m.relates_to": {"m.in_reply_to": {"event_id": "$bot"}},
    }
    events = [
        _event("@eve:evil.example", {"msgtype": "m.text", "body": "!pix aide"}, "$1"),
        _event("@alice:agents.gouv.fr", reply, "$2"),
        _event(
            "@alice:agents.gouv.fr",
            {"msgtype": "m.text", "body": "Quelqu'un a déjà utilisé pixbot ?"},
            "$3",
        ),
        _event(
            "@alice:agents.gouv.fr",
            {
                "msgtype": "m.text",
                "body": "pixbot: aide",
                "format": "org.matrix.custom.html",
                "formatted_body": f"{PILL}: aide",
            },
            "$4",
        ),
    ]
    incoming = platform.inbound.room_incoming(room, events, newly_joined=False)
    # The remote sender is not served; the reply is read without its quote.
    assert [(i.event_id, i.text, i.mentions_bot) for i in incoming] == [
        ("$2", "merci, bonne journée", False),
        ("$3", "Quelqu'un a déjà utilisé pixbot ?", False),
        ("$4", "aide", True),
    ]
