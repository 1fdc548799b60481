"""Domain types shared by every layer: statuses, the plain dataclasses repositories return,
and the participation state machine (a pure fold over the event log)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from bot.core import Button


class ParticipationKind(enum.StrEnum):
    INVITED = "invited"
    STARTED = "started"
    COMPLETED = "completed"
    SNOOZED = "snoozed"
    OPTED_OUT = "opted_out"
    OPTED_OUT_ALL = "opted_out_all"
    RESUMED = "resumed"


class ParticipationStatus(enum.StrEnum):
    NOT_INVITED = "not_invited"
    INVITED = "invited"
    STARTED = "started"
    COMPLETED = "completed"
    OPTED_OUT = "opted_out"


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    CLOSED = "closed"
    CANCELLED = "cancelled"


OPEN_STATUSES = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.RUNNING)


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    platform_id: str
    display_name: str | None
    service: str | None
    email: str | None
    locale: str | None
    timezone: str | None
    created_at: datetime

    @property
    def name(self) -> str:
        return self.display_name or self.platform_id


@dataclass(frozen=True, slots=True)
class Roles:
    is_admin: bool
    services: frozenset[str]

    @property
    def is_ambassador(self) -> bool:
        return bool(self.services)

    @property
    def name(self) -> str:
        if self.is_admin:
            return "admin"
        return "ambassador" if self.services else "agent"


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    code: str
    title: str
    parcours: str | None
    url: str
    service: str
    start_date: date | None
    deadline: date
    event_name: str | None
    event_date: date | None
    status: CampaignStatus
    audience_kind: str
    audience_value: str
    reminders: str | None
    created_by: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    key: str
    kind: str
    campaign_id: int | None
    person_id: int | None
    recipient: str
    to_conversation: bool
    body: str | None
    mentions: tuple[str, ...]
    buttons: tuple[Button, ...]
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    remote_id: str | None
    last_error: str | None
    batch: str | None
    # The recipient's direct conversation when a platform opened it before (Slack DM channel).
    conversation: str | None = None
    # Read to be sent before (by this or an earlier process): it may have been delivered.
    claimed_before: bool = False
    # A picture to render when sending (e.g. "chart:12:2026-11-23"); ``body`` describes it.
    attachment: str | None = None


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """A message the bot sent or will send to a person, as ``mes données`` lists it."""

    kind: str
    campaign_code: str | None
    status: DeliveryStatus
    created_at: datetime
    sent_at: datetime | None
    # When a message not sent yet will leave (the sending policy's window, or a retry).
    leaves_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NewDelivery:
    key: str
    kind: str
    recipient: str
    body: str
    to_conversation: bool = False
    campaign_id: int | None = None
    person_id: int | None = None
    mentions: tuple[str, ...] = ()
    buttons: tuple[Button, ...] = ()
    batch: str | None = None
    not_before: datetime | None = None
    attachment: str | None = None


@dataclass(frozen=True, slots=True)
class Participation:
    person: Person
    status: ParticipationStatus
    snoozed_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class ParticipationEvent:
    campaign_code: str | None
    kind: ParticipationKind
    source: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ReminderStep:
    id: int
    campaign_id: int
    kind: str
    label: str
    day: date
    fire_at: datetime
    status: str
    person_id: int | None
    done_at: datetime | None


@dataclass(frozen=True, slots=True)
class Question:
    id: int
    text: str
    service: str | None
    asked_at: datetime
    asker_id: int | None
    handed_off_at: datetime | None
    answered_at: datetime | None


@dataclass(frozen=True, slots=True)
class Prompt:
    kind: str
    payload: str
    expires_at: datetime


def fold_participation(person: Person, events: Sequence[tuple[str, datetime]]) -> Participation:
    status = ParticipationStatus.NOT_INVITED
    snoozed_at: datetime | None = None
    updated_at: datetime | None = None
    for kind, at in events:
        updated_at = at
        if kind == ParticipationKind.INVITED and status == ParticipationStatus.NOT_INVITED:
            status = ParticipationStatus.INVITED
        elif kind == ParticipationKind.STARTED and status in (
            ParticipationStatus.NOT_INVITED,
            ParticipationStatus.INVITED,
        ):
            status = ParticipationStatus.STARTED
        elif kind == ParticipationKind.COMPLETED:
            status = ParticipationStatus.COMPLETED
        elif kind == ParticipationKind.OPTED_OUT and status != ParticipationStatus.COMPLETED:
            status = ParticipationStatus.OPTED_OUT
        elif kind == ParticipationKind.SNOOZED:
            snoozed_at = at
        elif kind == ParticipationKind.RESUMED and status == ParticipationStatus.OPTED_OUT:
            status = ParticipationStatus.INVITED
    return Participation(person, status, snoozed_at, updated_at)


@dataclass(frozen=True, slots=True)
class PixLink:
    """A campaign linked to its Pix campaign, and where its participations' sync stands."""

    campaign_id: int
    pix_campaign_id: int
    pix_organization_id: int
    linked_at: datetime
    synced_until: datetime | None
    last_sync_at: datetime | None
    matched_by_name: int
    last_error: str | None
    last_error_at: datetime | None


@dataclass(frozen=True, slots=True)
class StepView:
    """A step as templates show it (wording in bot/messages/*/step_*.txt)."""

    when: datetime
    kind: str
    label: str
    status: str
    day: date
    # A step done whose messages leave later (outside working hours, queued for the window).
    pending: bool = False
