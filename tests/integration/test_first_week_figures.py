"""Figures an ambassador can use on launch day (issue #24): with the daily snapshot, an
ambassador who launched this morning reads that nobody was invited yet at midnight, when the
next figures come, how the sending goes and when the next reminder leaves; the next morning, a
group too small for a number says why, in ``campagne stats``, ``campagne voir`` and the digest."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from storage.uow import Store
from tests.integration.first_week import AMB, MONDAY_MORNING, PARIS, first_week_bot


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
