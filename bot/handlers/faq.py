"""Free-text questions: answered from the FAQ knowledge base, or handed to an ambassador."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.app import App


def install(app: App) -> None:
    pass
