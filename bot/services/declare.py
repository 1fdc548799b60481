"""Declaring a participation: the one home of what an agent says ("fait", "commencé", "plus
tard", "stop", "stop tout", "reprendre", a 👍) and of what Pix reports (the Orga export, the
organisation API).

Every change is an append-only participation event. One rule, here only: an event that takes
someone out of the reminder plan (completed, stopped, stopped everything) cancels their
pending invitation and reminders at once, whoever declared it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.domain import Campaign, ParticipationKind, ParticipationStatus, Person
from bot.services.ports import Planning
from storage.uow import UnitOfWork

ACTIONS = frozenset({"done", "started", "later", "stop", "resume"})
# Events after which nothing more is sent to that person (for that campaign, or at all).
ENDS_MESSAGES = frozenset(
    {ParticipationKind.COMPLETED, ParticipationKind.OPTED_OUT, ParticipationKind.OPTED_OUT_ALL}
)


@dataclass(frozen=True, slots=True)
class Declared:
    # Whether an event was recorded (False: it would change nothing, e.g. "fait" twice).
    changed: bool
    # The participation before the declaration (None for "stop tout" / "reprendre" alone).
    status: ParticipationStatus | None = None
    # "plus tard": when the next reminder comes (None: none before the deadline).
    when: datetime | None = None


def record_event(
    uow: UnitOfWork,
    person_id: int,
    kind: ParticipationKind,
    now: datetime,
    campaign_id: int | None = None,
    source: str = "chat",
) -> None:
    """Append one event (``campaign_id`` None: about every campaign)."""
    uow.participation.record(person_id, kind, now, campaign_id, source=source)
    if kind in ENDS_MESSAGES:
        uow.outbox.cancel_pending_for(person_id, campaign_id)


def record_reported(
    uow: UnitOfWork,
    campaign_id: int,
    events: Sequence[tuple[int, ParticipationKind, int | None]],
    now: datetime,
    source: str,
) -> None:
    """Append events reported by Pix (``source``: "orga" or "pix") in bulk, with the same
    rule as :func:`record_event` (later steps go only to people still due)."""
    uow.participation.record_many(list(events), now, source=source)
    ended = [pid for pid, kind, _ in events if kind in ENDS_MESSAGES]
    if ended:
        uow.outbox.cancel_pending_for_many(ended, campaign_id)


def reported_change(
    status: ParticipationStatus, *, started: bool, done: bool
) -> ParticipationKind | None:
    """The event a report from Pix (the Orga export or the organisation API) adds to a
    participation in ``status``: completed when Pix says done and it is not yet; started
    when Pix says started and the agent had not said more (an opt-out stays an opt-out);
    otherwise nothing, so reading the same report twice adds nothing."""
    if done and status != ParticipationStatus.COMPLETED:
        return ParticipationKind.COMPLETED
    if (started or done) and status in (
        ParticipationStatus.INVITED,
        ParticipationStatus.NOT_INVITED,
    ):
        return ParticipationKind.STARTED
    return None


def change_of(action: str, status: ParticipationStatus) -> ParticipationKind | None:
    """The event ``action`` records on a participation in ``status``; None when it would
    change nothing (the participation's state machine, :func:`bot.domain.fold_participation`,
    would ignore it, or it is already so). "plus tard" changes no status: it snoozes a
    participation still open."""
    finished = (ParticipationStatus.COMPLETED, ParticipationStatus.OPTED_OUT)
    if action == "done":
        return None if status == ParticipationStatus.COMPLETED else ParticipationKind.COMPLETED
    if action == "started":
        not_yet = status in (ParticipationStatus.NOT_INVITED, ParticipationStatus.INVITED)
        return ParticipationKind.STARTED if not_yet else None
    if action == "later":
        return None if status in finished else ParticipationKind.SNOOZED
    if action == "stop":
        return None if status in finished else ParticipationKind.OPTED_OUT
    if action == "resume":
        return ParticipationKind.RESUMED if status == ParticipationStatus.OPTED_OUT else None
    raise ValueError(f"unknown action {action!r}")


def status_in(uow: UnitOfWork, campaign: Campaign, person: Person) -> ParticipationStatus:
    state = uow.participation.state(campaign.id, person.id)
    return state.status if state else ParticipationStatus.NOT_INVITED


def campaigns_changed_by(
    uow: UnitOfWork, person: Person, action: str, campaigns: Sequence[Campaign]
) -> list[Campaign]:
    """The campaigns among ``campaigns`` where ``action`` would change something: the ones
    :func:`declare` would record an event for (an agent who names no campaign is asked only
    about these)."""
    return [c for c in campaigns if change_of(action, status_in(uow, c, person)) is not None]


def declare(
    uow: UnitOfWork,
    person: Person,
    campaign: Campaign | None,
    action: str,
    now: datetime,
    *,
    planning: Planning,
) -> Declared:
    """What ``person`` says about ``campaign`` (``action`` in :data:`ACTIONS`).

    Without a campaign, "stop" is "stop tout" and "resume" ends it (unchanged when the person
    had not stopped everything: the caller then asks which campaign is meant).
    """
    if campaign is None:
        stopped_all = person.id in uow.participation.opted_out_all([person.id])
        if action == "stop" and not stopped_all:
            record_event(uow, person.id, ParticipationKind.OPTED_OUT_ALL, now)
            return Declared(True)
        if action == "resume" and stopped_all:
            record_event(uow, person.id, ParticipationKind.RESUMED, now)
            return Declared(True)
        return Declared(False)
    status = status_in(uow, campaign, person)
    kind = change_of(action, status)
    if kind is None:
        return Declared(False, status)
    record_event(uow, person.id, kind, now, campaign.id)
    when = planning.snooze(uow, campaign, person, now) if action == "later" else None
    return Declared(True, status, when)
