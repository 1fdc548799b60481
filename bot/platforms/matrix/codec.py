"""Matrix codecs (sans-I/O): message content, transaction ids, mentions, reactions, and the
mapping of homeserver errors to the core's :class:`DeliveryError`."""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from nio import (
    ErrorResponse,
)

from bot.core import (
    THUMBS_UP,
    DeliveryError,
    Outgoing,
    PlatformAuthError,
)

PLATFORM = "matrix"


MEGOLM = "m.megolm.v1.aes-sha2"


# Legacy clients ping everyone on "@room" in the body; a word joiner after "@" defuses it.
_ROOM_PING = re.compile(r"@(room)\b", re.IGNORECASE)


_TXN_SAFE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


_TXN_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]")


# Error codes after which the same request cannot succeed.
_PERMANENT_ERRCODES = frozenset(
    {
        "M_FORBIDDEN",
        "M_UNKNOWN",
        "M_NOT_FOUND",
        "M_INVALID_PARAM",
        "M_BAD_JSON",
        "M_NOT_JSON",
        "M_TOO_LARGE",
        "M_BAD_ALIAS",
        "M_UNSUPPORTED_ROOM_VERSION",
    }
)


# Error codes meaning our credentials are no longer accepted.
_AUTH_ERRCODES = frozenset(
    {
        "M_UNKNOWN_TOKEN",
        "M_MISSING_TOKEN",
        "M_USER_DEACTIVATED",
        "ORG_MATRIX_EXPIRED_ACCOUNT",
    }
)


class MatrixAuthError(PlatformAuthError):
    """The homeserver refused our credentials (bad password, revoked token, expired account)."""


def server_of(user_id: str) -> str:
    """``@alice:example.gouv.fr`` → ``example.gouv.fr``."""
    return user_id.partition(":")[2]


def invite_allowed(inviter: str, bot_id: str, allowed_servers: Sequence[str]) -> bool:
    """Whether a user's server is allowed (by default, the bot's own server only): for
    invitations and for every sender."""
    allowed = set(allowed_servers) or {server_of(bot_id)}
    return server_of(inviter) in allowed


def transaction_id(key: str) -> str:
    """A Matrix txnId derived from the idempotency key: stable, URL-safe, bounded length."""
    if _TXN_SAFE.match(key):
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    readable = _TXN_UNSAFE_CHARS.sub("_", key)[:24]
    return f"{readable}-{digest}"


def defuse_room_ping(text: str) -> str:
    return _ROOM_PING.sub("@\u2060\\1", text)


def message_text(message: Outgoing) -> str:
    """The plain text shown to the user: the caller's text, then the replies to type."""
    text = message.text
    if message.buttons:
        replies = " · ".join(f"« {button.reply} »" for button in message.buttons)
        text = f"{text}\n{replies}" if text else replies
    return defuse_room_ping(text)


def build_content(message: Outgoing) -> dict[str, Any]:
    """The ``m.room.message`` content for an outgoing message (always an ``m.notice``)."""
    body = message_text(message)
    content: dict[str, Any] = {
        "msgtype": "m.notice",
        "body": body,
        "format": "org.matrix.custom.html",
        "formatted_body": html.escape(body).replace("\n", "<br>"),
        # Always present, never "room": only the listed users are notified.
        "m.mentions": {"user_ids": list(dict.fromkeys(message.mentions))},
    }
    if message.in_reply_to:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": message.in_reply_to}}
    return content


