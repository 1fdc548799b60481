"""``note du matin [arrêter|reprendre]``: an ambassador's morning note, switched off or on."""

from __future__ import annotations

from bot.router import AMBASSADORS, Context, HelpLine, Router
from bot.text import fold

router = Router()

OFF = frozenset({"arreter", "arrete", "stop", "off", "non", "desactiver"})
ON = frozenset({"reprendre", "on", "oui", "activer", "start"})


@router.command(
    "note du matin",
    "morning note",
    "note quotidienne",
    "daily note",
    roles=AMBASSADORS,
    help=HelpLine("ambassador", "morning_note"),
)
def morning_note(ctx: Context, args: str) -> None:
    """Without a word, says whether the note comes; ``arrêter`` / ``reprendre`` switch it
    for this ambassador (stored until they switch it back, erased with them)."""
    word = fold(args).strip()
    deployment = ctx.policy.morning_note
    if word in OFF or word in ON:
        changed = ctx.uow.notes.switch(ctx.person.id, word in ON, ctx.now)
        ctx.say("morning_note_switched", on=word in ON, changed=changed, deployment=deployment)
        return
    off = ctx.uow.notes.is_off(ctx.person.id)
    unknown = args.strip().split()[0] if word else ""
    ctx.say("morning_note_state", on=not off, deployment=deployment, unknown=unknown)
