"""Campaigns, invitations and participation on the console platform (issue: campaigns)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.domain import DeliveryStatus, ParticipationStatus
from bot.outbox import Dispatcher
from storage.models import AuditRow, CampaignRow, DeliveryRow, ParticipationEventRow
from tests.helpers.bot import Bot
from tests.helpers.campaigns import AGENTS, AMB, CREATE, count_rows, launched, setup_service


async def test_full_scenario(bot: Bot) -> None:
    setup_service(bot)
    created = await bot.say(AMB, CREATE)
    assert "Campagne ABCDEF234 « Cybersécurité » créée" in created[0]
    assert "15 décembre 2026" in created[0]
    replies = await bot.say(AMB, "campagne lancer ABCDEF234")
    assert "invitations en cours d'envoi à 6 personnes" in " ".join(replies)
    for agent in AGENTS:
        inbox = bot.inbox(agent)
        assert len(inbox) == 1
        assert "https://app.pix.fr/campagnes/ABCDEF234" in inbox[0]
        assert "15 décembre 2026" in inbox[0]
    assert any("6 envoyées sur 6" in text for text in bot.inbox(AMB))

    again = await bot.say(AMB, "campagne lancer abcdef234")
    assert "aux nouvelles personnes du public, s'il y en a" in again[0]
    assert all(len(bot.inbox(agent)) == 1 for agent in AGENTS)

    assert "terminé" in (await bot.say(AGENTS[0], "C’est fait !"))[0]
    assert "plus de rappel" in (await bot.say(AGENTS[1], "stop"))[0]
    assert "rappellerai" in (await bot.say(AGENTS[2], "plus tard"))[0]

    await bot.say(AMB, "campagne relancer ABCDEF234")
    reminded = [a for a in AGENTS if any(t.startswith("Rappel") for t in bot.inbox(a))]
    assert reminded == AGENTS[2:]

    # #9: ambassadors see yesterday-midnight's snapshot, and 1 of 6 is never a figure.
    bot.clock.advance(days=1)
    stats = (await bot.say(AMB, "campagne stats ABCDEF234"))[0]
    assert "6 invités" in stats
    assert "terminés, rappels arrêtés : non communiqués" in stats and "1 terminés" not in stats
    with bot.store.transaction() as uow:
        campaign = uow.campaigns.by_code("ABCDEF234")
        assert campaign is not None
        states = uow.participation.states(campaign.id)
        by_id = {s.person.platform_id: s.status for s in states.values()}
    assert by_id[AGENTS[0]] == ParticipationStatus.COMPLETED
    assert by_id[AGENTS[1]] == ParticipationStatus.OPTED_OUT
    actions = [a.action for a in _audit(bot)]
    assert actions == ["campaign_create", "campaign_launch", "campaign_launch", "campaign_remind"]


def _audit(bot: Bot) -> list[AuditRow]:
    with bot.store.transaction() as uow:
        return list(uow.session.scalars(select(AuditRow).order_by(AuditRow.id)))


@pytest.mark.parametrize(
    "command",
    [
        CREATE,
        "campagne lancer ABCDEF234",
        "campagne liste",
        "campagne voir ABCDEF234",
        "campagne relancer ABCDEF234",
        "campagne stats ABCDEF234",
        "campagne clore ABCDEF234",
        "campagne annuler ABCDEF234",
        'campaign create ZZZZZZ111 "X" until 15/12/2026',
    ],
)
async def test_non_ambassador_is_refused_and_nothing_changes(bot: Bot, command: str) -> None:
    await launched(bot)
    before = (
        count_rows(bot, CampaignRow),
        count_rows(bot, DeliveryRow),
        count_rows(bot, ParticipationEventRow),
    )
    replies = await bot.say(AGENTS[0], command)
    assert "réservée aux ambassadeurs" in replies[0]
    after = (
        count_rows(bot, CampaignRow),
        count_rows(bot, DeliveryRow) - 1,
        count_rows(bot, ParticipationEventRow),
    )
    assert after == before  # only the refusal itself was added to the outbox


async def test_ambassador_cannot_touch_another_service(bot: Bot) -> None:
    await launched(bot)
    now = bot.clock.now()
    with bot.store.transaction() as uow:
        other = uow.people.ensure("@other:console", None, now)
        uow.roles.add(other.id, "ambassador", "DDT-35")
    for command in (
        "campagne lancer ABCDEF234",
        "campagne stats ABCDEF234",
        "campagne clore ABCDEF234",
    ):
        replies = await bot.say("@other:console", command)
        assert "Je ne trouve pas de campagne ABCDEF234" in replies[0]
    replies = await bot.say(
        "@other:console", 'campagne créer QWERTY123 "x" fin 15/12/2026 pour service DREAL-BZH'
    )
    # #9: the same answer as for an unknown service (no existence oracle).
    assert "Je ne connais pas le service « DREAL-BZH »" in replies[0]
    with bot.store.transaction() as uow:
        campaign = uow.campaigns.by_code("ABCDEF234")
        assert campaign is not None and campaign.status == "running"
        assert uow.campaigns.by_code("QWERTY123") is None


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ('campagne créer ABC-DEF 234 "T" fin 15/12/2026', "créée"),
        ('campagne créer ABC#23 "T" fin 15/12/2026', "n'est pas un code de campagne"),
        ('campagne créer ABCDEF234 "T" fin 31/02/2026', "Je ne comprends pas la date"),
        ('campagne créer ABCDEF234 "T" fin 01/01/2020', "est déjà passée"),
        ('campagne créer ABCDEF234 "T"', "Indiquez une date de fin"),
        ("campagne créer ABCDEF234 fin 15/12/2026", "Il manque le titre"),
        (
            'campagne créer ABCDEF234 "T" fin 15/12/2026 avant "Conf" le 20/12/2026',
            "tombe après la date de fin",
        ),
        (
            'campagne créer ABCDEF234 "T" fin 15/12/2026 pour service INCONNU',
            "Je ne connais pas le service",
        ),
        (
            'campagne créer ABCDEF234 "T" fin 15/12/2026 pour salon #nowhere:console',
            "Je ne trouve pas le salon",
        ),
        ('campagne créer ABCDEF234 "T" fin 15/12/2026 pour bob, @ok:x', "ne sont pas valides"),
        ('campagne créer ABCDEF234 "T" fin 15/12/2026 hop', "Je ne comprends pas « hop »"),
        ('campagne créer ABCDEF234 "T fin 15/12/2026', "guillemet fermant"),
        ('campagne créer ABC "T" fin 15/12/2026', "9 caractères"),
    ],
)
async def test_create_validation(bot: Bot, command: str, expected: str) -> None:
    setup_service(bot)
    replies = await bot.say(AMB, command)
    assert expected in replies[0]
    if expected not in ("créée", "9 caractères"):
        assert count_rows(bot, CampaignRow) == 0


async def test_duplicate_code_creates_nothing(bot: Bot) -> None:
    setup_service(bot)
    await bot.say(AMB, CREATE)
    replies = await bot.say(AMB, 'campagne créer abcdef234 "Autre" fin 20/12/2026')
    assert "existe déjà" in replies[0]
    assert count_rows(bot, CampaignRow) == 1


@pytest.mark.parametrize(
    "title",
    ["{{ 7*7 }}", "<b>x</b>", "@room alerte", "abc\u202edcba", "{% include 'help.txt' %}"],
)
async def test_hostile_titles_are_inert(bot: Bot, title: str) -> None:
    setup_service(bot)
    await bot.say(AMB, f'campagne créer ABCDEF234 "{title}" fin 15/12/2026')
    await bot.say(AMB, "campagne lancer ABCDEF234")
    invitation = bot.inbox(AGENTS[0])[0]
    with bot.store.transaction() as uow:
        campaign = uow.campaigns.by_code("ABCDEF234")
        assert campaign is not None
        stored = campaign.title
    assert "\u202e" not in stored
    assert f"« {stored} »" in invitation
    assert "49" not in invitation
    assert "Pour tout le monde" not in invitation  # no template was included


async def test_oversized_title_is_refused(bot: Bot) -> None:
    setup_service(bot)
    replies = await bot.say(AMB, f'campagne créer ABCDEF234 "{"x" * 300}" fin 15/12/2026')
    assert "trop long" in replies[0]
    replies = await bot.say(AMB, f'campagne créer ABCDEF234 "{"x" * 100_000}" fin 15/12/2026')
    assert "trop long" in replies[0]
    assert count_rows(bot, CampaignRow) == 0


async def test_room_and_list_audiences(bot: Bot) -> None:
    setup_service(bot)
    bot.platform.journal.append({"type": "join", "room": "#cyber:console", "member": AGENTS[0]})
    bot.platform.journal.append({"type": "join", "room": "#cyber:console", "member": "@x:console"})
    await bot.say(AMB, 'campagne créer ROOMAA111 "Salon" fin 15/12/2026 pour salon #cyber:console')
    await bot.say(AMB, "campagne lancer ROOMAA111")
    # #9: only known agents of the campaign's service are invited.
    assert bot.inbox("@x:console") == [] and len(bot.inbox(AGENTS[0])) == 1
    assert bot.inbox(AGENTS[1]) == []
    await bot.say(
        AMB, f'campagne créer LISTAA111 "Liste" fin 15/12/2026 pour {AGENTS[1]}, @z:console'
    )
    await bot.say(AMB, "campagne lancer LISTAA111")
    assert len(bot.inbox(AGENTS[1])) == 1 and bot.inbox("@z:console") == []


async def test_people_joining_later_are_invited_by_a_later_launch(bot: Bot) -> None:
    await launched(bot)
    setup_service(bot, agents=["@late:console"])
    replies = await bot.say(AMB, "campagne lancer ABCDEF234")
    # #23: one newcomer is "fewer than min_group" (who joined a list tells who is an agent).
    assert "aux nouvelles personnes du public, s'il y en a (moins de 5)" in " ".join(replies)
    assert len(bot.inbox("@late:console")) == 1
    assert all(len(bot.inbox(a)) == 1 for a in AGENTS)


async def test_agent_with_several_campaigns_is_asked_which(bot: Bot) -> None:
    await launched(bot)
    await bot.say(AMB, 'campagne créer SECOND222 "Bureautique" fin 20/12/2026')
    await bot.say(AMB, "campagne lancer SECOND222")
    question = await bot.say(AGENTS[0], "fait")
    assert "ABCDEF234" in question[0] and "SECOND222" in question[0]
    answer = await bot.say(AGENTS[0], "second222")
    assert "Bureautique" in answer[0]
    with bot.store.transaction() as uow:
        second = uow.campaigns.by_code("SECOND222")
        first = uow.campaigns.by_code("ABCDEF234")
        person = uow.people.by_platform_id(AGENTS[0])
        assert second and first and person
        assert uow.participation.state(second.id, person.id).status == "completed"  # type: ignore[union-attr]
        assert uow.participation.state(first.id, person.id).status == "invited"  # type: ignore[union-attr]
    # Naming the campaign directly needs no question.
    direct = await bot.say(AGENTS[0], "c'est fait ABCDEF234")
    assert "Cybersécurité" in direct[0]


async def test_stop_all_and_resume(bot: Bot) -> None:
    await launched(bot)
    await bot.say(AGENTS[0], "stop tout")
    await bot.say(AMB, "campagne relancer ABCDEF234")
    assert not any(t.startswith("Rappel") for t in bot.inbox(AGENTS[0]))
    assert "de nouveau" in (await bot.say(AGENTS[0], "reprendre"))[0]
    bot.clock.advance(days=1)  # one extra reminder per campaign and working day
    await bot.say(AMB, "campagne relancer ABCDEF234")
    assert any(t.startswith("Rappel") for t in bot.inbox(AGENTS[0]))


async def test_thumbs_up_reaction_means_done(bot: Bot) -> None:
    from dataclasses import replace

    await launched(bot)
    invitation = next(m for m in bot.platform.journal.messages if m["to"] == AGENTS[0])
    bot.platform.speaker = AGENTS[0]
    reaction = replace(bot.platform.incoming(""), reaction="👍", relates_to=invitation["id"])
    await bot.app.handle(reaction)
    await bot.app.dispatcher.drain()
    with bot.store.transaction() as uow:
        campaign = uow.campaigns.by_code("ABCDEF234")
        person = uow.people.by_platform_id(AGENTS[0])
        assert campaign and person
        state = uow.participation.state(campaign.id, person.id)
        assert state is not None and state.status == ParticipationStatus.COMPLETED


async def test_close_thanks_completers_and_cancel_drops_pending(bot: Bot) -> None:
    await launched(bot)
    await bot.say(AGENTS[0], "fait")
    assert "oui" in (await bot.say(AMB, "campagne clore ABCDEF234"))[0]
    closed = await bot.say(AMB, "oui")
    # #9: the number of thanks (completers) follows the disclosure rule: 1 of 6 is not shown.
    assert "close" in closed[0] and "Remerciements envoyés" in closed[0]
    assert "1 remerciement" not in closed[0]
    assert any(t.startswith("Merci") for t in bot.inbox(AGENTS[0]))
    refused = await bot.say(AMB, "campagne relancer ABCDEF234")
    assert refused == ["La campagne ABCDEF234 est close : rien n'a été modifié."]
    await bot.say(AMB, 'campagne créer SECOND222 "B" fin 20/12/2026')
    assert "Répondez « oui »" in (await bot.say(AMB, "campagne annuler SECOND222"))[0]
    assert "annulée" in (await bot.say(AMB, "oui"))[0]
    with bot.store.transaction() as uow:
        second = uow.campaigns.by_code("SECOND222")
        assert second is not None and second.status == "cancelled"
    actions = [a.action for a in _audit(bot)]
    assert "campaign_close" in actions and "campaign_cancel" in actions


class Crash(BaseException):
    """Stands for the process dying: nothing after it runs."""


async def test_crash_between_sent_and_marked_delivers_once(bot: Bot) -> None:
    setup_service(bot)
    await bot.say(AMB, CREATE)
    # Launch without letting the app drain, then crash the dispatcher after the 3rd send.
    bot.app.drain_after_message = False
    await bot.app.handle(bot.platform.incoming("campagne lancer ABCDEF234"))
    dispatcher = bot.app.dispatcher
    calls = {"n": 0}

    def die(delivery: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise Crash

    dispatcher.after_send = die
    with pytest.raises(Crash):
        await dispatcher.drain()
    with bot.store.transaction() as uow:
        pending = uow.outbox.pending_count()
    assert pending >= 4  # the crashed one is still pending: it was never marked
    # Restart: a new dispatcher on the same database and the same console "server".
    restarted = Dispatcher(bot.store, bot.platform, bot.clock)
    await restarted.drain()
    for agent in AGENTS:
        invitations = [t for t in bot.inbox(agent) if "https://app.pix.fr" in t]
        assert len(invitations) == 1, agent
    with bot.store.transaction() as uow:
        statuses = uow.session.scalars(
            select(DeliveryRow.status).where(DeliveryRow.kind == "invitation")
        ).all()
    assert statuses == [DeliveryStatus.SENT] * 6


async def test_retry_after_is_honoured(bot: Bot) -> None:
    from bot.core import DeliveryError, Outgoing

    setup_service(bot)
    await bot.say(AMB, CREATE)
    failures = {"left": 2}

    def throttled(message: Outgoing) -> DeliveryError | None:
        if message.key.startswith("inv:") and failures["left"]:
            failures["left"] -= 1
            return DeliveryError("console", "M_LIMIT_EXCEEDED", retry_after=30)
        return None

    bot.platform.fail_when(throttled)
    await bot.say(AMB, "campagne lancer ABCDEF234")
    # The platform said "wait 30 s": nothing else went out, the failed row waits 30 s.
    assert not any(bot.inbox(a) for a in AGENTS)
    with bot.store.transaction() as uow:
        rows = uow.session.scalars(select(DeliveryRow).where(DeliveryRow.kind == "invitation"))
        retry_at = sorted(row.next_attempt_at for row in rows)
    assert retry_at[-1] == datetime(2026, 11, 23, 9, 0, 30, tzinfo=UTC)
    await bot.app.dispatcher.drain()  # still paused on the business clock
    assert not any(bot.inbox(a) for a in AGENTS)
    for _ in range(2):
        bot.clock.advance(seconds=31)
        await bot.app.dispatcher.drain()
    assert all(len(bot.inbox(a)) == 1 for a in AGENTS)


async def test_long_launch_reports_progress_then_a_summary(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.batches as batches_module
    import bot.marks as marks_module

    monkeypatch.setattr(batches_module, "PROGRESS_EVERY", 0.0)  # report after every send…
    monkeypatch.setattr(marks_module, "MARK_EVERY", 1)  # …that is marked one at a time
    monkeypatch.setattr(marks_module, "REPORT_EVERY", 0.0)  # …and reported at once
    setup_service(bot)
    await bot.say(AMB, CREATE)
    await bot.say(AMB, "campagne lancer ABCDEF234")
    reports = [t for t in bot.inbox(AMB) if "ABCDEF234 :" in t or "Invitations de" in t]
    progress = [t for t in reports if "envoyées…" in t]
    assert progress and all("/6 envoyées" in t for t in progress)
    assert reports[-1] == "Invitations de la campagne ABCDEF234 : 6 envoyées sur 6."


async def test_permanent_failure_is_reported_in_the_summary(bot: Bot) -> None:
    from bot.core import DeliveryError

    setup_service(bot)
    await bot.say(AMB, CREATE)
    bot.platform.fail_when(
        lambda message: (
            DeliveryError("console", "M_FORBIDDEN", "blocked", permanent=True)
            if message.person_id == AGENTS[3]
            else None
        )
    )
    await bot.say(AMB, "campagne lancer ABCDEF234")
    summary = bot.inbox(AMB)[-1]
    assert summary == (
        f"Invitations de la campagne ABCDEF234 : 5 envoyées sur 6, 1 en échec : {AGENTS[3]}."
    )
    assert bot.inbox(AGENTS[3]) == []


async def test_an_edit_tells_only_who_is_still_due_and_only_an_earlier_end(bot: Bot) -> None:
    """``campagne modifier`` (bot/services/edit.py): a later end tells nobody; an earlier one
    tells the agents still due (not who is done nor who said stop), once; audited by who
    asked, with how many were told."""
    await launched(bot)
    await bot.say(AGENTS[0], "c'est fait")
    await bot.say(AGENTS[1], "stop")
    await bot.app.dispatcher.drain()

    def told(agent: str) -> int:
        return sum("plus tôt" in text for text in bot.inbox(agent))

    later = await bot.say(AMB, "campagne modifier ABCDEF234 fin 18/12/2026")
    await bot.app.dispatcher.drain()
    assert "18 décembre 2026" in later[0] and "plus tôt" not in later[0]
    assert all(told(agent) == 0 for agent in AGENTS)

    earlier = await bot.say(AMB, "campagne modifier ABCDEF234 fin 11/12/2026")
    await bot.say(AMB, "campagne modifier ABCDEF234 fin 11/12/2026")  # the same again
    await bot.app.dispatcher.drain()
    assert "sont prévenus que la campagne se termine plus tôt" in earlier[0]
    assert told(AGENTS[0]) == 0 and told(AGENTS[1]) == 0
    assert all(told(agent) == 1 for agent in AGENTS[2:])
    with bot.store.transaction() as uow:
        rows = uow.session.scalars(
            select(AuditRow).where(AuditRow.action == "campaign_edit").order_by(AuditRow.id)
        ).all()
    assert [(row.actor, row.count) for row in rows] == [(AMB, 0), (AMB, 4), (AMB, 0)]
