"""Holds under abuse (#18) on Slack, with signed HTTP requests and the fake Web API: a flood
from one user does not delay another's reply; a malformed timestamp is a 401."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.app import App
from storage.models import DeliveryRow
from storage.uow import Store
from tests.helpers.bot import make_settings
from tests.helpers.slack import (
    ALICE,
    BOB,
    EventsEndpoint,
    FakeSlack,
    bounded,
    dm,
    envelope,
    make_platform,
    stop_platform,
)


@pytest.fixture
async def served(
    fake_slack: FakeSlack,
    sqlite_url: str,
) -> AsyncIterator[tuple[EventsEndpoint, App]]:
    """The bot on Slack HTTP events, paced like production (1 message per second)."""
    store = Store.from_url(sqlite_url)
    store.upgrade()
    platform = make_platform(fake_slack, rate_limit=1.0)
    app = App(make_settings(sqlite_url), store, platform)
    await bounded(platform.start())
    running = asyncio.ensure_future(app.run())
    try:
        await bounded(platform.listening.wait())
        async with aiohttp.ClientSession() as session:
            yield EventsEndpoint(platform, asyncio.Queue(), session), app
    finally:
        await stop_platform(platform, running)
        store.close()


async def test_a_flood_does_not_delay_another_users_reply(
    served: tuple[EventsEndpoint, App],
    fake_slack: FakeSlack,
) -> None:
    endpoint, app = served
    for index in range(60):
        ts = f"1700001000.{index:06d}"
        assert await endpoint.event(dm("aide", ts=ts, user=ALICE)) == 200
    await bounded(fake_slack.wait_for_posts("DALICE", 1))
    before_bob = len(fake_slack.messages["DALICE"])
    assert await endpoint.event(dm("aide", ts="1700001100.000001", user=BOB)) == 200
    # Another user's reply does not wait behind Alice's backlog (an order, not a time): in
    # arrival order it would come after her twenty queued replies; it comes after a handful at
    # most, those that leave while Bob's first message is read (his profile and the opening of
    # his direct conversation share the same 1/s pace as her replies).
    await bounded(fake_slack.wait_for_posts("DBOB", 1))
    assert len(fake_slack.messages["DALICE"]) - before_bob <= 5
    # Alice gets the per-minute allowance plus one polite notice, nothing more.
    limit = app.settings.limits.messages_per_minute
    posts = await asyncio.wait_for(fake_slack.wait_for_posts("DALICE", limit + 1), 120)
    assert sum("beaucoup de messages" in post["text"] for post in posts) == 1
    with app.store.transaction() as uow:
        queued = select(func.count()).where(DeliveryRow.recipient == "DALICE")
        assert uow.session.scalar(queued) == limit + 1  # nothing else queued for Alice


async def test_a_malformed_timestamp_is_refused_in_one_short_line(
    served: tuple[EventsEndpoint, App], caplog: pytest.LogCaptureFixture
) -> None:
    endpoint, _ = served
    body = json.dumps(envelope(dm("aide", ts="1700002000.000001")))
    with caplog.at_level(logging.INFO):
        status, _ = await endpoint.post(body, headers={"X-Slack-Request-Timestamp": "abc"})
    assert status == 401
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert any("X-Slack-Request-Timestamp" in r.getMessage() for r in caplog.records)
