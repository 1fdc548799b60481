"""Conversation handlers, one module per area, merged into one router."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.router import Router

if TYPE_CHECKING:
    from bot.app import App


def build_router() -> Router:
    from bot.handlers import campaigns, faq, help, participation, privacy

    router = Router()
    for module in (help, privacy, campaigns, participation, faq):
        router.include(module.router)
    return router


def install(app: App) -> None:
    """Wire the non-command parts of the handlers: prompt answers, reactions, the FAQ."""
    from bot.handlers import campaigns, faq, participation, privacy

    for module in (privacy, campaigns, participation, faq):
        module.install(app)
