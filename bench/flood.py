"""Replies served in turn while one agent floods the bot (issue #31), on a real Synapse.

Usage: python bench/flood.py [--rate 1] [--pace 5] [--seconds 12]

pixbot (the real App on the Matrix platform, ``[matrix] rate_limit`` = ``--rate``) and three
E2EE people: a flooder who writes ``aide`` ``--pace`` times a second for ``--seconds`` seconds
(the per-sender limit then answers once and goes silent, as in production), another agent who
writes ``aide`` and the ambassador who writes ``campagne liste`` halfway through the flood.

Printed: how long each of them waited for the reply (seconds, from their message to the reply
read from the homeserver) when the bot is idle and during the flood, and how many of the bot's
messages went out between their message and their reply. Target: within a second or two of the
idle figure.
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

from bench.matrix_fleet import Pixbot, quiet_logs, synapse_bench  # noqa: E402
from tests.helpers.matrix_client import MatrixUser  # noqa: E402


async def timed(person: MatrixUser, text: str, expect: str) -> float:
    started = time.monotonic()
    await person.say(text, expect, within=120)
    return time.monotonic() - started


async def main_async(args: argparse.Namespace) -> None:
    async with synapse_bench("pixbot-flood-", {}) as (directory, server, stack):
        people = {
            name: MatrixUser(server, directory / name, prefix=name, request_timeout=120)
            for name in ("flooder", "other")
        }
        ids = [person.user_id for person in people.values()]
        pixbot = Pixbot(server, directory / "pixbot", ids, rate_limit=args.rate)
        stack.push_async_callback(pixbot.close)
        await pixbot.start()
        amb = pixbot.ambassador
        sent: list[str] = []
        send = pixbot.platform.send

        async def counting_send(message):  # type: ignore[no-untyped-def]
            result = await send(message)
            sent.append(result.conversation_id or "")
            return result

        pixbot.platform.send = counting_send  # type: ignore[method-assign]
        for person in people.values():
            person.bot_id = pixbot.user_id
            await person.login()
            stack.push_async_callback(person.close)
            await person.open_dm()
            await person.say("aide", "aide", within=120)
        flooder, other = people["flooder"], people["other"]

        idle = {
            "aide (agent)": await timed(other, "aide", "aide"),
            "campagne liste (ambassadeur)": await timed(amb, "campagne liste", "ABCDEF234"),
        }

        async def flood() -> None:
            assert flooder.dm is not None
            for number in range(int(args.pace * args.seconds)):
                await flooder.send_text(flooder.dm, f"aide {number}")
                await asyncio.sleep(1 / args.pace)

        flooding = asyncio.create_task(flood())
        await asyncio.sleep(args.seconds / 2)
        assert other.dm is not None and amb.dm is not None
        before = {"aide (agent)": len(sent), "campagne liste (ambassadeur)": len(sent)}
        waits = await asyncio.gather(
            timed(other, "aide", "aide"), timed(amb, "campagne liste", "ABCDEF234")
        )
        flooded = dict(zip(idle, waits, strict=True))
        rooms = {"aide (agent)": other.dm, "campagne liste (ambassadeur)": amb.dm}
        ahead = {
            name: sent.index(rooms[name], before[name]) - before[name]
            if rooms[name] in sent[before[name] :]
            else -1
            for name in idle
        }
        await flooding
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"bench/flood.py — flooder {args.pace}/s for {args.seconds:.0f} s, "
        f"pixbot rate_limit {args.rate}/s; load average {load} on {os.cpu_count()} CPUs"
    )
    print(f"{'':32} {'idle':>8} {'flood':>8} {'ahead':>6}")
    for name in idle:
        print(f"{name:32} {idle[name]:7.1f}s {flooded[name]:7.1f}s {ahead[name]:6d}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1.0)
    parser.add_argument("--pace", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=12.0)
    args = parser.parse_args()
    quiet_logs()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
