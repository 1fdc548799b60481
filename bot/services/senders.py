"""Telling people that another account of the bot writes to them from now on (issue #29).

When an account is added to a platform's pool of sender accounts (Matrix), about 1/K of the
people are pinned to the new account: its next message to them opens a new direct room. Each of
them is told once, in one line sent by the account they know, in the room it wrote to them in
(``bot.core.MovesPeople``): the key names the person and the new account, so a restart, or the
same list read again, tells nobody twice. Someone the database does not know (never imported,
or erased) is not written to.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.core import Moved
from bot.notifier import Notifier
from storage.uow import UnitOfWork

# The outbox kind of the line ("mes données" names it).
KIND = "sender_moved"


def announce_moves(
    uow: UnitOfWork, notifier: Notifier, moves: Sequence[Moved], now: datetime
) -> int:
    """Enqueue one line per person moved to another account; returns how many are new."""
    people = uow.people.by_platform_ids(move.person_id for move in moves)
    told = 0
    for move in moves:
        person = people.get(move.person_id)
        if person is None:
            continue
        told += notifier.to_conversation(
            uow,
            move.conversation,
            person,
            "sender_moved",
            key=f"moved:{move.person_id}:{move.new_account}",
            now=now,
            kind=KIND,
            account=move.new_account,
        )
    return told
