"""Stopping cleanly (issue #11): SIGTERM or SIGINT, whatever the bot is doing, ends with exit
code 0 and no traceback; what was not sent yet is sent once after the restart.

Real ``pixbot run`` processes on SQLite. Every wait is bounded; no assertion depends on how
long something took.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from pathlib import Path

import pytest

from bot.core import FakeClock
from bot.dbwork import InlineDatabase
from scheduler.jobs import JobScheduler
from tests.helpers.bot import make_settings
from tests.helpers.console_process import (
    ConsoleBot,
    agents,
    invitations,
    launch_lines,
    populate,
)
from tests.helpers.pgserver import free_port, wait_until

WAIT = 300.0


def sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'pixbot.db'}"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_idle_console_bot_stops_on_a_signal(tmp_path: Path, signum: int) -> None:
    url = sqlite(tmp_path)
    populate(url, 1)
    bot = ConsoleBot(url, tmp_path, "--verbose")
    try:
        bot.write("/as @agent1:console\naide\n")
        wait_until(lambda: "→ @agent1:console" in bot.output(), 60, "the answer")
        bot.process.send_signal(signum)
        code = bot.wait(60)
    finally:
        bot.kill()
    assert code == 0
    assert "Traceback" not in bot.output()


def test_sigterm_during_a_launch_then_restart_sends_each_invitation_once(tmp_path: Path) -> None:
    url = sqlite(tmp_path)
    count = 3000
    populate(url, count)
    first = ConsoleBot(url, tmp_path)
    try:
        first.write(launch_lines())
        wait_until(lambda: sum(invitations(tmp_path).values()) >= 100, WAIT, "the launch")
        first.terminate()
        assert first.wait(60) == 0
    finally:
        first.kill()
    assert "Traceback" not in first.output()
    assert len(invitations(tmp_path)) < count, "the launch was over before the stop"

    second = ConsoleBot(url, tmp_path)
    try:
        second.close_input()  # end of input: send what is pending, then exit
        assert second.wait(WAIT) == 0
    finally:
        second.kill()
    assert "Traceback" not in second.output()
    received = invitations(tmp_path)
    assert sorted(received) == sorted(agents(count))
    assert set(received.values()) == {1}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_matrix_bot_stops_while_the_homeserver_is_unreachable(tmp_path: Path, signum: int) -> None:
    config = tmp_path / "pixbot.toml"
    config.write_text(
        "\n".join(
            [
                "[bot]",
                'platform = "matrix"',
                f"database_url = {json.dumps(sqlite(tmp_path))}",
                "[matrix]",
                f'homeserver = "http://127.0.0.1:{free_port()}"',  # nobody listens there
                'user_id = "@pixbot:localhost"',
                f"store_path = {json.dumps(str(tmp_path / 'store'))}",
                "",
            ]
        ),
        encoding="utf-8",
    )
    bot = ConsoleBot(
        sqlite(tmp_path),
        tmp_path,
        "--config",
        str(config),
        env={"PIXBOT_MATRIX__PASSWORD": "not-a-real-password"},
    )
    try:
        wait_until(
            lambda: "Serveur Matrix injoignable" in bot.output(),
            60,
            "the bot to retry the homeserver",
        )
        bot.process.send_signal(signum)
        code = bot.wait(60)
    finally:
        bot.kill()
    output = bot.output()
    assert code == 0, output
    assert "Traceback" not in output
    assert "Session is closed" not in output
    assert "not-a-real-password" not in output


async def test_stopping_waits_for_a_running_step_job_without_a_cancelled_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A job in progress when the bot stops finishes; APScheduler never sees it cancelled."""
    from bot.resilience import Resilience
    from storage.health import DatabaseHealth
    from storage.uow import Store

    url = sqlite(tmp_path)
    store = Store.from_url(url)
    store.upgrade()
    stopping = asyncio.Event()
    jobs = JobScheduler(
        make_settings(url),
        store,
        FakeClock(),
        key="shutdown-test",
        resilience=Resilience(DatabaseHealth(), stopping),
    )
    started, finished = asyncio.Event(), asyncio.Event()

    class SlowRunner:
        planner = type("P", (), {"tz": "Europe/Paris"})()
        database = InlineDatabase()

        async def tick(self) -> int:
            started.set()
            await asyncio.sleep(0.5)  # a step being executed (room lookup, say)
            finished.set()
            return 0

        def digest(self) -> int:
            return 0

        def morning_notes(self) -> int:
            return 0

    caplog.set_level(logging.INFO)
    await jobs.start(SlowRunner())  # type: ignore[arg-type]
    try:
        await asyncio.wait_for(started.wait(), 30)
        stopping.set()
        await jobs.stop_gracefully()
    finally:
        jobs.stop()
        store.close()
    assert finished.is_set()
    assert "CancelledError" not in caplog.text
    assert "Traceback" not in caplog.text
