"""Scheduled work runs its transactions off the event loop (issue #18): a reminder step to
thousands must not stall the answers to agents, Slack's acknowledgements or the Matrix sync."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.helpers.bot import Bot
from tests.helpers.campaigns import AGENTS, launched

PARIS = ZoneInfo("Europe/Paris")
CREATE = 'campagne créer ABCDEF234 "Cybersécurité" fin 28/12/2026'


async def test_a_step_in_progress_leaves_the_event_loop_free(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    await launched(bot, CREATE)
    runner = bot.app.runner
    started, loop_answered = threading.Event(), threading.Event()
    original = runner._run_step

    def slow_step(*args: Any) -> None:
        # Were the step on the event loop, the coroutine below could not run meanwhile.
        started.set()
        assert loop_answered.wait(timeout=60), "the event loop was blocked by the step"
        original(*args)

    monkeypatch.setattr(runner, "_run_step", slow_step)
    bot.clock.current = datetime(2026, 12, 21, 9, 30, tzinfo=PARIS).astimezone(UTC)
    tick = asyncio.create_task(runner.tick())
    assert await asyncio.to_thread(started.wait, 60)
    loop_answered.set()
    assert await asyncio.wait_for(tick, 60) == 1
    await bot.app.dispatcher.drain()
    assert all(any(t.startswith("Rappel") for t in bot.inbox(a)) for a in AGENTS)


async def test_the_digest_and_the_retention_job_run_off_the_event_loop(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scheduler import jobs

    await launched(bot, CREATE)
    threads: dict[str, int] = {}
    digest, purge = bot.app.runner.digest, jobs.retention.purge

    def record(name: str, function: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            threads[name] = threading.get_ident()
            return function(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(bot.app.runner, "digest", record("digest", digest))
    monkeypatch.setattr(jobs.retention, "purge", record("purge", purge))
    await bot.app.jobs.start(bot.app.runner)
    try:
        await jobs.send_digest(bot.app.jobs.key)
        await jobs.purge_expired(bot.app.jobs.key)
    finally:
        bot.app.jobs.stop()
    assert set(threads) == {"digest", "purge"}
    assert threading.get_ident() not in threads.values()
