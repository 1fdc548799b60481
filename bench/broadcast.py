"""Matrix broadcast benchmark: pixbot's ``campagne lancer`` against a bare matrix-nio loop.

Usage: python bench/broadcast.py [--n 200] [--within 900]

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

    @property
    def rate(self) -> float:
        return self.reached / self.last if self.last > 0 else 0.0


async def floor_loop(server: SynapseServer, directory: Path, agents: list[str]) -> RequestLog:
    """The bare nio loop: one new encrypted direct room and one message per agent."""
    localpart, password = unique("floor"), "floor-password"
    user_id, _ = await asyncio.to_thread(server.register, localpart, password)
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    client = AsyncClient(
        server.base_url,
        user_id,
        device_id="FLOORBOT",
        store_path=str(directory),
        config=AsyncClientConfig(
            encryption_enabled=True, max_limit_exceeded=0, max_timeouts=0, request_timeout=60
        ),
    )
    requests = RequestLog()
    requests.wrap(client)
    try:
        login = await client.login(password)
        assert isinstance(login, LoginResponse), login
        if client.should_upload_keys:
            await client.keys_upload()
        await client.sync(timeout=0, full_state=True)
        requests.clear()
        FLOOR.started = time.monotonic()
        FLOOR.user_id = user_id
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
    return requests


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
        log = await floor_loop(server, directory / "floor", agents)
        ok = await fleet.wait_all(FLOOR.user_id, args.within)
        times = fleet.first_times(FLOOR.user_id)
        results.append(
            Result(
                "bare matrix-nio loop",
                FLOOR.sent,
                len(times),
                (times[0] - FLOOR.started) if times else 0.0,
                (times[-1] - FLOOR.started) if times and ok else float("nan"),
                sum(log.calls.values()),
            )
        )

        # (b) pixbot
        pixbot = Pixbot(server, directory / "pixbot", agents, rate_limit=args.rate_limit)
        stack.push_async_callback(pixbot.close)
        await pixbot.start()
        pixbot.requests.clear()
        started = time.monotonic()
        await pixbot.launch()
        ok = await fleet.wait_all(pixbot.user_id, args.within)
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
            f"{'invit./s':>9} {'requests':>9} {'req/invit.':>10}"
        )
        for r in results:
            print(
                f"{r.label:<24} {r.sent:>5} {r.reached:>5} {r.first:>8.2f} {r.last:>8.2f} "
                f"{r.rate:>9.2f} {r.calls:>9} {r.calls / max(1, r.sent):>10.1f}"
            )
        floor, ours = results
        ratio = ours.rate / floor.rate if floor.rate else 0.0
        print(f"pixbot agents without exactly one invitation: {duplicates}")
        print("requests (count/time waiting for the answers):")
        print(f"  floor: {log.summary()}")
        print(f"  pixbot: {pixbot.requests.summary()}")
        print(f"ratio pixbot/nio = {ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--within", type=float, default=900.0, help="seconds allowed per case")
    parser.add_argument(
        "--rate-limit", type=float, default=1000.0, help="pixbot's [matrix] rate_limit (msg/s)"
    )
    quiet_logs()
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
