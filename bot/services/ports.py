"""What the use cases (launch, remind, close, declare) need from their callers.

Chat handlers and the scheduler call the same functions; they differ only in who asks
(:class:`Actor`) and in how the reply is said. Planning lives above the services
(``scheduler/planning.py``): the use cases reach it through the :class:`Planning` protocol,
which ``scheduler.planning.Planner`` implements, so the layers still only import downwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from bot.domain import Campaign, Person, ReminderStep, StepView
from storage.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asked for a use case: written in the audit log, and told about batch sends.

    ``audit_name`` is the platform id of the person who typed the command, or ``"scheduler"``
    / ``"cli"``; ``person_id`` receives the batch reports (in ``conversation_id`` when set,
    else in their direct conversation); ``origin`` makes a batch unique (the triggering event
    id, or ``"step"`` for a planned step).
    """

    audit_name: str
    person_id: int | None = None
    conversation_id: str | None = None
    origin: str = "step"


class Planning(Protocol):
    """The reminder plan as the use cases and the chat handlers see it
    (``scheduler.planning.Planner`` implements it; nothing above the services imports the
    scheduler's machinery)."""

    def replan(self, uow: UnitOfWork, campaign: Campaign, now: datetime) -> list[StepView]: ...

    def describe(
        self, uow: UnitOfWork, campaign: Campaign, now: datetime | None = None
    ) -> list[StepView]: ...

    def set_reminders(
        self, uow: UnitOfWork, campaign: Campaign, text: str, now: datetime
    ) -> list[StepView]: ...

    def time_for(self, step: ReminderStep, person: Person) -> datetime: ...

    def is_working_day(self, day: date) -> bool: ...

    def holiday_name(self, day: date) -> str | None: ...

    def launch_is_planned(self, uow: UnitOfWork, campaign: Campaign, now: datetime) -> bool: ...

    def confirm_planned_launch(
        self, uow: UnitOfWork, campaign: Campaign, now: datetime
    ) -> datetime | None: ...

    def launched(
        self, uow: UnitOfWork, campaign: Campaign, now: datetime, leave_at: datetime | None = None
    ) -> None: ...

    def retime_reminders(self, uow: UnitOfWork, campaign: Campaign, now: datetime) -> None: ...

    def snooze(
        self, uow: UnitOfWork, campaign: Campaign, person: Person, now: datetime
    ) -> datetime | None: ...
