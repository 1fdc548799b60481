"""Command registry and the per-message context handed to handlers.

Handlers are small plain functions registered with ``@router.command("aide", "help")``; the
answers to a prompt (``@router.prompt("forget")``), reactions (``@router.reaction``) and the
fallback for anything else (``@router.fallback``) are registered the same way. Decorators return
the function unchanged and check it at registration time. Matching is on folded words (case-
and accent-insensitive), longest phrase first; the arguments keep the user's original text.

Handlers run inside the message's transaction and never await: they are plain functions
(registration refuses a coroutine function), so an ``await`` in one is an error for the type
checker and the parser, not a surprise at run time. A command that needs the platform (a room's
members) declares a ``prefetch`` coroutine, run before the transaction opens, whose result the
handler finds in ``ctx.prefetched``.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.core import Button, Clock, Incoming
from bot.dashboard.tokens import DashboardLinks
from bot.domain import Person, Roles
from bot.faq.memory import FaqMemory
from bot.notifier import Notifier
from bot.render import Renderer
from bot.services.audience import Directory
from bot.services.campaigns import CampaignService
from bot.services.ports import Actor, Planning
from bot.text import fold
from storage.uow import UnitOfWork

# A command's handler receives its arguments as typed, or what its route's converter made of
# them (``takes=``: e.g. the campaign they name).
Handler = Callable[["Context", Any], None]
# Reads a command's arguments: what the handler receives, or None once it has said why not.
Converter = Callable[["Context", str], Any]
# Answer to a pending prompt (text, payload): True when the text was the answer.
PromptHandler = Callable[["Context", str, str], bool]
# A reaction (emoji, the event it reacts to).
ReactionHandler = Callable[["Context", str, str], bool]
# Looks things up before the transaction (deps, store for short reads, arguments).
# A prefetch reads the database only through ``read`` (one transaction in the database worker).
Read = Callable[[Callable[[UnitOfWork], Any]], Awaitable[Any]]
Prefetch = Callable[["Deps", Read, str], Awaitable[Any]]

EVERYONE = frozenset({"agent", "ambassador", "admin"})
AMBASSADORS = frozenset({"ambassador", "admin"})

_WORD = re.compile(r"\S+")
_EDGE_PUNCTUATION = '.,;:!?…»«"()'


def _fold_word(word: str) -> str:
    return fold(word).strip(_EDGE_PUNCTUATION)


# The sections of ``aide``, in order: for everyone, agents' replies, ambassadors' commands.
HELP_SECTIONS = ("everyone", "agent", "ambassador")


@dataclass(frozen=True, slots=True)
class HelpLine:
    """A line of ``aide``: its section and its wording, the macro ``key`` of
    ``bot/messages/<locale>/_help.txt``. Shown to the roles of the route that declares it, in
    the order of registration."""

    section: str
    key: str


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    phrases: tuple[tuple[str, ...], ...]
    handler: Handler
    roles: frozenset[str]
    help: HelpLine | None = None
    prefetch: Prefetch | None = None
    takes: Converter | None = None
    # The audit action the handler records with ``ctx.audit(…)`` (None: it records none).
    audit: str | None = None


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
        self.prompts: dict[str, PromptHandler] = {}
        # The audit action a prompt's handler records with ``ctx.audit(…)``.
        self.prompt_audits: dict[str, str] = {}
        self.reactions: list[ReactionHandler] = []
        self.fallbacks: list[Handler] = []
        # The lines of ``aide`` and who sees each, in order of registration.
        self.help_lines: list[tuple[HelpLine, frozenset[str]]] = []

    def command(
        self,
        *phrases: str,
        name: str | None = None,
        roles: frozenset[str] = EVERYONE,
        help: HelpLine | None = None,
        prefetch: Prefetch | None = None,
        takes: Converter | None = None,
        audit: str | None = None,
    ) -> Callable[[Handler], Handler]:
        if not phrases:
            raise RegistrationError("a command needs at least one phrase")

        def register(function: Handler) -> Handler:
            _check_plain(function)
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
            route = Route(route_name, folded, function, roles, help, prefetch, takes, audit)
            self.routes.append(route)
            if help is not None:
                self.describe(help, roles)
            return function

        return register

    def prompt(
        self, kind: str, *, audit: str | None = None
    ) -> Callable[[PromptHandler], PromptHandler]:
        def register(function: PromptHandler) -> PromptHandler:
            _check_plain(function)
            if kind in self.prompts:
                raise RegistrationError(f"duplicate prompt {kind!r}")
            self.prompts[kind] = function
            if audit is not None:
                self.prompt_audits[kind] = audit
            return function

        return register

    def reaction(self, function: ReactionHandler) -> ReactionHandler:
        _check_plain(function)
        self.reactions.append(function)
        return function

    def fallback(self, function: Handler) -> Handler:
        _check_plain(function)
        if self.fallbacks:
            raise RegistrationError("only one fallback handler")
        self.fallbacks.append(function)
        return function

    def describe(self, line: HelpLine, roles: frozenset[str] = EVERYONE) -> None:
        """A line of ``aide`` (a route declares its own with ``help=``; this is for what is
        not a command, such as asking the FAQ a question)."""
        if line.section not in HELP_SECTIONS:
            raise RegistrationError(f"unknown help section {line.section!r}")
        if any(known.key == line.key for known, _ in self.help_lines):
            raise RegistrationError(f"help line {line.key!r} registered twice")
        self.help_lines.append((line, roles))

    def help_for(self, role: str) -> dict[str, list[str]]:
        """The lines of ``aide`` a person with ``role`` sees, by section, in order."""
        sections: dict[str, list[str]] = {section: [] for section in HELP_SECTIONS}
        for line, roles in self.help_lines:
            if role in roles:
                sections[line.section].append(line.key)
        return sections

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
        for kind, handler in other.prompts.items():
            self.prompt(kind, audit=other.prompt_audits.get(kind))(handler)
        for reaction in other.reactions:
            self.reaction(reaction)
        for fallback in other.fallbacks:
            self.fallback(fallback)
        for line, roles in other.help_lines:
            self.describe(line, roles)

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


@dataclass(frozen=True, slots=True)
class Policy:
    """The settings handlers read, and only those: never a token, a key nor a database URL
    (the whole ``Settings`` stays with the application)."""

    # Disclosure rule: a group smaller than this is said in words (``[stats] min_group``).
    min_group: int
    deadline_horizon_days: int
    thank_completers: bool
    snooze_working_days: int
    questions_per_day: int
    handoffs_per_day: int
    faq_overrides: str | None
    # The morning note to ambassadors, for the whole deployment (``[schedule] morning_note``).
    morning_note: bool = True


@dataclass(frozen=True, slots=True)
class Deps:
    """The services handlers may use (typed; never the whole application)."""

    policy: Policy
    clock: Clock
    renderer: Renderer
    notifier: Notifier
    campaigns: CampaignService
    planner: Planning
    directory: Directory
    # The last FAQ topic answered to each person, a few minutes, in memory only.
    faq_memory: FaqMemory = field(default_factory=FaqMemory)
    # The dashboard's link issuer, when the HTTP server serves it (``[http] listen``).
    dashboard: DashboardLinks | None = None
    # The lines of ``aide`` for a role, from the routes' registrations (``Router.help_for``).
    help_for: Callable[[str], dict[str, list[str]]] = lambda role: {}


@dataclass
class Reply:
    text: str
    buttons: tuple[Button, ...] = ()
    # A picture the outbox renders when sending (``text`` then describes it).
    attachment: str | None = None


@dataclass
class Context:
    """Everything a handler may use. Replies are collected and enqueued with the transaction."""

    deps: Deps
    incoming: Incoming
    uow: UnitOfWork
    person: Person
    roles: Roles
    now: datetime
    prefetched: Any = None
    replies: list[Reply] = field(default_factory=list)
    # Set when the sender was just erased: the replies are their last messages, and leave no
    # trace once delivered (``erasure`` deliveries are deleted when sent).
    erased: bool = False
    # Template names said, in order (for the metrics: FAQ answered or abstained).
    said: list[str] = field(default_factory=list)
    # Work that must be enqueued after the replies, in the same transaction.
    followups: list[Callable[[], None]] = field(default_factory=list)
    # The audit action of the route (or prompt) being handled, from its registration.
    action: str | None = None

    @property
    def policy(self) -> Policy:
        return self.deps.policy

    @property
    def actor(self) -> Actor:
        """The sender, as the use cases record them (audit log, batch reports here)."""
        return Actor(
            self.person.platform_id,
            person_id=self.person.id,
            conversation_id=self.incoming.conversation_id,
            origin=self.incoming.event_id[-40:],
        )

    def audit(
        self,
        campaign_id: int | None = None,
        *,
        count: int | None = None,
        detail: str | None = None,
        actor: str | None = None,
    ) -> None:
        """Record the audit entry the route declares (``audit=``), by the sender (or
        ``actor``: the alias of someone just erased)."""
        if self.action is None:
            raise RuntimeError("this route declares no audit action (audit=…)")
        who = actor or self.person.platform_id
        self.uow.audit.add(who, self.action, self.now, campaign_id, count, detail)

    @property
    def locale(self) -> str:
        return self.deps.notifier.locale_of(self.person)

    def render(self, template: str, /, **variables: Any) -> str:
        return self.deps.renderer.render(template, self.locale, **variables)

    def say(self, template: str, /, buttons: tuple[Button, ...] = (), **variables: Any) -> None:
        """Reply in the conversation the message came from."""
        self.said.append(template)
        self.replies.append(Reply(self.render(template, **variables), buttons))

    def ask(self, kind: str, payload: str, window: timedelta, *, anywhere: bool = False) -> None:
        """The bot asks this person a question: their next message in this conversation (in
        any of theirs with ``anywhere``), within ``window``, goes to the
        ``@router.prompt(kind)`` handler first, with ``payload``."""
        scoped = payload if anywhere else in_conversation(self.incoming.conversation_id, payload)
        self.uow.prompts.set(self.person.id, kind, scoped, self.now + window)

    def after_replies(self, followup: Callable[[], None]) -> None:
        """Run ``followup`` once the replies are enqueued (so what it enqueues comes after)."""
        self.followups.append(followup)

    def picture(self, attachment: str, template: str, /, **variables: Any) -> None:
        """Reply with a picture (rendered when sent); ``template`` describes it in words."""
        self.replies.append(Reply(self.render(template, **variables), attachment=attachment))

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
        return self.deps.notifier.to_person(
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


# A pending question asked in one conversation: its payload starts with this mark, the
# conversation id and the mark again (prompts set without it are answered anywhere).
_SCOPE = "\x1e"


def in_conversation(conversation_id: str, payload: str) -> str:
    return f"{_SCOPE}{conversation_id}{_SCOPE}{payload}"


def scope_of(payload: str) -> tuple[str | None, str]:
    """(the conversation a question was asked in, or None for anywhere; its payload)."""
    if not payload.startswith(_SCOPE):
        return None, payload
    conversation, _, inner = payload[1:].partition(_SCOPE)
    return conversation, inner


def _check_plain(function: Callable[..., Any]) -> None:
    if inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function):
        raise RegistrationError(
            f"{function.__qualname__} must be a plain function: a handler runs inside its "
            "transaction and never awaits (a lookup on the platform is a prefetch)"
        )
