"""Signed one-time links and session cookies for the dashboard (pure: no I/O, time injected).

A link token and a session cookie carry the same claims — the person's internal id, the role
the link was asked with, when it expires and a random nonce — serialised as JSON, then
``base64url(claims) "." base64url(HMAC-SHA-256(key, kind "." claims))``. ``kind`` keeps a link
from being used as a cookie and the reverse. The key is derived from the privacy key
(:func:`bot.dashboard.wiring.signing_key`), so a standby process accepts the active one's links.

A link is single use: the server records its nonce when it is exchanged for a cookie
(:mod:`bot.dashboard.server`); this module only says whether a token is genuine and current.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

LINK_TTL = timedelta(minutes=15)
SESSION_TTL = timedelta(hours=1)
LINK = "link"
SESSION = "session"
ROLES = frozenset({"ambassador", "admin"})
# A token longer than this is not one of ours (no parsing of arbitrary input sizes).
MAX_TOKEN = 512


class TokenError(Exception):
    """Why a token is refused: ``reason`` is ``tampered`` or ``expired`` (or ``reused``, set
    by the server), used to pick the French page that says how to get a new link."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Claims:
    person_id: int
    role: str  # "ambassador" or "admin": the role the link was asked with
    expires: datetime
    nonce: str

    def encode(self) -> bytes:
        data: dict[str, object] = {
            "p": self.person_id,
            "r": self.role,
            "e": int(self.expires.timestamp()),
            "n": self.nonce,
        }
        return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, kind: str, payload: bytes) -> bytes:
    return hmac.new(key, kind.encode() + b"." + payload, hashlib.sha256).digest()


def sign(key: bytes, kind: str, claims: Claims) -> str:
    payload = claims.encode()
    return f"{_b64(payload)}.{_b64(_mac(key, kind, payload))}"


def verify(key: bytes, kind: str, token: str, now: datetime) -> Claims:
    """The claims of a genuine, unexpired token of this kind; else :class:`TokenError`."""
    if len(token) > MAX_TOKEN or token.count(".") != 1:
        raise TokenError("tampered")
    encoded, _, signature = token.partition(".")
    try:
        payload = _unb64(encoded)
        given = _unb64(signature)
    except (binascii.Error, ValueError) as error:
        raise TokenError("tampered") from error
    if not hmac.compare_digest(given, _mac(key, kind, payload)):
        raise TokenError("tampered")
    try:
        data = json.loads(payload)
        claims = Claims(
            int(data["p"]),
            str(data["r"]),
            datetime.fromtimestamp(int(data["e"]), tz=now.tzinfo),
            str(data["n"]),
        )
    except (ValueError, KeyError, TypeError) as error:  # signed by us: cannot happen
        raise TokenError("tampered") from error
    if claims.role not in ROLES:
        raise TokenError("tampered")
    if now >= claims.expires:
        raise TokenError("expired")
    return claims


class DashboardLinks:
    """Issues the one-time links the chat sends (``campagne tableau``) and checks them."""

    def __init__(self, base_url: str, key: bytes | None = None) -> None:
        self.key = key or secrets.token_bytes(32)
        self.base_url = base_url.rstrip("/")

    @property
    def secure(self) -> bool:
        """Behind HTTPS the session cookie gets ``Secure``."""
        return self.base_url.startswith("https://")

    def issue(self, person_id: int, role: str, now: datetime, code: str | None = None) -> str:
        claims = Claims(person_id, role, now + LINK_TTL, secrets.token_urlsafe(16))
        url = f"{self.base_url}/tableau/lien/{sign(self.key, LINK, claims)}"
        if code:
            url += f"?campagne={quote(code, safe='')}"
        return url

    def session(self, link: Claims, now: datetime) -> tuple[str, Claims]:
        """A session cookie for the person and role of a redeemed link (one hour)."""
        claims = Claims(link.person_id, link.role, now + SESSION_TTL, secrets.token_urlsafe(16))
        return sign(self.key, SESSION, claims), claims
