"""The Matrix platform against a real Synapse, with E2EE agents played by nio clients.

The pure helpers (content, transaction ids, invite policy, error mapping) are tested first,
without a homeserver; the ``synapse`` tests need matrix-synapse and start it once per session.
"""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import pytest
from nio import (
    RoomCreateResponse,
    RoomPreset,
    RoomSendResponse,
    SyncResponse,
)
from nio.api import Api
from nio.responses import RoomSendError

from bot.core import Button, DeliveryError, Outgoing, Platform
from bot.platforms.matrix import (
    MatrixAuthError,
    MatrixPlatform,
    build_content,
    delivery_error,
    invite_allowed,
    mentions_user,
    transaction_id,
)
from bot.platforms.matrix.codec import unrecorded_direct_invitee
from tests.helpers.matrix_client import (
    MEGOLM,
    WAIT,
    BotAccount,
    MatrixUser,
    next_message,
    running,
    unique,
)
from tests.helpers.synapse import SynapseServer, make_synapse

# -- pure helpers --------------------------------------------------------------------------------


def test_content_is_a_notice_with_html_mentions_and_no_room_ping() -> None:
    message = Outgoing(
        text="Bonjour <Alice> & @room\nLien : https://app.pix.fr",
        key="k",
        conversation_id="!r:x",
        mentions=("@alice:x",),
        buttons=(Button("Fait", "c'est fait"), Button("Plus tard", "plus tard")),
        in_reply_to="$evt",
    )
    content = build_content(message)
    assert content["msgtype"] == "m.notice"
    assert "@room" not in content["body"] and "@\u2060room" in content["body"]
    assert content["body"].endswith("« c'est fait » · « plus tard »")
    assert content["format"] == "org.matrix.custom.html"
    assert content["formatted_body"].startswith("Bonjour &lt;Alice&gt; &amp; @\u2060room<br>")
    assert content["m.mentions"] == {"user_ids": ["@alice:x"]}
    assert content["m.relates_to"] == {"m.in_reply_to": {"event_id": "$evt"}}
    plain = build_content(Outgoing(text="x", key="k", conversation_id="!r:x"))
    assert plain["m.mentions"] == {"user_ids": []}
    assert "m.relates_to" not in plain


def test_transaction_ids_are_stable_safe_and_distinct() -> None:
    assert transaction_id("invitation.42-7") == "invitation.42-7"
    unsafe = transaction_id("campaign:ABC/@a:b/invitation")
    assert unsafe == transaction_id("campaign:ABC/@a:b/invitation")
    assert all(c.isalnum() or c in "._-" for c in unsafe)
    assert transaction_id("a:b") != transaction_id("a/b")
    assert len(transaction_id("x" * 500)) <= 64


def test_invites_are_accepted_only_from_allowed_servers() -> None:
    bot = "@pixbot:agents.gouv.fr"
    assert invite_allowed("@alice:agents.gouv.fr", bot, ())
    assert not invite_allowed("@mallory:evil.example", bot, ())
    allowed = ("agents.gouv.fr", "education.gouv.fr")
    assert invite_allowed("@bob:education.gouv.fr", bot, allowed)
    assert not invite_allowed("@eve:matrix.org", bot, allowed)
    assert not invite_allowed("@alice:agents.gouv.fr", bot, ("education.gouv.fr",))


def test_errors_map_to_one_delivery_error() -> None:
    limited = delivery_error(RoomSendError("Too many requests", "M_LIMIT_EXCEEDED", 2500))
    assert (limited.code, limited.retry_after, limited.permanent) == (
        "M_LIMIT_EXCEEDED",
        2.5,
        False,
    )
    forbidden = delivery_error(RoomSendError("not in room", "M_FORBIDDEN"))
    assert forbidden.permanent and forbidden.retry_after is None
    assert delivery_error(RoomSendError("boom", "M_UNKNOWN")).permanent


