"""A pool of sender accounts on one homeserver (issue #29, docs/scaling.md).

The main account (``[matrix]``) and each ``[[matrix.senders]]`` account is a whole
:class:`~bot.platforms.matrix.platform.MatrixPlatform`: its own login, device, store, E2EE keys,
cross-signing identity, sync loop and rate limit. The pool is one :class:`bot.core.Platform` to
the core:

- a message to a person leaves from the account the person is pinned to by consistent hashing
  (:mod:`bot.platforms.matrix.ring`) — except the people who command the bot (ambassadors,
  admins: :meth:`MatrixPool.keep_on_main`), who stay on the main account, the one they talk
  to — so it always goes to the same direct room, in order, and
  a retry after a crash reuses that account's transaction id (de-duplicated by the homeserver
  per device). A resend goes back to an account that already has a direct room with the
  person, should the pinning have changed since the first attempt (an account added between
  a crash and the restart): the earlier attempt may have been delivered there;
- a message to a room (a reply, a report) leaves from the account that last received a message
  in that room, else from an account joined to it, else from the main account;
- the outbox runs one lane per account (:class:`bot.core.SendsFromAccounts`), paced by that
  account's limit; a 429 pauses that lane only;
- what each account receives is handed over to the core, one event at a time per room;
- after an account was added, the people now pinned to another account than the one that
  wrote to them are listed by :meth:`MatrixPool.moved_people`, and after one was removed, the
  people it wrote to last by :meth:`MatrixPool.orphaned`, for the core to tell them;
- erasure reaches every account (its direct room, pending events and key store).

Sender accounts join only direct rooms: the main account is the one brought into group rooms.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot.core import (
    Capabilities,
    ErasedPerson,
    ErasureStep,
    Incoming,
    InvitePolicy,
    Member,
    MessageHandler,
    Moved,
    Outgoing,
    SendResult,
)
from bot.platforms.matrix.codec import PLATFORM
from bot.platforms.matrix.platform import MatrixPlatform
from bot.platforms.matrix.ring import HashRing

logger = logging.getLogger(__name__)


class MatrixPool:
    """:class:`bot.core.Platform` sending from several Matrix accounts (the first is the main
    one: its id is the bot's, it joins group rooms)."""

    name = PLATFORM

    def __init__(self, accounts: Sequence[MatrixPlatform]) -> None:
        if not accounts:
            raise ValueError("a pool needs at least its main account")
        self.accounts: tuple[MatrixPlatform, ...] = tuple(accounts)
        self.main = self.accounts[0]
        self.bot_id = self.main.bot_id
        if self.main.direct_only or not all(sender.direct_only for sender in self.accounts[1:]):
            raise ValueError("the main account joins group rooms; each sender is direct_only")
        self._by_id = {account.bot_id: account for account in self.accounts}
        if len(self._by_id) != len(self.accounts):
            raise ValueError("each account of the pool once")
        self.ring = HashRing(self._by_id)
        self.capabilities = Capabilities(
            sum(account.capabilities.rate_limit for account in self.accounts),
            max_text_length=min(
                account.capabilities.max_text_length or account.MAX_TEXT_LENGTH
                for account in self.accounts
            ),
        )
        # People who command the bot (ambassadors, admins): written to by the main account.
        self._on_main: frozenset[str] = frozenset()
        # Room → the account that last received a message there (replies leave from it).
        self._receiver: dict[str, MatrixPlatform] = {}
        self._room_locks: dict[str, asyncio.Lock] = {}

    # -- identity ----------------------------------------------------------------------------

    @property
    def invite_policy(self) -> InvitePolicy | None:
        return self.main.invite_policy

    def readiness_problem(self) -> str | None:
        """The first account's problem (agents pinned to it cannot reach the bot)."""
        for account in self.accounts:
            problem = account.readiness_problem()
            if problem is not None:
                return problem
        return None

    # -- which account -----------------------------------------------------------------------

    def sending_accounts(self) -> Sequence[MatrixPlatform]:
        return self.accounts

    def keep_on_main(self, people: Iterable[str]) -> None:
        """The people who command the bot (ambassadors, admins): they talk to the main account,
        and everything the bot writes to them leaves from it too; agents are spread over the
        accounts by the ring."""
        self._on_main = frozenset(people)

    def pinned(self, person_id: str) -> MatrixPlatform:
        if person_id in self._on_main:
            return self.main
        return self._by_id[self.ring.account_for(person_id)]

    def sending_account(self, message: Outgoing) -> MatrixPlatform:
        if message.person_id is not None:
            pinned = self.pinned(message.person_id)
            if message.resend and not pinned.has_direct_room(message.person_id):
                for account in self.accounts:
                    if account.has_direct_room(message.person_id):
                        return account
            return pinned
        room = message.conversation_id or ""
        receiver = self._receiver.get(room)
        if receiver is not None:
            return receiver
        for account in self.accounts:
            if account.in_room(room):
                return account
        return self.main

    # -- the Platform ------------------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.gather(*(account.start() for account in self.accounts))
        self.bot_id = self.main.bot_id

    async def run(self, on_message: MessageHandler) -> None:
        """Every account's sync loop; the first one to fail stops the others."""

        def handler(account: MatrixPlatform) -> MessageHandler:
            async def hand_over(incoming: Incoming) -> None:
                room = incoming.conversation_id
                lock = self._room_locks.setdefault(room, asyncio.Lock())
                async with lock:
                    self._receiver[room] = account
                    await on_message(incoming)

            return hand_over

        tasks = [
            asyncio.create_task(account.run(handler(account)), name=f"matrix {account.bot_id}")
            for account in self.accounts
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                error = task.exception()
                if error is not None:
                    raise error
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                if not task.done():
                    await self._stop_account(task)

    async def _stop_account(self, task: asyncio.Task[None]) -> None:
        account = self._by_id[task.get_name().removeprefix("matrix ")]
        await account.stop()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(task, 15)

    async def stop(self) -> None:
        await asyncio.gather(*(account.stop() for account in self.accounts))

    async def send(self, message: Outgoing) -> SendResult:
        return await self.sending_account(message).send(message)

    async def open_direct(self, person_id: str) -> str:
        return await self.pinned(person_id).open_direct(person_id)

    def opens_conversation(self, person_id: str) -> bool:
        return self.pinned(person_id).opens_conversation(person_id)

    async def room_members(self, conversation_id: str) -> Sequence[Member]:
        account = self.sending_account(Outgoing("", "members", conversation_id=conversation_id))
        ours = set(self._by_id)
        return [
            member
            for member in await account.room_members(conversation_id)
            if member.platform_id not in ours
        ]

    def erasure_steps(self) -> list[ErasureStep]:
        """Every account's steps, each named after its account's place in the pool."""
        return [
            _AccountStep(step, number)
            for number, account in enumerate(self.accounts, start=1)
            for step in account.erasure_steps()
        ]

    # -- an account added --------------------------------------------------------------------

    def moved_people(self) -> list[Moved]:
        """People another account than their pinned one has a direct room with, and their pinned
        account none: after an account was added, the new account writes to them from now on
        (the old room stays; what they write there is answered there)."""
        moved: dict[str, Moved] = {}
        for account in self.accounts:
            for person, room in account.direct_rooms().items():
                if person in self._by_id or person in moved:
                    continue  # the pool's own accounts; someone told once
                pinned = self.pinned(person)
                if pinned is account or pinned.has_direct_room(person):
                    continue
                moved[person] = Moved(person, room, pinned.bot_id, account.bot_id)
        return list(moved.values())

    def orphaned(self, conversations: Mapping[str, str]) -> list[Moved]:
        """People whose last direct room (``conversations``: person → room, as the database
        knows it) is no account's latest direct room with them: the account that wrote to
        them there was removed from the pool, and their pinned account writes to them from now
        on (``conversation`` empty: the line leaves from that account, as its first message).

        Someone pinned to an account whose ``m.direct`` lists nobody is left out: that list
        may not have been read at the start, and telling nobody is better than telling
        everyone (an account with no direct room yet has nobody to tell anyway, except the
        people of an account removed at the same time as it was added)."""
        known = {account.bot_id: account.direct_rooms() for account in self.accounts}
        moved = []
        for person, room in conversations.items():
            if person in self._by_id or not room:
                continue
            if any(rooms.get(person) == room for rooms in known.values()):
                continue
            pinned = self.pinned(person).bot_id
            if known[pinned]:
                moved.append(Moved(person, "", pinned, ""))
        return moved

    def describe(self) -> dict[str, Any]:
        """Accounts and how many known direct rooms each has (for logs)."""
        return {account.bot_id: len(account.direct_rooms()) for account in self.accounts}


class _AccountStep:
    """One account's erasure step, under a name of its own (1 is the main account)."""

    def __init__(self, step: ErasureStep, number: int) -> None:
        self.step = step
        self.name = f"{step.name} (account {number})"
        self.anonymous = step.anonymous

    async def erase(self, person: ErasedPerson) -> None:
        await self.step.erase(person)
