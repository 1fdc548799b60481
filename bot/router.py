"""Command registry and the per-message context handed to handlers.

Handlers are small async functions registered with ``@router.command("aide", "help")``. The
decorator returns the function unchanged and checks it at registration time. Matching is on
folded words (case- and accent-insensitive), longest phrase first; the arguments keep the
user's original text.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.core import Button, Incoming
from bot.text import fold

if TYPE_CHECKING:
    from bot.app import App
    from bot.domain import Person, Roles
    from storage.uow import UnitOfWork

Handler = Callable[["Context", str], Awaitable[None]]

EVERYONE = frozenset({"agent", "ambassador", "admin"})
AMBASSADORS = frozenset({"ambassador", "admin"})

_WORD = re.compile(r"\S+")
_EDGE_PUNCTUATION = '.,;:!?…»«"()'


def _fold_word(word: str) -> str:
    return fold(word).strip(_EDGE_PUNCTUATION)


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    phrases: tuple[tuple[str, ...], ...]
    handler: Handler
    roles: frozenset[str]
    # Shown in `aide` for these roles, in this order.
    help_key: str | None = None


@dataclass(frozen=True, slots=True)
class Match:
    route: Route
    args: str


class RegistrationError(Exception):
    pass


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []
        self._names: set[str] = set()
        self._phrases: dict[tuple[str, ...], str] = {}
        # Words that start a command family ("campagne"): an unknown sub-command after one
        # of them is an error, not a FAQ question.
        self.families: dict[str, str] = {}

    def command(
        self,
        *phrases: str,
        name: str | None = None,
        roles: frozenset[str] = EVERYONE,
        help_key: str | None = None,
    ) -> Callable[[Handler], Handler]:
        if not phrases:
            raise RegistrationError("a command needs at least one phrase")

        def register(function: Handler) -> Handler:
            if not inspect.iscoroutinefunction(function):
                raise RegistrationError(f"{function.__qualname__} must be an async function")
            route_name = name or function.__name__
            if route_name in self._names:
                raise RegistrationError(f"duplicate command name {route_name!r}")
            folded = tuple(tuple(_fold_word(w) for w in p.split()) for p in phrases)
            for phrase in folded:
                if phrase in self._phrases:
                    raise RegistrationError(
                        f"phrase {' '.join(phrase)!r} already used by {self._phrases[phrase]!r}"
                    )
                self._phrases[phrase] = route_name
            self._names.add(route_name)
            self.routes.append(Route(route_name, folded, function, roles, help_key))
            return function

        return register

    def family(self, *words: str, help_key: str) -> None:
        for word in words:
            self.families[_fold_word(word)] = help_key

    def include(self, other: Router) -> None:
        for route in other.routes:
            if route.name in self._names:
                raise RegistrationError(f"duplicate command name {route.name!r}")
            for phrase in route.phrases:
                if phrase in self._phrases:
                    raise RegistrationError(f"phrase {' '.join(phrase)!r} registered twice")
                self._phrases[phrase] = route.name
            self._names.add(route.name)
            self.routes.append(route)
        self.families.update(other.families)

    def match(self, text: str) -> Match | None:
        words = list(_WORD.finditer(text))
        folded = [_fold_word(m.group()) for m in words]
        best: tuple[int, Route] | None = None
        for route in self.routes:
            for phrase in route.phrases:
                size = len(phrase)
                matches = size <= len(folded) and tuple(folded[:size]) == phrase
                if matches and (best is None or size > best[0]):
                    best = (size, route)
        if best is None:
            return None
        size, route = best
        args = text[words[size - 1].end() :].strip() if size else text.strip()
        return Match(route, args)

    def family_of(self, text: str) -> str | None:
        first = _WORD.search(text)
        return self.families.get(_fold_word(first.group())) if first else None


@dataclass
class Reply:
    text: str
    buttons: tuple[Button, ...] = ()


@dataclass
class Context:
    """Everything a handler may use. Replies are collected and enqueued with the transaction."""

    app: App
    incoming: Incoming
    uow: UnitOfWork
    person: Person
    roles: Roles
    now: datetime
    replies: list[Reply] = field(default_factory=list)

    @property
    def locale(self) -> str:
        return self.app.renderer.locale_for(self.person.locale or self.app.settings.bot.locale)

    def render(self, template: str, /, **variables: Any) -> str:
        return self.app.renderer.render(template, self.locale, **variables)

    def say(self, template: str, /, buttons: tuple[Button, ...] = (), **variables: Any) -> None:
        """Reply in the conversation the message came from."""
        self.replies.append(Reply(self.render(template, **variables), buttons))

    def notify(
        self,
        person: Person,
        template: str,
        key: str,
        /,
        *,
        campaign_id: int | None = None,
        kind: str = "notice",
        batch: str | None = None,
        **variables: Any,
    ) -> bool:
        """Enqueue a message to another person's direct conversation (idempotent by key)."""
        return self.app.enqueue_to_person(
            self.uow,
            person,
            template,
            key=key,
            now=self.now,
            campaign_id=campaign_id,
            kind=kind,
            batch=batch,
            **variables,
        )
