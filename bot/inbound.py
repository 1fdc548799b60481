"""The inbound pipeline: the middlewares every message crosses before the router, in order.

1. :func:`clean_input`: the one place inbound text is cleaned (bot/text.py); a malformed id
   drops the message;
2. :meth:`InboundPipeline.ignore_self_and_bots`: the bot's own messages and other bots';
3. :meth:`InboundPipeline.listen_filter`: in rooms, only ``!pix …`` or a real mention;
4. :meth:`InboundPipeline.rate_limit`: beyond ``[limits] messages_per_minute``, one polite
   answer, then silence (bot/limits.py).

The last step (``terminal``) is the application's handling: prefetch, then the transaction.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from bot.core import Clock, Incoming, Platform
from bot.limits import SenderLimiter, Verdict
from bot.text import clean_line, clean_message, is_clean_id

log = logging.getLogger(__name__)

Next = Callable[[Incoming], Awaitable[None]]
Middleware = Callable[[Incoming, Next], Awaitable[None]]

ROOM_PREFIX = re.compile(r"^\s*!pix\b[\s:,]*", re.IGNORECASE)


async def clean_input(incoming: Incoming, call_next: Next) -> None:
    """The one place inbound text is cleaned: no NUL, control or bidi character goes
    further. A sender or conversation id that holds one is not an id: dropped."""
    if not is_clean_id(incoming.sender_id) or not is_clean_id(incoming.conversation_id, 500):
        log.warning(
            "message %r écarté : identifiant d'auteur ou de conversation mal formé",
            incoming.event_id,
        )
        return
    name = clean_line(incoming.sender_name, 200) if incoming.sender_name else None
    await call_next(
        replace(
            incoming,
            text=clean_message(incoming.text),
            sender_name=name or None,
            reaction=clean_line(incoming.reaction, 50) if incoming.reaction else None,
        )
    )


class InboundPipeline:
    def __init__(
        self,
        platform: Platform,
        limiter: SenderLimiter,
        clock: Clock,
        *,
        over_limit: Next,
        terminal: Next,
    ) -> None:
        self.platform = platform  # its bot id may be learned only once it started (Slack)
        self.limiter = limiter
        self.clock = clock
        self.over_limit = over_limit
        self.middleware: Sequence[Middleware] = (
            clean_input,
            self.ignore_self_and_bots,
            self.listen_filter,
            self.rate_limit,
        )
        call = terminal
        for middleware in reversed(self.middleware):
            call = _bind(middleware, call)
        self._chain = call

    async def __call__(self, incoming: Incoming) -> None:
        await self._chain(incoming)

    async def ignore_self_and_bots(self, incoming: Incoming, call_next: Next) -> None:
        if incoming.sender_id == self.platform.bot_id or incoming.sender_is_bot:
            return
        await call_next(incoming)

    async def listen_filter(self, incoming: Incoming, call_next: Next) -> None:
        """In rooms, only ``!pix …`` or messages that mention the bot are for us; everywhere,
        the prefix and the mention are stripped ("!pix aide" in a direct message is "aide")."""
        if incoming.reaction:
            await call_next(incoming)
            return
        text = incoming.text
        bot_id = self.platform.bot_id
        prefixed = ROOM_PREFIX.match(text)
        if prefixed:
            stripped = text[prefixed.end() :]
        elif text.lstrip().startswith(bot_id) or (incoming.mentions_bot and not incoming.is_direct):
            # "@pixbot:server: aide" → "aide" (platforms strip display-name pills themselves).
            stripped = text.replace(bot_id, " ").strip().lstrip(":,").strip()
        elif incoming.is_direct:
            stripped = text
        else:
            return
        # "!pix" alone is a greeting: the commands of the sender's role.
        await call_next(replace(incoming, text=stripped.strip() or "aide"))

    async def rate_limit(self, incoming: Incoming, call_next: Next) -> None:
        """Beyond ``limits.messages_per_minute`` a sender gets one polite answer, then silence
        until their minute has room again."""
        verdict = self.limiter.check(incoming.sender_id, incoming.event_id, self.clock.now())
        if verdict == Verdict.ALLOW:
            await call_next(incoming)
        elif verdict == Verdict.WARN:
            log.info("l'auteur %s dépasse la limite de messages", incoming.sender_id)
            await self.over_limit(incoming)


def _bind(middleware: Middleware, call_next: Next) -> Next:
    async def call(incoming: Incoming) -> None:
        await middleware(incoming, call_next)

    return call
