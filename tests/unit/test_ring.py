"""Consistent hashing of people onto the sender accounts (bot/platforms/matrix/ring.py)."""

from __future__ import annotations

from collections import Counter

import pytest

from bot.platforms.matrix.ring import HashRing

PEOPLE = [f"@agent{i}:agent.tchap.gouv.fr" for i in range(4000)]
ACCOUNTS = [f"@pixbot-{i}:agent.tchap.gouv.fr" for i in range(1, 9)]


def test_one_account_writes_to_everyone() -> None:
    ring = HashRing(ACCOUNTS[:1])
    assert {ring.account_for(p) for p in PEOPLE} == {ACCOUNTS[0]}


def test_the_same_person_always_gets_the_same_account_whatever_the_order() -> None:
    first, second = HashRing(ACCOUNTS[:4]), HashRing(reversed(ACCOUNTS[:4]))
    assert [first.account_for(p) for p in PEOPLE] == [second.account_for(p) for p in PEOPLE]


@pytest.mark.parametrize("k", [1, 2, 3, 4, 7])
def test_adding_an_account_moves_about_one_in_k_plus_one_people_all_to_it(k: int) -> None:
    before, after = HashRing(ACCOUNTS[:k]), HashRing(ACCOUNTS[: k + 1])
    moved = [p for p in PEOPLE if before.account_for(p) != after.account_for(p)]
    # Only to the new account: nobody moves between the accounts that were there.
    assert {after.account_for(p) for p in moved} == {ACCOUNTS[k]}
    share = len(moved) / len(PEOPLE)
    assert 0.5 / (k + 1) < share < 1.5 / (k + 1), share


def test_removing_an_account_moves_only_its_people() -> None:
    before, after = HashRing(ACCOUNTS[:4]), HashRing(ACCOUNTS[:2] + ACCOUNTS[3:4])
    for person in PEOPLE:
        if before.account_for(person) != ACCOUNTS[2]:
            assert after.account_for(person) == before.account_for(person)


def test_the_busiest_account_carries_little_more_than_the_mean() -> None:
    ring = HashRing(ACCOUNTS[:4])
    counts = Counter(ring.account_for(p) for p in PEOPLE)
    assert set(counts) == set(ACCOUNTS[:4])
    assert max(counts.values()) < 1.3 * len(PEOPLE) / 4, counts


def test_a_ring_needs_an_account() -> None:
    with pytest.raises(ValueError):
        HashRing([])
