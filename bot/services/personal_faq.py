"""Personal FAQ answers: what the bot already knows about the person, added to the answer.

The generic answer of ``parcours.acces`` says "open https://app.pix.fr/campagnes/CODE"; the bot
knows the person's campaigns, so it also gives their own link (and code), their deadline and
event for ``evenement.avant``, and the ambassadors of their service and of their campaigns'
services for ``role.ambassadeur``. Nothing new is stored: the campaigns are those whose audience
holds the person and that are running (rendered by the ``faq_answer`` template, worded there).

An agent who says they never received the invitation ("je n'ai pas reçu d'invitation") is
offered to have it sent again (``faq_resend`` prompt of ``bot/handlers/faq.py``, answered by
``oui``): once per campaign and day, the same invitation as at launch.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime

from bot.domain import Campaign, CampaignStatus, ParticipationKind, Person
from bot.notifier import Notifier
from storage.uow import UnitOfWork

# Topics whose answer the person's own campaigns complete.
LINK_TOPICS = frozenset({"parcours.acces"})
DATE_TOPICS = frozenset({"evenement.avant"})
AMBASSADOR_TOPICS = frozenset({"role.ambassadeur"})
# Topics under which "I never got the invitation" is asked, and the words that say so.
RESEND_TOPICS = frozenset({"parcours.acces", "probleme.technique"})
RESEND_WORDS = frozenset(
    {
        "recu",
        "recue",
        "recus",
        "recues",
        "recois",
        "recevoir",
        "invitation",
        "invitations",
        "received",
        "receive",
        "invite",
        "invited",
    }
)


@dataclass(frozen=True, slots=True)
class Personal:
    """What the answer adds for this person (template variables of ``faq_answer``)."""

    campaigns: list[Campaign] = field(default_factory=list)
    show_links: bool = False
    show_dates: bool = False
    ambassadors: list[str] = field(default_factory=list)
    # Campaigns whose invitation the bot offers to send again.
    resend: list[Campaign] = field(default_factory=list)

    @property
    def says_anything(self) -> bool:
        return bool(self.show_links or self.show_dates or self.ambassadors or self.resend)


def _words(text: str) -> set[str]:
    folded = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(char for char in folded if not unicodedata.combining(char))
    return set("".join(char if char.isalnum() else " " for char in plain).split())


def personal(uow: UnitOfWork, person: Person, question: str, topics: tuple[str, ...]) -> Personal:
    """``person``'s own details for the answered ``topics`` (first is the main one)."""
    wanted = set(topics)
    links = bool(wanted & LINK_TOPICS)
    dates = bool(wanted & DATE_TOPICS)
    asks_resend = bool(wanted & RESEND_TOPICS) and not _words(question).isdisjoint(RESEND_WORDS)
    needs_campaigns = links or dates or asks_resend or bool(wanted & AMBASSADOR_TOPICS)
    campaigns = (
        uow.campaigns.campaigns_of(person.id, statuses=(CampaignStatus.RUNNING,))
        if needs_campaigns
        else []
    )
    ambassadors: list[str] = []
    if wanted & AMBASSADOR_TOPICS:
        services = dict.fromkeys(
            [s for s in [person.service, *(c.service for c in campaigns)] if s]
        )
        seen: dict[int, str] = {}
        for service in services:
            for ambassador in uow.roles.ambassadors_of(service):
                seen.setdefault(ambassador.id, ambassador.name)
        ambassadors = list(seen.values())
    resend = (
        [
            c
            for c in campaigns
            if uow.participation.has_event(c.id, person.id, ParticipationKind.INVITED)
        ]
        if asks_resend
        else []
    )
    return Personal(
        campaigns=campaigns if links or dates or asks_resend else [],
        show_links=links or asks_resend,
        show_dates=dates,
        ambassadors=ambassadors,
        resend=resend,
    )


def resend_payload(campaigns: list[Campaign]) -> str:
    """What the ``faq_resend`` question keeps: the campaigns to send again."""
    return ",".join(str(c.id) for c in campaigns)


def resend(
    uow: UnitOfWork, notifier: Notifier, person: Person, payload: str, now: datetime, day: date
) -> list[Campaign]:
    """Send again the invitations of the campaigns in ``payload`` that are still running; the
    ones already sent again on ``day`` are not (the key holds the day)."""
    sent: list[Campaign] = []
    for raw in payload.split(","):
        campaign = uow.campaigns.get(int(raw)) if raw.isdigit() else None
        if campaign is None or campaign.status != CampaignStatus.RUNNING:
            continue
        if notifier.to_person(
            uow,
            person,
            "invitation",
            key=f"inv:{campaign.id}:{person.id}:again:{day.isoformat()}",
            now=now,
            campaign_id=campaign.id,
            kind="invitation",
            buttons=notifier.agent_buttons(person),
            campaign=campaign,
            person=person,
        ):
            sent.append(campaign)
    return sent
