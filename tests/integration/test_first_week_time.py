"""Time, as people mean it (issue #24): dates typed in French and read back in words, one
sending policy (a Sunday-evening launch waits for Monday 09:30, in each agent's time zone), a
plan whose lines say what happened and when, a campaign corrected instead of re-created, one
deadline everywhere, and an agent in Cayenne who reads every time in her zone."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from storage.uow import Store
from tests.integration.first_week import (
    AMB,
    CAYENNE,
    MONDAY_MORNING,
    PARIS,
    SUNDAY_EVENING,
    first_week_bot,
)

AGENT = PARIS[0]


async def test_a_campaign_launched_on_sunday_evening(week_store: Store, tmp_path: Path) -> None:
    bot = first_week_bot(week_store, tmp_path, SUNDAY_EVENING)
    # Dates as French speakers write them, read back in words; the vague and the past refused.
    [vague] = await bot.say(AMB, 'campagne créer ABCDEF234 "Cybersécurité" fin fin janvier')
    assert "ne désigne pas un jour précis" in vague and "29/01/2027" in vague
    [past] = await bot.say(AMB, 'campagne créer ABCDEF234 "Cybersécurité" fin 01/12/2026')
    assert "La date du 1er décembre 2026 est déjà passée" in past and "vendredi prochain" in past
    [created] = await bot.say(AMB, 'campagne créer ABCDEF234 "Cybersécurité" fin 15 janvier 2027')
    assert (
        "date de fin : vendredi 15 janvier 2027 (clôture le vendredi 15 janvier 2027 à 17:00)"
        in (created)
    )
    assert "lundi 7 décembre 2026 à 09:30 : invitations (prévu)" in created

    # Sunday 22:03: the launch is queued for Monday 09:30, and the reply says so.
    [launched] = await bot.say(AMB, "campagne lancer ABCDEF234")
    assert "programmées pour lundi 7 décembre 2026 à 09:30" in launched
    assert bot.inbox(AGENT) == [] and bot.inbox(CAYENNE) == []
    [relance] = await bot.say(AMB, "campagne relancer ABCDEF234")
    assert "prévus pour lundi 7 décembre 2026 à 09:30" in relance
    [plan] = await bot.say(AMB, "campagne voir ABCDEF234")
    assert "lundi 7 décembre 2026 à 09:30 : invitations (programmées" in plan
    assert "lundi 7 décembre 2026 à 09:30 : relance (programmé)" in plan
    assert "vendredi 8 janvier 2027 à 09:30 : rappel J-7 (prévu)" in plan

    # Monday 10:00 in Paris: Paris agents have it, with the one deadline; Cayenne (06:00) not yet.
    bot.clock.current = MONDAY_MORNING
    await bot.app.dispatcher.drain()
    [invitation] = [t for t in bot.inbox(AGENT) if "vous invite" in t]
    assert "d'ici le vendredi 15 janvier 2027 à 17:00." in invitation
    assert bot.inbox(CAYENNE) == []
    [plan] = await bot.say(AMB, "campagne voir ABCDEF234")
    assert "lundi 7 décembre 2026 à 09:30 : invitations (envoyées)" in plan
    assert "lundi 7 décembre 2026 à 09:30 : relance (envoyé)" in plan
    # 09:30 in Cayenne (13:30 in Paris): Léa's invitation, in her time, her zone named.
    bot.clock.current = MONDAY_MORNING + timedelta(hours=3, minutes=30)
    await bot.app.dispatcher.drain()
    [invitation] = [t for t in bot.inbox(CAYENNE) if "vous invite" in t]
    assert "d'ici le vendredi 15 janvier 2027 à 13:00 (heure de Cayenne)." in invitation
    [later] = [t for t in await bot.say(CAYENNE, "plus tard") if "Pas de souci" in t]
    assert "09:30 (heure de Cayenne)" in later

    # Corrected, not re-created: an earlier end is told to those invited, in their zone.
    [edited] = await bot.say(AMB, "campagne modifier ABCDEF234 fin vendredi 8 janvier 2027")
    assert "date de fin : vendredi 8 janvier 2027 (clôture le vendredi 8 janvier 2027 à 17:00)" in (
        edited
    )
    assert "mercredi 6 janvier 2027 à 09:30 : rappel J-2 (prévu)" in edited  # replanned
    assert "sont prévenus que la campagne se termine plus tôt" in edited
    await bot.app.dispatcher.drain()
    [moved] = [t for t in bot.inbox(CAYENNE) if "plus tôt" in t]
    assert "vendredi 8 janvier 2027 à 13:00 (heure de Cayenne)" in moved
    [titled] = await bot.say(AMB, 'campagne modifier ABCDEF234 titre "Cybersécurité 2027"')
    assert "« Cybersécurité » → « Cybersécurité 2027 »" in titled
    [bad] = await bot.say(AMB, "campagne modifier ABCDEF234 fin mardi 15 janvier 2027")
    assert "est un vendredi" in bad and "Rien n'a été modifié" in bad

    # "mes données": in her language and her time zone, no internal label, nothing cancelled.
    await bot.say(CAYENNE, "stop tout")
    await bot.say(CAYENNE, "mes données")
    [data] = [t for t in bot.inbox(CAYENNE) if t.startswith("Voici tout")]
    assert "langue : français" in data and "America/Cayenne" in data
    assert "invitation (ABCDEF234) : envoi le lundi 7 décembre 2026 à 09:30 (heure de Cayenne)" in (
        data
    )
    for internal in ("sent", "my_data", "pending", "cancelled", "Ce qui est prévu"):
        assert internal not in data


async def test_monday_morning_the_plan_starts_now(week_store: Store, tmp_path: Path) -> None:
    bot = first_week_bot(week_store, tmp_path, MONDAY_MORNING)
    [created] = await bot.say(AMB, 'campagne créer ABCDEF234 "Cybersécurité" fin 15/01')
    assert "lundi 7 décembre 2026 à 10:00 : invitations (prévu)" in created
    assert "09:30 : invitations" not in created
    await bot.app.runner.tick()  # the scheduler wakes up before "lancer"
    [launched] = await bot.say(AMB, "campagne lancer ABCDEF234")
    assert "en cours d'envoi à 7 personnes" in launched
    assert "d'autres fuseaux horaires" in launched  # Léa, in Cayenne, at 06:00
    [plan] = await bot.say(AMB, "campagne voir ABCDEF234")
    assert "lundi 7 décembre 2026 à 10:00 : invitations (envoyées)" in plan
    assert "annulé" not in plan
    # A deadline on a week-end: closed on the Friday, and the way to correct it is given.
    [weekend] = await bot.say(AMB, 'campagne créer GHIJKL567 "Bureautique" fin samedi 19 décembre')
    assert "vendredi 18 décembre 2026 à 17:00" in weekend
    assert "campagne modifier GHIJKL567 fin" in weekend
