"""Aggregated participation statistics under the one disclosure rule (pure functions).

A *group* is a population the figures are computed over: the whole campaign, or one service.
Its size (``invited``: the campaign's audience in that group) is chosen by the ambassador, so it
is shown exactly unless the group has fewer than ``min_group`` people (then the group shows no
figure at all; the smallest visible groups are hidden too until the hidden ones add up to
``min_group``). Every declaration-derived count (started, completed, stopped for this campaign)
goes through :func:`bot.privacy.disclose`, and :func:`complementary` withholds service figures
so that "the total minus the services shown" never gives one the rule keeps in words.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from bot.domain import ParticipationStatus
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

    def why(self, name: str) -> str:
        """Why a figure is "non communiqué", for the reply to say it plainly: ``withheld`` (the
        total minus the services shown would give it), ``small`` (the group is too small for a
        number either way), or "" (not hidden). Adds nothing to what the figures tell: a figure
        is "small" exactly when the group's size shown is under twice ``min_group``."""
        if name in self.withheld:
            return "withheld"
        return "small" if self.figure(name).shown is Shown.HIDDEN else ""

    def bounds(self, name: str) -> tuple[int, int] | None:
        """What the published figure says of the count, as the closed interval it lies in
        (``name`` a declared field, or ``answered``: started + completed + stopped). Computed
        from the published figures and the group's size only, never from the count itself: it
        tells exactly what an ambassador can already infer from the words (docs/privacy.md,
        « Fourchettes »). None when the group shows no figure."""
        if self.hidden:
            return None
        size, bound = self.counts.invited, self.min_group
        if name == "answered":
            parts = [self.bounds(f) for f in DECLARED]
            low = sum(p[0] for p in parts if p is not None)
            high = sum(p[1] for p in parts if p is not None)
            return min(low, size), min(high, size)
        shown = self.figure(name)
        if shown.value is not None:
            return shown.value, shown.value
        if shown.shown is Shown.FEWER_THAN:
            return 0, min(bound - 1, size)
        if shown.shown is Shown.ALMOST_ALL:
            return max(size - bound + 1, 0), size
        return 0, size

    def band(self, name: str) -> tuple[int, int] | None:
        """The rate band, in whole percents, of a figure said in words ("moins de 5" of 12 is
        "au plus 34 %"): the interval of :meth:`bounds`, widened to whole percents (the low end
        rounded down, the high end up, so the band is always true). None when the figure is
        exact (its rate is shown), hidden, or the band would be 0-100 % (it says nothing)."""
        interval = self.bounds(name)
        if interval is None or not self.counts.invited:
            return None
        low, high = interval
        size = self.counts.invited
        if low == high:  # exact: its rate is shown (or, for ``answered``, the sum's)
            return None if name != "answered" else (round(100 * low / size),) * 2
        band = (math.floor(100 * low / size), math.ceil(100 * high / size))
        return None if band == (0, 100) else band

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
            # A figure in words: the band of whole percents the words imply (see band()).
            **{f"{f}_band": _listed(self.band(f)) for f in (*DECLARED, "answered")},
        }


def _listed(band: tuple[int, int] | None) -> list[int] | None:
    return None if band is None else list(band)


@dataclass(frozen=True, slots=True)
class CampaignStats:
    total: GroupStats
    services: tuple[GroupStats, ...]
    min_group: int
    # The daily snapshot's moment (declarations after it are not counted); None when live.
    as_of: datetime | None = None
    # Completions per local day up to the snapshot, as stored with it (the chart's curve);
    # None when live.
    curve: tuple[tuple[date, int], ...] | None = None
    # Completions gained since the snapshot a week before, when both totals are exact (the
    # difference of two figures already shown); None otherwise.
    week_gain: int | None = None
    # The ministry's figures beside this campaign's (:func:`ministry`), when asked for.
    ministry: Ministry | None = None

    @property
    def next_at(self) -> datetime | None:
        """When the next daily snapshot is taken (the next local midnight); None when live."""
        if self.as_of is None:
            return None
        day = self.as_of.date() + timedelta(days=1)
        return datetime.combine(day, time(0, 0), tzinfo=self.as_of.tzinfo)

    @property
    def before_launch(self) -> bool:
        """The snapshot was taken before anyone was invited (a campaign launched today): the
        audience, chosen by the ambassador, was empty at midnight."""
        return self.as_of is not None and self.total.counts.invited == 0


