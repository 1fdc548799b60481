"""What the bot holds about a person (``mes données``), and erasing it (``oublie-moi``, and
``pixbot forget``).

Erasure here is the database's part, in the caller's unit of work: the person's rows are
removed or emptied and they are named afterwards only by an alias (``uow.privacy.erase``);
the other stores (platform state, spools, freed bytes) are reached after the transaction by the
pipeline of ``bot/erasure.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain import MessageRecord, ParticipationEvent, Person, Question
from bot.services.ports import Planning
from storage.uow import UnitOfWork

ALL_STATUSES = ("draft", "scheduled", "running", "closed", "cancelled")


@dataclass(frozen=True, slots=True)
class HeldData:
    """Everything stored about one person (template variables of ``my_data``)."""

    campaigns: list[dict[str, str]]
    events: list[ParticipationEvent]
    opted_out_all: bool
    note_off: datetime | None
    questions: list[Question]
    planned: list[dict[str, Any]]
    messages: list[MessageRecord]

    def variables(self) -> dict[str, Any]:
        return {
            "campaigns": self.campaigns,
            "events": self.events,
            "opted_out_all": self.opted_out_all,
            "note_off": self.note_off,
            "questions": self.questions,
            "planned": self.planned,
            "messages": self.messages,
        }


def held_about(uow: UnitOfWork, person: Person, planning: Planning) -> HeldData:
    """What is stored about ``person``: their campaigns and state, what they declared, their
    questions, the messages for them, and the reminders that will really reach them."""
    campaigns = []
    mine = uow.campaigns.campaigns_of(person.id, statuses=ALL_STATUSES)
    for campaign in mine:
        state = uow.participation.state(campaign.id, person.id)
        campaigns.append(
            {
                "code": campaign.code,
                "title": campaign.title,
                "status": state.status.value if state else "not_invited",
            }
        )
    codes = {c.id: c.code for c in mine}
    opted_out_all = person.id in uow.participation.opted_out_all([person.id])
    # Only what will really happen: no reminder for a campaign done or stopped, none at all
    # after "stop tout"; each at the time it reaches this person (their time zone).
    still_reminded = [
        c.id
        for c, row in zip(mine, campaigns, strict=True)
        if c.status in ("scheduled", "running") and row["status"] in ("invited", "started")
    ]
    planned = [
        {
            "at": planning.time_for(step, person),
            "label": step.label,
            "kind": step.kind,
            "code": codes[step.campaign_id],
        }
        for step in uow.steps.planned_for([] if opted_out_all else still_reminded, person.id)
        if step.kind != "close"
    ]
    return HeldData(
        campaigns=campaigns,
        events=uow.participation.history(person.id),
        opted_out_all=opted_out_all,
        note_off=uow.notes.since(person.id),
        questions=uow.questions.asked_by(person.id),
        planned=planned,
        messages=[m for m in uow.outbox.to_person(person.id) if m.status != "cancelled"],
    )


def erase(uow: UnitOfWork, person: Person, now: datetime, *, by: str | None = None) -> str:
    """Erase ``person`` from the database and write the audit entry; returns their alias.

    ``by`` None: they asked themselves (the entry names only the alias); else who asked
    (``"cli"``), the entry holding the alias."""
    alias = uow.privacy.erase(person, now)
    if by is None:
        uow.audit.add(alias, "forget", now)
    else:
        uow.audit.add(by, "forget", now, detail=alias)
    return alias
