"""An ambassador's morning note, switched off or on (``note du matin [arrêter|reprendre]``).

The choice is stored per person until they switch back (and erased with them); the note
itself is written by the scheduler (``StepRunner.morning_notes``, ``scheduler/running.py``),
which leaves out whoever switched it off.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain import Person
from storage.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class NoteState:
    # Whether the note comes to this person (the deployment may still have it off).
    on: bool
    # Whether the switch changed anything (False: it already was so, or nothing was asked).
    changed: bool = False


def note_for(
    uow: UnitOfWork, person: Person, now: datetime, *, switch: bool | None = None
) -> NoteState:
    """Switch ``person``'s note on (``switch`` True) or off (False), or only read it (None)."""
    if switch is None:
        return NoteState(on=not uow.notes.is_off(person.id))
    return NoteState(on=switch, changed=uow.notes.switch(person.id, switch, now))
