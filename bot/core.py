"""Transport-agnostic core types: what platforms hand to the bot and what the bot hands back.

Platforms (``bot/platforms/``) translate their SDK events into :class:`Incoming` and send
:class:`Outgoing`; nothing else in the code base knows about a messaging SDK.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message (or reaction) received by the bot, in platform-neutral form."""

    platform: str
    event_id: str
    sender_id: str
    text: str
    conversation_id: str
    is_direct: bool
    timestamp: datetime
    sender_name: str | None = None
    sender_is_bot: bool = False
    mentions_bot: bool = False
    # The event this one reacts to or replies to (e.g. a 👍 reaction on an invitation).
    relates_to: str | None = None
    reaction: str | None = None
    # The platform could not read the message (e.g. an undecryptable Matrix event).
    undecryptable: bool = False


# Platforms normalise "thumbs up" reactions (skin tones, :+1:) to this one emoji.
THUMBS_UP = "👍"


@dataclass(frozen=True, slots=True)
class Button:
    """A quick reply. Platforms without buttons (Matrix, console) show the text to type."""

    label: str
    reply: str


@dataclass(frozen=True, slots=True)
class Image:
    """A picture to post (e.g. the participation chart). ``alt`` describes it in words for
    people who cannot see it; platforms use it as the image's text body or alt text."""

    data: bytes
    mimetype: str
    width: int
    height: int
    alt: str
    filename: str

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to send: to a person (direct conversation) or to a conversation/room.

    ``text`` is plain text; platforms derive their own markup from it (escaped HTML for Matrix,
    escaped mrkdwn for Slack). ``key`` is the idempotency key (Matrix txnId): sending twice with
    the same key must deliver once. With ``image``, the message *is* the picture and ``text``
    describes it (its caption); buttons are not shown.

    ``direct_hint`` is the person's direct conversation as a platform returned it before (kept
    in the database), so a platform need not look it up again; ``resend`` says an earlier
    attempt may have been delivered (a platform without server-side idempotency checks then).
    """

    text: str
    key: str
    person_id: str | None = None
    conversation_id: str | None = None
    mentions: tuple[str, ...] = ()
    buttons: tuple[Button, ...] = ()
    in_reply_to: str | None = None
    direct_hint: str | None = None
    resend: bool = False
    image: Image | None = None

    def __post_init__(self) -> None:
        if (self.person_id is None) == (self.conversation_id is None):
            raise ValueError("Outgoing needs exactly one of person_id or conversation_id")


@dataclass(frozen=True, slots=True)
class SendResult:
    remote_id: str
    conversation_id: str


@dataclass(frozen=True, slots=True)
class Member:
    platform_id: str
    display_name: str | None = None
    is_bot: bool = False


class DeliveryError(Exception):
    """A platform could not deliver. The outbox decides whether and when to retry.

    ``retry_after`` (seconds) is set when the platform said how long to wait (HTTP 429);
    ``permanent`` is set when retrying cannot help (unknown user, forbidden).
    """

    def __init__(
        self,
        platform: str,
        code: str,
        message: str = "",
        *,
        retry_after: float | None = None,
        permanent: bool = False,
    ) -> None:
        super().__init__(f"{platform}: {code} {message}".strip())
        self.platform = platform
        self.code = code
        self.retry_after = retry_after
        self.permanent = permanent


class PlatformAuthError(Exception):
    """The platform refused the bot's credentials (revoked token, expired account…).

    Retrying cannot help: the bot stops with a clear message instead of looping.
    """


class PlatformNeedsOperator(PlatformAuthError):
    """The platform cannot serve until a person acts (e.g. the Matrix device was lost and no
    recovery key can sign a new one). ``str(error)`` is one French line saying what to do."""


@runtime_checkable
class ReportsReadiness(Protocol):
    """A platform that can be connected and still unable to read or be read (Matrix E2EE)."""

    def readiness_problem(self) -> str | None:
        """None when people can reach the bot; else a short reason code (no secret)."""
        ...


MessageHandler = Callable[[Incoming], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a platform declares about how it may be used, read by the outbox (bot/outbox.py,
    bot/pacing.py) instead of guessed: a new adapter states each one.

    ``rate_limit``: messages per second the platform accepts from us overall;
    ``max_text_length``: the longest text sent as one message (longer ones leave as numbered
    parts), None for no limit; ``send_concurrency``: sends in flight at once (to different
    conversations); ``conversation_rate_limit``: messages per second to one conversation, None
    when only the overall rate counts.
    """

    rate_limit: float
    max_text_length: int | None = None
    send_concurrency: int = 1
    conversation_rate_limit: float | None = None

    def __post_init__(self) -> None:
        if self.rate_limit <= 0 or self.send_concurrency < 1:
            raise ValueError("a platform sends at a positive rate, at least one at a time")


