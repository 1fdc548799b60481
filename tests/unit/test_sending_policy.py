"""The one sending policy (`CampaignService.leaves_at`): every invitation, relance and planned
reminder leaves when it says, in its recipient's time zone.

A planned reminder used to be timed by the plan's `send_time` per person while a relance was
timed by the calendar's next slot per zone; both now go through `leaves_at`. These properties
pin that it is the same instant the plan promises (`send_time`) for a planned step, and the
next working instant for a relance.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import Person
from bot.notifier import Notifier
from bot.render import Renderer
from bot.services.campaigns import CampaignService
from scheduler.calendar import WorkCalendar
from scheduler.plans import PlannedStep, StepKind, send_time

PARIS = ZoneInfo("Europe/Paris")
ZONES = ["Europe/Paris", "Indian/Reunion", "America/Guadeloupe", "Pacific/Noumea", None, "Nowhere"]
FR = WorkCalendar.from_settings("09:30-17:00", "mon-fri", "FR")
SERVICE = CampaignService(Notifier(Renderer(), "fr"), 5, calendar=FR)
START = datetime(2026, 11, 2, 0, 0, tzinfo=PARIS)


def agent(zone: str | None) -> Person:
    return Person(1, "@a:x", None, "S", None, None, zone, START)


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else PARIS
    except (KeyError, ValueError):
        return PARIS


moments = st.integers(0, 60 * 24 * 40).map(lambda minutes: START + timedelta(minutes=minutes))
days = st.integers(0, 40).map(lambda n: START.date() + timedelta(days=n)).filter(FR.is_working_day)


@settings(max_examples=300, deadline=None)
@given(now=moments, day=days, name=st.sampled_from(ZONES))
def test_a_planned_reminder_leaves_when_the_plan_says(
    now: datetime, day: date, name: str | None
) -> None:
    promised = send_time(PlannedStep(StepKind.REMINDER, "J-2", day), FR, zone(name), now=now)
    assert (SERVICE.leaves_at(agent(name), now, day) or now) == promised


@settings(max_examples=300, deadline=None)
@given(now=moments, name=st.sampled_from(ZONES))
def test_a_relance_leaves_at_the_next_working_instant_of_each_agent(
    now: datetime, name: str | None
) -> None:
    leaves = SERVICE.leaves_at(agent(name), now) or now
    assert leaves == FR.next_slot(now, zone(name))
    assert FR.is_working_time(leaves, zone(name))
