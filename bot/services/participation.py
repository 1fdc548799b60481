"""Participation recorded from outside the chat: a Pix Orga participants export.

Only participation columns are read (started, results shared), never a result. Each person is
matched once, by email (case-insensitive) or platform id, among the campaign's audience.
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
    # (line, external id, True when no agent has that id, False when not in the audience)
    unmatched: list[tuple[int, str, bool]] = field(default_factory=list)


def apply_orga_export(
    uow: UnitOfWork, campaign: Campaign, rows: Sequence[OrgaRow], now: datetime
) -> OrgaOutcome:
    outcome = OrgaOutcome()
    states = uow.participation.states(campaign.id)
    for row in rows:
        person = None
        if row.external_id:
            person = uow.people.by_email(row.external_id) or uow.people.by_platform_id(
                row.external_id
            )
        if person is None or person.id not in states:
            outcome.unmatched.append((row.line, row.external_id or "", person is None))
            continue
        status = states[person.id].status
        if row.shared and status != ParticipationStatus.COMPLETED:
            uow.participation.record(
                person.id, ParticipationKind.COMPLETED, now, campaign.id, source="orga"
            )
            uow.outbox.cancel_pending_for(person.id, campaign.id)
            outcome.completed += 1
        elif row.started and status in (
            ParticipationStatus.INVITED,
            ParticipationStatus.NOT_INVITED,
        ):
            uow.participation.record(
                person.id, ParticipationKind.STARTED, now, campaign.id, source="orga"
            )
            outcome.started += 1
        else:
            outcome.unchanged += 1
    uow.audit.add("cli", "import_orga", now, campaign.id, count=outcome.completed + outcome.started)
    return outcome
