"""Who writes to whom in the pool of sender accounts (bot/platforms/matrix/pool.py, issue #29),
without a homeserver: the people who command the bot stay on the main account, agents are
spread by the ring, and the people a removed account wrote to are found for the notice."""

from __future__ import annotations

from bot.core import Capabilities, Moved
from bot.platforms.matrix.pool import MatrixPool

PEOPLE = [f"@agent{i}:x" for i in range(60)]


class Account:
    """What the pool asks of one account (a MatrixPlatform)."""

    MAX_TEXT_LENGTH = 1000

    def __init__(self, bot_id: str, rooms: dict[str, str] | None = None) -> None:
        self.bot_id = bot_id
        self.capabilities = Capabilities(1.0)
        self.direct_only = bot_id != "@pixbot:x"  # the senders join direct rooms only
        self.rooms = dict(rooms or {})

    def direct_rooms(self) -> dict[str, str]:
        return dict(self.rooms)

    def has_direct_room(self, person_id: str) -> bool:
        return person_id in self.rooms


def pool(*accounts: Account) -> MatrixPool:
    return MatrixPool(list(accounts))  # type: ignore[arg-type]


def test_people_who_command_the_bot_stay_on_the_main_account() -> None:
    main, second, third = Account("@pixbot:x"), Account("@pixbot-2:x"), Account("@pixbot-3:x")
    senders = pool(main, second, third)
    spread = {senders.pinned(p).bot_id for p in PEOPLE}
    assert spread == {"@pixbot:x", "@pixbot-2:x", "@pixbot-3:x"}  # agents are spread
    ambassador = next(p for p in PEOPLE if senders.pinned(p) is not main)
    senders.keep_on_main([ambassador, "@admin:x"])
    assert senders.pinned(ambassador) is main
    assert senders.pinned("@admin:x") is main
    others = [p for p in PEOPLE if p != ambassador]
    assert {senders.pinned(p).bot_id for p in others} == spread  # nobody else moved


def test_an_ambassador_another_account_wrote_to_is_not_told_of_a_move() -> None:
    """An ambassador talks to the main account (their direct room with it): kept there, the
    room a sender account once opened with them does not make a move to announce."""
    main, second = Account("@pixbot:x"), Account("@pixbot-2:x")
    ambassador = next(p for p in PEOPLE if pool(main, second).pinned(p) is second)
    main.rooms[ambassador] = "!talk"
    second.rooms[ambassador] = "!reports"
    senders = pool(main, second)
    senders.keep_on_main([ambassador])
    assert senders.moved_people() == []


def test_the_people_a_removed_account_wrote_to_are_found_for_their_new_account() -> None:
    main, second = Account("@pixbot:x"), Account("@pixbot-2:x")
    # The database: everyone's last direct room; the removed account (@pixbot-3) wrote last to
    # agent0 and agent1; main and @pixbot-2 hold the others' rooms.
    conversations = {p: f"!room-{p}" for p in PEOPLE[:6]}
    for person in PEOPLE[2:4]:
        main.rooms[person] = f"!room-{person}"
    for person in PEOPLE[4:6]:
        second.rooms[person] = f"!room-{person}"
    # agent0 also had an older room with main, from before the removed account took them.
    main.rooms[PEOPLE[0]] = "!older"
    senders = pool(main, second)
    found = senders.orphaned({**conversations, "@pixbot-2:x": "!self"})
    assert found == [Moved(p, "", senders.pinned(p).bot_id, "") for p in PEOPLE[:2]]


def test_nobody_is_told_by_an_account_whose_direct_rooms_are_unknown() -> None:
    """An account whose m.direct could not be read lists nobody: its people are not taken for
    the people of a removed account (they would be told a move that did not happen)."""
    main, second = Account("@pixbot:x"), Account("@pixbot-2:x")
    main.rooms["@amb:x"] = "!amb"
    senders = pool(main, second)
    theirs = [p for p in PEOPLE if senders.pinned(p) is second]
    assert senders.orphaned({p: f"!room-{p}" for p in theirs}) == []
