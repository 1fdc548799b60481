"""Simulation: how long to reach N agents under a per-account limit L with K sender accounts.

Usage: python bench/simulate.py [--n 20000 100000] [--rate 1.0] [--accounts 1 2 4 8]
                                [--hours 09:30-17:00] [--reminders 3] [--reply-share 0.05]

Nothing is sent: a capacity model of the outbox. Each agent is pinned to one of K bot accounts
by consistent hashing (real hashing of N agent ids, so K accounts share the load unevenly, as
they would); each account sends at most L messages per second, only inside working hours on
working days (Mon–Fri), and the busiest account sets the pace. A launch enqueues one
invitation per agent; each reminder step (J-7, J-2, J-0 by default) enqueues one per agent
still due (``--due-share`` of the audience), all at the same instant: the reminder peaks.
Conversation replies (``--reply-share`` of the sends) take their share of the budget first.
Prints, per K: the sending hours of the busiest account and the working days a launch and a
reminder peak span, and the sending hours of a whole campaign.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import math
from collections import Counter
from dataclasses import dataclass


def ring(accounts: int, replicas: int = 200) -> list[tuple[int, int]]:
    points = []
    for account in range(accounts):
        for replica in range(replicas):
            digest = hashlib.sha1(f"bot{account}-{replica}".encode()).digest()
            points.append((int.from_bytes(digest[:8], "big"), account))
    return sorted(points)


def pin(agent: str, points: list[tuple[int, int]]) -> int:
    """The account an agent is pinned to (consistent hashing: adding an account moves ~1/K)."""
    value = int.from_bytes(hashlib.sha1(agent.encode()).digest()[:8], "big")
    index = bisect.bisect(points, (value, -1)) % len(points)
    return points[index][1]


@dataclass(frozen=True)
class Window:
    start_minute: int  # minutes after midnight
    end_minute: int

    @classmethod
    def parse(cls, text: str) -> Window:
        start, end = text.split("-")
        to_minutes = lambda hhmm: int(hhmm[:2]) * 60 + int(hhmm[3:])  # noqa: E731
        return cls(to_minutes(start), to_minutes(end))

    @property
    def minutes(self) -> int:
        return self.end_minute - self.start_minute


def working_minutes_needed(load: int, per_minute: float) -> float:
    return load / per_minute if per_minute else math.inf


def simulate(
    n: int, accounts: int, rate: float, window: Window, reply_share: float
) -> tuple[float, float, float, int]:
    """(sending hours of the busiest account, working days, spread max/mean, busiest load)."""
    points = ring(accounts)
    loads = Counter(pin(f"@agent{i}:ministere.gouv.fr", points) for i in range(n))
    busiest = max(loads.values())
    per_minute = rate * 60 * (1 - reply_share)
    minutes = working_minutes_needed(busiest, per_minute)
    days = minutes / window.minutes
    spread = busiest / (n / accounts)
    return minutes / 60, days, spread, busiest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--rate", type=float, default=1.0, help="messages/s per account")
    parser.add_argument("--accounts", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--hours", default="09:30-17:00")
    parser.add_argument("--reminders", type=int, default=3)
    parser.add_argument("--due-share", type=float, default=0.6)
    parser.add_argument("--reply-share", type=float, default=0.05)
    args = parser.parse_args()
    window = Window.parse(args.hours)
    print(
        f"bench/simulate.py — limit {args.rate:g} msg/s per account, working hours {args.hours} "
        f"({window.minutes / 60:.1f} h/day, Mon–Fri), {args.reply_share:.0%} of the budget kept "
        f"for replies, reminder peaks at {args.due_share:.0%} of the audience"
    )
    header = (
        f"{'agents':>8} {'K':>3} {'busiest':>8} {'spread':>7} {'launch h':>9} "
        f"{'launch days':>11} {'peak h':>7} {'peak days':>9} {'campaign h':>10}"
    )
    print(header)
    for n in args.n:
        for k in args.accounts:
            hours, days, spread, busiest = simulate(n, k, args.rate, window, args.reply_share)
            peak_hours = hours * args.due_share
            peak_days = days * args.due_share
            total = hours + args.reminders * peak_hours
            print(
                f"{n:>8} {k:>3} {busiest:>8} {spread:>7.2f} {hours:>9.1f} {days:>11.1f} "
                f"{peak_hours:>7.1f} {peak_days:>9.1f} {total:>10.1f}"
            )
    print(
        "launch h: sending time of the busiest account; days: working days it spans. A "
        "reminder step must fit between two steps (J-2 → J-0 is 2 working days)."
    )


if __name__ == "__main__":
    main()
