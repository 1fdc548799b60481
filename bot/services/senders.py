"""Telling people that another account of the bot writes to them from now on (issue #29).

When an account is added to a platform's pool of sender accounts (Matrix), about 1/K of the
people are pinned to the new account: its next message to them opens a new direct room. Each of
them is told once, in one line sent by the account they know, in the room it wrote to them in
(``bot.core.MovesPeople``). When an account is removed, the people it wrote to last are pinned
to another one, which tells them the same line as its first message (the removed account can no
longer write). The key names the person and the new account, so a restart, or the same list
read again, tells nobody twice. Someone the database does not know (never imported, or erased)
is not written to.

The line is the person's row (``person_id``) and goes first among their messages
(``next_attempt_at`` in the past, :data:`FIRST`): the outbox sends a person's rows in order and
through one account at a time (:mod:`bot.lanes`), so the new account's first message never
arrives before the line saying who writes to them now.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from bot.core import Moved
from bot.domain import NewDelivery
from bot.notifier import Notifier
from storage.uow import UnitOfWork

# The outbox kind of the line ("mes données" names it).
KIND = "sender_moved"
# When the line is due: before any message to the person already waiting in the outbox.
FIRST = datetime(2000, 1, 1, tzinfo=UTC)


def announce_moves(
    uow: UnitOfWork, notifier: Notifier, moves: Sequence[Moved], now: datetime
) -> int:
    """Enqueue one line per person moved to another account; returns how many are new."""
    people = uow.people.by_platform_ids(move.person_id for move in moves)
    rows = []
    for move in moves:
        person = people.get(move.person_id)
        if person is None:
            continue
        rows.append(
            NewDelivery(
                key=f"moved:{move.person_id}:{move.new_account}",
                kind=KIND,
                # In the old account's room; else (it is gone) from the new account, to them.
                recipient=move.conversation or move.person_id,
                to_conversation=bool(move.conversation),
                body=notifier.render_for(person, "sender_moved", account=move.new_account),
                person_id=person.id,
                not_before=FIRST,
            )
        )
    return uow.outbox.enqueue_many(rows, now)