def build_image_content(
    message: Outgoing, url: str, encryption: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The ``m.image`` content for an outgoing picture uploaded at ``url`` (an ``mxc://``).

    In an encrypted room the upload is encrypted and ``encryption`` holds what decrypts it
    (key, iv, hashes: nio's ``upload(encrypt=True)``); it goes in ``file``, never in clear.
    The body describes the picture (alt text) for clients that cannot show it.
    """
    image = message.image
    if image is None:
        raise ValueError("not an image message")
    content: dict[str, Any] = {
        "msgtype": "m.image",
        "body": defuse_room_ping(message.text or image.alt),
        "filename": image.filename,
        "info": {
            "mimetype": image.mimetype,
            "size": image.size,
            "w": image.width,
            "h": image.height,
        },
        "m.mentions": {"user_ids": list(dict.fromkeys(message.mentions))},
    }
    if encryption is not None:
        content["file"] = {**encryption, "url": url, "mimetype": image.mimetype}
    else:
        content["url"] = url
    if message.in_reply_to:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": message.in_reply_to}}
    return content


def errcode_of(response: ErrorResponse) -> str:
    return response.status_code or "unknown"


def http_status_of(response: Any) -> int | None:
    transport = getattr(response, "transport_response", None)
    status = getattr(transport, "status", None)
    return status if isinstance(status, int) else None


def is_auth_error(response: ErrorResponse) -> bool:
    return errcode_of(response) in _AUTH_ERRCODES or http_status_of(response) == 401


def is_credentials_refusal(response: ErrorResponse) -> bool:
    """A login/whoami answer that retrying cannot fix (unlike 429 or 5xx)."""
    return (
        is_auth_error(response)
        or errcode_of(response) == "M_FORBIDDEN"
        or http_status_of(response) == 403
    )


def delivery_error(response: ErrorResponse) -> DeliveryError:
    """One exception for every nio error value."""
    code = errcode_of(response)
    retry_after = None
    if code == "M_LIMIT_EXCEEDED" or http_status_of(response) == 429:
        retry_after = (response.retry_after_ms or 1000) / 1000
    return DeliveryError(
        PLATFORM,
        code,
        response.message or "",
        retry_after=retry_after,
        permanent=code in _PERMANENT_ERRCODES,
    )


def unreachable(error: BaseException) -> DeliveryError:
    return DeliveryError(PLATFORM, "unreachable", f"{type(error).__name__}: {error}".strip())


def normalise_reaction(key: str) -> str:
    """Any thumbs up (skin tone, variation selector) counts as 👍."""
    return THUMBS_UP if key.startswith(THUMBS_UP) else key


_REPLY_HTML = re.compile(r"<mx-reply>.*?</mx-reply>", re.IGNORECASE | re.DOTALL)


def is_reply(content: Mapping[str, Any]) -> bool:
    relation = content.get("m.relates_to")
    return isinstance(relation, Mapping) and isinstance(relation.get("m.in_reply_to"), Mapping)


def strip_reply_fallback(body: str, content: Mapping[str, Any]) -> str:
    """A reply's own text, without the quoted fallback ("> <@bot:x> …" lines, then a blank
    line) that older clients put before it: the quote is not what the person said."""
    if not is_reply(content):
        return body
    lines = body.split("\n")
    quoted = 0
    while quoted < len(lines) and lines[quoted].startswith(">"):
        quoted += 1
    if quoted == 0:
        return body
    if quoted < len(lines) and not lines[quoted].strip():
        quoted += 1
    return "\n".join(lines[quoted:])


def _pill_targets(content: Mapping[str, Any]) -> str:
    formatted = content.get("formatted_body")
    if not isinstance(formatted, str):
        return ""
    return unquote(_REPLY_HTML.sub("", formatted))


def mentions_user(content: Mapping[str, Any], user_id: str) -> bool:
    """A real mention: ``m.mentions`` (when the client sets it, it alone counts) or, from
    older clients, a pill (a ``matrix.to`` link) outside the reply fallback. A name in the
    text is not a mention: "quelqu'un a déjà utilisé pixbot ?" is not for the bot."""
    mentions = content.get("m.mentions")
    if isinstance(mentions, Mapping):
        user_ids = mentions.get("user_ids")
        return isinstance(user_ids, list) and user_id in user_ids
    return f"matrix.to/#/{user_id}" in _pill_targets(content)


def strip_leading_mention(body: str, user_id: str, names: Iterable[str]) -> str:
    """ "pixbot: aide" (how a pill reads in the plain body) → "aide"."""
    text = body.lstrip()
    folded = text.casefold()
    for name in sorted({user_id, *(n for n in names if n)}, key=len, reverse=True):
        if folded.startswith(name.casefold()):
            rest = text[len(name) :]
            if not rest or rest[0] in ":, \n":
                return rest.lstrip(":,").strip()
    return body


def relates_to(content: Mapping[str, Any]) -> str | None:
    relation = content.get("m.relates_to")
    if not isinstance(relation, Mapping):
        return None
    reply = relation.get("m.in_reply_to")
    if isinstance(reply, Mapping) and isinstance(reply.get("event_id"), str):
        return str(reply["event_id"])
    event_id = relation.get("event_id")
    return event_id if isinstance(event_id, str) else None


def is_edit(content: Mapping[str, Any]) -> bool:
    relation = content.get("m.relates_to")
    return isinstance(relation, Mapping) and relation.get("rel_type") == "m.replace"


def unrecorded_direct_invitee(
    own_id: str, state: Iterable[Mapping[str, Any]], *, encrypted: bool
) -> str | None:
    """The person of a direct room the bot created but could not record, from the room's state:
    created by the bot, which is joined, with one other member, still invited (and encrypted
    when ``encrypted``). None for any other room.
    """
    creator = None
    is_encrypted = False
    members: dict[str, str] = {}
    for event in state:
        kind = event.get("type")
        if kind == "m.room.create":
            creator = event.get("sender")
        elif kind == "m.room.encryption":
            is_encrypted = True
        elif kind == "m.room.member":
            membership = (event.get("content") or {}).get("membership")
            if membership in ("join", "invite"):
                members[str(event.get("state_key"))] = membership
    others = [user for user in members if user != own_id]
    if creator != own_id or members.get(own_id) != "join" or len(others) != 1:
        return None
    if encrypted and not is_encrypted:
        return None
    return others[0] if members[others[0]] == "invite" else None
