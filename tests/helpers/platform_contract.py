"""The platform contract: every platform adapter passes this suite.

A concrete test class provides these fixtures:

* ``platform``: started, and receiving (``run``) for the inbound tests;
* ``recipient``: a person id the platform can reach;
* ``inbox``: a coroutine returning the texts that person received;
* ``say``: the recipient writes a text to the bot in their direct conversation, through the
  platform's real inbound path; returns the :class:`~bot.core.Incoming` the platform handed on;
* ``room``: a conversation where the recipient and the bot are members;
  ``unknown_room``: a conversation id that does not exist;
* ``holds``: whether the platform's own stores (files, caches, server-side account data) still
  name a person.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest

from bot.core import Capabilities, DeliveryError, ErasedPerson, Incoming, Outgoing, Platform
from bot.text import split_message

Inbox = Callable[[], Awaitable[list[str]]]
Say = Callable[[str], Awaitable[Incoming]]
Holds = Callable[[str], Awaitable[bool]]

# Where a platform declares no text limit, splitting is checked at this length.
UNLIMITED_SPLIT_AT = 1000


def _long_text(length: int, tag: str) -> str:
    """``length`` characters of lines of words (what a long reply looks like)."""
    line = f"Ligne {tag} : participation à la campagne Pix, réponse détaillée."
    text = "\n".join([line] * (length // (len(line) + 1) + 1))
    return text[:length].rstrip()


class PlatformContract:
    # -- declared capabilities ------------------------------------------------------------------

    async def test_satisfies_protocol(self, platform: Platform) -> None:
        assert isinstance(platform, Platform)
        assert platform.name and platform.bot_id
        capabilities = platform.capabilities
        assert isinstance(capabilities, Capabilities)
        assert capabilities.rate_limit > 0 and capabilities.send_concurrency >= 1
        assert capabilities.max_text_length is None or capabilities.max_text_length >= 500
        rate = capabilities.conversation_rate_limit
        assert rate is None or rate > 0

    async def test_erasure_steps_are_declared(self, platform: Platform) -> None:
        steps = platform.erasure_steps()
        names = [step.name for step in steps]
        assert all(names) and len(set(names)) == len(names)
        # A platform's stores are searched by the person's name: none of them is anonymous.
        assert not any(step.anonymous for step in steps)

    async def test_a_conversation_once_open_costs_nothing_more(
        self, platform: Platform, recipient: str
    ) -> None:
        await platform.open_direct(recipient)
        assert platform.opens_conversation(recipient) is False

    # -- sending --------------------------------------------------------------------------------

    async def test_send_to_person_returns_remote_id(
        self, platform: Platform, recipient: str, inbox: Inbox
    ) -> None:
        text = f"Bonjour {uuid.uuid4().hex[:6]}"
        result = await platform.send(Outgoing(text=text, key=uuid.uuid4().hex, person_id=recipient))
        assert result.remote_id
        assert result.conversation_id == await platform.open_direct(recipient)
        assert text in await inbox()

    async def test_same_key_delivers_once(
        self, platform: Platform, recipient: str, inbox: Inbox
    ) -> None:
        key = uuid.uuid4().hex
        text = f"Une seule fois {key[:6]}"
        first = await platform.send(Outgoing(text=text, key=key, person_id=recipient))
        second = await platform.send(Outgoing(text=text, key=key, person_id=recipient))
        assert first.remote_id == second.remote_id
        assert (await inbox()).count(text) == 1

    async def test_open_direct_is_stable(self, platform: Platform, recipient: str) -> None:
        assert await platform.open_direct(recipient) == await platform.open_direct(recipient)

    async def test_hostile_text_is_sent_verbatim_as_text(
        self, platform: Platform, recipient: str, inbox: Inbox
    ) -> None:
        text = "<b>x</b> {{ 7*7 }} @room"
        await platform.send(Outgoing(text=text, key=uuid.uuid4().hex, person_id=recipient))
        received = await inbox()
        assert any("<b>x</b> {{ 7*7 }}" in message for message in received)
        assert not any("49" in message for message in received)

    async def test_outgoing_needs_one_target(self) -> None:
        with pytest.raises(ValueError):
            Outgoing(text="x", key="k")

    # -- splitting: the declared limit is honest ------------------------------------------------

    async def test_a_text_at_the_declared_limit_arrives_whole(
        self, platform: Platform, recipient: str, inbox: Inbox
    ) -> None:
        limit = platform.capabilities.max_text_length or UNLIMITED_SPLIT_AT
        text = _long_text(limit, uuid.uuid4().hex[:6])
        assert len(text) >= limit - 1
        await platform.send(Outgoing(text=text, key=uuid.uuid4().hex, person_id=recipient))
        assert text in await inbox()

    async def test_a_longer_text_split_as_the_outbox_does_arrives_in_order(
        self, platform: Platform, recipient: str, inbox: Inbox
    ) -> None:
        limit = platform.capabilities.max_text_length or UNLIMITED_SPLIT_AT
        text = _long_text(limit * 2 + limit // 2, uuid.uuid4().hex[:6])
        parts = split_message(text, limit)
        assert len(parts) == 3 and all(len(part) <= limit for part in parts)
        key = uuid.uuid4().hex
        for number, part in enumerate(parts, 1):
            await platform.send(Outgoing(text=part, key=f"{key}:{number}", person_id=recipient))
        received = await inbox()
        assert received[-3:] == parts

    # -- inbound translation --------------------------------------------------------------------

    async def test_a_direct_message_becomes_incoming(
        self, platform: Platform, recipient: str, say: Say
    ) -> None:
        text = f"C'est fait & merci <3 ({uuid.uuid4().hex[:6]})"
        incoming = await say(text)
        assert incoming.platform == platform.name
        assert incoming.text == text
        assert incoming.sender_id == recipient
        assert incoming.is_direct
        assert incoming.conversation_id == await platform.open_direct(recipient)
        assert incoming.event_id
        assert not incoming.sender_is_bot and not incoming.undecryptable
        assert incoming.timestamp.tzinfo is not None

    # -- rooms ----------------------------------------------------------------------------------

    async def test_room_members_are_the_people_not_the_bot(
        self, platform: Platform, recipient: str, room: str
    ) -> None:
        members = {member.platform_id for member in await platform.room_members(room)}
        assert recipient in members
        assert platform.bot_id not in members

    async def test_an_unknown_room_is_a_permanent_error(
        self, platform: Platform, unknown_room: str
    ) -> None:
        with pytest.raises(DeliveryError) as raised:
            await platform.room_members(unknown_room)
        assert raised.value.permanent

    # -- forgetting -----------------------------------------------------------------------------

    async def test_erasure_steps_leave_nothing_naming_the_person(
        self, platform: Platform, recipient: str, say: Say, holds: Holds
    ) -> None:
        await say(f"Mon adresse : {recipient}")
        await platform.send(Outgoing(text="Bien reçu.", key=uuid.uuid4().hex, person_id=recipient))
        assert await holds(recipient)
        person = ErasedPerson(recipient, datetime.now(UTC))
        for step in platform.erasure_steps():
            await step.erase(person)
        assert not await holds(recipient)
