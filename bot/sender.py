"""The outbox's way to the platform: one message, paced, in numbered parts when too long.

Every request waits for a token of the platform's rate limiter (:mod:`bot.pacing`); where the
platform also paces each conversation (Slack), for that conversation's token too; a first message
to someone that opens a conversation costs a request of its own
(:func:`~bot.pacing.open_conversation_paced`).
"""

from __future__ import annotations

from dataclasses import replace

from bot.core import Outgoing, Platform, SendResult
from bot.pacing import ConversationLimiters, RateLimiter, open_conversation_paced
from bot.text import split_message

LIMITERS_KEPT = 10_000


class Sender:
    def __init__(
        self,
        platform: Platform,
        *,
        limiter: RateLimiter | None = None,
        conversation_rate: float | None = None,
    ) -> None:
        self.platform = platform
        self.limiter = limiter or RateLimiter(platform.capabilities.rate_limit)
        # Slack also paces each channel: one more bucket per conversation then.
        self.conversation_rate = conversation_rate
        self._limiters = ConversationLimiters(conversation_rate or 1.0, LIMITERS_KEPT)

    async def send(self, message: Outgoing) -> SendResult:
        """Send ``message``, paced, split into numbered parts when it is longer than the
        platform takes (``platform.capabilities.max_text_length``). Each part has its own
        idempotency key, derived from the message's, so a retry after a partial send repeats
        nothing; the buttons and a picture go with the last part; the first part's result is
        the message's."""
        limit = self.platform.capabilities.max_text_length
        parts = split_message(message.text, limit) if isinstance(limit, int) else [message.text]
        first: SendResult | None = None
        hint = message.direct_hint
        await open_conversation_paced(self.platform, self.limiter, message.person_id)
        for index, text in enumerate(parts):
            last = index == len(parts) - 1
            part = replace(
                message,
                text=text,
                key=message.key if index == 0 else f"{message.key}#{index + 1}",
                buttons=message.buttons if last else (),
                image=message.image if last else None,
                direct_hint=hint,
            )
            await self.limiter.acquire()
            if part.image is not None:
                await self.limiter.acquire()  # the upload is a request of its own
            if self.conversation_rate is not None:
                recipient = message.conversation_id or message.person_id or ""
                await self._limiters.get(recipient).acquire()
            result = await self.platform.send(part)
            if first is None:
                first = result
                if message.person_id is not None and result.conversation_id:
                    hint = result.conversation_id
        assert first is not None
        return first
