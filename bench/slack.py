"""Slack broadcast benchmark: two launches to the same N people through pixbot's outbox.

Usage: python bench/slack.py [--n 500] [--speed 10] [--concurrency 8]

A fake Slack Web API (loopback, in this file) answers after ``--latency`` (100 ms) and applies
Slack's tiers: ``conversations.open`` and ``conversations.history`` at Tier 3 (50 per minute,
shared), ``chat.postMessage`` at 1 per second per channel under a workspace ceiling
(``--workspace-rate``, 5 per second: an assumption, Slack documents "several hundred per
minute"); beyond, HTTP 429 with ``Retry-After``. ``--speed`` divides every time by that factor
(the tiers and the latency alike) so that a cold broadcast to 500 people does not take ten
minutes; printed times are converted back to Slack time.

Run 1 (cold): a campaign to N people never written to, so every recipient costs a
``conversations.open``. Run 2 (warm): a new campaign to the same people after a restart (a new
platform object, no in-memory cache): the DM channel ids come from the database and a first
attempt reads no history, so no Tier-3 call per recipient. The allowed rate is the workspace
ceiling; target: run 2 ≥ 0.8 of it with 0 Tier-3 calls per recipient.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aiohttp import web  # noqa: E402

from bot.cli.progress import progress  # noqa: E402
from bot.core import SystemClock  # noqa: E402
from bot.notifier import Notifier  # noqa: E402
from bot.outbox import Dispatcher, RateLimiter  # noqa: E402
from bot.platforms.slack import SlackPlatform  # noqa: E402
from bot.render import Renderer  # noqa: E402
from bot.services.campaigns import CampaignService  # noqa: E402
from storage.repositories.people import AgentRecord  # noqa: E402
from storage.uow import Store  # noqa: E402

TOKEN = "xoxb-bench"
TIER3 = 50 / 60  # calls per second


@dataclass
class Bucket:
    """Slack-side limit: ``rate`` per second with a burst of ``burst``."""

    rate: float
    burst: float
    tokens: float = 0.0
    last: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def take(self) -> float:
        """0 when allowed, else the seconds to wait."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@dataclass
class FakeSlack:
    speed: float
    latency: float
    workspace_rate: float
    calls: Counter[str] = field(default_factory=Counter)
    throttled: Counter[str] = field(default_factory=Counter)
    posts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    channels: dict[str, Bucket] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tier3 = Bucket(TIER3 * self.speed, 5)
        self.workspace = Bucket(self.workspace_rate * self.speed, 5)

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        payload: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            payload.update(await request.json())
        elif request.can_read_body:
            payload.update(await request.post())
        await asyncio.sleep(self.latency / self.speed)
        self.calls[method] += 1
        wait = 0.0
        if method in ("conversations.open", "conversations.history"):
            wait = self.tier3.take()
        elif method == "chat.postMessage":
            channel = str(payload.get("channel"))
            bucket = self.channels.setdefault(channel, Bucket(1.0 * self.speed, 1))
            wait = max(bucket.take(), self.workspace.take())
        if wait > 0:
            self.throttled[method] += 1
            retry = max(1, math.ceil(wait))
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(retry)},
            )
        if method == "auth.test":
            return web.json_response({"ok": True, "user_id": "UBOT", "team_id": "TPIX"})
        if method == "conversations.open":
            return web.json_response({"ok": True, "channel": {"id": "D" + payload["users"][1:]}})
        if method == "conversations.history":
            return web.json_response({"ok": True, "messages": []})
        if method == "chat.postMessage":
            channel = str(payload["channel"])
            self.posts[channel] += 1
            ts = f"1700000000.{sum(self.posts.values()):06d}"
            return web.json_response({"ok": True, "channel": channel, "ts": ts})
        return web.json_response({"ok": False, "error": "unknown_method"}, status=404)


