"""Matrix broadcast under a rate limit: the homeserver and pixbot both at 2 messages per second.

Usage: python bench/throttled.py [--n 60] [--rate 2] [--burst 2]

A local Synapse (``tests/helpers/synapse.py``) whose ``rc_message`` limit — the one Synapse
applies to each user's message sends *and room creations* — is ``--rate`` per second with a
burst of ``--burst``; pixbot's own limiter (``[matrix] rate_limit``) is set to the same rate.
N agents are real E2EE clients (``bench/matrix_fleet.py``); an ambassador types
``campagne lancer`` and pixbot (the real App on the Matrix platform) invites every agent in a
new encrypted direct room.

Printed: the rate of requests counted by ``rc_message`` that the homeserver accepted (room
creations and message sends, from the first to the last) against the allowed rate, the
invitations per second (each new direct room costs two such requests, so at most half the
allowed rate), the number of 429 answers the bot received (every HTTP request of its nio client
is counted), and whether nothing was lost: every agent read exactly one invitation, every
outbox row is ``sent``. Target (issue #14): ≥ 95 % of the allowed rate with 0 × 429.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.matrix_fleet import Fleet, Pixbot, is_invitation, quiet_logs, synapse_bench  # noqa: E402


async def main_async(args: argparse.Namespace) -> None:
    limit = {"per_second": args.rate, "burst_count": args.burst}
    overrides = {"rc_message": limit}
    async with synapse_bench("pixbot-throttled-", overrides) as (directory, server, stack):
        fleet = await Fleet.start(server, args.n, directory / "agents", "agent")
        stack.push_async_callback(fleet.close)
        pixbot = Pixbot(server, directory / "pixbot", fleet.ids, rate_limit=args.rate)
        stack.push_async_callback(pixbot.close)
        await pixbot.start()
        log = pixbot.requests
        log.clear()
        started = time.monotonic()
        await pixbot.launch()
        complete = await fleet.wait_all(pixbot.user_id, args.within)
        await fleet.settle(3.0)
        times = fleet.first_times(pixbot.user_id)
        counts = pixbot.invitation_counts()
        boxes = fleet.got[pixbot.user_id]
        exactly_one = sum(
            1 for agent in fleet.ids if len([d for d in boxes[agent] if is_invitation(d.body)]) == 1
        )
        limited = sorted(log.limited_ok)
        window = limited[-1] - limited[0] if len(limited) > 1 else 0.0
        request_rate = (len(limited) - 1) / window if window else 0.0
        last = times[-1] - started if times and complete else float("nan")
        invitation_rate = len(times) / last if last == last and last > 0 else 0.0
        load = os.getloadavg()
        print(
            f"bench/throttled.py — N = {args.n} E2EE agents; Synapse rc_message {args.rate:g}/s "
            f"(burst {args.burst:g}), pixbot rate_limit {args.rate:g}/s; load average "
            f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} CPUs"
        )
        rows = [
            ("rc_message requests accepted", f"{len(limited)}"),
            ("  of which room creations", f"{log.calls['POST createRoom']}"),
            ("  of which message sends", f"{log.calls['PUT rooms/send']}"),
            ("request rate, first to last (/s)", f"{request_rate:.3f}"),
            ("achieved / allowed", f"{request_rate / args.rate:.1%}"),
            ("invitations read by agents", f"{len(times)} / {args.n}"),
            ("time to first / last invitation (s)", f"{times[0] - started:.1f} / {last:.1f}"),
            ("invitations/s (allowed: rate / 2)", f"{invitation_rate:.3f}"),
            ("  of allowed", f"{invitation_rate / (args.rate / 2):.1%}"),
            ("429 responses received by the bot", f"{sum(log.throttled.values())}"),
            ("agents with exactly one invitation", f"{exactly_one} / {args.n}"),
            ("outbox invitation rows", ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))),
        ]
        for name, value in rows:
            print(f"{name:<40} {value:>14}")
        lost = exactly_one != args.n or counts != {"sent": args.n}
        print("nothing lost" if not lost else "SOMETHING LOST OR DUPLICATED")
        if log.throttled:
            print("429 by request: " + ", ".join(f"{k} {v}" for k, v in log.throttled.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--rate", type=float, default=2.0, help="messages per second, both sides")
    parser.add_argument("--burst", type=float, default=2.0, help="Synapse's burst_count")
    parser.add_argument("--within", type=float, default=600.0, help="seconds allowed")
    quiet_logs()
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
