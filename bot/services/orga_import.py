"""The Pix Orga import: participation recorded from a Pix Orga participants export.

Only participation columns are read (started, results shared), never a result. Each person is
matched once, by email (case-insensitive) or platform id, among the campaign's audience; the
whole export is matched in one query on the indexed normalised email and written in bulk.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.domain import Campaign, ParticipationKind, Person
from bot.orga import OrgaRow
from bot.services.declare import record_reported, reported_change
from storage.uow import UnitOfWork


@dataclass
class OrgaOutcome:
    completed: int = 0
    started: int = 0
    unchanged: int = 0
    # Rows naming a person already seen in the file (counted once per person).
    duplicates: int = 0
    # (line, external id, True when no agent has that id, False when not in the audience)
    unmatched: list[tuple[int, str, bool]] = field(default_factory=list)
    # (line, email) when several agents share that email: nothing is imported then.
    ambiguous: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class OrgaPlan:
    """What an export changes, worked out before any write (see :func:`plan_orga_export`)."""

    outcome: OrgaOutcome
    # (person id, kind, campaign id), one per person at most.
    events: list[tuple[int, ParticipationKind, int | None]] = field(default_factory=list)
    # People who completed with this import (their pending messages are cancelled).
    completed: set[int] = field(default_factory=set)


def external_key(external_id: str | None) -> str:
    """How an external id is compared: trimmed (the normalised email is also lower case)."""
    return (external_id or "").strip()


def identify(uow: UnitOfWork, external_ids: Iterable[str | None]) -> dict[str, list[Person]]:
    """The agents each external id names (keyed by :func:`external_key`): those whose
    normalised email it is (one query on its index; several when an address is shared), else
    the agent whose platform id it is (the id an agents import gave them)."""
    ids = sorted({external_key(e) for e in external_ids if external_key(e)})
    by_email = uow.people.by_emails(ids)  # through the normalised email's index, in chunks
    by_id = uow.people.by_platform_ids(ids)
    found: dict[str, list[Person]] = {}
    for external in ids:
        owners = by_email.get(external.lower(), [])
        if not owners and external in by_id:
            owners = [by_id[external]]
        if owners:
            found[external] = owners
    return found


def plan_orga_export(uow: UnitOfWork, campaign: Campaign, rows: Sequence[OrgaRow]) -> OrgaPlan:
    """Match the whole export (reads only): one query on the indexed normalised email and
    one on platform ids. When an email names several agents, nothing is to be written
    (``outcome.ambiguous``); a person listed several times counts once, the strongest row
    winning (shared > started > neither)."""
    outcome = OrgaOutcome()
    plan = OrgaPlan(outcome)
    states = uow.participation.states(campaign.id)
    owners = identify(uow, [row.external_id for row in rows])
    for row in rows:
        if len(owners.get(external_key(row.external_id), [])) > 1:
            outcome.ambiguous.append((row.line, row.external_id or ""))
    if outcome.ambiguous:
        return plan
    best: dict[int, OrgaRow] = {}
    for row in rows:
        found = owners.get(external_key(row.external_id), [])
        person = found[0] if found else None
        if person is None or person.id not in states:
            outcome.unmatched.append((row.line, row.external_id or "", person is None))
            continue
        previous = best.get(person.id)
        if previous is not None:
            outcome.duplicates += 1
            if (row.shared, row.started) <= (previous.shared, previous.started):
                continue
        best[person.id] = row
    for person_id, row in best.items():
        kind = reported_change(states[person_id].status, started=row.started, done=row.shared)
        if kind is None:
            outcome.unchanged += 1
            continue
        plan.events.append((person_id, kind, campaign.id))
        if kind == ParticipationKind.COMPLETED:
            plan.completed.add(person_id)
            outcome.completed += 1
        else:
            outcome.started += 1
    return plan


def write_orga_events(
    uow: UnitOfWork,
    campaign: Campaign,
    plan: OrgaPlan,
    events: Sequence[tuple[int, ParticipationKind, int | None]],
    now: datetime,
) -> None:
    """Write some of a plan's events (the CLI writes them in short batches, one transaction
    each, so a running bot is never locked out of the database for a whole import)."""
    record_reported(uow, campaign.id, events, now, source="orga")


def apply_orga_export(
    uow: UnitOfWork, campaign: Campaign, rows: Sequence[OrgaRow], now: datetime
) -> OrgaOutcome:
    """Match and write a whole export in this unit of work (nothing when it is ambiguous)."""
    plan = plan_orga_export(uow, campaign, rows)
    if plan.outcome.ambiguous:
        return plan.outcome
    write_orga_events(uow, campaign, plan, plan.events, now)
    outcome = plan.outcome
    uow.audit.add("cli", "import_orga", now, campaign.id, count=outcome.completed + outcome.started)
    return outcome
