"""Participation recorded from outside the chat: a Pix Orga participants export.

Only participation columns are read (started, results shared), never a result. Each person is
matched once, by email (case-insensitive) or platform id, among the campaign's audience; the
whole export is matched in one query on the indexed normalised email and written in bulk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from bot.domain import Campaign, ParticipationKind, ParticipationStatus
from bot.orga import OrgaRow
from storage.uow import UnitOfWork


@dataclass
class OrgaOutcome:
    completed: int = 0
    started: int = 0
    unchanged: int = 0
    # (line, external id, True when no agent has that id, False when not in the audience)
    unmatched: list[tuple[int, str, bool]] = field(default_factory=list)


def apply_orga_export(
    uow: UnitOfWork, campaign: Campaign, rows: Sequence[OrgaRow], now: datetime
) -> OrgaOutcome:
    outcome = OrgaOutcome()
    states = uow.participation.states(campaign.id)
    people = uow.people.by_emails_or_ids([row.external_id for row in rows if row.external_id])
    events: list[tuple[int, ParticipationKind, int | None]] = []
    completed: list[int] = []
    for row in rows:
        person = people.get(row.external_id) if row.external_id else None
        if person is None or person.id not in states:
            outcome.unmatched.append((row.line, row.external_id or "", person is None))
            continue
        status = states[person.id].status
        if row.shared and status != ParticipationStatus.COMPLETED:
            events.append((person.id, ParticipationKind.COMPLETED, campaign.id))
            completed.append(person.id)
            status = ParticipationStatus.COMPLETED
            outcome.completed += 1
        elif row.started and status in (
            ParticipationStatus.INVITED,
            ParticipationStatus.NOT_INVITED,
        ):
            events.append((person.id, ParticipationKind.STARTED, campaign.id))
            status = ParticipationStatus.STARTED
            outcome.started += 1
        else:
            outcome.unchanged += 1
        # A person listed twice is judged on what the first line already recorded.
        states[person.id] = replace(states[person.id], status=status)
    uow.participation.record_many(events, now, source="orga")
    uow.outbox.cancel_pending_for_many(completed, campaign.id)
    uow.audit.add("cli", "import_orga", now, campaign.id, count=outcome.completed + outcome.started)
    return outcome
