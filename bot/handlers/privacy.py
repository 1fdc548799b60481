"""``mes données`` and ``oublie-moi``: agents see and erase what the bot stores about them."""

from __future__ import annotations

from datetime import timedelta

from bot.router import Context, Router
from bot.text import is_no, is_yes

router = Router()

CONFIRM_WINDOW = timedelta(minutes=10)


@router.command("mes donnees", "my data", "mes infos")
async def my_data(ctx: Context, args: str) -> None:
    uow = ctx.uow
    person = ctx.person
    campaigns = []
    for campaign in uow.campaigns.campaigns_of(
        person.id, statuses=("draft", "scheduled", "running", "closed", "cancelled")
    ):
        state = uow.participation.state(campaign.id, person.id)
        campaigns.append(
            {
                "code": campaign.code,
                "title": campaign.title,
                "status": state.status.value if state else "not_invited",
            }
        )
    ctx.say(
        "my_data",
        person=person,
        roles=ctx.roles,
        campaigns=campaigns,
        events=uow.participation.history(person.id),
        opted_out_all=person.id in uow.participation.opted_out_all([person.id]),
        questions=uow.questions.asked_by(person.id),
    )


@router.command("oublie-moi", "oublie moi", "forget me", "efface mes donnees")
async def forget_me(ctx: Context, args: str) -> None:
    ctx.uow.prompts.set(ctx.person.id, "forget", "", ctx.now + CONFIRM_WINDOW)
    ctx.say("forget_confirm", has_roles=ctx.roles.is_admin or ctx.roles.is_ambassador)


@router.prompt("forget")
async def _confirm_forget(ctx: Context, text: str, payload: str) -> bool:
    if is_yes(text):
        ctx.uow.people.delete(ctx.person.id)
        ctx.say("forget_done")
        return True
    if is_no(text):
        ctx.say("forget_cancelled")
        return True
    return False
