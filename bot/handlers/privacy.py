"""``mes données`` and ``oublie-moi``: agents see and erase what the bot stores about them."""

from __future__ import annotations

from datetime import timedelta

from bot.router import Context, Router
from bot.text import is_no, is_yes

router = Router()

CONFIRM_WINDOW = timedelta(minutes=10)
ALL_STATUSES = ("draft", "scheduled", "running", "closed", "cancelled")


@router.command("mes donnees", "my data", "mes infos")
async def my_data(ctx: Context, args: str) -> None:
    """Everything stored about the sender, always in their direct conversation."""
    uow = ctx.uow
    person = ctx.person
    campaigns = []
    mine = uow.campaigns.campaigns_of(person.id, statuses=ALL_STATUSES)
    for campaign in mine:
        state = uow.participation.state(campaign.id, person.id)
        campaigns.append(
            {
                "code": campaign.code,
                "title": campaign.title,
                "status": state.status.value if state else "not_invited",
            }
        )
    codes = {c.id: c.code for c in mine}
    planned = [
        {
            "at": step.fire_at,
            "label": step.label,
            "kind": step.kind,
            "code": codes[step.campaign_id],
        }
        for step in uow.steps.planned_for(
            [c.id for c in mine if c.status in ("scheduled", "running")], person.id
        )
    ]
    ctx.notify(
        person,
        "my_data",
        f"mydata:{ctx.incoming.platform}:{ctx.incoming.event_id}",
        kind="my_data",
        person=person,
        roles=ctx.roles,
        campaigns=campaigns,
        events=uow.participation.history(person.id),
        opted_out_all=person.id in uow.participation.opted_out_all([person.id]),
        questions=uow.questions.asked_by(person.id),
        planned=planned,
        messages=uow.outbox.to_person(person.id),
        locale=ctx.locale,
    )
    if not ctx.incoming.is_direct:
        ctx.say("my_data_in_dm")


@router.command("oublie-moi", "oublie moi", "forget me", "efface mes donnees")
async def forget_me(ctx: Context, args: str) -> None:
    ctx.uow.prompts.set(ctx.person.id, "forget", "", ctx.now + CONFIRM_WINDOW)
    ctx.say("forget_confirm", has_roles=ctx.roles.is_admin or ctx.roles.is_ambassador)


@router.prompt("forget")
async def _confirm_forget(ctx: Context, text: str, payload: str) -> bool:
    if is_yes(text):
        alias = ctx.uow.privacy.erase(ctx.person, ctx.now)
        ctx.uow.audit.add(alias, "forget", ctx.now)
        ctx.erased = True
        ctx.deps.faq_memory.forget(ctx.person.id)
        ctx.say("forget_done")
        return True
    if is_no(text):
        ctx.say("forget_cancelled")
        return True
    return False
