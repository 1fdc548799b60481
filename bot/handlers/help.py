"""``aide`` / ``help``: the commands of the sender's role."""

from __future__ import annotations

from bot.router import Context, Router

router = Router()


@router.command("aide", "help", "?", "bonjour", "salut", "hello")
async def show_help(ctx: Context, args: str) -> None:
    ctx.say(
        "help",
        role=ctx.roles.name,
        services=sorted(ctx.roles.services),
        name=ctx.person.name,
    )
