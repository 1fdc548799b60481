"""Issue #24: the rate bands, the "ont répondu" band and the ministry's line are functions of
the figures already published, so one person's declaration never moves them unless it moves a
published (exact) figure — checked here on the pure functions, over every group size, with
the two worlds of tests/privacy/test_one_agent.py (whose stories cover the replies)."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.privacy import disclose
from bot.render import Renderer
from bot.stats import DECLARED, Counts, GroupStats, grouped, ministry

STATES = ("invited", *DECLARED)  # what one person declared for the campaign ("invited": nothing)


def counts(invited: int, started: int, completed: int, opted_out: int) -> Counts:
    return Counts(invited + started + completed + opted_out, started, completed, opted_out)


def moved(c: Counts, before: str, after: str) -> Counts:
    """The same group where one person declared ``after`` instead of ``before``."""
    values = {"invited": c.invited - c.started - c.completed - c.opted_out}
    values.update({f: getattr(c, f) for f in DECLARED})
    values[before] -= 1
    values[after] += 1
    return counts(values["invited"], values["started"], values["completed"], values["opted_out"])


def in_words_or_equal(a: Counts, b: Counts, min_group: int) -> bool:
    """The oracle of the two-worlds tests: every count that differs is in words in both."""
    return all(
        getattr(a, f) == getattr(b, f)
        or not (
            disclose(getattr(a, f), a.invited, min_group).exact
            or disclose(getattr(b, f), b.invited, min_group).exact
        )
        for f in DECLARED
    )


def seen(group: GroupStats) -> tuple[object, ...]:
    return (
        tuple(group.bounds(f) for f in (*DECLARED, "answered")),
        tuple(group.band(f) for f in (*DECLARED, "answered")),
    )


groups = st.tuples(*(st.integers(0, 14) for _ in range(4)))
pairs = st.lists(st.sampled_from(STATES), min_size=2, max_size=2, unique=True)


@settings(max_examples=600, deadline=None)
@given(group=groups, pair=pairs, min_group=st.sampled_from([3, 5]))
def test_a_band_never_tells_one_declaration(
    group: tuple[int, int, int, int], pair: list[str], min_group: int
) -> None:
    base = counts(*group)
    index = STATES.index(pair[0])
    if group[index] == 0:
        return  # nobody to move from that state
    a, b = base, moved(base, pair[0], pair[1])
    one, two = grouped({"S": a}, min_group).total, grouped({"S": b}, min_group).total
    if in_words_or_equal(a, b, min_group):
        assert seen(one) == seen(two)
        renderer = Renderer()
        for locale in ("fr", "en"):
            text = "{% import '_stats.txt' as st %}{{ st.group(g, m) }}"
            env = renderer._envs[locale]
            assert env.from_string(text).render(g=one, m=min_group) == env.from_string(text).render(
                g=two, m=min_group
            )


@settings(max_examples=400, deadline=None)
@given(
    mine=groups,
    others=st.lists(groups, min_size=1, max_size=4),
    pair=pairs,
    min_group=st.sampled_from([3, 5]),
)
def test_the_ministry_line_never_tells_one_declaration(
    mine: tuple[int, int, int, int],
    others: list[tuple[int, int, int, int]],
    pair: list[str],
    min_group: int,
) -> None:
    """X, in the first campaign, declared one thing or another: whenever that campaign's
    figures read the same, the ministry's line (its band, the position, the half) is equal —
    for the ambassador of X's service and for every other service's."""
    index = STATES.index(pair[0])
    if mine[index] == 0:
        return
    a = counts(*mine)
    b = moved(a, pair[0], pair[1])
    if not in_words_or_equal(a, b, min_group):
        return
    rest = [
        replace(grouped({"x": counts(*o)}, min_group).total, name=f"S{i}")
        for i, o in enumerate(others, 1)
    ]
    lines = []
    for world in (a, b):
        own = replace(grouped({"x": world}, min_group).total, name="S0")
        pool = [own, *rest]
        lines.append([ministry(pool, g, min_group) for g in pool])
    assert lines[0] == lines[1]


def test_the_bands_say_something() -> None:
    """Not vacuous: a service of 12 where 3 completed reads 'au plus 34 %', where 9 did 'au
    moins 66 %'; beside two larger services the ministry's line places it."""
    small = grouped({"S": counts(7, 1, 3, 1)}, 5).total
    assert small.band("completed") == (0, 34)
    assert grouped({"S": counts(2, 0, 9, 1)}, 5).total.band("completed") == (66, 100)
    big = [
        replace(grouped({"x": counts(10, 5, 20, 5)}, 5).total, name="B"),
        replace(grouped({"x": counts(8, 6, 25, 1)}, 5).total, name="C"),
    ]
    line = ministry([replace(small, name="S"), *big], replace(small, name="S"), 5)
    assert line is not None and line.position == "below" and line.half == "lower"
    assert line.services == 3 and line.invited == 12 + 40 + 40
    # The same pool computed from the raw counts would move with one person: 3 → 4 completed
    # changes the exact pooled rate, but not the line.
    four = grouped({"S": counts(6, 1, 4, 1)}, 5).total
    assert ministry([replace(four, name="S"), *big], replace(four, name="S"), 5) == line


def test_the_csv_export_carries_the_bands(tmp_path: Path) -> None:
    from bot.cli.csvio import write_stats_csv

    write_stats_csv(tmp_path / "s.csv", grouped({"S": counts(7, 1, 3, 1)}, 5))
    [row] = list(csv.DictReader((tmp_path / "s.csv").open(encoding="utf-8")))
    assert row["completed"] != "3" and row["completed_band"] == "0-34"
    assert row["answered_band"] == ""  # 0 to 12 of 12 says nothing
