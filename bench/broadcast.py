"""Matrix broadcast benchmark: pixbot's ``campagne lancer`` against a bare matrix-nio loop.

Usage: python bench/broadcast.py [--n 200] [--within 900]
       python bench/broadcast.py --senders K [--n 80] [--rate 2] [--burst 4]

A local Synapse (the tests' fixture code, ``tests/helpers/synapse.py``, rate limits lifted)
and N agents as real E2EE matrix-nio clients (``bench/matrix_fleet.py``: logged in, keys
uploaded, long-polling ``/sync`` in one child process, joining invitations and decrypting).
Then, in one run, two bot accounts each open a new encrypted direct room with every agent and
send one encrypted message:

(a) the floor: a bare nio loop, one agent after the other — ``room_create`` with pixbot's
    parameters (``is_direct``, ``trusted_private_chat``, ``m.room.encryption`` in the initial
    state, the agent invited), the room's state recorded locally from what was just created
    (encrypted; the bot joined, the agent invited), the agent's device keys queried, then
    ``room_send`` of an ``m.notice`` with ``ignore_unverified_devices=True`` (nio claims
    one-time keys and shares the room key by to-device messages first);
(b) pixbot: the real App on the Matrix platform (a separate bot account, so the rooms are new
    too); an E2EE ambassador types ``campagne lancer`` in their direct room with the bot.

Each case is timed from its start (the loop's first request; the ambassador's command) until
every agent has read (decrypted) its message. Printed: rates in invitations per second, the
time to the first and the last delivery, and ``ratio pixbot/nio`` (target ≥ 0.8 at N = 200).

With ``--senders K`` (issue #29) the homeserver's ``rc_message`` is on — ``--rate`` per second
and account, burst ``--burst``, no account exempted — and both sides send from K accounts:
(a) K bare nio loops side by side, each over its share of the agents (the same consistent
hashing as pixbot), nio waiting out each 429 itself; (b) pixbot's pool of K accounts
(``[[matrix.senders]]``), each paced at ``--rate``. Printed for each: the rc_message requests
(room creations and sends) the homeserver accepted per second, first to last, against K × rate
(the goal: ≥ 0.9), the invitations per second against K × rate / 2 (a new room costs a request
too), the 429 answers, and the agents who read exactly one invitation; then ``speed-up against
K × one account's allowed rate`` and ``ratio pixbot/nio with the same K``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nio import (  # noqa: E402
    AsyncClient,
    AsyncClientConfig,
    LoginResponse,
    MatrixRoom,
    RoomCreateResponse,
    RoomPreset,
    RoomSendResponse,
)

from bench.matrix_fleet import Fleet, Pixbot, RequestLog, is_invitation, quiet_logs, synapse_bench  # noqa: E402
from bot.platforms.matrix.ring import HashRing  # noqa: E402
from tests.helpers.matrix_client import MEGOLM, unique  # noqa: E402
from tests.helpers.synapse import SynapseServer  # noqa: E402

# About the length of pixbot's invitation, so both bots encrypt and send the same amount.
FLOOR_TEXT = (
    "Bonjour, vous êtes invité·e à passer la campagne Pix « Cybersécurité » avant le "
    "31/12/2026 : https://app.pix.fr/campagnes/ABCDEF234 . Répondez « c'est fait » quand "
    "vous avez terminé, « plus tard » pour un rappel, ou « stop » pour ne plus rien recevoir."
)


@dataclass
class Result:
    label: str
    sent: int
    reached: int
    first: float
    last: float
    calls: int
    cpu: float  # CPU seconds of this process (the sender; agents and Synapse are others)

    @property
    def rate(self) -> float:
        return self.reached / self.last if self.last > 0 else 0.0


async def floor_loop(server: SynapseServer, directory: Path, agents: list[str]) -> RequestLog:
    """The bare nio loop: one new encrypted direct room and one message per agent."""
    client, requests = await floor_client(server, directory, max_limit_exceeded=0)
    FLOOR.started = time.monotonic()
    FLOOR.user_id = client.user_id
    await floor_sends(client, agents, requests)
    return requests


async def floor_client(
    server: SynapseServer, directory: Path, *, max_limit_exceeded: int | None
) -> tuple[AsyncClient, RequestLog]:
    """A bare nio client of a new account, logged in, keys uploaded, first sync done.
    ``max_limit_exceeded``: 0 hands 429s back; None lets nio wait and retry by itself."""
    localpart, password = unique("floor"), "floor-password"
    user_id, _ = await asyncio.to_thread(server.register, localpart, password)
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    client = AsyncClient(
        server.base_url,
        user_id,
        device_id="FLOORBOT",
        store_path=str(directory),
        config=AsyncClientConfig(
            encryption_enabled=True,
            max_limit_exceeded=max_limit_exceeded,
            max_timeouts=0,
            request_timeout=60,
        ),
    )
    requests = RequestLog()
    requests.wrap(client)
    login = await client.login(password)
    assert isinstance(login, LoginResponse), login
    if client.should_upload_keys:
        await client.keys_upload()
    await client.sync(timeout=0, full_state=True)
    requests.clear()
    return client, requests


async def floor_sends(client: AsyncClient, agents: list[str], requests: RequestLog) -> None:
    """One new encrypted direct room and one message per agent, one after the other."""
    user_id = client.user_id
    try:
        for agent in agents:
            created = await client.room_create(
                is_direct=True,
                preset=RoomPreset.trusted_private_chat,
                invite=[agent],
                initial_state=[
                    {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}}
                ],
            )
            assert isinstance(created, RoomCreateResponse), created
            room = MatrixRoom(created.room_id, user_id, encrypted=True)
            room.add_member(user_id, None, None)
            room.add_member(agent, None, None, invited=True)
            room.members_synced = True
            client.rooms[room.room_id] = room
            client.encrypted_rooms.add(room.room_id)
            assert client.olm is not None
            client.olm.update_tracked_users(room)
            if client.should_query_keys:
                await client.keys_query()
            sent = await client.room_send(
                room.room_id,
                "m.room.message",
                {"msgtype": "m.notice", "body": FLOOR_TEXT},
                ignore_unverified_devices=True,
            )
            assert isinstance(sent, RoomSendResponse), sent
            FLOOR.sent += 1
    finally:
        await client.close()


@dataclass
class _Floor:
    user_id: str = ""
    started: float = 0.0
    sent: int = 0


FLOOR = _Floor()


async def main_async(args: argparse.Namespace) -> None:
    results: list[Result] = []
    async with synapse_bench("pixbot-broadcast-") as (directory, server, stack):
        began = time.monotonic()
        fleet = await Fleet.start(server, args.n, directory / "agents", "agent")
        stack.push_async_callback(fleet.close)
        setup = time.monotonic() - began
        agents = fleet.ids

        # (a) the floor
        cpu = time.process_time()
        log = await floor_loop(server, directory / "floor", agents)
        ok = await fleet.wait_all(FLOOR.user_id, args.within)
        cpu = time.process_time() - cpu
        times = fleet.first_times(FLOOR.user_id)
        results.append(
            Result(
                "bare matrix-nio loop",
                FLOOR.sent,
                len(times),
                (times[0] - FLOOR.started) if times else 0.0,
                (times[-1] - FLOOR.started) if times and ok else float("nan"),
                sum(log.calls.values()),
                cpu,
            )
        )

        # (b) pixbot
        pixbot = Pixbot(server, directory / "pixbot", agents, rate_limit=args.rate_limit)
        stack.push_async_callback(pixbot.close)
        await pixbot.start()
        pixbot.requests.clear()
        started, cpu = time.monotonic(), time.process_time()
        await pixbot.launch()
        ok = await fleet.wait_all(pixbot.user_id, args.within)
        cpu = time.process_time() - cpu
        times = fleet.first_times(pixbot.user_id)
        calls = sum(pixbot.requests.calls.values())
        await fleet.settle(2.0)
        counts = pixbot.invitation_counts()
        results.append(
            Result(
                "pixbot campagne lancer",
                counts.get("sent", 0),
                len(times),
                (times[0] - started) if times else 0.0,
                (times[-1] - started) if times and ok else float("nan"),
                calls,
                cpu,
            )
        )
        duplicates = sum(
            1
            for box in fleet.got[pixbot.user_id].values()
            if len([d for d in box if is_invitation(d.body)]) != 1
        )
        load = os.getloadavg()
        print(
            f"bench/broadcast.py — N = {args.n} E2EE agents, Synapse on loopback (limits "
            f"lifted), setup {setup:.0f} s, load average {load[0]:.1f} {load[1]:.1f} "
            f"{load[2]:.1f} on {os.cpu_count()} CPUs"
        )
        print(
            f"{'case':<24} {'sent':>5} {'read':>5} {'first s':>8} {'last s':>8} "
            f"{'invit./s':>9} {'requests':>9} {'req/invit.':>10} {'CPU ms/invit.':>13}"
        )
        for r in results:
            print(
                f"{r.label:<24} {r.sent:>5} {r.reached:>5} {r.first:>8.2f} {r.last:>8.2f} "
                f"{r.rate:>9.2f} {r.calls:>9} {r.calls / max(1, r.sent):>10.1f} "
                f"{1000 * r.cpu / max(1, r.reached):>13.1f}"
            )
        print(ceiling_line([(r.label, r.cpu, r.reached) for r in results]))
        floor, ours = results
        ratio = ours.rate / floor.rate if floor.rate else 0.0
        print(f"pixbot agents without exactly one invitation: {duplicates}")
        print("requests (count/time waiting for the answers):")
        print(f"  floor: {log.summary()}")
        print(f"  pixbot: {pixbot.requests.summary()}")
        print(f"ratio pixbot/nio = {ratio:.2f}")


@dataclass
class PoolCase:
    """One side of the ``--senders`` run: K accounts sending under the homeserver's limit."""

    label: str
    accounts: list[str]
    requests: list[float]  # times of the rc_message requests the homeserver accepted
    throttled: int
    started: float
    times: list[float]
    complete: bool
    exactly_one: int
    cpu: float  # CPU seconds of this process from the first request to the last read

    @property
    def request_rate(self) -> float:
        ok = sorted(self.requests)
        window = ok[-1] - ok[0] if len(ok) > 1 else 0.0
        return (len(ok) - 1) / window if window else 0.0

    @property
    def last(self) -> float:
        return self.times[-1] - self.started if self.times and self.complete else float("nan")

    @property
    def invitation_rate(self) -> float:
        last = self.last
        return len(self.times) / last if last == last and last > 0 else 0.0


