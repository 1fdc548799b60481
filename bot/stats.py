"""Aggregated participation statistics with small-group suppression (pure functions).

A *group* is a population the figures are computed over: the whole campaign, or one service.
A group with fewer invited people than ``min_group`` shows no figure at all (``< N``). When
some service groups are hidden but their sum could be recovered from the total, the smallest
visible groups are hidden too (secondary suppression), so no hidden figure can be deduced by
subtraction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.domain import Participation, ParticipationStatus

FIELDS = ("invited", "started", "completed", "opted_out")


@dataclass(frozen=True, slots=True)
class Counts:
    invited: int = 0
    started: int = 0  # started and not (yet) completed
    completed: int = 0
    opted_out: int = 0

    def rate(self, value: int) -> float:
        return value / self.invited if self.invited else 0.0

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(getattr(self, f) + getattr(other, f) for f in FIELDS))


@dataclass(frozen=True, slots=True)
class GroupStats:
    name: str
    counts: Counts
    hidden: bool

    def as_dict(self, min_group: int) -> dict[str, object]:
        if self.hidden:
            return {"group": self.name, "hidden": True, "below": min_group}
        counts = self.counts
        return {
            "group": self.name,
            "hidden": False,
            **{f: getattr(counts, f) for f in FIELDS},
            **{f"{f}_rate": round(counts.rate(getattr(counts, f)), 4) for f in FIELDS[1:]},
        }


@dataclass(frozen=True, slots=True)
class CampaignStats:
    total: GroupStats
    services: tuple[GroupStats, ...]
    min_group: int


def count(states: Iterable[Participation]) -> Counts:
    invited = started = completed = opted_out = 0
    for state in states:
        if state.status == ParticipationStatus.NOT_INVITED:
            continue
        invited += 1
        if state.status == ParticipationStatus.STARTED:
            started += 1
        elif state.status == ParticipationStatus.COMPLETED:
            completed += 1
        elif state.status == ParticipationStatus.OPTED_OUT:
            opted_out += 1
    return Counts(invited, started, completed, opted_out)


def campaign_stats(states: Iterable[Participation], min_group: int) -> CampaignStats:
    by_service: dict[str, list[Participation]] = {}
    all_states = list(states)
    for state in all_states:
        by_service.setdefault(state.person.service or "—", []).append(state)
    return _grouped({name: count(items) for name, items in by_service.items()}, min_group)


def stats_from_counts(
    counts: Mapping[tuple[str | None, ParticipationStatus], int], min_group: int
) -> CampaignStats:
    """The same figures from people counted per (service, status) by the database."""
    by_service: dict[str, dict[ParticipationStatus, int]] = {}
    for (service, status), number in counts.items():
        group = by_service.setdefault(service or "—", {})
        group[status] = group.get(status, 0) + number
    groups = {}
    for name, statuses in by_service.items():
        invited = sum(n for st, n in statuses.items() if st != ParticipationStatus.NOT_INVITED)
        groups[name] = Counts(
            invited,
            statuses.get(ParticipationStatus.STARTED, 0),
            statuses.get(ParticipationStatus.COMPLETED, 0),
            statuses.get(ParticipationStatus.OPTED_OUT, 0),
        )
    return _grouped(groups, min_group)


def _grouped(groups: dict[str, Counts], min_group: int) -> CampaignStats:
    total = sum(groups.values(), Counts())
    groups = {name: c for name, c in groups.items() if c.invited}
    hidden = {name for name, c in groups.items() if c.invited < min_group}
    visible = sorted((c.invited, name) for name, c in groups.items() if name not in hidden)
    while hidden and visible and sum(groups[n].invited for n in hidden) < min_group:
        hidden.add(visible.pop(0)[1])
    services = tuple(GroupStats(name, groups[name], name in hidden) for name in sorted(groups))
    # With a single service the breakdown repeats the total: show it only when it adds detail.
    if len(services) == 1:
        services = ()
    return CampaignStats(GroupStats("total", total, total.invited < min_group), services, min_group)