def stats_from_counts(
    counts: Mapping[tuple[str | None, ParticipationStatus], int],
    min_group: int,
    as_of: datetime | None = None,
) -> CampaignStats:
    """The figures from audience members counted per (service, status for this campaign)."""
    return grouped(group_counts(counts), min_group, as_of)


def group_counts(counts: Mapping[tuple[str | None, ParticipationStatus], int]) -> dict[str, Counts]:
    """Audience members counted per (service, status for this campaign), as groups.

    "stop tout" is not a status of any campaign: it is one bit per person, shared by every
    campaign, so counting it in each campaign's "rappels arrêtés" would let two campaigns whose
    audiences differ by one person tell that person's choice (see ``docs/privacy.md``). A
    campaign's figures depend only on what was declared for that campaign."""
    groups: dict[str, Counts] = {}
    for (service, status), number in counts.items():
        if status == ParticipationStatus.COMPLETED:
            counted = Counts(number, completed=number)
        elif status == ParticipationStatus.OPTED_OUT:
            counted = Counts(number, opted_out=number)
        elif status == ParticipationStatus.STARTED:
            counted = Counts(number, started=number)
        else:
            counted = Counts(number)
        name = service or "—"
        groups[name] = groups.get(name, Counts()) + counted
    return groups


def grouped(
    groups: Mapping[str, Counts], min_group: int, as_of: datetime | None = None
) -> CampaignStats:
    """Total and per-service figures, with the group rules (see the module docstring)."""
    total = sum(groups.values(), Counts())
    sizes = {name: c for name, c in groups.items() if c.invited}
    hidden = {name for name, c in sizes.items() if c.invited < min_group}
    visible = sorted((c.invited, name) for name, c in sizes.items() if name not in hidden)
    while hidden and visible and sum(sizes[n].invited for n in hidden) < min_group:
        hidden.add(visible.pop(0)[1])
    withheld: dict[str, set[str]] = {name: set() for name in sizes}
    for f in DECLARED:
        for name in complementary(sizes, hidden, f, min_group):
            withheld[name].add(f)
    services = tuple(
        GroupStats(name, sizes[name], name in hidden, min_group, frozenset(withheld[name]))
        for name in sorted(sizes)
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


def complementary(
    groups: Mapping[str, Counts], hidden: set[str], field_name: str, min_group: int
) -> set[str]:
    """The services whose ``field_name`` is shown "non communiqué" (no band) so that the total
    minus the services shown never gives a figure the rule keeps in words.

    When the total's figure is in words, no service's can be exact (a service's count and its
    complement are at most the total's): nothing to do. When it is exact, the services whose
    figure is not exact (or wholly hidden) form the *rest*, whose count anyone can compute as
    the total minus the exact ones. The rest must be two services at least and its own figure
    exact; otherwise the smallest exact service joins it, until it is (all of them at worst:
    then the rest is the total, exact). Its members show no band at all: "moins de 5" for two
    services whose sum is known could pin both."""
    total = sum(groups.values(), Counts())
    if len(groups) < 2 or not disclose(getattr(total, field_name), total.invited, min_group).exact:
        return set()
    rest = {
        name
        for name, c in groups.items()
        if name in hidden or not disclose(getattr(c, field_name), c.invited, min_group).exact
    }
    if not rest:
        return set()
    exact = sorted((groups[n].invited, n) for n in groups if n not in rest)
    while exact:
        summed = sum((groups[n] for n in rest), Counts())
        if (
            len(rest) >= 2
            and disclose(getattr(summed, field_name), summed.invited, min_group).exact
        ):
            break
        rest.add(exact.pop(0)[1])
    return rest - hidden


def week_gain(now: CampaignStats, before: CampaignStats) -> int | None:
    """Completions gained between two snapshots of a campaign, only when both totals' figures
    are exact: the difference of two numbers an ambassador could read anyway, so it tells
    nothing the rule keeps in words."""
    current, previous = now.total.completed, before.total.completed
    if now.total.hidden or before.total.hidden or not (current.exact and previous.exact):
        return None
    assert current.value is not None and previous.value is not None
    return current.value - previous.value


@dataclass(frozen=True, slots=True)
class Ministry:
    """Where a campaign stands among the running campaigns of the ministry the bot serves (see
    :func:`ministry`): every number here is computed from figures already published under the
    rule (each campaign's total), never from a count."""

    services: int  # services the pool spans
    campaigns: int  # campaigns in the pool (each with at least 2 × min_group invited)
    invited: int  # their audiences, summed (audience sizes are exact from min_group)
    low: float  # the ministry's completion rate lies in [low, high] (equal when exact)
    high: float
    # The campaign's completion rate against the ministry's: "above", "below", or "" when the
    # published figures cannot tell.
    position: str = ""
    # Among the pool's campaigns: "upper" / "lower" half when the published bands place it
    # there whatever the hidden counts are, else "".
    half: str = ""

    @property
    def exact(self) -> bool:
        return self.low == self.high

    @property
    def percents(self) -> tuple[int, int]:
        """The band in whole percents, widened so that it stays true."""
        return math.floor(100 * self.low), math.ceil(100 * self.high)


def ministry(
    entries: Sequence[GroupStats], campaign: GroupStats, min_group: int
) -> Ministry | None:
    """The ministry line beside one campaign's total (``campaign``, one of ``entries``: the
    day's totals of the campaigns running at the snapshot, every service of the deployment).

    It uses nothing but what each campaign publishes: its audience size and the interval its
    "terminés" figure allows (:meth:`GroupStats.bounds`: exact, "moins de 5" = 0 to 4,
    "presque tous" = the size minus 4 to the size). The ministry's rate is the sum of those
    intervals over the sum of the audiences — exact when every figure is, otherwise a band a few
    points wide — so no count said in words anywhere can be recovered from it, and two worlds
    whose published figures are the same read the same line. Campaigns whose total shows no
    figure (fewer than ``2 × min_group`` invited) stay out. None when the pool spans fewer
    than two services (it would repeat the campaign's own figures)."""
    bounds = [
        (g, b)
        for g in entries
        if not g.hidden
        and g.counts.invited >= 2 * min_group
        and (b := g.bounds("completed")) is not None
    ]
    if len({g.name for g, _ in bounds}) < 2:
        return None
    invited = sum(g.counts.invited for g, _ in bounds)
    low = sum(b[0] for _, b in bounds) / invited
    high = sum(b[1] for _, b in bounds) / invited
    rates = [(b[0] / g.counts.invited, b[1] / g.counts.invited) for g, b in bounds]
    position, half = "", ""
    mine = campaign.bounds("completed")
    if mine is not None and campaign.counts.invited >= 2 * min_group:
        my_low, my_high = mine[0] / campaign.counts.invited, mine[1] / campaign.counts.invited
        if my_low > high:
            position = "above"
        elif my_high < low:
            position = "below"
        # Placed whatever the hidden counts are: enough campaigns surely below (or above).
        below = sum(1 for r_low, r_high in rates if r_high < my_low)
        above = sum(1 for r_low, r_high in rates if r_low > my_high)
        if 2 * below >= len(rates):
            half = "upper"
        elif 2 * above >= len(rates):
            half = "lower"
    services = len({g.name for g, _ in bounds})
    return Ministry(services, len(bounds), invited, low, high, position, half)
