"""Which campaign an agent's reply is about ("fait", "commencé", "plus tard", "stop",
"reprendre", a 👍): the one named, else the one replied to, else the only one the reply would
change (the rule of :func:`bot.services.declare.campaigns_changed_by`); with several, the
agent is asked which (``bot/handlers/participation.py`` says what these return).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.domain import Campaign, CampaignStatus, Person
from bot.services.declare import campaigns_changed_by
from storage.uow import UnitOfWork


class MeantOutcome(StrEnum):
    FOUND = "found"
    # A code none of the agent's running campaigns has.
    UNKNOWN_CODE = "unknown_code"
    # The agent has running campaigns, and the reply would change none of them.
    NOTHING_TO_DO = "nothing_to_do"
    NO_CAMPAIGN = "no_campaign"
    # Several campaigns the reply would change: ask which.
    WHICH = "which"


@dataclass(frozen=True, slots=True)
class Meant:
    outcome: MeantOutcome
    campaign: Campaign | None = None
    # UNKNOWN_CODE, NOTHING_TO_DO: the agent's running campaigns; WHICH: those to choose from.
    campaigns: list[Campaign] = field(default_factory=list)


def campaign_meant(
    uow: UnitOfWork, person: Person, action: str, code: str, replied_to: str | None
) -> Meant:
    """The running campaign ``person`` means by ``action``: ``code`` (the reply's first word
    read as a code, or ""), else the campaign of the message ``replied_to`` (its remote id),
    else the only one ``action`` would change."""
    mine = uow.campaigns.campaigns_of(person.id, statuses=(CampaignStatus.RUNNING,))
    for campaign in mine:
        if code and campaign.code == code:
            return Meant(MeantOutcome.FOUND, campaign)
    # "c'est fait merci": only a word with a digit is taken for a (wrong) code.
    if any(ch.isdigit() for ch in code):
        return Meant(MeantOutcome.UNKNOWN_CODE, campaigns=mine)
    if replied_to:
        delivery = uow.outbox.by_remote_id(replied_to)
        if delivery is not None and delivery.campaign_id is not None:
            for campaign in mine:
                if campaign.id == delivery.campaign_id:
                    return Meant(MeantOutcome.FOUND, campaign)
    candidates = campaigns_changed_by(uow, person, action, mine)
    if len(candidates) == 1:
        return Meant(MeantOutcome.FOUND, candidates[0])
    if not candidates:
        if mine:
            return Meant(MeantOutcome.NOTHING_TO_DO, campaigns=mine)
        return Meant(MeantOutcome.NO_CAMPAIGN)
    return Meant(MeantOutcome.WHICH, campaigns=candidates)


def own_campaign(uow: UnitOfWork, person: Person, code: str) -> Campaign | None:
    """``person``'s campaign ``code``, whatever its status (the answer to "which one?")."""
    return next((c for c in uow.campaigns.campaigns_of(person.id) if c.code == code), None)


def campaign_reacted_to(uow: UnitOfWork, person: Person, replied_to: str) -> Campaign | None:
    """The running campaign of ``person``'s own invitation or reminder ``replied_to`` (its
    remote id); None for anything else (a reaction to another person's message says nothing)."""
    delivery = uow.outbox.by_remote_id(replied_to)
    if delivery is None or delivery.campaign_id is None or delivery.person_id != person.id:
        return None
    campaign = uow.campaigns.get(delivery.campaign_id)
    return campaign if campaign is not None and campaign.status == CampaignStatus.RUNNING else None
