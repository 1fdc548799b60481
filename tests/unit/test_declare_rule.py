"""What an agent's reply changes: one rule (``change_of``) for ``declare`` and for the campaigns
an agent who names none is asked about (``campaigns_changed_by``), and it is the participation
state machine's (``fold_participation``)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from bot.domain import (
    Campaign,
    CampaignStatus,
    ParticipationKind,
    ParticipationStatus,
    Person,
    fold_participation,
)
from bot.services.declare import ACTIONS, campaigns_changed_by, change_of, declare

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
PERSON = Person(1, "@agent:x", "Agent", "DREAL", None, None, None, NOW)
CAMPAIGN = Campaign(
    7, "ABCDEF234", "Cyber", None, "https://app.pix.fr/campagnes/ABCDEF234", "DREAL", None,
    date(2026, 12, 31), None, None, CampaignStatus.RUNNING, "service", "DREAL", None, None, NOW,
)  # fmt: skip
# Events that leave a participation in each status.
HISTORY = {
    ParticipationStatus.NOT_INVITED: [],
    ParticipationStatus.INVITED: [ParticipationKind.INVITED],
    ParticipationStatus.STARTED: [ParticipationKind.INVITED, ParticipationKind.STARTED],
    ParticipationStatus.COMPLETED: [ParticipationKind.INVITED, ParticipationKind.COMPLETED],
    ParticipationStatus.OPTED_OUT: [ParticipationKind.INVITED, ParticipationKind.OPTED_OUT],
}
# The event each reply would record.
KIND = {
    "done": ParticipationKind.COMPLETED,
    "started": ParticipationKind.STARTED,
    "later": ParticipationKind.SNOOZED,
    "stop": ParticipationKind.OPTED_OUT,
    "resume": ParticipationKind.RESUMED,
}


def fold(kinds: list[ParticipationKind]) -> ParticipationStatus:
    return fold_participation(PERSON, [(kind, NOW) for kind in kinds]).status


class Participations:
    def __init__(self, kinds: list[ParticipationKind]) -> None:
        self.kinds = list(kinds)

    def state(self, campaign_id: int, person_id: int) -> Any:
        return fold_participation(PERSON, [(k, NOW) for k in self.kinds]) if self.kinds else None

    def record(self, person_id: int, kind: ParticipationKind, *args: Any, **kw: Any) -> None:
        self.kinds.append(kind)


def unit_of_work(status: ParticipationStatus) -> Any:
    outbox = SimpleNamespace(cancel_pending_for=lambda *args: 0)
    return SimpleNamespace(participation=Participations(HISTORY[status]), outbox=outbox)


@pytest.mark.parametrize("status", list(HISTORY))
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_a_reply_changes_what_the_state_machine_changes(
    action: str, status: ParticipationStatus
) -> None:
    assert fold(HISTORY[status]) == status
    kind = change_of(action, status)
    after = fold([*HISTORY[status], KIND[action]])
    if action == "later":  # a snooze moves no status; it is for a participation still open
        finished = status in (ParticipationStatus.COMPLETED, ParticipationStatus.OPTED_OUT)
        assert (kind is None) == finished
    else:
        assert (kind is not None) == (after != status), (action, status, after)
    assert kind in (None, KIND[action])


@pytest.mark.parametrize("status", list(HISTORY))
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_the_campaigns_asked_about_are_the_ones_declare_changes(
    action: str, status: ParticipationStatus
) -> None:
    asked = campaigns_changed_by(unit_of_work(status), PERSON, action, [CAMPAIGN])
    planning: Any = SimpleNamespace(snooze=lambda *args: NOW)
    declared = declare(unit_of_work(status), PERSON, CAMPAIGN, action, NOW, planning=planning)
    assert (asked == [CAMPAIGN]) == declared.changed
