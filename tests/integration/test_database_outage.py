"""Nothing is lost, nothing is sent twice, when the database fails (issue #17).

A private PostgreSQL server (initdb/pg_ctl on its own port) is restarted under real bot
processes; the console journal counts every delivery, whichever process made it. Every wait is
bounded; no assertion depends on how long something took.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.console_process import (
    ConsoleBot,
    agents,
    invitations,
    launch_lines,
    lock_holder,
    populate,
)
from tests.helpers.pgserver import PrivatePostgres, wait_until

pytestmark = pytest.mark.postgres
AGENTS = 3000
WAIT = 300.0  # upper bound for a 3,000-agent launch on a loaded machine


def test_console_launch_completes_across_a_database_restart(
    private_pg: PrivatePostgres, pg_url: str, tmp_path: Path
) -> None:
    populate(pg_url, AGENTS)
    bot = ConsoleBot(pg_url, tmp_path)
    try:
        bot.write(launch_lines())
        bot.close_input()
        wait_until(lambda: sum(invitations(tmp_path).values()) >= 300, WAIT, "the launch")
        private_pg.restart()  # AdminShutdown for every connection, then a fresh server
        code = bot.wait(WAIT)
    finally:
        bot.kill()
    output = bot.output()
    received = invitations(tmp_path)
    assert code == 0, output[-3000:]
    assert "Traceback" not in output
    assert sorted(received) == sorted(agents(AGENTS))
    assert set(received.values()) == {1}  # every agent invited exactly once
    assert "Base de données indisponible" in output  # one line for the outage…
    assert output.count("Base de données indisponible") <= 3  # …not one per attempt


def test_two_instances_across_a_database_restart_never_both_send(
    private_pg: PrivatePostgres, pg_url: str, tmp_path: Path
) -> None:
    populate(pg_url, AGENTS)
    first = ConsoleBot(pg_url, tmp_path)
    second: ConsoleBot | None = None
    try:
        wait_until(lambda: (lock_holder(pg_url) or "").endswith(f":{first.pid}"), 60, "A active")
        second = ConsoleBot(pg_url, tmp_path)
        wait_until(lambda: "attend en secours" in second.output(), 60, "B attend en secours")
        first.write(launch_lines())
        wait_until(lambda: sum(invitations(tmp_path).values()) >= 300, WAIT, "the launch")
        private_pg.restart()
        wait_until(lambda: len(invitations(tmp_path)) == AGENTS, WAIT, "every invitation")
        received = invitations(tmp_path)
        assert set(received.values()) == {1}, "an agent was invited twice"
        for bot in (first, second):
            bot.terminate()
        codes = {first.wait(60), second.wait(60)}
    finally:
        first.kill()
        if second is not None:
            second.kill()
    # The one that lost the lock to the other steps down (75); the other stops cleanly (0).
    assert codes <= {0, 75}
    for bot in (first, second):
        assert "Traceback" not in bot.output()


async def test_slack_event_during_an_outage_is_handled_once_after_it(
    private_pg: PrivatePostgres, pg_url: str
) -> None:
    """Signed Slack events (and Slack's redelivery of one) arrive while PostgreSQL is stopped:
    each is answered exactly once when it is back, by the same process."""
    import asyncio
    import json

    import aiohttp

    from bot.app import App
    from storage.uow import Store
    from tests.helpers.bot import make_settings
    from tests.helpers.slack import (
        FakeSlack,
        dm,
        envelope,
        events_url,
        make_platform,
        signed_post,
    )

    session = aiohttp.ClientSession()

    async def post(body: str, headers: dict[str, str] | None = None) -> int:
        port = platform.bound_port
        return (await signed_post(session, events_url(port), body, headers=headers))[0]

    fake = FakeSlack()
    api = aiohttp.web.Application()
    api.router.add_route("*", "/api/{method}", fake.handle)
    runner = aiohttp.web.AppRunner(api, access_log=None, shutdown_timeout=1)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.port = runner.addresses[0][1]
    store = Store.from_url(pg_url)
    store.upgrade()
    platform = make_platform(fake)
    app = App(make_settings(pg_url), store, platform)
    running = asyncio.ensure_future(app.run())
    try:
        await asyncio.wait_for(platform.listening.wait(), 60)
        await asyncio.to_thread(private_pg.stop)
        question = json.dumps(envelope(dm("aide", ts="1700000500.000001"), "EvOUTAGE1"))
        assert await post(question) == 200
        retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        assert await post(question, retry) == 200  # Slack redelivers it
        assert await post(json.dumps(envelope(dm("fait", ts="1700000500.000002")))) == 200
        await asyncio.to_thread(private_pg.start)
        sentinel = json.dumps(envelope(dm("aide", ts="1700000500.000003")))
        assert await post(sentinel) == 200
        posts = await asyncio.wait_for(fake.wait_for_posts("DALICE", 3), WAIT)
        assert app.health.outages >= 1 and app.health.up
    finally:
        await asyncio.wait_for(app.request_stop(), 60)
        await asyncio.wait_for(running, 60)
        store.close()
        await runner.cleanup()
        await session.close()
    # One answer to the question (not two: the redelivery is recognised), one to "fait",
    # one to the sentinel sent after the outage — in that order.
    assert len(fake.messages["DALICE"]) == 3
    assert posts[0]["text"] == posts[2]["text"]  # both are the help text
