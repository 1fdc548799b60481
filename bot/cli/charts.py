"""``--chart FILE.png``: the same participation chart the bot posts in chat, written to a file."""

from __future__ import annotations

import os
from datetime import date, datetime
from pathlib import Path

from bot.domain import Campaign
from bot.render import Renderer
from bot.stats import CampaignStats


def write_stats_chart(
    path: Path,
    campaign: Campaign,
    stats: CampaignStats,
    completions: list[datetime],
    renderer: Renderer,
    day: date,
) -> bool:
    """Write the chart; False when the figures are hidden (nothing is written)."""
    from bot.services.charts import draw

    image = draw(renderer, campaign, stats, completions, day=day, locale=renderer.default_locale)
    if image is None:
        return False
    # Created 0600, like every file pixbot writes (docs/privacy.md).
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
        handle.write(image.data)
    return True
