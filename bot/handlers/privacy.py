"""``mes données`` and ``oublie-moi``: agents see and erase what the bot stores about them."""

from __future__ import annotations

from datetime import timedelta

from bot.router import Context, HelpLine, Router
from bot.text import is_no, is_yes

router = Router()

CONFIRM_WINDOW = timedelta(minutes=10)
ALL_STATUSES = ("draft", "scheduled", "running", "closed", "cancelled")


@router.command("mes donnees", "my data", "mes infos", help=HelpLine("everyone", "my_data"))
def my_data(ctx: Context, args: str) -> None:
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
    opted_out_all = person.id in uow.participation.opted_out_all([person.id])
    # Only what will really happen: no reminder for a campaign done or stopped, none at all
    # after "stop tout"; each at the time it reaches this person (their time zone).
    still_reminded = [
        c.id
        for c, row in zip(mine, campaigns, strict=True)
        if c.status in ("scheduled", "running") and row["status"] in ("invited", "started")
    ]
    planned = [
        {
            "at": ctx.deps.planner.time_for(step, person),
            "label": step.label,
            "kind": step.kind,
            "code": codes[step.campaign_id],
        }
        for step in uow.steps.planned_for([] if opted_out_all else still_reminded, person.id)
        if step.kind != "close"
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
        opted_out_all=opted_out_all,
        note_off=uow.notes.since(person.id),
        questions=uow.questions.asked_by(person.id),
        planned=planned,
        messages=[m for m in uow.outbox.to_person(person.id) if m.status != "cancelled"],
        locale=ctx.locale,
        zone=person.timezone,
    )
    if not ctx.incoming.is_direct:
        ctx.say("my_data_in_dm")


@router.command(
    "oublie-moi",
    "oublie moi",
    "forget me",
    "efface mes donnees",
    help=HelpLine("everyone", "forget"),
)
def forget_me(ctx: Context, args: str) -> None:
    # Asked in a room, it is answered in the direct conversation (or with "!pix oui" there).
    ctx.ask("forget", "", CONFIRM_WINDOW, anywhere=True)
    has_roles = ctx.roles.is_admin or ctx.roles.is_ambassador
    if ctx.incoming.is_direct:
        ctx.say("forget_confirm", has_roles=has_roles)
        return
    # In a room, a plain "oui" is not for the bot: the question moves to the direct
    # conversation, where the answer needs no prefix (and nobody else reads it).
    ctx.notify(
        ctx.person,
        "forget_confirm",
        f"forget:{ctx.incoming.platform}:{ctx.incoming.event_id}",
        kind="reply",
        has_roles=has_roles,
    )
    ctx.say("forget_confirm_in_dm")


@router.prompt("forget", audit="forget")
def _confirm_forget(ctx: Context, text: str, payload: str) -> bool:
    if is_yes(text):
        alias = ctx.uow.privacy.erase(ctx.person, ctx.now)
        ctx.audit(actor=alias)
        ctx.erased = True
        ctx.deps.faq_memory.forget(ctx.person.id)
        ctx.say("forget_done")
        return True
    if is_no(text):
        ctx.say("forget_cancelled")
        return True
    return False