def test_mentions_by_id_name_or_m_mentions() -> None:
    bot = "@pixbot:x"
    # Only real mentions: m.mentions, or a pill from clients that do not set it.
    assert not mentions_user({"body": "hello @pixbot:x"}, bot)
    assert not mentions_user({"body": "Pix Bot, aide"}, bot)
    pill = {"formatted_body": f'<a href="https://matrix.to/#/{bot}">Pix Bot</a>: aide'}
    assert mentions_user(pill, bot)
    assert mentions_user({"m.mentions": {"user_ids": [bot]}}, bot)
    assert not mentions_user({"m.mentions": {"user_ids": ["@a:x"]}, **pill}, bot)


def test_an_unrecorded_direct_room_is_one_the_bot_created_for_one_invited_person() -> None:
    bot, person, other = "@bot:x", "@agent:x", "@other:x"

    def state(creator: str, **members: str) -> list[dict[str, object]]:
        events: list[dict[str, object]] = [
            {"type": "m.room.create", "sender": creator, "state_key": "", "content": {}},
            {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}},
        ]
        for user, membership in members.items():
            user_id = {"bot": bot, "person": person, "other": other}[user]
            content = {"membership": membership}
            events.append({"type": "m.room.member", "state_key": user_id, "content": content})
        return events

    found = unrecorded_direct_invitee
    assert found(bot, state(bot, bot="join", person="invite"), encrypted=True) == person
    assert found(bot, state(person, bot="join", person="invite"), encrypted=True) is None
    assert found(bot, state(bot, bot="join", person="join"), encrypted=True) is None
    assert (
        found(bot, state(bot, bot="join", person="invite", other="invite"), encrypted=True) is None
    )
    assert (
        found(bot, state(bot, bot="join", person="invite", other="leave"), encrypted=True) == person
    )
    assert found(bot, state(bot, bot="leave", person="invite"), encrypted=True) is None
    clear = [e for e in state(bot, bot="join", person="invite") if e["type"] != "m.room.encryption"]
    assert found(bot, clear, encrypted=True) is None
    assert found(bot, clear, encrypted=False) == person


def test_matrix_platform_satisfies_the_protocol(tmp_path: Path) -> None:
    platform = MatrixPlatform(
        homeserver="http://127.0.0.1:9", user_id="@b:x", password="p", store_path=tmp_path
    )
    assert isinstance(platform, Platform)
    assert platform.name == "matrix" and platform.bot_id == "@b:x"


# -- helpers for the Synapse tests ---------------------------------------------------------------


# -- Synapse tests -------------------------------------------------------------------------------


