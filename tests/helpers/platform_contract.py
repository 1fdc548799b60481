"""The platform contract: every platform adapter passes this suite.

A concrete test class provides three fixtures: ``platform`` (started), ``recipient`` (a person
id the platform can reach) and ``inbox`` (a coroutine returning the texts that person received).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest

from bot.core import Outgoing, Platform

Inbox = Callable[[], Awaitable[list[str]]]


class PlatformContract:
    async def test_satisfies_protocol(self, platform: Platform) -> None:
        assert isinstance(platform, Platform)
        assert platform.name and platform.bot_id
        assert platform.rate_limit > 0

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
