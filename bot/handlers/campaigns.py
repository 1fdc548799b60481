"""Ambassador commands: ``campagne créer|lancer|liste|voir|relancer|rappels|stats|clore``…"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bot.router import Router
from storage.repo import DeliveryStatus, UnitOfWork

if TYPE_CHECKING:
    from bot.app import App

router = Router()
router.family("campagne", "campaign", "campagnes", "campaigns", help_key="campaign")


def batch_report(
    app: App,
    uow: UnitOfWork,
    batch: str,
    counts: dict[DeliveryStatus, int],
    now: datetime,
    *,
    final: bool,
) -> None:
    """Progress or summary of a batch send, to whoever started it."""


def install(app: App) -> None:
    pass
