"""Figures an ambassador can use on launch day (issue #24): with the daily snapshot, an
ambassador who launched this morning reads that nobody was invited yet at midnight, when the
next figures come, how the sending goes and when the next reminder leaves; the next morning, a
group too small for a number says why, in ``campagne stats``, ``campagne voir`` and the digest."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from storage.uow import Store
from tests.helpers.campaigns import put_person
from tests.integration.first_week import AMB, MONDAY_MORNING, PARIS, SERVICE, first_week_bot


async def test_an_ambassador_who_launched_this_morning(week_store: Store, tmp_path: Path) -> None:
    bot = first_week_bot(week_store, tmp_path, MONDAY_MORNING)  # Monday 10:00 in Paris
    await bot.say(AMB, 'campagne créer ABCDEF234 "Cybersécurité" fin 15 janvier 2027')
    await bot.say(AMB, "campagne lancer ABCDEF234")
    await bot.app.dispatcher.drain()
    assert any("vous invite" in t for t in bot.inbox(PARIS[0]))

    [stats] = await bot.say(AMB, "campagne stats ABCDEF234")
    # Not "chiffres masqués" all day: the snapshot predates the invitations, and it says so.
    assert "chiffres masqués" not in stats
    assert "personne n'était encore invité au lundi 7 décembre 2026 à 00:00" in stats
    assert "prochains chiffres demain matin, état au mardi 8 décembre 2026 à 00:00" in stats
    # What can be shown without a count of declarations: the sending and the next reminder.
    assert "invitations : envoyées le lundi 7 décembre 2026 à 10:00" in stats
    assert "prochain rappel : vendredi 8 janvier 2027 à 09:30 (J-7)" in stats

    [shown] = await bot.say(AMB, "campagne voir ABCDEF234")
    assert "personne n'était encore invité" in shown and "prochains chiffres demain matin" in shown

    assert bot.app.runner.digest() == 1
    await bot.app.dispatcher.drain()
    [digest] = [t for t in bot.inbox(AMB) if "Point hebdomadaire" in t]
    assert "personne n'était encore invité" in digest
    assert "prochains chiffres demain matin" in digest
    assert "prochain rappel : vendredi 8 janvier 2027 à 09:30 (J-7)" in digest

    # Tuesday morning: 7 invited, a group too small for any number either way, and why.
    bot.clock.current = MONDAY_MORNING + timedelta(days=1)
    [stats] = [t for t in await bot.say(AMB, "campagne stats ABCDEF234") if "Statistiques" in t]
    assert "• ensemble : 7 invités" in stats
    assert "terminés, rappels arrêtés : non communiqués (il faut au moins 10 invités" in stats
    assert "état au mardi 8 décembre 2026 à 00:00" in stats
    assert "prochains chiffres demain matin, état au mercredi 9 décembre 2026 à 00:00" in stats


async def test_the_trend_since_last_week_between_disclosed_figures(
    week_store: Store, tmp_path: Path
) -> None:
    bot = first_week_bot(week_store, tmp_path, MONDAY_MORNING)
    others = [f"@more{i}:console" for i in range(13)]  # 20 agents with the first week's 7
    with week_store.transaction() as uow:
        for pid in others:
            put_person(uow, pid, MONDAY_MORNING, service=SERVICE)
    agents = [*PARIS, *others]
    await bot.say(AMB, 'campagne créer ABCDEF234 "Cybersécurité" fin 15 janvier 2027')
    await bot.say(AMB, "campagne lancer ABCDEF234")
    await bot.app.dispatcher.drain()
    for agent in agents[:5]:
        await bot.say(agent, "fait")

    async def stats() -> str:
        replies = await bot.say(AMB, "campagne stats ABCDEF234")
        return next(t for t in replies if "Statistiques" in t)

    bot.clock.current = MONDAY_MORNING + timedelta(days=1)
    first = await stats()
    assert "5 terminés (25" in first and "depuis l'état d'il y a une semaine" not in first
    for agent in agents[5:11]:
        await bot.say(agent, "fait")
    # A week later: 11 of 20, both totals exact, so their difference tells nothing new.
    bot.clock.current = MONDAY_MORNING + timedelta(days=8)
    later = await stats()
    assert "11 terminés (55" in later
    assert "depuis l'état d'il y a une semaine : 6 parcours terminés de plus" in later
