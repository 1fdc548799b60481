"""How one message is routed: the bot's pending question first, then commands, then the FAQ.

A person answers what the bot has just asked (a confirmation, a numbered choice, an offer to
pass a question on) before anything else runs: the pending question is one row per person
(``prompts``), set with :meth:`bot.router.Context.ask` and answered by the ``@router.prompt``
handler of its kind. What only makes sense as such an answer ("oui", "non", "2") and arrives
when nothing was asked gets "je n'attendais pas de réponse"; a bare campaign code is not a
question either. Neither is ever stored as an unanswered FAQ question nor passed to an
ambassador.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.domain import Roles
from bot.parsing import ParseError, parse_code
from bot.router import Context, Router, scope_of
from bot.text import MAX_MESSAGE, fold

# Words that can only answer a question (small talk such as "ok" or "d'accord" is a command).
_ANSWER_WORDS = frozenset({"oui", "non", "yes", "no", "o", "n", "y", "confirme", "confirmer"})
_NUMBER = re.compile(r"^\s*(?:n[°o]\s*)?([0-9]{1,3})\s*[.)]?\s*$", re.IGNORECASE)


def answer_word(text: str) -> bool:
    """Whether ``text`` only makes sense as the answer to a question of the bot."""
    folded = fold(text).strip(" .!?")
    return folded in _ANSWER_WORDS or _NUMBER.match(folded) is not None


def bare_code(text: str) -> str | None:
    """The campaign code when the message is nothing else (with at least one digit: a word
    of nine letters is a word)."""
    words = text.split()
    if len(words) != 1 or not any(ch.isdigit() for ch in words[0]):
        return None
    try:
        return parse_code(words[0].strip(".,;:!?…«»\"'")).code
    except ParseError:
        return None


def pick(text: str, options: Sequence[str]) -> str | None:
    """A numbered choice answered by its number ("2", "n° 2") or by the option itself (a
    code, compared case- and accent-insensitively); None when the text is neither."""
    number = _NUMBER.match(text)
    if number is not None:
        index = int(number.group(1))
        return options[index - 1] if 1 <= index <= len(options) else None
    folded = fold(text).strip(" .!?«»\"'")
    for option in options:
        if fold(option) == folded:
            return option
    return None


def _can_manage(roles: Roles) -> bool:
    return roles.is_admin or roles.is_ambassador


def route(router: Router, ctx: Context) -> str | None:
    """Handle the message; return what handled it (for the metrics), if anything."""
    incoming = ctx.incoming
    if incoming.undecryptable:
        ctx.say("undecryptable")
        return None
    if incoming.reaction:
        for reaction in router.reactions:
            if reaction(ctx, incoming.reaction, incoming.relates_to or ""):
                break
        return "reaction"
    text = incoming.text.strip()
    if not text:
        return None
    if len(text) > MAX_MESSAGE:
        ctx.say("too_long", limit=MAX_MESSAGE)
        return None
    elsewhere = False
    prompt = ctx.uow.prompts.pop(ctx.person.id, ctx.now)
    if prompt is not None:
        asked_in, payload = scope_of(prompt.payload)
        if asked_in is not None and asked_in != incoming.conversation_id:
            # Asked in another conversation: it still waits there; this message is not for it.
            ctx.uow.prompts.set(ctx.person.id, prompt.kind, prompt.payload, prompt.expires_at)
            prompt, elsewhere = None, True
        else:
            handler = router.prompts.get(prompt.kind)
            ctx.action = router.prompt_audits.get(prompt.kind)
            if handler is not None and handler(ctx, text, payload):
                return f"prompt:{prompt.kind}"
            ctx.action = None
    match = router.match(text)
    if match is None:
        if answer_word(text):
            ctx.say("not_expecting", text=text, asked=prompt is not None, elsewhere=elsewhere)
            return "not_expecting"
        code = bare_code(text)
        if code is not None:
            ctx.say("code_alone", code=code, is_ambassador=_can_manage(ctx.roles))
            return "code_alone"
        family = router.family_of(text)
        if family is not None:
            ctx.say("unknown_command", family=family, is_ambassador=_can_manage(ctx.roles))
            return "unknown"
        if router.fallbacks:
            router.fallbacks[0](ctx, text)
            return "question"
        ctx.say("unknown")
        return "unknown"
    if ctx.roles.name not in match.route.roles:
        ctx.say(
            "not_allowed",
            console=incoming.platform == "console",
            person_id=ctx.person.platform_id,
        )
        return "not_allowed"
    ctx.action = match.route.audit
    argument = match.args
    if match.route.takes is not None:
        # The converter (e.g. "the campaign named, if yours and open") replies when it fails.
        argument = match.route.takes(ctx, match.args)
        if argument is None:
            return match.route.name
    match.route.handler(ctx, argument)
    return match.route.name
