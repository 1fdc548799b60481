"""Nothing acknowledged to Slack is lost, nothing is handled twice (issue #17, the Slack part).

Real parts: a private PostgreSQL server stopped and started under the bot, signed Events API
requests and button clicks to the bolt app, the fake Slack Web API of :mod:`tests.helpers.slack`
and, for a crash, a bot process killed with SIGKILL. An event is acknowledged (HTTP 200) only once
it is in the spool file; it is handled once the database answers, after a crash too, and a
redelivery by Slack is not handled again. Every wait is bounded; no assertion depends on time.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.domain import ParticipationKind
from storage.models import ParticipationEventRow, ProcessedEventRow
from storage.uow import Store
from tests.helpers.pgserver import PrivatePostgres
from tests.helpers.slack import (
    FakeSlack,
    button_click,
    dm,
    envelope,
    events_url,
    invite_alice,
    retry_headers,
    signed_post,
    slack_bot,
)
from tests.helpers.slack_process import SlackBotProcess

pytestmark = pytest.mark.postgres
WAIT = 120.0  # upper bound for anything awaited on a loaded machine; never a timing assertion
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def pg_url(private_pg: PrivatePostgres) -> str:
    """A fresh database where Alice (Slack) is invited to a running campaign."""
    url = private_pg.create_database(f"t_{uuid.uuid4().hex[:10]}")
    store = Store.from_url(url)
    store.upgrade()
    store.close()
    invite_alice(url)
    return url


class Slack:
    """What Slack does: send signed requests to a bot's events URL."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.port: int | None = None

    async def event(self, text: str, ts: str, *, retry: int = 0) -> int:
        body = json.dumps(envelope(dm(text, ts=ts), f"Ev{ts.replace('.', '')}"))
        headers = retry_headers(retry) if retry else None
        status, _ = await signed_post(self.session, events_url(self.port), body, headers=headers)
        return status

    async def click(self, value: str, action_ts: str) -> int:
        body = button_click(value, action_ts)
        status, _ = await signed_post(self.session, events_url(self.port), body, content_type=FORM)
        return status


@pytest.fixture
async def slack() -> AsyncIterator[Slack]:
    async with aiohttp.ClientSession() as session:
        yield Slack(session)


def spooled(spool: Path) -> list[str]:
    """The event ids the spool file holds as still to handle."""
    pending: dict[str, None] = {}
    for line in spool.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "done" in record:
            pending.pop(record["done"], None)
        else:
            pending[record["add"]["event_id"]] = None
    return list(pending)


def counts(url: str) -> tuple[int, int]:
    """(Alice's "completed" declarations, processed Slack events)."""
    store = Store.from_url(url)
    try:
        with store.transaction() as uow:
            completed = uow.session.scalar(
                select(func.count())
                .select_from(ParticipationEventRow)
                .where(ParticipationEventRow.kind == ParticipationKind.COMPLETED.value)
            )
            processed = uow.session.scalar(
                select(func.count())
                .select_from(ProcessedEventRow)
                .where(ProcessedEventRow.platform == "slack")
            )
        return int(completed or 0), int(processed or 0)
    finally:
        store.close()


async def replies(fake: FakeSlack, count: int) -> list[str]:
    posts = await asyncio.wait_for(fake.wait_for_posts("DALICE", count), WAIT)
    return [str(post["text"]) for post in posts]


