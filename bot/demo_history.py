"""The demo's past: three services whose campaign has been running for some days.

Each running campaign was launched :data:`HISTORY_DAYS` days ago (on a working day, at the start
of working hours) and its agents answered over the following days — most completed, some
started, a few stopped the reminders, some have not begun. The events are written with their
real moments in the past, so the daily snapshot (the state at last midnight) holds them and
every figure and picture of ``campagne stats`` comes from that one snapshot, under the
confidentiality rule, as in a deployment. Names are generated, deterministic, and fictitious.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.domain import CampaignStatus, ParticipationKind
from bot.parsing import PIX_JOIN_URL
from bot.text import fold
from scheduler.calendar import WorkCalendar
from scheduler.planning import Planner
from storage.uow import Store

HISTORY_DAYS = 9
# The deployment's office hours: the history happened on working days.
_OFFICE = WorkCalendar.from_settings("09:30-17:00", "mon-fri", "FR")

# What each agent did, and on which day after the launch (0 = the launch day):
# "done:D" (started then completed on day D), "started:D", "stop:D" (stopped this campaign's
# reminders), "stopall:D" ("stop tout"), "-" (invited, nothing yet).
_DREAL = [
    "done:0",
    "done:0",
    "done:1",
    "done:1",
    "done:1",
    "done:2",
    "done:2",
    "done:3",
    "done:4",
    "done:4",
    "done:6",
    "done:7",
    "done:8",
    "started:1",
    "started:2",
    "started:3",
    "started:5",
    "started:7",
    "stop:1",
    "stopall:4",
    "-",
    "-",
    "-",
    "-",
]
_DDTM = [
    "done:0",
    "done:1",
    "done:1",
    "done:2",
    "done:3",
    "done:3",
    "done:5",
    "done:6",
    "done:8",
    "started:0",
    "started:2",
    "started:4",
    "started:6",
    "started:8",
    "stop:2",
    "-",
    "-",
    "-",
    "-",
    "-",
]
# A small service (12 agents): its figures are in words ("moins de 5"), with the bands they
# imply and its place among the ministry's campaigns (docs/privacy.md, small services).
_DIR = [
    "done:1",
    "done:3",
    "done:6",
    "started:2",
    "started:5",
    "-",
    "-",
    "-",
    "-",
    "-",
    "-",
    "-",
]

_FIRST = [
    "Alice",
    "Bruno",
    "Céline",
    "Damien",
    "Élodie",
    "Fabien",
    "Gaëlle",
    "Henri",
    "Isabelle",
    "Jérôme",
    "Karine",
    "Laurent",
    "Maëlle",
    "Nicolas",
    "Océane",
    "Pascal",
    "Quentin",
    "Rachida",
    "Sébastien",
    "Thaïs",
    "Ugo",
    "Valérie",
    "William",
    "Yasmine",
    "Zoé",
    "Amandine",
    "Baptiste",
    "Claire",
    "Dorian",
    "Estelle",
    "Florian",
    "Gabrielle",
    "Hélène",
    "Inès",
]
_LAST = [
    "Le Gall",
    "Kerboul",
    "Tanguy",
    "Le Bihan",
    "Guillou",
    "Morvan",
    "Riou",
    "Cadiou",
    "Le Roux",
    "Quéré",
    "Nédélec",
    "Jaouen",
    "Le Goff",
    "Salaün",
    "Prigent",
    "Abgrall",
    "Le Floch",
    "Créac'h",
    "Pennec",
    "Le Meur",
    "Bescond",
    "Hamon",
    "Le Corre",
    "Gourmelon",
    "Kervella",
    "Talec",
    "Cariou",
    "Berthou",
    "Le Duff",
    "Corre",
    "Madec",
    "Le Dantec",
    "Picart",
    "Stéphan",
]


@dataclass(frozen=True, slots=True)
class HistoryService:
    name: str
    code: str
    title: str
    outcomes: tuple[str, ...]
    first_name: int  # where this service's agents start in the name lists


HISTORY_SERVICES = (
    HistoryService("DREAL Bretagne", "CYBDRL235", "Cybersécurité", tuple(_DREAL), 0),
    HistoryService("DDTM Finistère", "CYBDTM235", "Cybersécurité", tuple(_DDTM), len(_DREAL)),
    HistoryService(
        "DIR Ouest", "CYBDIR235", "Cybersécurité", tuple(_DIR), len(_DREAL) + len(_DDTM)
    ),
)


def _name(index: int) -> tuple[str, str]:
    """A distinct fictitious agent for every index below len(_FIRST) * len(_LAST)."""
    first = _FIRST[index % len(_FIRST)]
    last = _LAST[(index * 7 + index // len(_FIRST)) % len(_LAST)]
    slug = "".join(ch for ch in fold(f"{first}.{last}") if ch.isascii() and ch not in " '")
    return f"@{slug}:console", f"{first} {last}"


def launch_day(today: date) -> date:
    """The running campaigns' launch: ``HISTORY_DAYS`` ago, on a working day."""
    return _OFFICE.previous_working_day(today - timedelta(days=HISTORY_DAYS))


