"""The Slack wire format, sans I/O: pure functions of data, no server and no event loop."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse

from bot.core import Button, DeliveryError, Outgoing
from bot.platforms.slack.codec import (
    THUMBS_UP,
    auth_refused,
    build_message,
    decode_mrkdwn,
    delivery_error,
    delivery_key,
    error_code,
    escape_mrkdwn,
    incoming_from_action,
    incoming_from_event,
    message_text,
    next_cursor,
    normalise_reaction,
    strip_mention,
    unreachable,
)

BOT = "UBOT"


def api_error(
    status: int, data: dict[str, Any], headers: dict[str, str] | None = None
) -> SlackApiError:
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="https://slack.com/api/chat.postMessage",
        req_args={},
        data=data,
        headers=headers or {},
        status_code=status,
    )
    return SlackApiError("failed", response)


# -- mrkdwn ----------------------------------------------------------------------------------------


def test_escape_turns_the_three_control_characters_into_entities() -> None:
    assert escape_mrkdwn("a < b && c > d") == "a &lt; b &amp;&amp; c &gt; d"
    # An ampersand already looking like an entity is escaped too: the user typed it literally.
    assert escape_mrkdwn("&lt;") == "&amp;lt;"


def test_broadcast_mentions_typed_by_a_user_are_inert() -> None:
    text = message_text(
        Outgoing(text="<!channel> <!here> <@UALICE> @channel", key="k", person_id="UALICE")
    )
    assert text == "&lt;!channel&gt; &lt;!here&gt; &lt;@UALICE&gt; @channel"
    assert "<" not in text


def test_only_listed_ids_become_mentions() -> None:
    message = Outgoing(
        text="@UALICE and @UBOB, @here", key="k", conversation_id="C1", mentions=("UALICE", "here")
    )
    assert message_text(message) == "<@UALICE> and @UBOB, @here"


def test_decode_gives_back_what_the_person_typed() -> None:
    raw = "<@UALICE> in <#C1|general>: <!here> <https://x.y|site> <mailto:a@b.c> 1 &lt; 2 &amp; 3"
    assert decode_mrkdwn(raw) == "@UALICE in #general: @here site a@b.c 1 < 2 & 3"


def test_strip_mention_removes_the_bots_mention_only() -> None:
    assert strip_mention(f"<@{BOT}>: help <@UALICE>", BOT) == ("help <@UALICE>", True)
    assert strip_mention("help <@UALICE>", BOT) == ("help <@UALICE>", False)
    assert strip_mention("help", "") == ("help", False)


def test_thumbs_up_names_and_skin_tones_normalise_to_one_emoji() -> None:
    assert THUMBS_UP == "👍"
    for name in ("+1", "thumbsup", "+1::skin-tone-3", "thumbsup::skin-tone-6"):
        assert normalise_reaction(name) == THUMBS_UP
    assert normalise_reaction("tada") == "tada"


# -- Block Kit -------------------------------------------------------------------------------------


def test_buttons_become_an_actions_block() -> None:
    message = Outgoing(
        text="Rejoindre ?",
        key="k-1",
        conversation_id="C1",
        buttons=(Button(label="Oui", reply="oui"), Button(label="", reply="non merci")),
        in_reply_to="1700000000.000100",
    )
    arguments = build_message(message)
    section, actions = arguments["blocks"]
    assert section == {"type": "section", "text": {"type": "mrkdwn", "text": "Rejoindre ?"}}
    assert actions["type"] == "actions"
    assert actions["block_id"] == "pixbot_replies"
    assert actions["elements"] == [
        {
            "type": "button",
            "action_id": "pixbot_reply_0",
            "text": {"type": "plain_text", "text": "Oui", "emoji": True},
            "value": "oui",
        },
        {
            "type": "button",
            "action_id": "pixbot_reply_1",
            # No label: the first character of the reply.
            "text": {"type": "plain_text", "text": "n", "emoji": True},
            "value": "non merci",
        },
    ]
    assert arguments["text"] == "Rejoindre ?"
    assert arguments["thread_ts"] == "1700000000.000100"
    assert arguments["metadata"] == {
        "event_type": "pixbot_delivery",
        "event_payload": {"key": "k-1"},
    }
    assert arguments["unfurl_links"] is False
    assert delivery_key({"ts": "1", "metadata": arguments["metadata"]}) == "k-1"


def test_button_limits_and_fallback_text() -> None:
    buttons = tuple(Button(label="x" * 100, reply=str(i)) for i in range(30))
    arguments = build_message(Outgoing(text="", key="k", person_id="UALICE", buttons=buttons))
    [actions] = arguments["blocks"]  # no text, no section
    assert len(actions["elements"]) == 25
    assert actions["elements"][0]["text"]["text"] == "x" * 75
    # The notification text lists the labels when the message has no text.
    assert arguments["text"].startswith("x" * 100 + " · ")
    assert "thread_ts" not in arguments


def test_long_text_is_split_at_line_ends_into_sections() -> None:
    line = "a" * 2000 + "\n"
    arguments = build_message(Outgoing(text=line * 2, key="k", person_id="UALICE"))
    assert [block["text"]["text"] for block in arguments["blocks"]] == [line, line]


def test_foreign_messages_carry_no_delivery_key() -> None:
    assert delivery_key({"ts": "1"}) is None
    assert (
        delivery_key({"metadata": {"event_type": "other", "event_payload": {"key": "k"}}}) is None
    )


# -- errors ----------------------------------------------------------------------------------------


def test_http_429_with_retry_after_is_a_transient_delivery_error() -> None:
    error = delivery_error(api_error(429, {"ok": False}, {"Retry-After": "3"}))
    assert isinstance(error, DeliveryError)
    assert (error.platform, error.code, error.retry_after, error.permanent) == (
        "slack",
        "http_429",
        3.0,
        False,
    )


def test_ratelimited_without_header_waits_one_second() -> None:
    error = delivery_error(api_error(200, {"ok": False, "error": "ratelimited"}))
    assert (error.code, error.retry_after, error.permanent) == ("ratelimited", 1.0, False)


def test_known_permanent_and_auth_codes() -> None:
    not_found = delivery_error(api_error(200, {"ok": False, "error": "channel_not_found"}))
    assert (not_found.code, not_found.retry_after, not_found.permanent) == (
        "channel_not_found",
        None,
        True,
    )
    # Auth errors are not permanent: the bot stops and the delivery waits for a new token.
    revoked = api_error(200, {"ok": False, "error": "token_revoked"})
    assert error_code(revoked) == "token_revoked"
    assert delivery_error(revoked).permanent is False
    assert "token_revoked" in str(auth_refused("auth.test: token_revoked"))


def test_server_errors_and_network_failures() -> None:
    server = delivery_error(api_error(503, {}))  # an HTML error page: no "error"
    assert (server.code, server.retry_after, server.permanent) == ("http_503", None, False)
    offline = unreachable(ConnectionRefusedError("refused"))
    assert (offline.platform, offline.code, offline.permanent) == ("slack", "unreachable", False)
    assert "ConnectionRefusedError: refused" in str(offline)


# -- events → Incoming -----------------------------------------------------------------------------


def test_direct_message_is_direct_and_needs_no_mention() -> None:
    body = {
        "event": {
            "type": "message",
            "channel_type": "im",
            "channel": "DALICE",
            "user": "UALICE",
            "text": "aide &amp; merci",
            "ts": "1700000000.000100",
        }
    }
    incoming = incoming_from_event(body, BOT)
    assert incoming is not None
    assert incoming.platform == "slack"
    assert incoming.event_id == "DALICE/1700000000.000100"
    assert (incoming.sender_id, incoming.conversation_id) == ("UALICE", "DALICE")
    assert incoming.text == "aide & merci"
    assert incoming.is_direct is True
    assert incoming.mentions_bot is False
    assert incoming.relates_to is None
    assert incoming.timestamp == datetime.fromtimestamp(1700000000.0001, tz=UTC)


def test_channel_mention_is_stripped_and_flagged() -> None:
    event = {
        "type": "message",
        "channel_type": "channel",
        "channel": "CROOM",
        "user": "UALICE",
        "text": f"<@{BOT}>, statut",
        "ts": "1700000001.000200",
        "thread_ts": "1700000000.000100",
    }
    incoming = incoming_from_event({"event": event}, BOT)
    assert incoming is not None
    assert (incoming.text, incoming.is_direct, incoming.mentions_bot) == ("statut", False, True)
    assert incoming.relates_to == "1700000000.000100"
    # The app_mention twin has the same id, so the core answers once.
    twin = incoming_from_event({"event": {**event, "type": "app_mention"}}, BOT)
    assert twin is not None and twin.event_id == incoming.event_id


def test_channel_message_without_mention_is_not_addressed_to_the_bot() -> None:
    event = {"type": "message", "channel": "CROOM", "user": "UALICE", "text": "hi", "ts": "1.0"}
    incoming = incoming_from_event({"event": event}, BOT)
    assert incoming is not None
    assert (incoming.is_direct, incoming.mentions_bot) == (False, False)


def test_own_bot_and_edited_messages_are_ignored() -> None:
    base = {"type": "message", "channel": "CROOM", "user": "UALICE", "text": "x", "ts": "1.0"}
    assert incoming_from_event({"event": {**base, "user": BOT}}, BOT) is None
    assert incoming_from_event({"event": {**base, "bot_id": "B1"}}, BOT) is None
    assert incoming_from_event({"event": {**base, "subtype": "message_changed"}}, BOT) is None
    assert incoming_from_event({"event": {"type": "team_join"}}, BOT) is None


def test_reaction_is_normalised_and_relates_to_the_message() -> None:
    body = {
        "event_id": "Ev1",
        "event": {
            "type": "reaction_added",
            "user": "UALICE",
            "reaction": "+1::skin-tone-2",
            "item": {"type": "message", "channel": "DALICE", "ts": "1700000000.000100"},
            "event_ts": "1700000002.000000",
        },
    }
    incoming = incoming_from_event(body, BOT)
    assert incoming is not None
    assert (incoming.event_id, incoming.reaction, incoming.text) == ("Ev1", THUMBS_UP, "")
    assert (incoming.relates_to, incoming.is_direct) == ("1700000000.000100", True)


def test_button_click_is_the_buttons_reply_addressed_to_the_bot() -> None:
    body = {
        "user": {"id": "UALICE"},
        "container": {"channel_id": "CROOM", "message_ts": "1700000000.000100"},
        "actions": [{"action_id": "pixbot_reply_0", "value": "oui", "action_ts": "1700000003.1"}],
    }
    incoming = incoming_from_action(body, BOT)
    assert incoming is not None
    assert incoming.event_id == "action/CROOM/1700000000.000100/UALICE/1700000003.1"
    assert (incoming.text, incoming.mentions_bot, incoming.is_direct) == ("oui", True, False)
    assert incoming.relates_to == "1700000000.000100"
    assert incoming_from_action({**body, "user": {"id": BOT}}, BOT) is None


def test_next_cursor() -> None:
    assert next_cursor({"response_metadata": {"next_cursor": "abc"}}) == "abc"
    assert next_cursor({"response_metadata": {"next_cursor": ""}}) is None
    assert next_cursor({}) is None
