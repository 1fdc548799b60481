"""Questions the FAQ did not answer: kept, handed to an ambassador, answered.

A question the FAQ cannot answer is kept for ``pixbot faq unanswered`` (text, date, service —
the asker only as a keyed digest, within a daily allowance). If the asker agrees, the
ambassadors of their service receive it (with the asker's name, within another allowance);
the link to the asker is dropped once one of them answered (``répondre ID texte``).
The chat handlers (``bot/handlers/faq.py``) say what these return.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from bot.domain import Person, Question, Roles
from bot.text import strip_invisible
from storage.uow import UnitOfWork

# The longest question text kept.
MAX_KEPT = 1000


@dataclass(frozen=True, slots=True)
class Kept:
    """A question kept; ``can_hand_off``: the asker's service has an ambassador to ask."""

    question_id: int
    can_hand_off: bool


def keep_unanswered(
    uow: UnitOfWork, person: Person, text: str, now: datetime, *, day: date, per_day: int
) -> Kept | None:
    """Keep ``person``'s question; None beyond their ``per_day`` allowance (nothing kept)."""
    if not uow.quotas.take(person.id, "question", day, per_day):
        return None
    question_id = uow.questions.add_unanswered(
        strip_invisible(text)[:MAX_KEPT],
        person.service,
        now,
        asker_digest=uow.privacy.digest(person.platform_id),
    )
    has_ambassador = bool(person.service and uow.roles.ambassadors_of(person.service))
    return Kept(question_id, has_ambassador)


class HandOffOutcome(StrEnum):
    HANDED_OFF = "handed_off"
    # The question is gone, or the asker's service has no ambassador.
    IMPOSSIBLE = "impossible"
    # The asker's daily allowance of hand-offs is used up.
    LIMIT = "limit"


@dataclass(frozen=True, slots=True)
class HandOff:
    outcome: HandOffOutcome
    question: Question | None = None
    # The ambassadors to tell (the question, with the asker's name).
    ambassadors: list[Person] = field(default_factory=list)


def hand_off(
    uow: UnitOfWork,
    person: Person,
    question_id: int | None,
    now: datetime,
    *,
    day: date,
    per_day: int,
) -> HandOff:
    """The asker agreed: link the kept question to them for its ambassadors to answer."""
    question = uow.questions.get(question_id) if question_id is not None else None
    service = person.service
    ambassadors = uow.roles.ambassadors_of(service) if service else []
    if question is None or not ambassadors:
        return HandOff(HandOffOutcome.IMPOSSIBLE)
    if not uow.quotas.take(person.id, "handoff", day, per_day):
        return HandOff(HandOffOutcome.LIMIT)
    uow.questions.hand_off(question.id, person.id, now)
    return HandOff(HandOffOutcome.HANDED_OFF, question, ambassadors)


class AnswerOutcome(StrEnum):
    SENT = "sent"
    # No such question handed off to this ambassador's services (or not handed off at all).
    UNKNOWN = "unknown"
    ALREADY = "already"


@dataclass(frozen=True, slots=True)
class Answer:
    outcome: AnswerOutcome
    question: Question | None = None
    # Who receives the answer: None when the asker erased themselves since (the question is
    # kept, emptied, without them): the ambassador reads the same reply, and nothing is sent.
    asker: Person | None = None


def answer_handed_off(uow: UnitOfWork, roles: Roles, question_id: int, now: datetime) -> Answer:
    """An ambassador (or an admin) answers a handed-off question of one of their services;
    the question is marked answered (its link to the asker is dropped)."""
    question = uow.questions.get(question_id)
    allowed = roles.is_admin or (question is not None and question.service in roles.services)
    if question is None or not allowed or question.handed_off_at is None:
        return Answer(AnswerOutcome.UNKNOWN)
    if question.answered_at is not None:
        return Answer(AnswerOutcome.ALREADY, question)
    asker = uow.people.get(question.asker_id) if question.asker_id is not None else None
    uow.questions.answered(question.id, now)
    return Answer(AnswerOutcome.SENT, question, asker)
