"""``aide`` / ``help``: the commands of the sender's role."""

from __future__ import annotations

from bot.handlers.faq import answer_question
from bot.router import Context, HelpLine, Router

router = Router()


@router.command("aide", "help", "?", "bonjour", "salut", "hello", help=HelpLine("everyone", "help"))
def show_help(ctx: Context, args: str) -> None:
    ctx.say(
        "help",
        role=ctx.roles.name,
        # The commands of the sender's role, as the routes declare them.
        sections=ctx.deps.help_for(ctx.roles.name),
        services=sorted(ctx.roles.services),
        # A platform id is not a name: "Bonjour @vous:console !" reads like a bug.
        name=ctx.person.display_name or "",
        snooze_days=ctx.policy.snooze_working_days,
        console=ctx.incoming.platform == "console",
        person_id=ctx.person.platform_id,
    )


# Anything that is not a command is a question for the FAQ (the router's fallback, in
# bot/handlers/faq.py): said right after "aide".
router.describe(HelpLine("everyone", "question"))


@router.command("merci", "thanks", "thank you", "ok", "super", "parfait", "d'accord")
def thanks(ctx: Context, args: str) -> None:
    # Small talk must not reach the FAQ (which would offer to pass "merci" to an ambassador).
    if args.strip(" !.") and len(args.split()) > 3:
        _as_question(ctx, args)
        return
    ctx.say("you_are_welcome")


def _as_question(ctx: Context, args: str) -> None:
    answer_question(ctx, ctx.incoming.text)
