"""Agent replies: ``fait``, ``commencé``, ``plus tard``, ``stop``, ``stop tout``, ``reprendre``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.router import Router

if TYPE_CHECKING:
    from bot.app import App

router = Router()


def install(app: App) -> None:
    pass