@runtime_checkable
class Platform(Protocol):
    """What the bot needs from a messaging platform.

    ``run`` receives messages until ``stop`` is called (or, for the console with piped input,
    until the input ends) and passes each to ``on_message``; it must not call ``on_message``
    concurrently for the same conversation.

    Every adapter declares its :class:`Capabilities`, says whether a first message to someone
    opens a conversation that costs a request of its own (``opens_conversation``: Matrix creates
    a room, counted by the homeserver's rate limit), and lists the stores of its own that hold
    people's data (``erasure_steps``, run by bot/erasure.py; an empty list says it keeps none).
    The contract suite (tests/helpers/platform_contract.py) checks each of these.
    """

    name: str
    capabilities: Capabilities

    @property
    def bot_id(self) -> str:
        """The bot's own id on the platform (the core reads it; the adapter may learn it at
        start)."""
        ...

    async def start(self) -> None: ...

    async def run(self, on_message: MessageHandler) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, message: Outgoing) -> SendResult: ...

    async def open_direct(self, person_id: str) -> str: ...

    async def room_members(self, conversation_id: str) -> Sequence[Member]: ...

    def opens_conversation(self, person_id: str) -> bool: ...

    def erasure_steps(self) -> Sequence[ErasureStep]: ...


class InvitePolicy(Protocol):
    """The core's answer to "may the bot join this room?" (a port: platforms know no storage).

    Platforms that are invited into rooms (Matrix) join only when the inviter is known (an
    agent, an ambassador or an admin) and the room has at most ``max_room_members`` members.
    """

    max_room_members: int

    async def inviter_known(self, platform_id: str) -> bool: ...


@runtime_checkable
class SendsFromAccounts(Protocol):
    """A platform that sends from several accounts, each with its own rate limit (Matrix's
    sender pool). The outbox runs one lane per account: paced by that account's
    ``capabilities.rate_limit``, paused alone by a "wait" (429); every message of a
    conversation goes through the account :meth:`sending_account` names."""

    def sending_accounts(self) -> Sequence[Platform]: ...

    def sending_account(self, message: Outgoing) -> Platform: ...


@dataclass(frozen=True, slots=True)
class Moved:
    """Someone another account writes to from now on: ``conversation`` is the room the old
    account wrote to them in (an account added to the pool), or empty when the old account
    is gone (removed from the pool: the new account says it, as its first message)."""

    person_id: str
    conversation: str
    new_account: str
    old_account: str


@runtime_checkable
class MovesPeople(Protocol):
    """A platform whose accounts' share of people can change (an account added or removed):
    it lists who is now written to by another account, for the core to tell them in one line.
    The people who command the bot (:meth:`keep_on_main`) stay on the account they talk to."""

    def keep_on_main(self, people: Iterable[str]) -> None: ...

    def moved_people(self) -> list[Moved]: ...

    def orphaned(self, conversations: Mapping[str, str]) -> list[Moved]:
        """Of ``conversations`` (person → their last direct conversation), the people whose
        conversation no account of the platform holds any more."""
        ...


@runtime_checkable
class HoldsIntake(Protocol):
    """A platform that keeps incoming events durably until they are handled (Slack's spool)."""

    def intake_backlog(self) -> int:
        """Events acknowledged to the platform and not handled yet."""
        ...


@dataclass(frozen=True, slots=True)
class ErasedPerson:
    """Someone just erased from the database, for the stores outside it (files, the platform):
    what those stores may hold about them, to find and drop."""

    platform_id: str
    erased_at: datetime
    display_name: str | None = None
    email: str | None = None

    def needles(self, min_name: int = 4) -> list[str]:
        """The strings that name the person (a display name only when long enough to search)."""
        found = [self.platform_id]
        if self.email:
            found.append(self.email)
        if self.display_name and len(self.display_name) >= min_name:
            found.append(self.display_name)
        return found


@runtime_checkable
class ErasureStep(Protocol):
    """One store outside the database that erasure must reach (bot/erasure.py runs them)."""

    name: str
    # True for a step that needs nobody's name (the database scrub): it runs even when who was
    # erased is lost (a restart between the erasure and its confirmation's delivery).
    anonymous: bool

    async def erase(self, person: ErasedPerson) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass
class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FakeClock:
    """A clock tests move by hand."""

    current: datetime = field(default_factory=lambda: datetime(2026, 11, 23, 9, 0, tzinfo=UTC))

    def now(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> None:
        from datetime import timedelta

        self.current += timedelta(**kwargs)
