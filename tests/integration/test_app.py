"""The core path: middleware, router, replies through the outbox, privacy commands."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.router import RegistrationError, Router
from tests.helpers.bot import Bot


async def test_help_depends_on_role(bot: Bot) -> None:
    agent = await bot.say("@alice:console", "aide")
    assert len(agent) == 1 and "« c'est fait »" in agent[0]
    assert "campagne créer" not in agent[0]
    admin = await bot.say("@admin:console", "HELP")
    assert "campagne créer" in admin[0]


async def test_accents_and_case_are_ignored(bot: Bot) -> None:
    replies = await bot.say("@alice:console", "MES DONNEES")
    assert "identifiant : @alice:console" in replies[0]


async def test_same_event_is_answered_once(bot: Bot) -> None:
    incoming = bot.platform.incoming("aide")
    await bot.app.handle(incoming)
    await bot.app.handle(incoming)
    await bot.app.dispatcher.drain()
    assert len(bot.new_messages()) == 1


async def test_self_and_bots_are_ignored(bot: Bot) -> None:
    own = replace(bot.platform.incoming("aide"), sender_id=bot.platform.bot_id)
    other_bot = replace(bot.platform.incoming("aide"), sender_is_bot=True)
    for message in (own, other_bot):
        await bot.app.handle(message)
    await bot.app.dispatcher.drain()
    assert bot.new_messages() == []


async def test_rooms_need_prefix_or_mention(bot: Bot) -> None:
    assert await bot.say("@alice:console", "aide", room="#salon:console") == []
    replies = await bot.say("@alice:console", "!pix aide", room="#salon:console")
    assert len(replies) == 1
    message = bot.platform.journal.messages[-1]
    assert message["conversation"] == "#salon:console"
    mention = await bot.say("@alice:console", "@pixbot:console: aide", room="#salon:console")
    assert len(mention) == 1


async def test_handler_error_gives_polite_reply_and_changes_nothing(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storage.repositories.people import PeopleRepo

    def broken(self: PeopleRepo, person_id: int) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(PeopleRepo, "delete", broken)
    await bot.say("@alice:console", "oublie-moi")
    replies = await bot.say("@alice:console", "oui")
    assert "une erreur m'a empêché" in replies[0]
    with bot.store.transaction() as uow:
        assert uow.people.by_platform_id("@alice:console") is not None


async def test_forget_me_needs_confirmation(bot: Bot) -> None:
    ask = await bot.say("@alice:console", "oublie-moi")
    assert "Répondez « oui »" in ask[0]
    cancelled = await bot.say("@alice:console", "non")
    assert "je n'efface rien" in cancelled[0]
    await bot.say("@alice:console", "oublie-moi")
    done = await bot.say("@alice:console", "oui")
    assert "j'ai effacé toutes vos données" in done[0]
    with bot.store.transaction() as uow:
        assert uow.people.by_platform_id("@alice:console") is None


async def test_unknown_campaign_subcommand(bot: Bot) -> None:
    replies = await bot.say("@alice:console", "campagne envoyer-tout")
    assert "Je ne connais pas cette commande" in replies[0]


async def test_oversized_message_is_refused(bot: Bot) -> None:
    replies = await bot.say("@alice:console", "a" * 100_000)
    assert "trop long" in replies[0]


def test_router_checks_registration() -> None:
    router = Router()

    @router.command("aide")
    def one(ctx: object, args: str) -> None: ...

    with pytest.raises(RegistrationError):

        @router.command("AIDE")
        def two(ctx: object, args: str) -> None: ...

    # A coroutine function could await inside its transaction: refused when registered.
    async def waits(ctx: object, args: str) -> None: ...

    with pytest.raises(RegistrationError):
        router.command("lent")(waits)  # type: ignore[arg-type]
    with pytest.raises(RegistrationError):
        router.prompt("lent")(waits)  # type: ignore[arg-type]


def test_router_longest_match_keeps_original_arguments() -> None:
    router = Router()

    @router.command("campagne")
    def family(ctx: object, args: str) -> None: ...

    @router.command("campagne créer")
    def create(ctx: object, args: str) -> None: ...

    match = router.match('Campagne  CREER abc123  "Le Titre"')
    assert match is not None
    assert match.route.name == "create"
    assert match.args == 'abc123  "Le Titre"'


async def test_a_slow_platform_lookup_does_not_delay_another_users_reply(bot: Bot) -> None:
    """The room lookup of a launch runs before its transaction: while it waits on the
    platform (a fake that takes as long as we let it), other people are answered."""
    import asyncio

    from bot.core import Member
    from tests.helpers.campaigns import AGENTS, AMB, setup_service

    setup_service(bot)
    lookup_started = asyncio.Event()
    release = asyncio.Event()
    release.set()

    async def slow_members(conversation_id: str) -> list[Member]:
        lookup_started.set()
        await release.wait()  # stands for a platform that takes seconds to answer
        return [Member(AGENTS[0], "Agent 1")]

    bot.platform.room_members = slow_members  # type: ignore[method-assign]
    created = await bot.say(
        AMB, 'campagne créer ROOM12345 "Cyber" fin 15/12/2026 pour salon #equipe:console'
    )
    assert "ROOM12345" in created[0]
    lookup_started.clear()
    release.clear()
    bot.platform.speaker = AMB
    launch = asyncio.create_task(bot.app.handle(bot.platform.incoming("campagne lancer ROOM12345")))
    await asyncio.wait_for(lookup_started.wait(), 10)

    # Handled while the lookup waits (the bound only turns a hang into a failure).
    other = await asyncio.wait_for(bot.say("@alice:console", "aide"), 30)
    assert len(other) == 1 and "Je suis pixbot" in other[0]
    assert not launch.done()

    release.set()
    await asyncio.wait_for(launch, 10)
    await bot.app.dispatcher.drain()
    assert any("ROOM12345" in text for text in bot.inbox(AGENTS[0]))


async def test_a_handler_that_fails_keeps_nothing_it_wrote(bot: Bot) -> None:
    """Handlers run inside the transaction: one that fails is answered politely, and nothing
    it wrote is kept."""
    from bot.app import App
    from bot.router import Context

    router = Router()

    @router.command("casse")
    def broken(ctx: Context, args: str) -> None:
        ctx.uow.questions.add_unanswered("écrit avant l'erreur", None, ctx.now)
        raise RuntimeError("a bug in a handler")

    app = App(bot.app.settings, bot.store, bot.platform, clock=bot.clock, router=router)
    await app.handle(bot.platform.incoming("casse"))
    await app.dispatcher.drain()
    replies = [m["text"] for m in bot.new_messages()]
    assert len(replies) == 1 and "erreur" in replies[0].lower()
    with bot.store.transaction() as uow:
        assert uow.questions.unanswered() == []


async def test_the_audit_action_is_declared_on_the_route(bot: Bot) -> None:
    """A route declares its audit action; the handler only says what the entry is about. A
    handler that records one its route does not declare fails (and keeps nothing)."""
    from bot.app import App
    from bot.router import Context

    router = Router()

    @router.command("noter", audit="note")
    def note(ctx: Context, args: str) -> None:
        ctx.audit(detail="vu")
        ctx.say("you_are_welcome")

    @router.command("griffonner")
    def scribble(ctx: Context, args: str) -> None:
        ctx.audit(detail="pas déclaré")

    app = App(bot.app.settings, bot.store, bot.platform, clock=bot.clock, router=router)
    await app.handle(bot.platform.incoming("noter"))
    await app.handle(bot.platform.incoming("griffonner"))
    await app.dispatcher.drain()
    replies = [m["text"] for m in bot.new_messages()]
    assert len(replies) == 2 and "erreur" in replies[1].lower()
    with bot.store.transaction() as uow:
        assert uow.audit.exists("note", None, "vu")
        assert not uow.audit.exists("note", None, "pas déclaré")
        assert not uow.audit.exists("None", None, "pas déclaré")
