"""Campaign operations shared by chat handlers, the CLI and scheduled jobs.

Each operation works inside the caller's unit of work, never awaits the network (audiences
are resolved by :class:`bot.services.audience.Directory` before the transaction) and only
enqueues messages through the :class:`~bot.notifier.Notifier`; the outbox sends them. Keys make
every operation idempotent: an invitation is ``inv:CAMPAIGN:PERSON``, a reminder
``rem:CAMPAIGN:STEP:PERSON``, so running any of them twice sends nothing new.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.core import Member
from bot.domain import (
    Campaign,
    CampaignStatus,
    DeliveryStatus,
    Participation,
    ParticipationKind,
    ParticipationStatus,
    Person,
)
from bot.notifier import Notifier, PersonMessage
from bot.services.figures import figures
from bot.stats import CampaignStats
from scheduler.calendar import WorkCalendar
from storage.uow import UnitOfWork

MAX_LISTED_FAILURES = 20


@dataclass(frozen=True, slots=True)
class Batch:
    """Who to report a batch send to. Stored with the outbox rows so it survives restarts.

    The report goes to ``conversation_id`` when set (where the command was typed), else to the
    initiator's direct conversation; it is written in the initiator's language.
    """

    action: str
    campaign_id: int
    origin: str
    initiator_id: int | None = None
    conversation_id: str | None = None
    # Invitations not sent because the agent said "stop tout": reported as handled, so that
    # the progress of a launch reveals nobody's choice.
    withheld: int = 0

    def encode(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> Batch | None:
        try:
            data = json.loads(text)
            return cls(**data) if isinstance(data, dict) else None
        except (ValueError, TypeError):
            return None

    @property
    def digest(self) -> str:
        return hashlib.sha1(self.encode().encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class LaunchResult:
    new: int
    already: int
    skipped_opted_out: int
    # People who joined the audience with this launch: the ambassador sees this, never ``new``,
    # ``already`` nor ``skipped_opted_out``, whose differences would tell who said "stop tout".
    fresh: int = 0
    # Room members who are not known agents of the campaign's service (never invited).
    rejected: int = 0
    # The batch, when none of its invitations was queued (all withheld, or nobody joined): the
    # dispatcher will never report it, so the caller must (see :meth:`report_batch`), or the
    # missing summary would tell that every newcomer said "stop tout".
    unsent_batch: str | None = None
    # Outside working hours: when the invitations leave (in the bot's time zone; each agent
    # gets them at the start of their own working hours). None: they are leaving now.
    queued_until: datetime | None = None
    # Some agents (other time zones) get them later than the others.
    staggered: bool = False


@dataclass(frozen=True, slots=True)
class Resolved:
    """An audience resolved to known agents of the campaign's service."""

    people: list[Person]
    rejected: int


def resolve_list(uow: UnitOfWork, service: str, platform_ids: Sequence[str]) -> Resolved:
    """The known agents of ``service`` among these ids; unknown, erased or other services' ids
    are only counted (nobody is created, nothing is said about them)."""
    known = uow.people.by_platform_ids(platform_ids)
    kept = [p for pid, p in known.items() if p.service == service]
    unique = set(platform_ids)
    return Resolved(sorted(kept, key=lambda p: p.id), len(unique) - len(kept))


