"""Issue #23, item 6 and 7 on Slack: after ``oublie-moi`` (a button click and messages before
it), no file under the data folder — SQLite database and WAL, the spool, the key file — names
the person: the spool is rewritten without their events, ``processed_events`` keeps keyed hashes
(a click's id holds the user id and the time of the click), the database is scrubbed. A click
written before the erasure and delivered after it is dropped and brings nobody back.

Real parts: signed Events API requests and button clicks to the bolt app, the fake Slack Web API
of :mod:`tests.helpers.slack`, SQLite. Every wait is bounded; no assertion depends on time.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp
from sqlalchemy import select

from bot.app import App
from bot.core import ErasedPerson, Incoming
from storage.models import PersonRow
from storage.uow import Store
from tests.helpers.erasure import files_naming
from tests.helpers.slack import (
    ALICE,
    FakeSlack,
    button_click,
    dm,
    envelope,
    events_url,
    invite_alice,
    signed_post,
    slack_bot,
)
from tests.helpers.slack import fake_slack as fake_slack  # the fake Slack Web API (fixture)

WAIT = 60.0  # upper bound for anything awaited on a loaded machine; never a timing assertion
FORM = "application/x-www-form-urlencoded"
NAME = "Alice Kerouac"
EMAIL = "alice.kerouac@dreal.gouv.fr"


def _world(folder: Path) -> str:
    folder.mkdir(mode=0o700)
    url = f"sqlite:///{folder / 'pixbot.db'}"
    store = Store.from_url(url)
    store.upgrade()
    store.close()
    invite_alice(url, name=NAME, email=EMAIL)
    return url


async def _posts(fake: FakeSlack, count: int) -> list[str]:
    posts = await asyncio.wait_for(fake.wait_for_posts("DALICE", count), WAIT)
    return [str(post["text"]) for post in posts]


async def test_forget_me_on_slack_leaves_no_byte_and_a_late_click_brings_nobody_back(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    folder = tmp_path / "data"
    url = _world(folder)
    spool = folder / "slack-spool.jsonl"
    fake_slack.users[ALICE] = {"id": ALICE, "name": "alice", "real_name": NAME}
    needles = [ALICE, NAME, EMAIL]
    clicked_at = time.time()
    async with (
        aiohttp.ClientSession() as session,
        slack_bot(fake_slack, url, spool, WAIT) as (app, pf),
    ):
        endpoint = events_url(pf.bound_port)
        erased, handled = _watch(app)

        async def say(text: str, ts: str) -> None:
            body = json.dumps(envelope(dm(text, ts=ts), f"Ev{ts.replace('.', '')}"))
            assert (await signed_post(session, endpoint, body))[0] == 200

        click = button_click("commencé", f"{clicked_at:.6f}")
        assert (await signed_post(session, endpoint, click, content_type=FORM))[0] == 200
        await _posts(fake_slack, 1)
        await say("oublie-moi", f"{clicked_at + 1:.6f}")
        await _posts(fake_slack, 2)
        await say("oui", f"{clicked_at + 2:.6f}")
        await _posts(fake_slack, 3)
        await asyncio.wait_for(erased.wait(), WAIT)
        assert files_naming(folder, needles) == []
        # A click made before the erasure, delivered after it (Slack retries, a backlog).
        late = button_click("fait", f"{clicked_at - 60:.6f}", message_ts="1700000000.000043")
        assert (await signed_post(session, endpoint, late, content_type=FORM))[0] == 200
        while "1700000000.000043" not in await asyncio.wait_for(handled.get(), WAIT):
            pass  # the events before it
    assert len(fake_slack.messages["DALICE"]) == 3  # nothing answered the late click
    assert files_naming(folder, needles) == []
    store = Store.from_url(url)
    try:
        with store.transaction() as uow:
            assert (
                uow.session.scalar(select(PersonRow).where(PersonRow.platform_id == ALICE)) is None
            )
            assert uow.privacy.is_erased(ALICE)
    finally:
        store.close()


def _watch(app: App) -> tuple[asyncio.Event, asyncio.Queue[str]]:
    """Set when the erasure pipeline has run; fed each event id the application handled."""
    erased = asyncio.Event()
    handled: asyncio.Queue[str] = asyncio.Queue()
    pipeline_run, handle = app.erasure.pipeline.run, app._handle_once

    async def run(person: ErasedPerson) -> list[str]:
        failed = await pipeline_run(person)
        erased.set()
        return failed

    async def handle_and_tell(incoming: Incoming) -> None:
        await handle(incoming)
        handled.put_nowait(incoming.event_id)

    app.erasure.pipeline.run = run  # type: ignore[method-assign]
    app._handle_once = handle_and_tell  # type: ignore[method-assign]
    return erased, handled
