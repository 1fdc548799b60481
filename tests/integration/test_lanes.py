"""One outbox lane per sending account (issue #29, bot/lanes.py): each account's people go
through that account, each account with its own limiter, the lanes side by side, and a "wait"
(429) from one account pauses that account only."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from bot.core import (
    Capabilities,
    DeliveryError,
    ErasureStep,
    FakeClock,
    Member,
    MessageHandler,
    Outgoing,
    SendResult,
)
from bot.domain import Delivery, DeliveryStatus, NewDelivery
from bot.lanes import pick
from bot.outbox import Dispatcher
from bot.platforms.matrix.ring import HashRing
from bot.services.senders import FIRST
from storage.uow import Store

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PEOPLE = [f"@agent{i}:x" for i in range(24)]


class Account:
    """One sending account: records what it sent; can say "wait" or hold its sends."""

    name = "fake"

    def __init__(self, bot_id: str, rate: float) -> None:
        self.bot_id = bot_id
        self.capabilities = Capabilities(rate)
        self.sent: list[str] = []
        self.opened: set[str] = set()
        self.wait_once: float | None = None
        self.gate: asyncio.Event | None = None
        self.sending = asyncio.Event()
        self.on_sent: Callable[[str], None] | None = None  # told each send, in order

    def opens_conversation(self, person_id: str) -> bool:
        return person_id not in self.opened

    async def open_direct(self, person_id: str) -> str:
        self.opened.add(person_id)
        return f"!{self.bot_id}/{person_id}"

    async def send(self, message: Outgoing) -> SendResult:
        self.sending.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.wait_once is not None:
            wait, self.wait_once = self.wait_once, None
            raise DeliveryError(self.name, "M_LIMIT_EXCEEDED", retry_after=wait)
        room = message.conversation_id or await self.open_direct(message.person_id or "")
        self.sent.append(message.person_id or room)
        if self.on_sent is not None:
            self.on_sent(message.person_id or room)
        return SendResult(f"${message.key}", room)

    async def start(self) -> None: ...

    async def run(self, on_message: MessageHandler) -> None: ...

    async def stop(self) -> None: ...

    async def room_members(self, conversation_id: str) -> Sequence[Member]:
        return []

    def erasure_steps(self) -> Sequence[ErasureStep]:
        return []


class Pool(Account):
    """Accounts pinned by consistent hashing, as the Matrix pool pins them."""

    def __init__(self, accounts: list[Account]) -> None:
        super().__init__(accounts[0].bot_id, sum(a.capabilities.rate_limit for a in accounts))
        self.accounts = accounts
        self.ring = HashRing(a.bot_id for a in accounts)

    def sending_accounts(self) -> Sequence[Account]:
        return self.accounts

    def sending_account(self, message: Outgoing) -> Account:
        owner = self.ring.account_for(message.person_id or message.conversation_id or "")
        return next(a for a in self.accounts if a.bot_id == owner)


def pool_of(k: int, rate: float = 1000.0) -> Pool:
    return Pool([Account(f"@pixbot-{i}:x", rate) for i in range(1, k + 1)])


def enqueue(store: Store, people: Sequence[str], prefix: str = "inv") -> None:
    with store.transaction() as uow:
        uow.outbox.enqueue_many(
            [NewDelivery(f"{prefix}:{p}", "invitation", p, f"Bonjour {p}") for p in people], NOW
        )


def statuses(store: Store, prefix: str = "inv") -> dict[str, DeliveryStatus]:
    found: dict[str, DeliveryStatus] = {}
    for person in PEOPLE:
        with store.transaction() as uow:
            row = uow.outbox.get(f"{prefix}:{person}")
        if row is not None:
            found[person] = row.status
    return found


async def test_each_person_gets_their_message_from_their_own_account(store: Store) -> None:
    pool = pool_of(3)
    enqueue(store, PEOPLE)
    dispatcher = Dispatcher(store, pool, FakeClock(NOW))
    assert dispatcher.lanes is not None and len(dispatcher.lanes) == 3
    assert await dispatcher.drain() == len(PEOPLE)
    for account in pool.accounts:
        assert account.sent, f"{account.bot_id} sent nothing"
        assert all(pool.ring.account_for(p) == account.bot_id for p in account.sent)
    assert sorted(p for a in pool.accounts for p in a.sent) == sorted(PEOPLE)
    assert set(statuses(store).values()) == {DeliveryStatus.SENT}


async def test_each_lane_is_paced_by_its_own_account_limit(store: Store) -> None:
    pool = Pool([Account("@pixbot-1:x", 2.0), Account("@pixbot-2:x", 5.0)])
    dispatcher = Dispatcher(store, pool, FakeClock(NOW))
    assert dispatcher.lanes is not None
    rates = {name: lane.sender.limiter.rate for name, lane in dispatcher.lanes.lanes.items()}
    assert rates == {"@pixbot-1:x": 2.0, "@pixbot-2:x": 5.0}
    assert {lane.sender.platform for lane in dispatcher.lanes.lanes.values()} == set(pool.accounts)


async def test_the_lanes_send_side_by_side(store: Store) -> None:
    """Each account holds its first send until every account has started one: lanes sent one
    after the other would never all start, and the drain would not end."""
    pool = pool_of(3)
    gate = asyncio.Event()
    for account in pool.accounts:
        account.gate = gate
    enqueue(store, PEOPLE)
    dispatcher = Dispatcher(store, pool, FakeClock(NOW))
    drain = asyncio.create_task(dispatcher.drain())
    await asyncio.wait_for(
        asyncio.gather(*(account.sending.wait() for account in pool.accounts)), 10
    )
    gate.set()
    assert await asyncio.wait_for(drain, 10) == len(PEOPLE)


async def test_a_wait_from_one_account_pauses_only_that_account(store: Store) -> None:
    pool = pool_of(3)
    slow = pool.accounts[1]
    slow.wait_once = 30.0
    enqueue(store, PEOPLE)
    clock = FakeClock(NOW)
    dispatcher = Dispatcher(store, pool, clock)
    await dispatcher.drain()
    assert dispatcher.lanes is not None
    assert dispatcher.paused_until is None  # nobody else waits
    assert dispatcher.lanes.lanes[slow.bot_id].paused_until == NOW + timedelta(seconds=30)
    waiting = [p for p in PEOPLE if pool.ring.account_for(p) == slow.bot_id]
    found = statuses(store)
    assert waiting and all(found[p] == DeliveryStatus.PENDING for p in waiting)
    assert all(found[p] == DeliveryStatus.SENT for p in PEOPLE if p not in waiting)
    assert not slow.sent
    # The wait over, its people get their message, once each.
    clock.advance(seconds=31)
    await dispatcher.drain()
    assert sorted(slow.sent) == sorted(waiting)
    assert set(statuses(store).values()) == {DeliveryStatus.SENT}
    with store.transaction() as uow:
        attempts = {p: uow.outbox.get(f"inv:{p}").attempts for p in waiting}  # type: ignore[union-attr]
    assert set(attempts.values()) == {1}  # being throttled is not failing


def row(
    recipient: str, ident: int, person_id: int | None = None, to_conversation: bool = False
) -> Delivery:
    return Delivery(
        id=ident,
        key=f"k{ident}",
        kind="invitation",
        campaign_id=None,
        person_id=person_id,
        recipient=recipient,
        to_conversation=to_conversation,
        body="x",
        mentions=(),
        buttons=(),
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=NOW,
        remote_id=None,
        last_error=None,
        batch=None,
    )


def test_a_round_gives_each_lane_its_quota_and_keeps_each_conversation_in_order() -> None:
    lanes = {"@a": "A", "@b": "B", "@c": "A", "@d": "B", "@e": "A"}
    rows = [row("@a", 1), row("@a", 2), row("@b", 3), row("@c", 4), row("@a", 5), row("@d", 6)]
    rows += [row("@e", 7), row("@b", 8)]
    taken = pick(rows, lambda r: lanes[r.recipient], lambda r, lane: 1, {"A": 2, "B": 3})
    # A: rows 1 and 2 fill its quota; @c's row and every later @a row wait; B takes 3, 6, 8.
    assert [r.id for r in taken] == [1, 2, 3, 6, 8]


def test_a_paused_lane_gets_nothing_and_a_lane_always_gets_one_row() -> None:
    rows = [row("@a", 1), row("@b", 2), row("@b", 3)]
    lanes = {"@a": "A", "@b": "B"}
    taken = pick(rows, lambda r: lanes[r.recipient], lambda r, lane: 3, {"B": 1})
    assert [r.id for r in taken] == [2]  # A paused; B's first row costs more than its quota


def test_a_person_s_rows_go_through_one_lane_at_a_time() -> None:
    """The line "another account writes to you now" leaves from the old account, in its room;
    the person's next message from the new account waits until that line is gone (issue #29):
    rows about one person are not spread over two lanes in a round, nor while a lane holds
    some of them."""
    notice = row("!old-room", 1, person_id=7, to_conversation=True)
    invitation, other = row("@p", 2, person_id=7), row("@q", 3, person_id=8)
    lanes = {"!old-room": "A", "@p": "B", "@q": "B"}
    quotas = {"A": 5, "B": 5}

    def lane_of(r: Delivery) -> str:
        return lanes[r.recipient]

    def one(r: Delivery, lane: str) -> int:
        return 1

    taken = pick([notice, invitation, other], lane_of, one, quotas)
    assert [r.id for r in taken] == [1, 3]
    # The line taken by lane A (queued or on its way): the invitation still waits…
    held = {"person:7": "A"}
    later = pick([invitation, other], lane_of, one, quotas, held)
    assert [r.id for r in later] == [3]
    # …and goes once the line is sent (nothing of that person held any more).
    free = pick([invitation], lane_of, one, quotas, {})
    assert [r.id for r in free] == [2]


async def test_a_moved_person_hears_the_line_before_the_new_account_s_first_message(
    store: Store,
) -> None:
    """Through the dispatcher: the old account is slow to send the line (held at its send);
    the new account sends to everyone else meanwhile, and to the moved person only after."""
    pool = pool_of(2)
    old, new = pool.accounts
    person = next(p for p in PEOPLE if pool.ring.account_for(p) == new.bot_id)
    room = next(f"!room{i}" for i in range(100) if pool.ring.account_for(f"!room{i}") == old.bot_id)
    others = [p for p in PEOPLE if pool.ring.account_for(p) == new.bot_id and p != person]
    order: list[str] = []
    for account in pool.accounts:
        account.on_sent = order.append
    with store.transaction() as uow:
        pid = uow.people.ensure(person, "Agent", NOW).id
        uow.outbox.enqueue_many(
            [
                NewDelivery(f"inv:{person}", "invitation", person, "Bonjour", person_id=pid),
                *(NewDelivery(f"inv:{p}", "invitation", p, "Bonjour") for p in others),
                NewDelivery(
                    f"moved:{person}",
                    "sender_moved",
                    room,
                    "Un autre compte vous écrit",
                    to_conversation=True,
                    person_id=pid,
                    not_before=FIRST,
                ),
            ],
            NOW,
        )
    old.gate = asyncio.Event()
    dispatcher = Dispatcher(store, pool, FakeClock(NOW))
    drain = asyncio.create_task(dispatcher.drain())
    await asyncio.wait_for(old.sending.wait(), 10)
    for _ in range(500):  # bounded: the new account's other people, while the line is held
        if len(new.sent) == len(others):
            break
        await asyncio.sleep(0.01)
    assert sorted(new.sent) == sorted(others)
    assert person not in new.sent
    old.gate.set()
    await asyncio.wait_for(drain, 10)
    assert order.index(room) < order.index(person)
    assert new.sent.count(person) == 1 and old.sent == [room]
