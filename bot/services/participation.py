"""Participation recorded from outside the chat: a Pix Orga participants export.

Only participation columns are read (started, results shared), never a result. Each person is
matched once, by email (case-insensitive) or platform id, among the campaign's audience; the
whole export is matched in one query on the indexed normalised email and written in bulk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.domain import Campaign, ParticipationKind, ParticipationStatus
from bot.orga import OrgaRow
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


def plan_orga_export(uow: UnitOfWork, campaign: Campaign, rows: Sequence[OrgaRow]) -> OrgaPlan:
    """Match the whole export (reads only): one query on the indexed normalised email and
    one on platform ids. When an email names several agents, nothing is to be written
    (``outcome.ambiguous``); a person listed several times counts once, the strongest row
    winning (shared > started > neither)."""
    outcome = OrgaOutcome()
    plan = OrgaPlan(outcome)
    states = uow.participation.states(campaign.id)
    ids = [row.external_id.strip() for row in rows if row.external_id]
    by_email = uow.people.by_emails(ids)  # through the normalised email's index, in chunks
    by_id = uow.people.by_platform_ids(ids)
    for row in rows:
        owners = by_email.get((row.external_id or "").strip().lower(), [])
        if len(owners) > 1:
            outcome.ambiguous.append((row.line, row.external_id or ""))
    if outcome.ambiguous:
        return plan
    best: dict[int, OrgaRow] = {}
    for row in rows:
        external = (row.external_id or "").strip()
        owners = by_email.get(external.lower(), [])
        person = owners[0] if owners else by_id.get(external)
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
        status = states[person_id].status
        if row.shared and status != ParticipationStatus.COMPLETED:
            plan.events.append((person_id, ParticipationKind.COMPLETED, campaign.id))
            plan.completed.add(person_id)
            outcome.completed += 1
        elif row.started and status in (
            ParticipationStatus.INVITED,
            ParticipationStatus.NOT_INVITED,
        ):
            plan.events.append((person_id, ParticipationKind.STARTED, campaign.id))
            outcome.started += 1
        else:
            outcome.unchanged += 1
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
    uow.participation.record_many(list(events), now, source="orga")
    completed = [person_id for person_id, _, _ in events if person_id in plan.completed]
    if completed:
        uow.outbox.cancel_pending_for_many(completed, campaign.id)


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
