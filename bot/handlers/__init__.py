"""Conversation handlers, one module per area, merged into one router."""

from __future__ import annotations

from bot.handlers import (
    campaign_edit,
    campaigns,
    dashboard,
    faq,
    help,
    notes,
    participation,
    privacy,
)
from bot.router import Router


def build_router() -> Router:
    router = Router()
    for module in (help, privacy, campaigns, campaign_edit, dashboard, notes, participation, faq):
        router.include(module.router)
    return router
