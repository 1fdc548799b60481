"""``mes données`` and ``oublie-moi``: agents see and erase what the bot stores about them."""

from __future__ import annotations

from datetime import timedelta

from bot.router import Context, HelpLine, Router
from bot.services.personal_data import erase, held_about
from bot.text import is_no, is_yes

router = Router()

CONFIRM_WINDOW = timedelta(minutes=10)


@router.command("mes donnees", "my data", "mes infos", help=HelpLine("everyone", "my_data"))
def my_data(ctx: Context, args: str) -> None:
    """Everything stored about the sender, always in their direct conversation."""
    person = ctx.person
    held = held_about(ctx.uow, person, ctx.deps.planner)
    ctx.notify(
        person,
        "my_data",
        f"mydata:{ctx.incoming.platform}:{ctx.incoming.event_id}",
        kind="my_data",
        person=person,
        roles=ctx.roles,
        locale=ctx.locale,
        zone=person.timezone,
        **held.variables(),
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


@router.prompt("forget")
def _confirm_forget(ctx: Context, text: str, payload: str) -> bool:
    if is_yes(text):
        erase(ctx.uow, ctx.person, ctx.now)
        ctx.erased = True
        ctx.deps.faq_memory.forget(ctx.person.id)
        ctx.say("forget_done")
        return True
    if is_no(text):
        ctx.say("forget_cancelled")
        return True
    return False