def exactly_one(fleet: Fleet, accounts: list[str]) -> int:
    """Agents who read exactly one invitation, from exactly one of ``accounts``."""
    count = 0
    for agent in fleet.ids:
        got = [d for a in accounts for d in fleet.got[a].get(agent, []) if is_invitation(d.body)]
        senders = {a for a in accounts if fleet.got[a].get(agent)}
        count += len(got) == 1 and len(senders) == 1
    return count


async def pool_main_async(args: argparse.Namespace) -> None:
    """``--senders K``: K accounts against K bare nio loops, rc_message on, none exempted."""
    k, rate = args.senders, args.rate
    overrides = {"rc_message": {"per_second": rate, "burst_count": args.burst}}
    cases: list[PoolCase] = []
    async with synapse_bench("pixbot-broadcast-pool-", overrides) as (directory, server, stack):
        fleet = await Fleet.start(server, args.n, directory / "agents", "agent")
        stack.push_async_callback(fleet.close)
        agents = fleet.ids

        # pixbot's accounts first: their shares of the agents (consistent hashing) are the
        # floor's too, so both sides carry the same load per account.
        pixbot = Pixbot(server, directory / "pixbot", agents, rate_limit=rate, senders=k)
        stack.push_async_callback(pixbot.close)
        ring = HashRing(pixbot.user_ids)
        shares = [[a for a in agents if ring.account_for(a) == user] for user in pixbot.user_ids]

        # (a) the floor: K bare nio loops side by side, each over one of those shares, nio
        # waiting out each 429 by itself.
        clients = [
            await floor_client(server, directory / f"floor{i}", max_limit_exceeded=None)
            for i in range(k)
        ]
        floor_ids = [client.user_id for client, _ in clients]
        started, cpu = time.monotonic(), time.process_time()
        pairs = zip(clients, shares, strict=True)
        await asyncio.gather(*(floor_sends(client, share, log) for (client, log), share in pairs))
        complete = await fleet.wait_all(floor_ids, args.within)
        cpu = time.process_time() - cpu
        await fleet.settle(2.0)
        cases.append(
            PoolCase(
                f"bare nio, {k} account(s)",
                floor_ids,
                [t for _, log in clients for t in log.limited_ok],
                sum(sum(log.throttled.values()) for _, log in clients),
                started,
                fleet.first_times(floor_ids),
                complete,
                exactly_one(fleet, floor_ids),
                cpu,
            )
        )

        # (b) pixbot: one account, or a pool of K (bot/platforms/matrix/pool.py)
        await pixbot.start()
        pixbot.requests.clear()
        started, cpu = time.monotonic(), time.process_time()
        await pixbot.launch()
        complete = await fleet.wait_all(pixbot.user_ids, args.within)
        cpu = time.process_time() - cpu
        await fleet.settle(2.0)
        counts = pixbot.invitation_counts()
        cases.append(
            PoolCase(
                f"pixbot, {k} account(s)",
                pixbot.user_ids,
                list(pixbot.requests.limited_ok),
                sum(pixbot.requests.throttled.values()),
                started,
                fleet.first_times(pixbot.user_ids),
                complete,
                exactly_one(fleet, pixbot.user_ids),
                cpu,
            )
        )
    allowed = k * rate
    load = os.getloadavg()
    print(
        f"bench/broadcast.py --senders {k} — N = {args.n} E2EE agents; Synapse rc_message "
        f"{rate:g}/s per account (burst {args.burst:g}), no account exempted; pixbot "
        f"rate_limit {rate:g}/s per account; load average {load[0]:.1f} {load[1]:.1f} "
        f"{load[2]:.1f} on {os.cpu_count()} CPUs"
    )
    print(
        f"{'case':<26} {'read':>5} {'last s':>7} {'req/s':>7} {'of K×rate':>9} "
        f"{'invit./s':>8} {'of K×rate/2':>11} {'429':>4} {'exactly 1':>9}"
    )
    for case in cases:
        print(
            f"{case.label:<26} {len(case.times):>5} {case.last:>7.1f} {case.request_rate:>7.2f} "
            f"{case.request_rate / allowed:>9.1%} {case.invitation_rate:>8.2f} "
            f"{case.invitation_rate / (allowed / 2):>11.1%} {case.throttled:>4} "
            f"{case.exactly_one:>9}"
        )
    floor, ours = cases
    # The busiest account bounds the whole: two requests per agent (a new room, a message).
    busiest = max(len(share) for share in shares)
    bound = 2 * busiest / rate
    print(f"outbox invitation rows: {', '.join(f'{s} {n}' for s, n in sorted(counts.items()))}")
    print(
        f"agents per account: {sorted((len(share) for share in shares), reverse=True)}; the "
        f"busiest account needs {bound:.1f} s at {rate:g}/s"
    )
    for case in cases:
        print(f"  {case.label}: {bound / case.last if case.last == case.last else 0:.2f} of that")
    print(f"speed-up against K × one account's allowed rate = {ours.request_rate / allowed:.2f}")
    ratio = ours.invitation_rate / floor.invitation_rate if floor.invitation_rate else 0.0
    print(f"ratio pixbot/nio with the same K = {ratio:.2f}")
    print(ceiling_line([(case.label, case.cpu, len(case.times)) for case in cases]))


