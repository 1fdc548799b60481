"""The pool of sender accounts on a real Synapse, driven in process (issue #29): each agent hears
from the account they are pinned to, replies leave from the account that received, an account
added tells the people it takes over which account writes to them now, and erasure reaches
every account's direct room. The rate-limited launches through a real process are in
``test_matrix_pool_launch.py``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from nio import UnknownAccountDataEvent

from bot.core import ErasedPerson, Incoming, Outgoing
from bot.platforms.matrix.direct_data import read_direct
from bot.platforms.matrix.pool import MatrixPool
from tests.helpers.matrix_client import WAIT, BotAccount, MatrixUser
from tests.helpers.synapse import SynapseServer

pytestmark = pytest.mark.synapse


class Pool:
    def __init__(self, server: SynapseServer, root: Path, k: int) -> None:
        self.root = root
        self.accounts = [BotAccount(server) for _ in range(k)]

    def platform(self, k: int | None = None) -> MatrixPool:
        accounts = self.accounts[: k or len(self.accounts)]
        return MatrixPool(
            [
                a.platform(self.root / a.localpart, direct_only=index > 0)
                for index, a in enumerate(accounts)
            ]
        )


async def agents(server: SynapseServer, root: Path, n: int) -> list[MatrixUser]:
    people = [MatrixUser(server, root / f"agent{i}", auto_join=True) for i in range(n)]
    await asyncio.gather(*(p.login() for p in people))
    return people


@contextlib.asynccontextmanager
async def run_pool(pool: MatrixPool) -> AsyncIterator[asyncio.Queue[Incoming]]:
    received: asyncio.Queue[Incoming] = asyncio.Queue()

    async def on_message(incoming: Incoming) -> None:
        await received.put(incoming)

    await pool.start()
    task = asyncio.create_task(pool.run(on_message))
    try:
        yield received
    finally:
        await pool.stop()
        await asyncio.wait_for(task, WAIT)


async def texts_from(person: MatrixUser, sender: str) -> list[tuple[str, str]]:
    """(room, body) of every readable message ``sender`` wrote to ``person``."""
    found = []
    for room_id in list(person.client.rooms):
        for event in reversed(await person.history_from(sender, room_id)):
            body = getattr(event, "body", None)
            if body is not None:
                found.append((room_id, body))
    return found


async def wait_text(person: MatrixUser, sender: str, text: str) -> str:
    async def found() -> str | None:
        await person.sync(timeout_ms=500)
        rooms = [room for room, body in await texts_from(person, sender) if body == text]
        return rooms[0] if rooms else None

    async with asyncio.timeout(WAIT):
        while (room := await found()) is None:
            pass
    return room


async def test_each_agent_hears_from_its_account_and_a_reply_leaves_from_the_receiver(
    synapse: SynapseServer, tmp_path: Path
) -> None:
    pool_accounts = Pool(synapse, tmp_path / "bots", 3)
    pool = pool_accounts.platform()
    people = await agents(synapse, tmp_path / "people", 6)
    ids = {a.user_id for a in pool_accounts.accounts}
    async with run_pool(pool) as received:
        for person in people:
            await pool.send(Outgoing("Bonjour", f"inv:{person.user_id}", person_id=person.user_id))
        rooms = {}
        for person in people:
            pinned = pool.ring.account_for(person.user_id)
            rooms[person.user_id] = await wait_text(person, pinned, "Bonjour")
            # Nobody else of the pool wrote to them.
            for other in ids - {pinned}:
                assert await texts_from(person, other) == []
        # An agent answers in the room their account opened: the reply leaves from that account.
        writer = people[0]
        await writer.knows_devices_of(pool.ring.account_for(writer.user_id))
        await writer.send_text(rooms[writer.user_id], "c'est fait")
        incoming = await asyncio.wait_for(received.get(), WAIT)
        assert incoming.sender_id == writer.user_id
        assert incoming.conversation_id == rooms[writer.user_id]
        await pool.send(Outgoing("Merci", "reply:1", conversation_id=incoming.conversation_id))
        assert await wait_text(writer, pool.ring.account_for(writer.user_id), "Merci")
        # The same message sent again (a retry after a crash) is not delivered twice.
        again = Outgoing("Bonjour", f"inv:{writer.user_id}", person_id=writer.user_id, resend=True)
        await pool.send(again)
        await writer.sync(timeout_ms=500)
        pinned = pool.ring.account_for(writer.user_id)
        assert [b for _, b in await texts_from(writer, pinned)].count("Bonjour") == 1


async def test_an_added_account_is_announced_by_the_old_one_and_erasure_reaches_both(
    synapse: SynapseServer, tmp_path: Path
) -> None:
    bots = Pool(synapse, tmp_path / "bots", 2)
    people = await agents(synapse, tmp_path / "people", 8)
    # One account writes to everyone.
    alone = bots.platform(1)
    async with run_pool(alone):
        for person in people:
            await alone.send(Outgoing("Bonjour", f"a:{person.user_id}", person_id=person.user_id))
    # A second account added: the people now pinned to it are listed, with the old room.
    pool = bots.platform(2)
    first, second = bots.accounts[0].user_id, bots.accounts[1].user_id
    async with run_pool(pool):
        moved = pool.moved_people()
        expected = {p.user_id for p in people if pool.ring.account_for(p.user_id) == second}
        assert expected, "no agent moved: pick more agents"
        assert {m.person_id for m in moved} == expected
        assert {(m.old_account, m.new_account) for m in moved} == {(first, second)}
        # The next message leaves from the new account, in a new room.
        person = next(p for p in people if p.user_id in expected)
        await pool.send(Outgoing("Rappel", f"r:{person.user_id}", person_id=person.user_id))
        new_room = await wait_text(person, second, "Rappel")
        old_room = next(m.conversation for m in moved if m.person_id == person.user_id)
        assert new_room != old_room
        assert pool.moved_people() == [m for m in moved if m.person_id != person.user_id]
        # Erasure: both accounts leave their room with the person and forget it.
        erased = ErasedPerson(person.user_id, datetime.now(UTC))
        for step in pool.erasure_steps():
            await step.erase(erased)
        for account in pool.accounts:
            assert not account.has_direct_room(person.user_id)
        for room, bot_id in ((old_room, first), (new_room, second)):
            member = await person.client.room_get_state_event(room, "m.room.member", bot_id)
            assert getattr(member, "content", {}).get("membership") == "leave", (room, member)


async def test_erasure_wins_against_copies_of_m_direct_read_before_it(
    synapse: SynapseServer, tmp_path: Path
) -> None:
    """A copy of ``m.direct`` read before erasure — the background writer's, in flight when the
    person asks to be forgotten, or a sync's, delivered after — never brings the person back:
    neither in what the account knows nor on the homeserver."""
    bots = Pool(synapse, tmp_path / "bots", 1)
    [person] = await agents(synapse, tmp_path / "people", 1)
    pool = bots.platform()
    account = pool.accounts[0]
    async with run_pool(pool):
        await pool.send(Outgoing("Bonjour", f"a:{person.user_id}", person_id=person.user_id))
        room = await wait_text(person, bots.accounts[0].user_id, "Bonjour")
        await account.rooms.flush()
        client = account.connection.client
        stale = await read_direct(client)
        assert room in stale[person.user_id]
        # A room recorded just before erasure: its writer has read m.direct when erasure starts.
        account.rooms.record_direct(person.user_id, "!recorded-late:localhost")
        await asyncio.sleep(0)
        erased = ErasedPerson(person.user_id, datetime.now(UTC))
        for step in pool.erasure_steps():
            await step.erase(erased)
        await account.rooms.flush()
        # A sync carrying the copy read before erasure arrives after it.
        stale_event = UnknownAccountDataEvent("m.direct", stale)
        late_sync = SimpleNamespace(account_data_events=[stale_event])
        account.rooms.update(late_sync)  # type: ignore[arg-type]
        assert not account.has_direct_room(person.user_id)
        assert person.user_id not in await read_direct(client)
        # A later message opens a new room, known again.
        await pool.send(Outgoing("Rappel", f"r:{person.user_id}", person_id=person.user_id))
        new_room = await wait_text(person, bots.accounts[0].user_id, "Rappel")
        assert new_room != room
        assert account.has_direct_room(person.user_id)
