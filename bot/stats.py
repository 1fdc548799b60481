"""Aggregated participation statistics under the one disclosure rule (pure functions).

A *group* is a population the figures are computed over: the whole campaign, or one service.
Its size (``invited``: the campaign's audience in that group) is chosen by the ambassador, so it
is shown exactly unless the group has fewer than ``min_group`` people (then the group shows no
figure at all). Every declaration-derived count (started, completed, stopped — "stop tout"
included) goes through :func:`bot.privacy.disclose`. When some service groups are hidden, their
sum could be recovered from the total: the smallest visible groups are hidden too (secondary
suppression), and a visible service's figure is withheld when the hidden remainder's figure
would not be exact itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.domain import Participation, ParticipationStatus
from bot.privacy import Figure, Shown, disclose

FIELDS = ("invited", "started", "completed", "opted_out")
DECLARED = FIELDS[1:]


@dataclass(frozen=True, slots=True)
class Counts:
    invited: int = 0  # the audience of the group
    started: int = 0  # started and not (yet) completed
    completed: int = 0
    opted_out: int = 0  # "stop" for the campaign or "stop tout"

    def rate(self, value: int) -> float:
        return value / self.invited if self.invited else 0.0

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(getattr(self, f) + getattr(other, f) for f in FIELDS))

    def __sub__(self, other: Counts) -> Counts:
        return Counts(*(getattr(self, f) - getattr(other, f) for f in FIELDS))


@dataclass(frozen=True, slots=True)
class GroupStats:
    name: str
    counts: Counts
    hidden: bool
    min_group: int = 5
    withheld: frozenset[str] = field(default_factory=frozenset)

    def figure(self, name: str) -> Figure:
        """What an ambassador may see of one declaration-derived count of this group."""
        if name in self.withheld:
            return Figure(Shown.HIDDEN, None, None, self.min_group)
        return disclose(getattr(self.counts, name), self.counts.invited, self.min_group)

    @property
    def started(self) -> Figure:
        return self.figure("started")

    @property
    def completed(self) -> Figure:
        return self.figure("completed")

    @property
    def opted_out(self) -> Figure:
        return self.figure("opted_out")

    def as_dict(self, min_group: int | None = None) -> dict[str, object]:
        bound = self.min_group if min_group is None else min_group
        if self.hidden:
            return {"group": self.name, "hidden": True, "below": bound}
        figures = {f: self.figure(f) for f in DECLARED}
        return {
            "group": self.name,
            "hidden": False,
            "invited": self.counts.invited,
            **{f: figures[f].as_json() for f in DECLARED},
            **{
                f"{f}_rate": None if figures[f].rate is None else round(figures[f].rate or 0, 4)
                for f in DECLARED
            },
        }


@dataclass(frozen=True, slots=True)
class CampaignStats:
    total: GroupStats
    services: tuple[GroupStats, ...]
    min_group: int
    # The daily snapshot's moment (declarations after it are not counted); None when live.
    as_of: datetime | None = None


def count(states: Iterable[Participation], stopped_all: frozenset[int] = frozenset()) -> Counts:
    """Every audience member counts in ``invited``; "stop tout" counts as stopped."""
    invited = started = completed = opted_out = 0
    for state in states:
        invited += 1
        if state.status == ParticipationStatus.COMPLETED:
            completed += 1
        elif state.status == ParticipationStatus.OPTED_OUT or state.person.id in stopped_all:
            opted_out += 1
        elif state.status == ParticipationStatus.STARTED:
            started += 1
    return Counts(invited, started, completed, opted_out)


def campaign_stats(
    states: Iterable[Participation],
    min_group: int,
    stopped_all: Iterable[int] = (),
    as_of: datetime | None = None,
) -> CampaignStats:
    stopped = frozenset(stopped_all)
    by_service: dict[str, list[Participation]] = {}
    all_states = list(states)
    for state in all_states:
        by_service.setdefault(state.person.service or "—", []).append(state)
    return _grouped(
        {name: count(items, stopped) for name, items in by_service.items()}, min_group, as_of
    )


def stats_from_counts(
    counts: Mapping[tuple[str | None, ParticipationStatus, bool], int],
    min_group: int,
    as_of: datetime | None = None,
) -> CampaignStats:
    """The same figures from people counted per (service, status, "stop tout") by the
    database: every audience member counts in ``invited``; "stop tout" counts as stopped."""
    groups: dict[str, Counts] = {}
    for (service, status, stopped_all), number in counts.items():
        if status == ParticipationStatus.COMPLETED:
            counted = Counts(number, completed=number)
        elif status == ParticipationStatus.OPTED_OUT or stopped_all:
            counted = Counts(number, opted_out=number)
        elif status == ParticipationStatus.STARTED:
            counted = Counts(number, started=number)
        else:
            counted = Counts(number)
        name = service or "—"
        groups[name] = groups.get(name, Counts()) + counted
    return _grouped(groups, min_group, as_of)


def _grouped(groups: dict[str, Counts], min_group: int, as_of: datetime | None) -> CampaignStats:
    total = sum(groups.values(), Counts())
    groups = {name: c for name, c in groups.items() if c.invited}
    hidden = {name for name, c in groups.items() if c.invited < min_group}
    visible = sorted((c.invited, name) for name, c in groups.items() if name not in hidden)
    while hidden and visible and sum(groups[n].invited for n in hidden) < min_group:
        hidden.add(visible.pop(0)[1])
    withheld: frozenset[str] = frozenset()
    if hidden:
        # What the hidden services declared is "total minus the visible ones": a visible
        # service shows a figure only when that remainder's figure would be exact too.
        rest = total
        for name in groups:
            if name not in hidden:
                rest = rest - groups[name]
        withheld = frozenset(
            f for f in DECLARED if not disclose(getattr(rest, f), rest.invited, min_group).exact
        )
    services = tuple(
        GroupStats(name, groups[name], name in hidden, min_group, withheld)
        for name in sorted(groups)
    )
    # With a single service the breakdown repeats the total: show it only when it adds detail.
    if len(services) == 1:
        services = ()
    return CampaignStats(
        GroupStats("total", total, total.invited < min_group, min_group),
        services,
        min_group,
        as_of,
    )
