"""The participation chart (matplotlib), written to a PNG file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.domain import Campaign
from bot.stats import CampaignStats


def write_stats_chart(
    path: Path,
    campaign: Campaign,
    stats: CampaignStats,
    completions: list[datetime],
    tz: ZoneInfo,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = stats.total.counts
    figure, (bars, timeline) = plt.subplots(1, 2, figsize=(11, 4.5))
    labels = ["invités", "en cours", "terminés", "rappels arrêtés"]
    values = [counts.invited, counts.started, counts.completed, counts.opted_out]
    bars.bar(labels, values, color=["#9aa5b1", "#f0b429", "#3ebd93", "#e66a6a"])
    bars.set_title(f"{campaign.code} : participation déclarée")
    for x, value in enumerate(values):
        bars.annotate(str(value), (x, value), ha="center", va="bottom")
    days = sorted({moment.astimezone(tz).date() for moment in completions})
    cumulative = [
        sum(1 for moment in completions if moment.astimezone(tz).date() <= day) for day in days
    ]
    if days:
        timeline.step(days, cumulative, where="post", color="#3ebd93")
        timeline.plot(days, cumulative, "o", color="#3ebd93")
    timeline.axvline(campaign.deadline, color="#e66a6a", linestyle="--", label="fin")
    timeline.set_title("Parcours déclarés terminés (cumul)")
    timeline.legend()
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