@pytest.mark.synapse
async def test_login_persists_session_and_restart_keeps_the_device(
    bot: BotAccount, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    first = bot.platform(store)
    await first.start()
    session_file = store / "session.json"
    session = json.loads(session_file.read_text())
    assert session["user_id"] == bot.user_id and session["device_id"] == "PIXBOT"
    assert stat.S_IMODE(session_file.stat().st_mode) == 0o600
    await first.stop()

    # Same configuration: same device, same session. (A different configured device_id wins
    # over the stored session since #31: tests/e2e/test_matrix_heal.py.)
    second = bot.platform(store)
    await second.start()
    assert second.device_id == "PIXBOT"
    # No new login: the stored access token is still the one in use.
    assert json.loads(session_file.read_text())["access_token"] == session["access_token"]
    assert second.client.access_token == session["access_token"]
    await second.stop()


@pytest.mark.synapse
async def test_wrong_password_raises_auth_error_and_calls_back(
    bot: BotAccount, tmp_path: Path
) -> None:
    alerts: list[str] = []

    async def on_auth_error(message: str) -> None:
        alerts.append(message)

    platform = MatrixPlatform(
        homeserver=bot.server.base_url,
        user_id=bot.user_id,
        password="wrong",
        store_path=tmp_path / "store",
        on_auth_error=on_auth_error,
    )
    with pytest.raises(MatrixAuthError):
        await platform.start()
    assert len(alerts) == 1 and bot.user_id in alerts[0]
    await platform.stop()


@pytest.mark.synapse
async def test_direct_room_is_encrypted_readable_and_reused_and_sends_are_idempotent(
    bot: BotAccount, agent: MatrixUser, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    platform = bot.platform(store)
    await platform.start()
    # Creating the room counts like a message on the homeserver: the outbox paces it.
    assert platform.opens_conversation(agent.user_id)
    room_id = await platform.open_direct(agent.user_id)
    assert not platform.opens_conversation(agent.user_id)
    invitation = Outgoing(
        text="Bonjour, la campagne @room est ouverte.\nhttps://app.pix.fr/campagnes/ABC",
        key="campaign:ABC/invitation/" + agent.user_id,
        person_id=agent.user_id,
        mentions=(agent.user_id,),
        buttons=(Button("Fait", "c'est fait"), Button("Stop", "stop")),
    )
    # Sent while the agent is only invited: the room key goes to their device anyway.
    first = await platform.send(invitation)
    again = await platform.send(invitation)
    assert first.conversation_id == room_id and again.remote_id == first.remote_id

    await agent.join_invite(room_id)
    assert agent.client.rooms[room_id].encrypted
    [notice] = await agent.wait_for(lambda: agent.messages_from(bot.user_id, room_id) or None)
    assert notice.decrypted, "the agent could not decrypt the bot's message"
    content = notice.source["content"]
    assert content["msgtype"] == "m.notice"
    assert content["body"].startswith("Bonjour, la campagne @\u2060room est ouverte.\n")
    assert "@room" not in content["body"] and "@room" not in content["formatted_body"]
    assert "« c'est fait »" in content["body"] and "<br>" in content["formatted_body"]
    assert content["m.mentions"] == {"user_ids": [agent.user_id]}
    assert len(await agent.history_from(bot.user_id, room_id)) == 1

    assert await platform.open_direct(agent.user_id) == room_id
    await platform.stop()
    # A restarted bot finds the room again through m.direct.
    restarted = bot.platform(store)
    await restarted.start()
    assert not restarted.opens_conversation(agent.user_id)
    assert await restarted.open_direct(agent.user_id) == room_id
    await restarted.stop()


@pytest.mark.synapse
async def test_a_direct_room_created_but_never_recorded_is_used_after_a_restart(
    bot: BotAccount, agent: MatrixUser, tmp_path: Path
) -> None:
    """A process killed while the homeserver created a direct room never recorded it in
    m.direct: the next process sends there instead of inviting the person to a second room."""
    store = tmp_path / "store"
    first = bot.platform(store)
    await first.start()
    created = await first.client.room_create(
        is_direct=True,
        preset=RoomPreset.trusted_private_chat,
        invite=[agent.user_id],
        initial_state=[
            {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}}
        ],
    )
    assert isinstance(created, RoomCreateResponse), created
    # The sync that brought the room was handled and its token saved: the next process's first
    # sync starts after the room and does not carry it.
    synced = await first.client.sync(timeout=0)
    assert isinstance(synced, SyncResponse) and created.room_id in first.client.rooms
    first.sync_token_path.write_text(synced.next_batch)
    await first.stop()  # what a SIGKILL leaves: the room, and no m.direct entry for it

    restarted = bot.platform(store)
    await restarted.start()
    sent = await restarted.send(Outgoing(text="Bonjour", key=unique("k"), person_id=agent.user_id))
    assert sent.conversation_id == created.room_id
    await restarted.stop()
    again = bot.platform(store)
    await again.start()  # recorded now: found through m.direct
    assert await again.open_direct(agent.user_id) == created.room_id
    await again.stop()
    await agent.sync()
    assert list(agent.invites) == [created.room_id]


@pytest.mark.synapse
async def test_direct_rooms_opened_together_are_all_recorded_in_m_direct(
    synapse: SynapseServer, bot: BotAccount, tmp_path: Path
) -> None:
    """m.direct is written off the send path, several rooms per write: none is lost, and a
    stop waits for the last write (a restarted bot reuses every room)."""
    people = [await MatrixUser(synapse, tmp_path / f"p{i}").login() for i in range(4)]
    store = tmp_path / "store"
    platform = bot.platform(store)
    await platform.start()
    rooms = await asyncio.gather(*(platform.open_direct(p.user_id) for p in people))
    assert len(set(rooms)) == 4
    await platform.stop()
    restarted = bot.platform(store)
    await restarted.start()
    for person, room_id in zip(people, rooms, strict=True):
        assert not restarted.opens_conversation(person.user_id)
        assert await restarted.open_direct(person.user_id) == room_id
    await restarted.stop()
    for person in people:
        await person.close()


@pytest.mark.synapse
async def test_incoming_messages_reactions_and_no_replay(
    bot: BotAccount, agent: MatrixUser, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    setup = bot.platform(store)
    await setup.start()
    room_id = await setup.open_direct(agent.user_id)
    sent = await setup.send(Outgoing(text="Invitation", key="inv-1", person_id=agent.user_id))
    await setup.stop()  # never ran: no sync token stored yet
    await agent.join_invite(room_id)
    await agent.send_text(room_id, "ancien message")

    # First start: the old timeline is not replayed.
    platform = bot.platform(store)
    async with running(platform) as received:
        await agent.send_text(room_id, "c'est fait")
        done = await next_message(received)
        assert (done.sender_id, done.text, done.conversation_id) == (
            agent.user_id,
            "c'est fait",
            room_id,
        )
        assert done.is_direct and not done.undecryptable and not done.sender_is_bot

        reaction = await agent.client.room_send(
            room_id,
            "m.reaction",
            {"m.relates_to": {"rel_type": "m.annotation", "event_id": sent.remote_id, "key": "👍"}},
        )
        assert isinstance(reaction, RoomSendResponse), reaction
        thumbs = await next_message(received)
        assert (thumbs.reaction, thumbs.relates_to, thumbs.text) == ("👍", sent.remote_id, "")
    assert (store / "sync_token").read_text()

    # Restart: nothing handled before comes back. (No wait for late room keys here: see
    # test_matrix_keys.py for a key that arrives after its message.)
    platform = bot.platform(store, key_wait=0.0)
    async with running(platform) as received:
        await agent.send_text(room_id, "plus tard")
        assert (await next_message(received)).text == "plus tard"

        # A message whose room key never reaches the bot is reported, not dropped.
        method, path, data = Api.room_send(
            agent.client.access_token,
            room_id,
            "m.room.encrypted",
            {
                "algorithm": "m.megolm.v1.aes-sha2",
                "sender_key": agent.client.olm.account.identity_keys["curve25519"],
                "ciphertext": "AwgAEnB1bm90IGEgcmVhbCBtZWdvbG0gbWVzc2FnZQ",
                "session_id": "unknown-session",
                "device_id": agent.client.device_id,
            },
            "undecryptable-1",
        )
        answer = await agent.client.send(method, path, data)
        assert answer.status == 200, await answer.text()
        unreadable = await next_message(received)
        assert unreadable.undecryptable and unreadable.text == ""
        assert unreadable.sender_id == agent.user_id and unreadable.is_direct


@pytest.mark.synapse
async def test_invites_joined_from_own_server_members_listed_foreign_policy_rejects(
    bot: BotAccount, agent: MatrixUser, synapse: SynapseServer, tmp_path: Path
) -> None:
    alias = unique("pixroom")
    created = await agent.client.room_create(
        alias=alias, name="DREAL", invite=[bot.user_id], preset=RoomPreset.private_chat
    )
    assert isinstance(created, RoomCreateResponse), created
    refused = await agent.client.room_create(name="Ailleurs", invite=[bot.user_id])
    assert isinstance(refused, RoomCreateResponse), refused

    accepting = bot.platform(tmp_path / "store")
    async with running(accepting):
        await agent.wait_for(lambda: agent.has_joined(created.room_id, bot.user_id))
        assert [m.platform_id for m in await accepting.room_members(created.room_id)] == [
            agent.user_id
        ]
        members = await accepting.room_members(f"#{alias}:{synapse.server_name}")
        assert [m.platform_id for m in members] == [agent.user_id]
        with pytest.raises(DeliveryError) as unknown:
            await accepting.room_members(f"!nowhere:{synapse.server_name}")
        assert unknown.value.permanent

    # A bot that only trusts another server declines invitations from this one.
    stranger = BotAccount(synapse)
    room = await agent.client.room_create(name="Refus", invite=[stranger.user_id])
    assert isinstance(room, RoomCreateResponse), room
    picky = stranger.platform(tmp_path / "picky", allowed_servers=("education.gouv.fr",))
    async with running(picky):

        def declined() -> bool | None:
            member = agent.client.rooms.get(room.room_id)
            return True if member and stranger.user_id not in member.users else None

        await agent.wait_for(declined)
    joined = await agent.client.joined_members(room.room_id)
    assert stranger.user_id not in [m.user_id for m in joined.members]


@pytest.mark.synapse
async def test_homeserver_restart_send_fails_fast_then_delivers_once(
    bot: BotAccount, agent: MatrixUser, synapse: SynapseServer, tmp_path: Path
) -> None:
    platform = bot.platform(tmp_path / "store")
    async with running(platform) as received:
        room_id = await platform.open_direct(agent.user_id)
        await agent.join_invite(room_id)
        message = Outgoing(text="Rappel", key="reminder-1", person_id=agent.user_id)

        synapse.stop()
        try:
            with pytest.raises(DeliveryError) as failure:
                await asyncio.wait_for(platform.send(message), WAIT)
            assert (failure.value.platform, failure.value.code) == ("matrix", "unreachable")
            assert failure.value.retry_after is None
        finally:
            synapse.start()

        delivered = await asyncio.wait_for(platform.send(message), WAIT)
        assert (await platform.send(message)).remote_id == delivered.remote_id
        # The sync loop survived the outage.
        await agent.send_text(room_id, "toujours là ?")
        assert (await next_message(received)).text == "toujours là ?"
    assert len(await agent.history_from(bot.user_id, room_id)) == 1


@pytest.mark.synapse
async def test_rate_limited_sends_report_retry_after_and_deliver_once(tmp_path: Path) -> None:
    limited = make_synapse(
        tmp_path / "limited-synapse",
        {"rc_message": {"per_second": 1, "burst_count": 5}},
    )
    try:
        account = BotAccount(limited)
        agent = await MatrixUser(limited, tmp_path / "agent-store").login()
        platform = account.platform(tmp_path / "store", e2ee=False)
        await platform.start()
        room_id = await platform.open_direct(agent.user_id)
        retry_afters: list[float] = []
        for index in range(8):
            message = Outgoing(
                text=f"message {index}", key=f"burst-{index}", conversation_id=room_id
            )
            async with asyncio.timeout(WAIT):
                while True:
                    try:
                        await platform.send(message)
                        break
                    except DeliveryError as error:
                        assert error.code == "M_LIMIT_EXCEEDED" and error.retry_after, error
                        retry_afters.append(error.retry_after)
                        await asyncio.sleep(error.retry_after)
        assert retry_afters, "the homeserver never rate-limited the burst"
        await agent.join_invite(room_id)
        bodies = [
            e.source["content"]["body"] for e in await agent.history_from(account.user_id, room_id)
        ]
        assert sorted(bodies) == [f"message {index}" for index in range(8)]
        await platform.stop()
        await agent.close()
    finally:
        limited.cleanup()


@pytest.mark.synapse
async def test_unknown_person_is_permanent_and_a_foreign_sync_token_is_dropped(
    bot: BotAccount, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / "sync_token").write_text("s999_from_another_server")
    platform = bot.platform(store)
    await asyncio.wait_for(platform.start(), WAIT)
    assert not (store / "sync_token").exists()
    with pytest.raises(DeliveryError) as unknown:
        await platform.send(Outgoing(text="x", key="k", person_id="@nobody:localhost"))
    assert unknown.value.permanent
    await platform.stop()
