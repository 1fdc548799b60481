"""Short follow-ups read with the conversation's last topic, kept in memory a few minutes.

"ok merci. mais c'est obligatoire du coup ?" right after an answer abstains on its own: its
acknowledgement dilutes it. "d'accord mais il y a autre chose que la cybersécurité ?" names no
topic at all: it is a question about the answer just given. So, when a short message abstains
and the person was answered a moment ago:

* its last part (after "ok merci.", "d'accord mais", …) is matched alone;
* else the message is read together with the last topic's title ("… autre chose que la
  cybersécurité ? les parcours proposés"), and answered only when that topic comes out: the
  context may make a follow-up clear, never send it to a third topic.

The last topic per person is held by :class:`bot.faq.memory.FaqMemory`, in memory only.
"""

from __future__ import annotations

from bot.faq.base import FaqBase, FaqMatch
from bot.faq.tuning import (
    FOLLOW_UP_OFF_TOPIC,
    FOLLOW_UP_WORDS,
    PARTS,
)


def follow_up(
    base: FaqBase, question: str, context: str | None, service: str | None = None
) -> FaqMatch:
    """The match of ``question``, read as a follow-up of ``context`` (the last topic answered)
    when it abstains on its own and is short."""
    match = base.match(question, service)
    if match.topic is not None or context is None or context not in base.topics:
        return match
    if base.acknowledges(question):  # "ok c'est noté" closes the exchange: nothing to read again
        return match
    if len(question.split()) > FOLLOW_UP_WORDS:
        return match
    parts = [part for part in PARTS.split(question) if part.strip(" .?!")]
    if len(parts) > 1:
        last = base.match(parts[-1], service)
        if last.topic is not None:
            return last
    # Only a message the classifier does not take for another subject ("ok, et la cantine ?").
    _, signals = base.decision_signals(question)
    if signals and signals[1] >= FOLLOW_UP_OFF_TOPIC:
        return match
    read = base.match(f"{question} {base.title(context)}", service)
    if read.topic == context:
        return FaqMatch(
            topic=context,
            score=read.score,
            answer=base.answer(context, service),
        )
    return match