def ceiling_line(cases: list[tuple[str, float, int]]) -> str:
    """What one core could carry at the CPU each side spent per invitation read: where the
    machine, not the homeserver, bounds a run (a loaded host, K × rate above it), this says
    whether the sending process itself would keep up on a host of its own."""
    parts = []
    for label, cpu, reached in cases:
        per = cpu / reached if reached else float("nan")
        ceiling = 1 / per if per > 0 else float("inf")
        parts.append(f"{label}: {1000 * per:.1f} ms, {ceiling:.0f} invitations/s per core")
    return "sender CPU per invitation (this process) — " + "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--within", type=float, default=900.0, help="seconds allowed per case")
    parser.add_argument(
        "--rate-limit", type=float, default=1000.0, help="pixbot's [matrix] rate_limit (msg/s)"
    )
    parser.add_argument(
        "--senders",
        type=int,
        default=0,
        help="K sending accounts under Synapse's rate limit (pixbot's pool against K bare nio "
        "loops); 0: one account each, limits lifted",
    )
    parser.add_argument("--rate", type=float, default=2.0, help="--senders: rc_message per second")
    parser.add_argument("--burst", type=float, default=4.0, help="--senders: its burst_count")
    quiet_logs()
    args = parser.parse_args()
    asyncio.run(pool_main_async(args) if args.senders else main_async(args))


if __name__ == "__main__":
    main()
