"""Applying what Pix's organisation API reports to one campaign, in one transaction.

Matching, strongest first: ``participantExternalId`` against an agent's normalised email or
imported id (:func:`bot.services.orga_import.identify`); only when that names nobody, the
participant's first and last names against the display name of exactly one not yet matched
member of the campaign's audience (counted apart, ``by_name``, for operators to check: never
silent). Whoever is still unmatched is counted by reason, by Pix's participation number only;
a participation whose external id belongs to an erased person is dropped without a trace (an
erased person is never brought back: people are only ever matched, never created).

The events and the cursor are written in the same transaction, so a crash loses nothing (the
cursor did not move: the next sync reads the same changes again) and duplicates nothing (a
report adds an event only when it changes the participation's state).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.domain import Campaign, Participation, ParticipationKind
from bot.pix.schema import PixParticipation
from bot.services.declare import record_reported, reported_change
from bot.services.orga_import import external_key, identify
from bot.text import fold
from storage.uow import UnitOfWork

SOURCE = "pix"
UNKNOWN, OUTSIDE, AMBIGUOUS = "unknown", "outside", "ambiguous"


@dataclass
class SyncReport:
    """What one campaign's sync did: counts only (operators see them; no one by name)."""

    code: str
    service: str
    fetched: int = 0
    pages: int = 0
    completed: int = 0
    started: int = 0
    unchanged: int = 0
    by_name: int = 0
    erased: int = 0
    skipped: int = 0  # not understood (unknown status, no id)
    unmatched: dict[str, int] = field(default_factory=dict)  # this sync, by reason
    full: bool = False
    error: str | None = None
    unavailable: bool = False  # the error is an outage (the next campaigns are not tried)

    @property
    def unmatched_total(self) -> int:
        return sum(self.unmatched.values())


def _folded(item: PixParticipation) -> str:
    return external_key(item.external_id).lower()


def _names(item: PixParticipation) -> set[str]:
    first, last = item.first_name or "", item.last_name or ""
    if not first or not last:
        return set()
    return {fold(f"{first} {last}"), fold(f"{last} {first}")}


def _strongest(items: Sequence[PixParticipation]) -> dict[int, PixParticipation]:
    """One participation per Pix id (a page read twice, an overlap): the completed one if
    either is, else the last read."""
    best: dict[int, PixParticipation] = {}
    for item in items:
        previous = best.get(item.id)
        if previous is None or item.completed or not previous.completed:
            best[item.id] = item
    return best


def apply_participations(
    uow: UnitOfWork,
    campaign: Campaign,
    items: Sequence[PixParticipation],
    read_from: datetime,
    now: datetime,
    report: SyncReport,
) -> SyncReport:
    """Match and apply one sync's participations, and move the cursor to ``read_from`` (when
    this sync started reading), all in this unit of work."""
    if uow.pix.claim(campaign.id) is None:
        raise LookupError(f"campaign {campaign.code} is not linked to Pix")
    participations = _strongest(items)
    owners = identify(uow, [item.external_id for item in participations.values()])
    # The states of the people named (the audience members among them), not of everyone.
    states = uow.participation.states_among(
        campaign.id, {p.id for found in owners.values() for p in found}
    )
    person_of: dict[int, int] = {}  # Pix participation id -> person id
    unmatched: dict[int, str] = {}
    left: list[PixParticipation] = []
    for pid, item in participations.items():
        found = owners.get(external_key(item.external_id), [])
        if len(found) > 1:
            unmatched[pid] = AMBIGUOUS
        elif found and found[0].id in states:
            person_of[pid] = found[0].id
        elif found:
            unmatched[pid] = OUTSIDE
        else:
            left.append(item)
    # Tombstones are keyed hashes of the trimmed, lower-case id or address.
    erased = uow.privacy.erased_among({_folded(item) for item in left if item.external_id})
    by_name = _match_by_names(
        uow, campaign, [item for item in left if _folded(item) not in erased], states
    )
    for item in left:
        if item.id in by_name:
            person_of[item.id] = by_name[item.id]
        elif _folded(item) in erased:
            report.erased += 1
        else:
            unmatched[item.id] = UNKNOWN
    report.by_name += len(by_name)
    # One report per person: the most advanced of their participations (a retry, a second
    # participation to the same campaign).
    done: dict[int, bool] = {}
    for pid, person_id in person_of.items():
        done[person_id] = done.get(person_id, False) or participations[pid].completed
    events: list[tuple[int, ParticipationKind, int | None]] = []
    for person_id, completed in sorted(done.items()):
        kind = reported_change(states[person_id].status, started=True, done=completed)
        if kind is None:
            report.unchanged += 1
            continue
        events.append((person_id, kind, campaign.id))
        if kind == ParticipationKind.COMPLETED:
            report.completed += 1
        else:
            report.started += 1
    record_reported(uow, campaign.id, events, now, SOURCE)
    erased_ids = [item.id for item in left if _folded(item) in erased]
    uow.pix.set_unmatched(campaign.id, unmatched, [*person_of, *erased_ids])
    for reason in unmatched.values():
        report.unmatched[reason] = report.unmatched.get(reason, 0) + 1
    uow.pix.advance(campaign.id, read_from, now, len(by_name))
    uow.audit.add(
        "pix",
        "pix_sync",
        now,
        campaign.id,
        count=report.completed + report.started,
        detail=(
            f"read={len(participations)} completed={report.completed} started={report.started}"
            f" by_name={len(by_name)} unmatched={len(unmatched)} erased={report.erased}"
        ),
    )
    return report


def _match_by_names(
    uow: UnitOfWork,
    campaign: Campaign,
    items: Sequence[PixParticipation],
    states: dict[int, Participation],
) -> dict[int, int]:
    """Participations matched by name alone: the folded "first last" (or "last first") is
    the display name of exactly one audience member not matched otherwise, and no other
    unmatched participation carries that name. Adds the matched people's ``states``."""
    wanted = {key for item in items for key in _names(item)}
    if not wanted:
        return {}
    taken = {pid for pid in states}
    by_display: dict[str, list[int]] = {}
    for person_id, display_name in uow.campaigns.audience_names(campaign.id):
        if person_id not in taken:
            key = fold(display_name)
            if key in wanted:
                by_display.setdefault(key, []).append(person_id)
    claims: dict[int, list[int]] = {}  # person id -> participations naming them
    for item in items:
        candidates = {pid for key in _names(item) for pid in by_display.get(key, [])}
        ambiguous = any(len(by_display.get(key, [])) > 1 for key in _names(item))
        if len(candidates) == 1 and not ambiguous:
            claims.setdefault(candidates.pop(), []).append(item.id)
    matched = {ids[0]: person_id for person_id, ids in claims.items() if len(ids) == 1}
    states.update(uow.participation.states_among(campaign.id, matched.values()))
    return matched
