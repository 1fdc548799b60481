"""Personal FAQ answers: the person's own campaigns (link, deadline, event, ambassadors), and the
offer to send an invitation again; with no, one or several running campaigns."""

from __future__ import annotations

from tests.helpers.bot import Bot
from tests.helpers.campaigns import AGENTS, AMB, launched, setup_service

WITH_EVENT = (
    'campagne créer ABCDEF234 "Cybersécurité" fin 15/12/2026 avant "la conférence" le 14/12/2026'
)
SECOND = 'campagne créer BUREAU234 "Bureautique" fin 16/12/2026'


async def test_lost_link_gets_the_person_s_own_link(bot: Bot) -> None:
    await launched(bot)
    reply = await bot.say(AGENTS[0], "j'ai perdu le lien")
    assert "https://app.pix.fr/campagnes/ABCDEF234" in reply[0]
    assert "Votre parcours « Cybersécurité »" in reply[0]
    assert "renvoie" not in reply[0]  # a lost link is no missing invitation


async def test_without_a_campaign_the_answer_says_so(bot: Bot) -> None:
    setup_service(bot)
    reply = await bot.say(AGENTS[0], "j'ai perdu le lien")
    assert "aucune campagne en cours" in reply[0]
    assert "Votre parcours" not in reply[0]


async def test_deadline_and_event_of_every_running_campaign(bot: Bot) -> None:
    await launched(bot, WITH_EVENT)  # planned for later: invite now, as the scheduler would
    with bot.store.transaction() as uow:
        campaign = uow.campaigns.by_code("ABCDEF234")
        assert campaign is not None
        people = bot.app.deps.campaigns.resolve(uow, campaign, None).people
        bot.app.deps.campaigns.invite(uow, campaign, people, bot.clock.now(), None)
    await bot.say(AMB, SECOND)
    await bot.say(AMB, "campagne lancer BUREAU234")
    reply = await bot.say(AGENTS[0], "c'est quand la date limite ?")
    assert "• Votre parcours « Cybersécurité », à faire d'ici le 15" in reply[0]
    assert "avant la conférence le 14 décembre 2026." in reply[0]
    assert "• Votre parcours « Bureautique », à faire d'ici le 16 décembre 2026." in reply[0]
    assert "https://" not in reply[0].split("Votre parcours")[1]  # dates only, no link asked


async def test_ambassadors_of_the_person_are_named(bot: Bot) -> None:
    await launched(bot)
    reply = await bot.say(AGENTS[0], "c'est qui mon ambassadeur ?")
    assert "Ambassadeur Pix pour vous : Ambre." in reply[0]


async def test_missing_invitation_is_sent_again_once_a_day(bot: Bot) -> None:
    await launched(bot)
    invitations = [m for m in bot.inbox(AGENTS[0]) if "vous invite" in m]
    assert len(invitations) == 1
    reply = await bot.say(AGENTS[0], "je n'ai pas reçu d'invitation")
    assert "ABCDEF234" in reply[0]
    assert "Voulez-vous que je vous renvoie l'invitation ?" in reply[0]
    done = await bot.say(AGENTS[0], "oui")
    assert "C'est renvoyé" in done[0] and "« Cybersécurité »" in done[0]
    assert len([m for m in bot.inbox(AGENTS[0]) if "vous invite" in m]) == 2
    await bot.say(AGENTS[0], "je n'ai pas reçu d'invitation")
    again = await bot.say(AGENTS[0], "oui")
    assert "déjà renvoyée aujourd'hui" in again[0]
    assert len([m for m in bot.inbox(AGENTS[0]) if "vous invite" in m]) == 2


async def test_declined_resend_sends_nothing(bot: Bot) -> None:
    await launched(bot)
    await bot.say(AGENTS[0], "je n'ai pas reçu d'invitation")
    reply = await bot.say(AGENTS[0], "non")
    assert "je ne renvoie rien" in reply[0]
    assert len([m for m in bot.inbox(AGENTS[0]) if "vous invite" in m]) == 1


async def test_no_resend_offer_to_someone_never_invited(bot: Bot) -> None:
    setup_service(bot)
    reply = await bot.say(AGENTS[0], "je n'ai pas reçu d'invitation")
    assert "renvoie" not in reply[0]


async def test_short_follow_up_is_read_with_the_last_topic(bot: Bot) -> None:
    setup_service(bot)
    liste = await bot.say(AGENTS[0], "quels parcours existent ?")
    assert "cybersécurité" in liste[0]
    more = await bot.say(AGENTS[0], "d'accord mais il y a autre chose que la cybersécurité ?")
    assert more[0].startswith(liste[0].split("\n")[0])  # the same topic's answer
    duration = await bot.say(AGENTS[0], "ok merci. mais c'est obligatoire du coup ?")
    assert duration[0].startswith("Votre ministère vous propose ce parcours")


async def test_follow_up_context_lasts_a_few_minutes_and_never_makes_an_answer_up(
    bot: Bot,
) -> None:
    setup_service(bot)
    await bot.say(AGENTS[0], "quels parcours existent ?")
    canteen = await bot.say(AGENTS[0], "ok merci, et la cantine est ouverte ?")
    assert canteen[0].startswith("Je ne sais pas")
    await bot.say(AGENTS[0], "non")  # declines the hand-off
    await bot.say(AGENTS[0], "quels parcours existent ?")
    bot.clock.advance(minutes=6)
    # A follow-up that means nothing without its context (alone, it abstains).
    late = await bot.say(AGENTS[0], "ok et sinon il y a quoi d'autre ?")
    assert late[0].startswith("Je ne sais pas")


async def test_in_a_room_the_personal_part_goes_to_the_direct_conversation(bot: Bot) -> None:
    await launched(bot)
    room = "#equipe:console"
    bot.new_messages()
    in_room = await bot.say(AGENTS[0], "!pix j'ai perdu le lien", room=room)
    assert len(in_room) == 1
    # The room learns nothing of the person's campaigns: neither the link nor the title.
    assert "campagnes/ABCDEF234" not in in_room[0] and "Cybersécurité" not in in_room[0]
    assert "message direct" in in_room[0]
    private = [text for text in bot.inbox(AGENTS[0]) if "campagnes/ABCDEF234" in text]
    assert private and "Votre parcours « Cybersécurité »" in private[-1]


async def test_in_a_room_without_a_campaign_nothing_personal_is_said(bot: Bot) -> None:
    setup_service(bot)
    in_room = await bot.say(AGENTS[0], "!pix j'ai perdu le lien", room="#equipe:console")
    assert "aucune campagne en cours" not in in_room[0]