async def broadcast(
    store: Store, fake: FakeSlack, base_url: str, code: str, args: argparse.Namespace
) -> tuple[float, Counter[str], Counter[str], int]:
    """Create and launch a campaign, send it all through a fresh platform; returns
    (Slack-time seconds, calls, 429s, messages sent)."""
    service = CampaignService(Notifier(Renderer("fr", "Europe/Paris"), "fr"), 5)
    now = datetime.now(UTC)
    with store.transaction() as uow:
        campaign = uow.campaigns.create(
            code=code,
            title="Cybersécurité",
            url=f"https://app.pix.fr/campagnes/{code}",
            service="BENCH",
            deadline=date(2027, 1, 31),
            audience_kind="service",
            audience_value="BENCH",
            now=now,
            created_by=None,
        )
        result = service.invite(uow, campaign, service.audience(uow, campaign, now), now, None)
    # Slack time runs --speed times faster here: every pace is scaled alike.
    platform = SlackPlatform(
        bot_token=TOKEN,
        base_url=base_url,
        rate_limit=args.workspace_rate,
        conversation_rate_limit=1.0 * args.speed,
    )
    dispatcher = Dispatcher(
        store,
        platform,
        SystemClock(),
        limiter=RateLimiter(args.workspace_rate * args.speed),
        concurrency=args.concurrency,
        conversation_rate=platform.capabilities.conversation_rate_limit,
    )
    before_calls, before_429 = Counter(fake.calls), Counter(fake.throttled)
    start = time.perf_counter()
    sent = 0
    with progress(result.new, f"broadcast {code}") as bar:
        dispatcher.after_send = lambda _delivery: bar.advance()
        while True:
            sent += await dispatcher.drain()
            with store.transaction() as uow:
                pending = uow.outbox.pending_count()
            if pending == 0:
                break
            if dispatcher.paused_until is not None:
                wait = (dispatcher.paused_until - datetime.now(UTC)).total_seconds()
                await asyncio.sleep(max(0.01, wait))
    elapsed = (time.perf_counter() - start) * args.speed
    await platform.client.session.close() if platform.client.session else None
    return (
        elapsed,
        fake.calls - before_calls,
        fake.throttled - before_429,
        result.new,
    )


async def main_async(args: argparse.Namespace) -> None:
    fake = FakeSlack(args.speed, args.latency, args.workspace_rate)
    app = web.Application()
    app.router.add_route("*", "/api/{method}", fake.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base_url = f"http://127.0.0.1:{runner.addresses[0][1]}/api/"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.from_url(f"sqlite:///{Path(tmp) / 'slack.db'}")
        store.upgrade()
        with store.transaction() as uow:
            uow.people.upsert_many(
                [
                    AgentRecord(f"U{i:08d}", f"Agent {i}", "BENCH", None, None, None)
                    for i in range(args.n)
                ],
                datetime.now(UTC),
            )
        for label, code in (("1 cold", "SLACKONE1"), ("2 warm, after restart", "SLACKTWO2")):
            rows.append((label, *await broadcast(store, fake, base_url, code, args)))
        store.close()
    await runner.cleanup()
    allowed = args.workspace_rate
    print(
        f"bench/slack.py — N = {args.n}, latency {args.latency * 1000:.0f} ms, concurrency "
        f"{args.concurrency}, workspace ceiling {allowed:g} msg/s, Tier 3 = 50/min, "
        f"speed ×{args.speed:g} (times below in Slack time)"
    )
    methods = ("conversations.open", "conversations.history", "chat.postMessage")
    header = f"{'broadcast':<24} {'sent':>5} {'time s':>8} {'msg/s':>7} {'of allowed':>10}"
    print(header + "".join(f" {m:>22}" for m in methods) + f" {'429s':>6}")
    for label, elapsed, calls, throttled, sent in rows:
        rate = sent / elapsed if elapsed else 0.0
        print(
            f"{label:<24} {sent:>5} {elapsed:>8.1f} {rate:>7.2f} {rate / allowed:>10.2f}"
            + "".join(f" {calls[m]:>22}" for m in methods)
            + f" {sum(throttled.values()):>6}"
        )
    warm = rows[-1]
    tier3 = warm[2]["conversations.open"] + warm[2]["conversations.history"]
    print(f"Tier-3 calls per recipient in broadcast 2: {tier3 / max(1, warm[4]):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--workspace-rate", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=8)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
