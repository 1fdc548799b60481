"""The participation chart (matplotlib), written to a PNG file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.cli.csvio import figure_cell
from bot.domain import Campaign
from bot.privacy import disclose
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

    total = stats.total
    figure, (bars, timeline) = plt.subplots(1, 2, figsize=(11, 4.5))
    labels = ["invités", "en cours", "terminés", "rappels arrêtés"]
    # Only exact figures are drawn; the others are written in words (confidentiality rule).
    shown = [total.started, total.completed, total.opted_out]
    values = [total.counts.invited, *(f.value or 0 for f in shown)]
    texts = [str(total.counts.invited), *(figure_cell(f) for f in shown)]
    bars.bar(labels, values, color=["#9aa5b1", "#f0b429", "#3ebd93", "#e66a6a"])
    bars.set_title(f"{campaign.code} : participation déclarée")
    for x, (value, text) in enumerate(zip(values, texts, strict=True)):
        bars.annotate(str(text), (x, value), ha="center", va="bottom")
    days = sorted({moment.astimezone(tz).date() for moment in completions})
    audience = total.counts.invited
    cumulative = []
    for day in days:
        done = sum(1 for moment in completions if moment.astimezone(tz).date() <= day)
        cumulative.append(disclose(done, audience, stats.min_group).value)
    # A day whose cumulative figure is not exact is left out of the timeline.
    points = [(d, c) for d, c in zip(days, cumulative, strict=True) if c is not None]
    days, cumulative = [d for d, _ in points], [c for _, c in points]
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
