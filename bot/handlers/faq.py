"""Free-text questions: answered from the FAQ knowledge base, or handed to an ambassador.

When the matcher abstains the bot says so honestly, keeps the question for
``pixbot faq unanswered`` (text, date, service — never the asker) and offers to pass it on.
Only if the agent says ``oui`` does an ambassador of their service receive it with the agent's
name; the link to the agent is dropped once the answer is on its way (``répondre ID texte``).
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.faq.followup import follow_up
from bot.faq.language import FaqLibrary
from bot.router import AMBASSADORS, Context, HelpLine, Router
from bot.services.personal_faq import Personal, personal, resend, resend_payload
from bot.services.questions import (
    AnswerOutcome,
    HandOffOutcome,
    answer_handed_off,
    hand_off,
    keep_unanswered,
)
from bot.text import MAX_MESSAGE, is_no, is_yes, strip_invisible

router = Router()

HANDOFF_WINDOW = timedelta(hours=1)
RESEND_WINDOW = timedelta(hours=1)
MAX_ANSWER = 2000


@lru_cache(maxsize=8)
def knowledge_base(locale: str, overrides: str | None) -> FaqLibrary:
    """Loaded once per process and deployment overrides file; every language, ``locale`` first
    (a question is answered in its own language, see bot/faq/language.py)."""
    return FaqLibrary(locale, Path(overrides) if overrides else None)


@router.fallback
def answer_question(ctx: Context, text: str) -> None:
    """The router's fallback: anything that is not a command is a question."""
    base = knowledge_base(ctx.locale, ctx.policy.faq_overrides).for_question(text)
    memory = ctx.deps.faq_memory
    match = follow_up(base, text, memory.recall(ctx.person.id, ctx.now), ctx.person.service)
    if match.topic is None:
        memory.forget(ctx.person.id)
    else:
        memory.remember(ctx.person.id, match.topic, ctx.now)
    if match.topic is not None:
        mine = personal(ctx.uow, ctx.person, text, (match.topic, *match.also))
        general: dict[str, Any] = {
            "answer": match.answer,
            "more": [base.answer(topic, ctx.person.service) for topic in match.also],
            "see_also": [base.title(topic) for topic in match.see_also],
        }
        if ctx.incoming.is_direct or not mine.says_anything:
            ctx.say("faq_answer", mine=mine, in_dm=False, **general)
        else:
            # What the bot knows of the person (their campaigns, link, deadline, service) is
            # theirs: a room reads the general answer, the person the whole one in private.
            ctx.say("faq_answer", mine=Personal(), in_dm=True, **general)
            key = f"faq:{ctx.incoming.platform}:{ctx.incoming.event_id}"
            ctx.notify(
                ctx.person, "faq_answer", key, kind="reply", mine=mine, in_dm=False, **general
            )
        if mine.resend:
            # Answered by "oui" in any of the person's conversations (_confirm_resend).
            ctx.ask("faq_resend", resend_payload(mine.resend), RESEND_WINDOW, anywhere=True)
        return
    if base.acknowledges(text):
        # "ok merci c'est noté", "bien noté": small talk, not a question to pass on (like "merci",
        # a command of bot/handlers/help.py, but in any words of the knowledge base's list).
        ctx.say("you_are_welcome")
        return
    # Bounded storage per sender: beyond the day's allowance the question is not kept.
    kept = keep_unanswered(
        ctx.uow, ctx.person, text, ctx.now, day=_day(ctx), per_day=ctx.policy.questions_per_day
    )
    can_hand_off = kept is not None and kept.can_hand_off
    if kept is not None and can_hand_off:
        ctx.ask("faq_handoff", str(kept.question_id), HANDOFF_WINDOW, anywhere=True)
    ctx.say("faq_unknown", answer=match.answer, can_hand_off=can_hand_off)


@router.prompt("faq_resend")
def _confirm_resend(ctx: Context, text: str, payload: str) -> bool:
    if is_no(text):
        ctx.say("faq_resend_declined")
        return True
    if not is_yes(text):
        return False  # another question or command: handle it normally
    sent = resend(ctx.uow, ctx.deps.notifier, ctx.person, payload, ctx.now, _day(ctx))
    ctx.say("faq_resent", campaigns=sent)
    return True


@router.prompt("faq_handoff")
def _confirm_handoff(ctx: Context, text: str, payload: str) -> bool:
    if is_no(text):
        ctx.say("faq_handoff_declined")
        return True
    if not is_yes(text):
        return False  # another question or command: handle it normally
    limit = ctx.policy.handoffs_per_day
    handed = hand_off(
        ctx.uow,
        ctx.person,
        int(payload) if payload.isdigit() else None,
        ctx.now,
        day=_day(ctx),
        per_day=limit,
    )
    if handed.outcome == HandOffOutcome.IMPOSSIBLE:
        ctx.say("faq_handoff_impossible")
        return True
    if handed.outcome == HandOffOutcome.LIMIT:
        ctx.say("faq_handoff_limit", limit=limit)
        return True
    question, ambassadors = handed.question, handed.ambassadors
    assert question is not None
    for ambassador in ambassadors:
        ctx.notify(
            ambassador,
            "faq_handoff_to_ambassador",
            f"handoff:{question.id}:{ambassador.id}",
            kind="handoff",
            question=question,
            asker=ctx.person,
        )
    ctx.say("faq_handed_off", ambassadors=[a.name for a in ambassadors])
    return True


def _day(ctx: Context) -> date:
    """Today, in the bot's time zone: daily allowances reset at local midnight."""
    return ctx.now.astimezone(ctx.deps.renderer.timezone).date()


@router.command("repondre", "reply", roles=AMBASSADORS, help=HelpLine("ambassador", "reply"))
def reply_to_question(ctx: Context, args: str) -> None:
    number, _, answer = args.strip().partition(" ")
    number = number.lstrip("#")
    answer = strip_invisible(answer).strip()
    if not number.isdigit() or not answer:
        ctx.say("faq_reply_usage")
        return
    if len(answer) > MAX_ANSWER:
        ctx.say("too_long", limit=MAX_ANSWER)
        return
    answered = answer_handed_off(ctx.uow, ctx.roles, int(number), ctx.now)
    if answered.outcome == AnswerOutcome.UNKNOWN:
        ctx.say("faq_reply_unknown", number=number)
        return
    if answered.outcome == AnswerOutcome.ALREADY:
        ctx.say("faq_reply_already", number=number)
        return
    # The asker may have erased themselves since: the ambassador reads the same reply.
    if answered.asker is not None and answered.question is not None:
        ctx.notify(
            answered.asker,
            "faq_reply_to_agent",
            f"answer:{answered.question.id}",
            kind="answer",
            question=answered.question,
            answer=answer,
            ambassador=ctx.person,
        )
    ctx.say("faq_reply_sent", number=number)


assert MAX_ANSWER < MAX_MESSAGE