def seed_history(
    store: Store, now: datetime, ambassador_id: int, settings: Settings | None = None
) -> None:
    """Write the services' agents and their running campaign, launched ``HISTORY_DAYS`` ago."""
    settings = settings or Settings()
    tz = ZoneInfo(settings.bot.timezone)
    today = now.astimezone(tz).date()
    launched_on = launch_day(today)
    launch = _OFFICE.slot_on(launched_on, tz)
    deadline = _OFFICE.next_working_day(today + timedelta(days=12))
    planner = Planner(settings)
    with store.transaction() as uow:
        for service in HISTORY_SERVICES:
            people = []
            for offset in range(len(service.outcomes)):
                platform_id, name = _name(service.first_name + offset)
                person, _ = uow.people.upsert(
                    platform_id,
                    display_name=name,
                    service=service.name,
                    email=None,
                    timezone=None,
                    locale=None,
                    now=launch - timedelta(days=20),
                )
                people.append(person)
            campaign = uow.campaigns.create(
                code=service.code,
                title=service.title,
                url=PIX_JOIN_URL.format(code=service.code),
                service=service.name,
                deadline=deadline,
                audience_kind="service",
                audience_value=service.name,
                now=launch - timedelta(hours=1),
                created_by=ambassador_id,
            )
            planner.replan(uow, campaign, launch - timedelta(hours=1))
            for step in uow.steps.for_campaign(campaign.id):
                if step.kind == "launch":
                    uow.steps.set_status(step.id, "done", launch)
            uow.campaigns.set_status(campaign.id, CampaignStatus.RUNNING)
            uow.campaigns.set_start(campaign.id, launched_on)
            uow.campaigns.add_audience(campaign.id, [p.id for p in people], launch)
            uow.participation.record_many(
                [(p.id, ParticipationKind.INVITED, campaign.id) for p in people],
                launch,
                source="system",
            )
            for index, (person, outcome) in enumerate(zip(people, service.outcomes, strict=True)):
                if outcome == "-":
                    continue
                what, _, day = outcome.partition(":")
                # Answers come during the day, spread over the working hours.
                moment = datetime.combine(
                    launched_on + timedelta(days=int(day)), time(10 + index % 6, 5 * index % 60)
                ).replace(tzinfo=tz)
                moment = max(moment, launch + timedelta(minutes=20))
                if what in ("done", "started"):
                    uow.participation.record(
                        person.id, ParticipationKind.STARTED, moment, campaign.id
                    )
                if what == "done":
                    uow.participation.record(
                        person.id,
                        ParticipationKind.COMPLETED,
                        moment + timedelta(hours=1),
                        campaign.id,
                    )
                elif what == "stop":
                    uow.participation.record(
                        person.id, ParticipationKind.OPTED_OUT, moment, campaign.id
                    )
                elif what == "stopall":
                    uow.participation.record(person.id, ParticipationKind.OPTED_OUT_ALL, moment)
