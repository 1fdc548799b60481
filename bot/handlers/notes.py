"""``note du matin [arrêter|reprendre]``: an ambassador's morning note, switched off or on."""

from __future__ import annotations

from bot.router import AMBASSADORS, Context, HelpLine, Router
from bot.services.morning_note import note_for
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
    switch = True if word in ON else False if word in OFF else None
    note = note_for(ctx.uow, ctx.person, ctx.now, switch=switch)
    deployment = ctx.policy.morning_note
    if switch is not None:
        ctx.say("morning_note_switched", on=note.on, changed=note.changed, deployment=deployment)
        return
    unknown = args.strip().split()[0] if word else ""
    ctx.say("morning_note_state", on=note.on, deployment=deployment, unknown=unknown)
