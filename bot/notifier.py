"""The only way the bot enqueues a message: rendered in the recipient's language, keyed once.

Keys make every message idempotent (the outbox ignores a second row with the same key, and
the key is the platform's idempotency key): ``reply:PLATFORM:EVENT:N`` for replies, and
callers pass business keys such as ``inv:CAMPAIGN:PERSON`` for messages to people.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.core import Button, Incoming
from bot.domain import NewDelivery, Person
from bot.render import Renderer
from storage.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class PersonMessage:
    """One message of a bulk send (:meth:`Notifier.to_people`)."""

    person: Person
    key: str
    variables: Mapping[str, Any] = field(default_factory=dict)
    not_before: datetime | None = None


class Notifier:
    def __init__(self, renderer: Renderer, default_locale: str) -> None:
        self.renderer = renderer
        self.default_locale = default_locale

    def locale_of(self, person: Person | None) -> str:
        wanted = person.locale if person is not None and person.locale else self.default_locale
        return self.renderer.locale_for(wanted)

    def render_for(self, person: Person | None, template: str, /, **variables: Any) -> str:
        return self.renderer.render(template, self.locale_of(person), **variables)

    def agent_buttons(self, person: Person) -> tuple[Button, ...]:
        """The quick replies of invitations and reminders, in the person's language.

        ``agent_buttons.txt`` holds one ``label|reply`` line per button (wording stays in
        templates); this is the one place that reads that format.
        """
        lines = self.render_for(person, "agent_buttons").splitlines()
        return tuple(Button(*line.split("|", 1)) for line in lines if "|" in line)

    def to_person(
        self,
        uow: UnitOfWork,
        person: Person,
        template: str,
        /,
        *,
        key: str,
        now: datetime,
        campaign_id: int | None = None,
        kind: str = "notice",
        batch: str | None = None,
        buttons: Sequence[Button] = (),
        not_before: datetime | None = None,
        attachment: str | None = None,
        **variables: Any,
    ) -> bool:
        """A message to the person's direct conversation; False when the key was already used.

        With ``attachment`` (e.g. a chart reference) the message is that picture, rendered when
        sent, and the template describes it."""
        return uow.outbox.enqueue(
            NewDelivery(
                key=key,
                kind=kind,
                recipient=person.platform_id,
                body=self.render_for(person, template, **variables),
                campaign_id=campaign_id,
                person_id=person.id,
                batch=batch,
                buttons=tuple(buttons),
                not_before=not_before,
                attachment=attachment,
            ),
            now,
        )

    def to_people(
        self,
        uow: UnitOfWork,
        messages: Iterable[PersonMessage],
        template: str,
        /,
        *,
        now: datetime,
        campaign_id: int | None = None,
        kind: str = "notice",
        batch: str | None = None,
        with_buttons: bool = False,
        **variables: Any,
    ) -> int:
        """:meth:`to_person` for many people in a few statements; returns how many are new."""
        buttons: dict[str, tuple[Button, ...]] = {}
        items = []
        for message in messages:
            person = message.person
            if with_buttons:
                locale = self.locale_of(person)
                if locale not in buttons:
                    buttons[locale] = self.agent_buttons(person)
            items.append(
                NewDelivery(
                    key=message.key,
                    kind=kind,
                    recipient=person.platform_id,
                    body=self.render_for(
                        person, template, person=person, **variables, **message.variables
                    ),
                    campaign_id=campaign_id,
                    person_id=person.id,
                    batch=batch,
                    buttons=buttons[self.locale_of(person)] if with_buttons else (),
                    not_before=message.not_before,
                )
            )
        return uow.outbox.enqueue_many(items, now)

    def to_conversation(
        self,
        uow: UnitOfWork,
        conversation_id: str,
        reader: Person | None,
        template: str,
        /,
        *,
        key: str,
        now: datetime,
        kind: str = "report",
        **variables: Any,
    ) -> bool:
        """A message in a conversation (a room, or the DM a command came from), written in the
        language of the person it answers."""
        return self.enqueue_text(
            uow,
            conversation_id,
            self.render_for(reader, template, **variables),
            key=key,
            now=now,
            kind=kind,
        )

    def enqueue_text(
        self,
        uow: UnitOfWork,
        conversation_id: str,
        body: str,
        /,
        *,
        key: str,
        now: datetime,
        kind: str,
        buttons: Sequence[Button] = (),
        attachment: str | None = None,
    ) -> bool:
        return uow.outbox.enqueue(
            NewDelivery(
                key=key,
                kind=kind,
                recipient=conversation_id,
                to_conversation=True,
                body=body,
                buttons=tuple(buttons),
                attachment=attachment,
            ),
            now,
        )

    def replies(
        self,
        uow: UnitOfWork,
        incoming: Incoming,
        replies: Sequence[tuple[str, Sequence[Button], str | None]],
        now: datetime,
        kind: str = "reply",
    ) -> None:
        """Replies to one incoming event, already rendered, in its conversation: (text, buttons,
        the picture the reply is, if any — see :meth:`to_person`)."""
        for index, (text, buttons, attachment) in enumerate(replies):
            self.enqueue_text(
                uow,
                incoming.conversation_id,
                text,
                key=f"reply:{incoming.platform}:{incoming.event_id}:{index}",
                now=now,
                kind=kind,
                buttons=buttons,
                attachment=attachment,
            )
