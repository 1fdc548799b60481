"""The Slack platform against a fake Slack Web API (aiohttp, loopback only) and signed events
(the fake and the signing are in :mod:`tests.helpers.slack`). Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest

from bot.app import App
from bot.core import Button, DeliveryError, Incoming, Outgoing, PlatformAuthError
from bot.platforms.slack import (
    SlackPlatform,
    build_message,
    decode_mrkdwn,
    escape_mrkdwn,
    normalise_reaction,
    strip_mention,
    unescape_mrkdwn,
)
from storage.uow import Store
from tests.helpers.bot import make_settings
from tests.helpers.platform_contract import Holds, Inbox, PlatformContract, Say
from tests.helpers.slack import (
    ALICE,
    APP_TOKEN,
    BOB,
    BOT,
    BOT_TOKEN,
    EventsEndpoint,
    FakeSlack,
    bounded,
    dm,
    envelope,
    make_platform,
    stop_platform,
)


@pytest.fixture
async def slack(fake_slack: FakeSlack) -> SlackPlatform:
    platform = make_platform(fake_slack)
    await bounded(platform.start())
    return platform


# -- the contract ----------------------------------------------------------------------------------


class TestSlackContract(PlatformContract):
    @pytest.fixture
    async def contract_endpoint(
        self, fake_slack: FakeSlack, tmp_path: Path
    ) -> AsyncIterator[EventsEndpoint]:
        received: asyncio.Queue[Incoming] = asyncio.Queue()
        release = asyncio.Event()

        async def handling(incoming: Incoming) -> None:
            await received.put(incoming)
            await release.wait()  # a handling in progress: the event stays in the spool

        platform = make_platform(fake_slack, spool_path=tmp_path / "spool.jsonl")
        running = asyncio.ensure_future(platform.run(handling))
        await bounded(platform.listening.wait())
        async with aiohttp.ClientSession() as session:
            try:
                yield EventsEndpoint(platform, received, session)
            finally:
                release.set()
                await stop_platform(platform, running)

    @pytest.fixture
    async def platform(self, contract_endpoint: EventsEndpoint) -> SlackPlatform:
        return contract_endpoint.platform

    @pytest.fixture
    def recipient(self) -> str:
        return ALICE

    @pytest.fixture
    def inbox(self, fake_slack: FakeSlack, recipient: str) -> Inbox:
        async def read() -> list[str]:
            # What a Slack client shows: the entities decoded.
            return [
                unescape_mrkdwn(str(m["text"]))
                for m in fake_slack.messages[fake_slack.dm_of(recipient)]
            ]

        return read

    @pytest.fixture
    def say(self, contract_endpoint: EventsEndpoint, recipient: str) -> Say:
        async def write(text: str) -> Incoming:
            # What a Slack client sends for that text: mrkdwn entities escaped.
            event = dm(escape_mrkdwn(text), ts=f"1700000100.{uuid.uuid4().int % 10**6:06d}")
            assert await contract_endpoint.event(event) == 200
            return await contract_endpoint.next()

        return write

    @pytest.fixture
    def room(self) -> str:
        return "CROOM"

    @pytest.fixture
    def unknown_room(self) -> str:
        return "CNOPE"

    @pytest.fixture
    def holds(self, tmp_path: Path) -> Holds:
        async def named(person: str) -> bool:
            spool = tmp_path / "spool.jsonl"
            return spool.exists() and person in spool.read_text(encoding="utf-8")

        return named


# -- pure helpers ----------------------------------------------------------------------------------


def test_incoming_mrkdwn_is_decoded() -> None:
    text = (
        "fait &amp; merci &lt;3 &gt; <@UBOB> <@UBOB|bob> <mailto:a@b.fr|a@b.fr> "
        "<https://pix.fr/x|pix.fr> <https://app.pix.fr> <#CROOM|campagne-pix> <!here>"
    )
    assert decode_mrkdwn(text) == (
        "fait & merci <3 > @UBOB @UBOB a@b.fr pix.fr https://app.pix.fr #campagne-pix @here"
    )
    # An entity is decoded once: "&amp;lt;" is the text "&lt;", not "<".
    assert decode_mrkdwn("&amp;lt;") == "&lt;"


def test_bot_mention_is_stripped_only_for_the_bot() -> None:
    assert strip_mention("<@UBOT>: campagne liste", BOT) == ("campagne liste", True)
    assert strip_mention("Hey <@UBOT|pixbot> aide", BOT) == ("Hey aide", True)
    assert strip_mention("<@UBOB> aide", BOT) == ("<@UBOB> aide", False)


def test_reactions_are_normalised() -> None:
    assert normalise_reaction("+1") == "👍"
    assert normalise_reaction("thumbsup") == "👍"
    assert normalise_reaction("+1::skin-tone-3") == "👍"
    assert normalise_reaction("heart") == "heart"


def test_outgoing_text_is_escaped_and_mentions_are_explicit() -> None:
    message = Outgoing(
        text="Bonjour @UBOB & @UCAROL <!channel> <b>x</b>",
        key="k1",
        conversation_id="CROOM",
        mentions=("UBOB",),
        in_reply_to="1700000000.000001",
    )
    arguments = build_message(message)
    assert escape_mrkdwn("<&>") == "&lt;&amp;&gt;"
    expected = "Bonjour <@UBOB> &amp; @UCAROL &lt;!channel&gt; &lt;b&gt;x&lt;/b&gt;"
    assert arguments["text"] == expected
    assert arguments["blocks"] == [
        {"type": "section", "text": {"type": "mrkdwn", "text": expected}}
    ]
    assert arguments["thread_ts"] == "1700000000.000001"
    assert arguments["unfurl_links"] is False


def test_long_text_is_split_into_sections() -> None:
    text = "\n".join(f"ligne {i} " + "x" * 90 for i in range(80))
    blocks = build_message(Outgoing(text=text, key="k", person_id=ALICE))["blocks"]
    assert len(blocks) > 1
    assert all(len(block["text"]["text"]) <= 3000 for block in blocks)
    assert "".join(block["text"]["text"] for block in blocks) == text


# -- sending ---------------------------------------------------------------------------------------


async def test_post_payload_is_escaped_with_buttons_metadata_and_no_unfurl(
    slack: SlackPlatform, fake_slack: FakeSlack
) -> None:
    key = f"invitation:{uuid.uuid4().hex}"
    message = Outgoing(
        text="Attention <!channel> & <@UBOB> https://app.pix.fr/campagnes/ABC",
        key=key,
        person_id=ALICE,
        buttons=(Button("C'est fait", "c'est fait"), Button("Plus tard", "plus tard")),
    )
    result = await bounded(slack.send(message))
    assert result.conversation_id == "DALICE"
    [posted] = fake_slack.calls("chat.postMessage")
    escaped = "Attention &lt;!channel&gt; &amp; &lt;@UBOB&gt; https://app.pix.fr/campagnes/ABC"
    assert posted["channel"] == "DALICE"
    assert posted["text"] == escaped
    assert posted["unfurl_links"] is False
    assert posted["metadata"] == {"event_type": "pixbot_delivery", "event_payload": {"key": key}}
    section, actions = posted["blocks"]
    assert section == {"type": "section", "text": {"type": "mrkdwn", "text": escaped}}
    assert actions["type"] == "actions"
    buttons = actions["elements"]
    assert [b["value"] for b in buttons] == ["c'est fait", "plus tard"]
    assert [b["text"]["text"] for b in buttons] == ["C'est fait", "Plus tard"]
    assert len({b["action_id"] for b in buttons}) == 2
    assert all(b["action_id"].startswith("pixbot_reply") for b in buttons)
    assert result.remote_id == fake_slack.messages["DALICE"][-1]["ts"]


async def test_same_key_posts_once_and_direct_channel_is_cached(
    slack: SlackPlatform, fake_slack: FakeSlack
) -> None:
    message = Outgoing(text="Une fois", key="k-once", person_id=BOB)
    first = await bounded(slack.send(message))
    second = await bounded(slack.send(message))
    assert first == second
    assert len(fake_slack.calls("chat.postMessage")) == 1
    assert len(fake_slack.calls("conversations.open")) == 1


async def test_restart_finds_the_key_in_history_and_does_not_post_again(
    fake_slack: FakeSlack,
) -> None:
    before_crash = make_platform(fake_slack)
    message = Outgoing(text="Invitation", key="campaign:ABC:UALICE:invitation", person_id=ALICE)
    sent = await bounded(before_crash.send(message))
    # Other messages after it, still within the history window.
    for index in range(5):
        await bounded(before_crash.send(Outgoing(text="x", key=f"other-{index}", person_id=ALICE)))

    # First attempts cannot have been delivered before: no history read (a Tier-3 call).
    assert fake_slack.calls("conversations.history") == []

    restarted = make_platform(fake_slack)
    # The outbox read that row to send it before the crash: it may have gone out.
    again = await bounded(restarted.send(replace(message, resend=True)))
    assert again == sent
    posts = fake_slack.calls("chat.postMessage")
    assert [p["metadata"]["event_payload"]["key"] for p in posts].count(message.key) == 1
    (history,) = fake_slack.calls("conversations.history")
    assert history["channel"] == "DALICE"
    assert str(history["include_all_metadata"]).lower() in ("1", "true")
    # A new key after the restart is posted, without reading the history again.
    await bounded(restarted.send(Outgoing(text="Rappel", key="reminder-1", person_id=ALICE)))
    assert len(fake_slack.calls("chat.postMessage")) == 7
    assert len(fake_slack.calls("conversations.history")) == 1


async def test_a_persisted_dm_channel_costs_no_conversations_open(fake_slack: FakeSlack) -> None:
    first = make_platform(fake_slack)
    sent = await bounded(first.send(Outgoing(text="Invitation", key="inv-1", person_id=ALICE)))
    assert len(fake_slack.calls("conversations.open")) == 1
    # After a restart, the outbox passes the channel it kept from that send.
    restarted = make_platform(fake_slack)
    hinted = Outgoing(
        text="Nouvelle campagne", key="inv-2", person_id=ALICE, direct_hint=sent.conversation_id
    )
    result = await bounded(restarted.send(hinted))
    assert result.conversation_id == sent.conversation_id
    assert len(fake_slack.calls("conversations.open")) == 1
    assert fake_slack.calls("conversations.history") == []


async def test_unreadable_history_does_not_prevent_sending(
    slack: SlackPlatform, fake_slack: FakeSlack
) -> None:
    fake_slack.history_error = "missing_scope"
    result = await bounded(slack.send(Outgoing(text="x", key="k-scope", person_id=ALICE)))
    assert result.remote_id
    assert len(fake_slack.calls("chat.postMessage")) == 1


async def test_rate_limit_becomes_one_delivery_error_with_retry_after(
    slack: SlackPlatform, fake_slack: FakeSlack
) -> None:
    fake_slack.ratelimit_posts = 1
    message = Outgoing(text="Rappel", key="k-429", person_id=ALICE)
    with pytest.raises(DeliveryError) as caught:
        await bounded(slack.send(message))
    assert caught.value.platform == "slack"
    assert caught.value.code == "ratelimited"
    assert caught.value.retry_after == 3
    assert not caught.value.permanent
    # No retry of its own: exactly one attempt reached the server.
    assert len(fake_slack.calls("chat.postMessage")) == 1
    retried = await bounded(slack.send(message))
    assert retried.remote_id
    assert len(fake_slack.messages["DALICE"]) == 1


async def test_unknown_targets_are_permanent_failures(slack: SlackPlatform) -> None:
    with pytest.raises(DeliveryError) as no_channel:
        await bounded(slack.send(Outgoing(text="x", key="k-nc", conversation_id="CNOPE")))
    assert no_channel.value.code == "channel_not_found"
    assert no_channel.value.permanent
    with pytest.raises(DeliveryError) as no_user:
        await bounded(slack.send(Outgoing(text="x", key="k-nu", person_id="UNOBODY")))
    assert no_user.value.code == "user_not_found"
    assert no_user.value.permanent


async def test_channel_name_is_resolved_for_sending(
    slack: SlackPlatform, fake_slack: FakeSlack
) -> None:
    result = await bounded(slack.send(Outgoing(text="x", key="k-n", conversation_id="#brouillon")))
    assert result.conversation_id == "CDRAFT"
    assert fake_slack.messages["CDRAFT"][0]["text"] == "x"


async def test_unreachable_api_is_a_retryable_delivery_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    platform = SlackPlatform(bot_token=BOT_TOKEN, base_url=f"http://127.0.0.1:{port}/api/")
    with pytest.raises(DeliveryError) as caught:
        await bounded(platform.send(Outgoing(text="x", key="k", person_id=ALICE)))
    assert caught.value.code == "unreachable"
    assert not caught.value.permanent


async def test_invalid_auth_at_start_is_a_platform_auth_error(fake_slack: FakeSlack) -> None:
    fake_slack.auth_error = "invalid_auth"
    platform = make_platform(fake_slack)
    with pytest.raises(PlatformAuthError):
        await bounded(platform.start())
    with pytest.raises(PlatformAuthError):
        await bounded(platform.run(_ignore))


async def test_token_revoked_while_running_stops_the_bot(fake_slack: FakeSlack) -> None:
    platform = make_platform(fake_slack)
    running = asyncio.ensure_future(platform.run(_ignore))
    try:
        await bounded(platform.listening.wait())
        fake_slack.auth_error = "token_revoked"
        with pytest.raises(DeliveryError) as caught:
            await bounded(platform.send(Outgoing(text="x", key="k-rev", person_id=ALICE)))
        # Kept for after the token is fixed, but the bot stops.
        assert caught.value.code == "token_revoked"
        assert not caught.value.permanent
        with pytest.raises(PlatformAuthError):
            await bounded(running)
    finally:
        await stop_platform(platform, running)


# -- rooms -----------------------------------------------------------------------------------------


async def test_room_members_exclude_the_bot_and_flag_bots(slack: SlackPlatform) -> None:
    members = await bounded(slack.room_members("CROOM"))
    by_id = {m.platform_id: m for m in members}
    assert set(by_id) == {ALICE, BOB, "UHELPER", "UCAROL"}  # all pages, without the bot
    assert by_id["UHELPER"].is_bot
    assert not by_id[ALICE].is_bot
    assert by_id[ALICE].display_name == "Alice"


async def test_room_members_by_name_and_unknown_room(
    slack: SlackPlatform, fake_slack: FakeSlack
) -> None:
    members = await bounded(slack.room_members("#brouillon"))
    assert [m.platform_id for m in members] == [BOB]
    assert len(fake_slack.calls("conversations.list")) == 2  # the name is on the second page
    for unknown in ("#nulle-part", "CNOPE"):
        with pytest.raises(DeliveryError) as caught:
            await bounded(slack.room_members(unknown))
        assert caught.value.code == "channel_not_found"
        assert caught.value.permanent


# -- receiving over HTTP ---------------------------------------------------------------------------


async def _ignore(incoming: Incoming) -> None:
    return None


async def _start_endpoint(
    fake: FakeSlack, on_message: Callable[[Incoming], Awaitable[None]] | None = None
) -> tuple[SlackPlatform, asyncio.Future[None], asyncio.Queue[Incoming]]:
    received: asyncio.Queue[Incoming] = asyncio.Queue()

    async def collect(incoming: Incoming) -> None:
        await received.put(incoming)

    platform = make_platform(fake)
    running = asyncio.ensure_future(platform.run(on_message or collect))
    await bounded(platform.listening.wait())
    return platform, running, received


@pytest.fixture
async def endpoint(fake_slack: FakeSlack) -> AsyncIterator[EventsEndpoint]:
    platform, running, received = await _start_endpoint(fake_slack)
    async with aiohttp.ClientSession() as session:
        try:
            yield EventsEndpoint(platform, received, session)
        finally:
            await stop_platform(platform, running)
    assert running.done()


async def test_direct_message_becomes_incoming(endpoint: EventsEndpoint) -> None:
    text = "c'est fait &amp; merci &lt;3 <mailto:a@b.fr|a@b.fr> <https://pix.fr|pix.fr>"
    assert await endpoint.event(dm(text), event_id="Ev001") == 200
    incoming = await endpoint.next()
    assert incoming.platform == "slack"
    assert incoming.sender_id == ALICE
    assert incoming.conversation_id == "DALICE"
    assert incoming.is_direct
    assert incoming.text == "c'est fait & merci <3 a@b.fr pix.fr"
    assert incoming.event_id == "DALICE/1700000100.000100"
    assert incoming.timestamp.timestamp() == pytest.approx(1700000100.0001)
    assert not incoming.sender_is_bot and not incoming.mentions_bot
    assert endpoint.platform.bot_id == BOT


async def test_channel_mention_is_stripped_and_its_app_mention_twin_has_the_same_id(
    endpoint: EventsEndpoint,
) -> None:
    message = {
        "type": "message",
        "channel": "CROOM",
        "channel_type": "channel",
        "user": BOB,
        "text": "<@UBOT> campagne liste",
        "ts": "1700000200.000200",
    }
    assert await endpoint.event(message) == 200
    mention = {k: v for k, v in message.items() if k != "channel_type"}
    assert await endpoint.event({**mention, "type": "app_mention"}) == 200
    first = await endpoint.next()
    assert first.text == "campagne liste"
    assert first.mentions_bot and not first.is_direct
    assert first.sender_id == BOB and first.conversation_id == "CROOM"
    assert first.event_id == "CROOM/1700000200.000200"

    # The twin has the same id: acknowledged, not handed over again (the spool knows it).
    plain = {**message, "text": "bonjour tout le monde", "ts": "1700000201.000000"}
    assert await endpoint.event(plain) == 200
    other = await endpoint.next()
    assert not other.mentions_bot and other.text == "bonjour tout le monde"


async def test_a_slack_retry_is_acknowledged_and_handed_over_once(
    endpoint: EventsEndpoint,
) -> None:
    body = json.dumps(envelope(dm("aide"), "EvRETRY"))
    assert (await endpoint.post(body))[0] == 200
    retry_headers = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert (await endpoint.post(body, headers=retry_headers))[0] == 200
    assert await endpoint.event(dm("sentinelle", "1700000100.000200")) == 200
    first, second = await endpoint.next(), await endpoint.next()
    assert first.text == "aide" and second.text == "sentinelle"


async def test_bad_signature_bots_and_own_messages_reach_no_handler(
    endpoint: EventsEndpoint,
) -> None:
    forged = json.dumps(envelope(dm("stop tout", ts="1700000300.000001")))
    status, _ = await endpoint.post(forged, secret="not-the-secret")
    assert status == 401
    bot_message = {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": "BOTHER",
        "channel": "DALICE",
        "channel_type": "im",
        "text": "je suis un bot",
        "ts": "1700000300.000002",
    }
    assert await endpoint.event(bot_message) == 200
    assert await endpoint.event(dm("mon propre message", "1700000300.000003", user=BOT)) == 200
    edited = {**dm("x", "1700000300.000004"), "subtype": "message_changed"}
    assert await endpoint.event(edited) == 200
    assert await endpoint.event(dm("sentinelle", "1700000300.000005")) == 200
    # Events are handed over in order per conversation: the first one through is the sentinel.
    incoming = await endpoint.next()
    assert incoming.text == "sentinelle"
    assert endpoint.received.empty()


async def test_url_verification_is_answered(endpoint: EventsEndpoint) -> None:
    body = json.dumps({"token": "legacy", "challenge": "3eZbrw1aB", "type": "url_verification"})
    status, text = await endpoint.post(body)
    assert status == 200
    assert json.loads(text) == {"challenge": "3eZbrw1aB"}


async def test_button_click_gives_the_button_value(endpoint: EventsEndpoint) -> None:
    payload = {
        "type": "block_actions",
        "team": {"id": "TPIX"},
        "user": {"id": ALICE, "username": "alice", "team_id": "TPIX"},
        "api_app_id": "APIX",
        "token": "legacy",
        "container": {
            "type": "message",
            "message_ts": "1700000000.000042",
            "channel_id": "DALICE",
            "is_ephemeral": False,
        },
        "trigger_id": "1.2.3",
        "channel": {"id": "DALICE", "name": "directmessage"},
        "message": {"type": "message", "ts": "1700000000.000042", "user": BOT, "text": "x"},
        "actions": [
            {
                "type": "button",
                "action_id": "pixbot_reply_0",
                "block_id": "pixbot_replies",
                "text": {"type": "plain_text", "text": "C'est fait"},
                "value": "c'est fait",
                "action_ts": "1700000400.123456",
            }
        ],
    }
    body = urlencode({"payload": json.dumps(payload)})
    status, _ = await endpoint.post(body, content_type="application/x-www-form-urlencoded")
    assert status == 200
    incoming = await endpoint.next()
    assert incoming.text == "c'est fait"
    assert incoming.relates_to == "1700000000.000042"
    assert incoming.sender_id == ALICE and incoming.is_direct
    assert incoming.conversation_id == "DALICE"


async def test_thumbs_up_reaction(endpoint: EventsEndpoint) -> None:
    reaction = {
        "type": "reaction_added",
        "user": ALICE,
        "reaction": "+1::skin-tone-2",
        "item": {"type": "message", "channel": "DALICE", "ts": "1700000000.000042"},
        "item_user": BOT,
        "event_ts": "1700000500.000001",
    }
    assert await endpoint.event(reaction, event_id="EvREACT") == 200
    incoming = await endpoint.next()
    assert incoming.reaction == "👍"
    assert incoming.relates_to == "1700000000.000042"
    assert incoming.sender_id == ALICE
    assert incoming.event_id == "EvREACT"
    assert incoming.text == ""


async def test_handlers_are_serialised_per_conversation_and_acked_at_once(
    fake_slack: FakeSlack,
) -> None:
    release = asyncio.Event()
    log: list[str] = []
    logged: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)

    async def slow(incoming: Incoming) -> None:
        log.append(f"start {incoming.text}")
        if incoming.text == "un":
            await release.wait()
        log.append(f"end {incoming.text}")
        logged[f"end {incoming.text}"].set()

    platform, running, _ = await _start_endpoint(fake_slack, slow)
    try:
        async with aiohttp.ClientSession() as session:
            endpoint = EventsEndpoint(platform, asyncio.Queue(), session)
            # Each POST is answered while the handler of "un" is still blocked.
            assert await bounded(endpoint.event(dm("un", "1700000600.000001"))) == 200
            assert await bounded(endpoint.event(dm("deux", "1700000600.000002"))) == 200
            assert await bounded(endpoint.event(dm("ailleurs", "1700000600.000003", BOB))) == 200
            # Another conversation is not held up.
            await bounded(logged["end ailleurs"].wait())
            assert "start deux" not in log
            release.set()
            await bounded(logged["end deux"].wait())
            assert log.index("end un") < log.index("start deux")
    finally:
        await stop_platform(platform, running)


async def test_http_mode_needs_a_signing_secret(fake_slack: FakeSlack) -> None:
    platform = make_platform(fake_slack, signing_secret="")
    with pytest.raises(PlatformAuthError):
        await bounded(platform.run(_ignore))


# -- receiving over Socket Mode --------------------------------------------------------------------


async def test_socket_mode_delivers_events_and_acks_them(fake_slack: FakeSlack) -> None:
    received: asyncio.Queue[Incoming] = asyncio.Queue()

    async def collect(incoming: Incoming) -> None:
        await received.put(incoming)

    platform = make_platform(fake_slack, app_token=APP_TOKEN, signing_secret="")
    running = asyncio.ensure_future(platform.run(collect))
    try:
        await bounded(platform.listening.wait())
        await fake_slack.socket_envelopes.put(
            {
                "envelope_id": "env-1",
                "type": "events_api",
                "accepts_response_payload": False,
                "payload": envelope(dm("aide", "1700000700.000001"), "EvSOCK"),
            }
        )
        incoming = await bounded(received.get())
        assert incoming.text == "aide" and incoming.sender_id == ALICE and incoming.is_direct
        ack = await bounded(fake_slack.socket_acks.get())
        assert ack["envelope_id"] == "env-1"
        assert fake_slack.calls("apps.connections.open")
    finally:
        await stop_platform(platform, running)
    assert running.done()


async def test_socket_mode_with_a_refused_app_token(fake_slack: FakeSlack) -> None:
    platform = make_platform(fake_slack, app_token="xapp-revoked", signing_secret="")
    with pytest.raises(PlatformAuthError):
        await bounded(platform.run(_ignore))


# -- with the bot's core ---------------------------------------------------------------------------


async def test_the_bot_answers_a_signed_direct_message_once(
    fake_slack: FakeSlack, sqlite_url: str
) -> None:
    settings = make_settings(sqlite_url)
    store = Store.from_url(sqlite_url)
    store.upgrade()
    platform = make_platform(fake_slack)
    app = App(settings, store, platform, drain_after_message=True)
    await bounded(platform.start())
    running = asyncio.ensure_future(platform.run(app.handle))
    try:
        await bounded(platform.listening.wait())
        async with aiohttp.ClientSession() as session:
            endpoint = EventsEndpoint(platform, asyncio.Queue(), session)
            body = json.dumps(envelope(dm("aide", "1700000800.000001"), "EvHELP"))
            assert (await endpoint.post(body))[0] == 200
            [reply] = await bounded(fake_slack.wait_for_posts("DALICE", 1))
            # Slack retries the event: the core recognises it.
            assert (await endpoint.post(body, headers={"X-Slack-Retry-Num": "1"}))[0] == 200
            # A new message: answered (after the retry, in the same conversation).
            assert await endpoint.event(dm("aide", "1700000800.000002")) == 200
            await bounded(fake_slack.wait_for_posts("DALICE", 2))
        assert reply["text"].strip()
        keys = [m["metadata"]["event_payload"]["key"] for m in fake_slack.messages["DALICE"]]
        # The second answer is for the new message: the retry got none.
        assert keys == [
            "reply:slack:DALICE/1700000800.000001:0",
            "reply:slack:DALICE/1700000800.000002:0",
        ]
    finally:
        await stop_platform(platform, running)
        store.close()
