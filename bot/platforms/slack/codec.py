"""Slack's wire format, sans I/O: mrkdwn, Block Kit, Events API payloads and Web API errors.

Pure functions of data: :class:`bot.core.Outgoing` becomes ``chat.postMessage`` arguments
(escaped mrkdwn, section blocks, reply buttons, the idempotency key in the message metadata);
Events API payloads and button clicks become :class:`bot.core.Incoming`; a ``SlackApiError``
becomes one :class:`bot.core.DeliveryError` (or :class:`bot.core.PlatformAuthError`). Nothing
here touches the network; :mod:`bot.platforms.slack.platform` does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.core import THUMBS_UP, DeliveryError, Incoming, Outgoing, PlatformAuthError

PLATFORM = "slack"
# Buttons carry this action id prefix (plus their index, unique within a message).
ACTION_PREFIX = "pixbot_reply"
METADATA_EVENT_TYPE = "pixbot_delivery"
# Slack limits: 3000 characters per section text, 25 elements per actions block.
SECTION_LIMIT = 3000
MAX_BUTTONS = 25
BUTTON_LABEL_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000

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
_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_ENTITY = re.compile(r"<([^<>]*)>")


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


def auth_refused(detail: str) -> PlatformAuthError:
    """The token was refused (``invalid_auth``, ``token_revoked``…): the bot must stop."""
    return PlatformAuthError(
        f"jeton Slack refusé / Slack token refused ({detail}): vérifiez bot_token et app_token"
    )


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
    container = as_mapping(body.get("container"))
    channel_info = as_mapping(body.get("channel"))
    message = as_mapping(body.get("message"))
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


def as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def next_cursor(response: Any) -> str | None:
    metadata = response.get("response_metadata")
    cursor = metadata.get("next_cursor") if isinstance(metadata, Mapping) else None
    return cursor or None