async def test_events_during_an_outage_are_acknowledged_once_spooled_and_handled_once_after(
    private_pg: PrivatePostgres, pg_url: str, fake_slack: FakeSlack, slack: Slack, tmp_path: Path
) -> None:
    spool = tmp_path / "slack-spool.jsonl"
    async with slack_bot(fake_slack, pg_url, spool, WAIT) as (app, platform):
        slack.port = platform.bound_port
        await asyncio.to_thread(private_pg.stop)
        assert await slack.event("qui voit mes résultats ?", "1700000900.000001") == 200
        assert await slack.click("c'est fait", "1700000900.000002") == 200
        # Acknowledged means on disk: both are in the spool while the database is away.
        assert spooled(spool) == [
            "DALICE/1700000900.000001",
            "action/DALICE/1700000000.000042/UALICE/1700000900.000002",
        ]
        assert fake_slack.messages["DALICE"] == []
        # Operations see the backlog in the metrics (the public health check gives no figure).
        assert "intake_pending" not in await app._check_platform()
        assert b"pixbot_intake_pending 2.0" in app.metrics.render()
        await asyncio.to_thread(private_pg.start)
        assert await slack.event("aide", "1700000900.000003") == 200  # the sentinel
        texts = await replies(fake_slack, 3)
        assert app.health.outages >= 1
        assert b"pixbot_intake_pending 0.0" in app.metrics.render()
    # One answer each, in the order they were sent (the sentinel's last: nothing came after).
    assert len(fake_slack.messages["DALICE"]) == 3
    assert "résultats" in texts[0]
    assert "Bravo et merci" in texts[1]  # the click recorded the completion
    assert counts(pg_url) == (1, 3)  # one "completed" row; three events processed
    assert spooled(spool) == [] and spool.stat().st_size == 0  # emptied once all are handled


async def test_an_event_acknowledged_before_a_crash_is_handled_once_by_the_next_process(
    private_pg: PrivatePostgres, pg_url: str, fake_slack: FakeSlack, slack: Slack, tmp_path: Path
) -> None:
    spool = tmp_path / "slack-spool.jsonl"
    bot = await SlackBotProcess.start(pg_url, spool, fake_slack.base_url, WAIT)
    try:
        slack.port = bot.port
        await asyncio.to_thread(private_pg.stop)
        assert await slack.event("c'est fait", "1700001000.000001") == 200
        assert spooled(spool) == ["DALICE/1700001000.000001"]
        await bot.crash()  # SIGKILL during the outage: the event was never handled
    finally:
        await bot.kill()
    await asyncio.to_thread(private_pg.start)
    assert fake_slack.messages["DALICE"] == []
    assert counts(pg_url) == (0, 0)
    async with slack_bot(fake_slack, pg_url, spool, WAIT) as (_, platform):
        slack.port = platform.bound_port
        [confirmation] = await replies(fake_slack, 1)  # replayed from the spool at start
        assert "Bravo et merci" in confirmation
        assert await slack.event("aide", "1700001000.000002") == 200  # the sentinel
        await replies(fake_slack, 2)
    assert len(fake_slack.messages["DALICE"]) == 2
    assert counts(pg_url) == (1, 2)
    assert spooled(spool) == []


async def test_a_redelivered_event_is_handled_once_before_and_after_its_handling(
    private_pg: PrivatePostgres, pg_url: str, fake_slack: FakeSlack, slack: Slack, tmp_path: Path
) -> None:
    spool = tmp_path / "slack-spool.jsonl"
    question = ("qui voit mes résultats ?", "1700001100.000001")
    async with slack_bot(fake_slack, pg_url, spool, WAIT) as (_, platform):
        slack.port = platform.bound_port
        await asyncio.to_thread(private_pg.stop)
        assert await slack.event(*question) == 200
        # Slack did not get its answer in time: it sends the event again, twice.
        assert await slack.event(*question, retry=1) == 200
        assert await slack.event(*question, retry=2) == 200
        assert spooled(spool) == ["DALICE/1700001100.000001"]  # kept once
        await asyncio.to_thread(private_pg.start)
        await replies(fake_slack, 1)
        assert await slack.event(*question, retry=3) == 200  # after it was handled
    # And to a new process, which only the database can tell that it was handled.
    async with slack_bot(fake_slack, pg_url, spool, WAIT) as (_, platform):
        slack.port = platform.bound_port
        assert await slack.event(*question, retry=3) == 200
        assert await slack.event("aide", "1700001100.000002") == 200  # the sentinel
        texts = await replies(fake_slack, 2)
    assert len(fake_slack.messages["DALICE"]) == 2
    assert "résultats" in texts[0]
    assert counts(pg_url) == (0, 2)
    assert spooled(spool) == []
