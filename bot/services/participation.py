"""Participation recorded from outside the chat: a Pix Orga participants export.

Only participation columns are read (started, results shared), never a result. Each person is
matched once, by email (case-insensitive) or platform id, among the campaign's audience.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from bot.domain import Campaign, Participation, ParticipationKind, ParticipationStatus
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
    uow: UnitOfWork,
    campaign: Campaign,
    rows: Iterable[OrgaRow],
    now: datetime,
    *,
    states: dict[int, Participation] | None = None,
    outcome: OrgaOutcome | None = None,
) -> OrgaOutcome:
    """Apply rows of an export. The CLI calls it batch by batch (one short transaction each),
    passing the campaign's ``states`` read once and the ``outcome`` so far."""
    outcome = outcome if outcome is not None else OrgaOutcome()
    states = states if states is not None else uow.participation.states(campaign.id)
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
    return outcome