class CampaignService:
    def __init__(
        self,
        notifier: Notifier,
        min_group: int,
        refresh: str = "live",
        timezone: str = "Europe/Paris",
        calendar: WorkCalendar | None = None,
    ) -> None:
        self.notifier = notifier
        self.min_group = min_group
        self.refresh = refresh
        self.tz = ZoneInfo(timezone)
        # The sending policy (COMMANDS.md, "When messages leave"); None: at once (benches).
        self.calendar = calendar

    def leaves_at(
        self, person: Person | None, now: datetime, day: date | None = None
    ) -> datetime | None:
        """The one sending policy for invitations, reminders, relances and notices: within
        working hours on a working day in the person's time zone; otherwise at the start of
        the next window. A planned step's message (``day``: the step's day) does not leave
        before the start of working hours that day in the person's time zone, so an agent
        in a later time zone gets it at the same local hour. None when that is now."""
        if self.calendar is None:
            return None
        zone = self.zone(person)
        slot = self.calendar.next_slot(now, zone)
        if day is not None:
            slot = max(slot, self.calendar.slot_on(day, zone))
        return slot if slot > now else None

    def zone(self, person: Person | None) -> ZoneInfo:
        if person is None or not person.timezone:
            return self.tz
        try:
            return ZoneInfo(person.timezone)
        except (KeyError, ValueError):
            return self.tz

    @staticmethod
    def closes_at(uow: UnitOfWork, campaign: Campaign) -> datetime | None:
        """The one deadline people read: when the campaign closes (its close step)."""
        for step in uow.steps.for_campaign(campaign.id):
            if step.kind == "close" and step.status in ("planned", "done"):
                return step.fire_at
        return None

    def audience(
        self,
        uow: UnitOfWork,
        campaign: Campaign,
        now: datetime,
        room_members: Sequence[Member] | None = None,
    ) -> list[Person]:
        """The people a campaign targets right now: only known agents of its service (a room's
        other members and anyone else are never created nor invited); ``room_members`` were
        looked up before the transaction for a room audience."""
        return self.resolve(uow, campaign, room_members).people

    def resolve(
        self, uow: UnitOfWork, campaign: Campaign, room_members: Sequence[Member] | None = None
    ) -> Resolved:
        if campaign.audience_kind == "service":
            return Resolved(uow.people.in_service(campaign.audience_value), 0)
        if campaign.audience_kind == "room":
            ids = [m.platform_id for m in room_members or ()]
            return resolve_list(uow, campaign.service, ids)
        wanted = [
            int(item[1:]) for item in campaign.audience_value.split(",") if item[1:].isdigit()
        ]
        people = [p for p in uow.people.by_ids(wanted) if p.service == campaign.service]
        return Resolved(people, len(wanted) - len(people))

    def audience_size(
        self, uow: UnitOfWork, campaign: Campaign, room_members: Sequence[Member] | None = None
    ) -> int:
        """How many people the audience has today, without recording anyone."""
        if campaign.audience_kind == "service":
            return uow.people.count_in_service(campaign.audience_value)
        return len(self.resolve(uow, campaign, room_members).people)

    def invite(
        self,
        uow: UnitOfWork,
        campaign: Campaign,
        people: list[Person],
        now: datetime,
        batch: Batch | None,
    ) -> LaunchResult:
        """Invite everyone not invited yet (one invitation per person and campaign, ever).

        Set-based: the audience, the invitations and their events are written in a few
        multi-row statements whatever the audience size; only the rendering is per person.
        """
        people = list({p.id: p for p in people}.values())
        opted_out = uow.participation.opted_out_all()
        present = uow.campaigns.audience_ids(campaign.id)
        uow.campaigns.add_audience(campaign.id, [p.id for p in people], now)
        invited = uow.participation.people_with(campaign.id, ParticipationKind.INVITED)
        targets = [p for p in people if p.id not in invited and p.id not in opted_out]
        already = sum(1 for p in people if p.id in invited)
        skipped = len(people) - already - len(targets)
        # The batch (and its reports) covers exactly who joined the audience now; withheld
        # invitations ("stop tout") count as handled. Someone of the audience invited only
        # now (they said "reprendre" since the last launch) is outside any report: a report
        # that exists, or counts, because of them would tell their choice.
        newcomers = [p for p in people if p.id not in present]
        reported = [p for p in targets if p.id not in present]
        encoded = (
            replace(batch, withheld=len(newcomers) - len(reported)).encode() if batch else None
        )
        leaving = {p.id: self.leaves_at(p, now) for p in targets}
        closes_at = self.closes_at(uow, campaign)
        for group, key in ((reported, encoded), ([p for p in targets if p.id in present], None)):
            self.notifier.to_people(
                uow,
                (
                    PersonMessage(
                        p, f"inv:{campaign.id}:{p.id}", {"zone": p.timezone}, leaving[p.id]
                    )
                    for p in group
                ),
                "invitation",
                now=now,
                campaign_id=campaign.id,
                kind="invitation",
                batch=key,
                with_buttons=True,
                campaign=campaign,
                closes_at=closes_at,
            )
        uow.participation.record_many(
            [(p.id, ParticipationKind.INVITED, campaign.id) for p in targets], now, source="system"
        )
        if campaign.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
            uow.campaigns.set_status(campaign.id, CampaignStatus.RUNNING)
        # Nothing queued in the batch: the dispatcher will never report it, the caller does
        # (always, so that whether a report comes tells nothing either).
        unsent = encoded if encoded is not None and not reported else None
        here = self.leaves_at(None, now)
        return LaunchResult(
            len(targets),
            already,
            skipped,
            fresh=len(newcomers),
            unsent_batch=unsent,
            queued_until=here,
            staggered=any(when != here for when in leaving.values()),
        )

    @staticmethod
    def due_for_reminder(uow: UnitOfWork, campaign: Campaign) -> list[Participation]:
        """Audience members neither done nor stopped (for this campaign or all campaigns),
        selected by the database."""
        return uow.participation.due(campaign.id)

    def remind(
        self,
        uow: UnitOfWork,
        campaign: Campaign,
        step_key: str,
        now: datetime,
        *,
        batch: Batch | None = None,
        label: str = "",
        day: date | None = None,
        only: set[int] | None = None,
    ) -> int:
        """Enqueue one reminder per due person (or per due person of ``only``) for this step
        (leaving as :meth:`leaves_at` says; ``day``: a planned step's day); returns how many
        are new."""
        return self.notifier.to_people(
            uow,
            (
                PersonMessage(
                    state.person,
                    f"rem:{campaign.id}:{step_key}:{state.person.id}",
                    {
                        "started": state.status == ParticipationStatus.STARTED,
                        "zone": state.person.timezone,
                    },
                    self.leaves_at(state.person, now, day),
                )
                for state in self.due_for_reminder(uow, campaign)
                if only is None or state.person.id in only
            ),
            "reminder",
            now=now,
            campaign_id=campaign.id,
            kind="reminder",
            batch=batch.encode() if batch else None,
            with_buttons=True,
            campaign=campaign,
            label=label,
            closes_at=self.closes_at(uow, campaign),
        )

    def stats(self, uow: UnitOfWork, campaign: Campaign, now: datetime) -> CampaignStats:
        """What ambassadors see: the daily snapshot (or live), under the disclosure rule."""
        return figures(uow, campaign, self.min_group, now, self.refresh, self.tz)

    def close(self, uow: UnitOfWork, campaign: Campaign, now: datetime, *, thank: bool) -> int:
        """Close a campaign: cancel what is pending, thank completers; returns the thanks count."""
        uow.campaigns.set_status(campaign.id, CampaignStatus.CLOSED)
        uow.steps.cancel_planned(campaign.id)
        uow.outbox.cancel_pending(campaign.id)
        thanked = 0
        if thank:
            for pid, state in uow.participation.states(campaign.id).items():
                if state.status == ParticipationStatus.COMPLETED and self.notifier.to_person(
                    uow,
                    state.person,
                    "thanks",
                    key=f"thanks:{campaign.id}:{pid}",
                    now=now,
                    not_before=self.leaves_at(state.person, now),
                    campaign_id=campaign.id,
                    kind="thanks",
                    person=state.person,
                    campaign=campaign,
                ):
                    thanked += 1
        return thanked

    @staticmethod
    def cancel(uow: UnitOfWork, campaign: Campaign) -> int:
        uow.campaigns.set_status(campaign.id, CampaignStatus.CANCELLED)
        uow.steps.cancel_planned(campaign.id)
        return uow.outbox.cancel_pending(campaign.id)

    def report_batch(self, uow: UnitOfWork, encoded: str, now: datetime, *, final: bool) -> None:
        """Progress ("120/450 envoyées") or the final summary of a batch send, to whoever
        started it, in their language."""
        batch = Batch.decode(encoded)
        if batch is None:
            return
        campaign = uow.campaigns.get(batch.campaign_id)
        initiator = uow.people.get(batch.initiator_id) if batch.initiator_id else None
        if campaign is None or (initiator is None and batch.conversation_id is None):
            return
        if batch.action == "remind":
            # A relance goes to those not done and not stopped: its size, its failures (who
            # has not finished) and even whether a report comes at all would tell one
            # person's answer. Relances are not reported (rows queued before this change).
            return
        counts = uow.outbox.batch_counts(encoded)
        # An invitation cancelled before it left (the agent said "fait", "stop" or "stop tout"
        # meanwhile) counts as handled, like one withheld: the report tells nobody's answer.
        sent = (
            counts.get(DeliveryStatus.SENT, 0)
            + counts.get(DeliveryStatus.CANCELLED, 0)
            + batch.withheld
        )
        failed = counts.get(DeliveryStatus.FAILED, 0)
        total = sum(counts.values()) + batch.withheld
        if final:
            key = f"summary:{batch.digest}"
            failures = [d.recipient for d in uow.outbox.failures(encoded)]
            template = "batch_summary"
        else:
            key = f"progress:{batch.digest}:{sent + failed}"
            failures = []
            template = "batch_progress"
        variables: dict[str, Any] = {
            "action": batch.action,
            "campaign": campaign,
            "sent": sent,
            "failed": failed,
            "total": total,
            # Under the threshold, "envoi terminé": how many joined a list or a room's audience
            # would tell who is (still) a known agent of the service.
            "exact": total >= self.min_group,
            "failures": failures[:MAX_LISTED_FAILURES],
            "more_failures": max(0, len(failures) - MAX_LISTED_FAILURES),
        }
        if batch.conversation_id is not None:
            self.notifier.to_conversation(
                uow, batch.conversation_id, initiator, template, key=key, now=now, **variables
            )
        elif initiator is not None:
            self.notifier.to_person(
                uow, initiator, template, key=key, now=now, kind="report", **variables
            )
