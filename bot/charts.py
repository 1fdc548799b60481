"""The participation chart, drawn with matplotlib (pure: data in, PNG bytes out).

Two panels: a stacked bar per group (the whole campaign, then each service) splitting the
invited people into completed / in progress / not started / reminders stopped, and the
completion curve over time (share of the invited who declared the course completed) with the
deadline and the linked event marked. It follows the same rule as the text: nothing is drawn
for a hidden group, and no chart at all when the whole campaign is under the threshold.

The colours differ in lightness as well as hue, and the "stopped" segment is hatched, so the
chart still reads when printed in greyscale. Every word comes from the caller (the
``chart_labels`` template), dates are formatted with babel in the reader's language.

matplotlib is imported inside :func:`render_chart` only (importing it takes about a second),
with the Agg canvas and no pyplot: no global state, so rendering may run in a worker thread.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from babel.dates import format_date
from babel.numbers import format_percent

from bot.core import Image
from bot.stats import CampaignStats, GroupStats

MIMETYPE = "image/png"
DPI = 100
SIZE_INCHES = (11.0, 4.6)
# Dark → light, plus a hatch for the fourth: distinct in greyscale too.
COLOURS = {
    "completed": "#08519c",
    "started": "#6baed6",
    "not_started": "#eeeeee",
    "opted_out": "#a63603",
    "undisclosed": "#bdbdbd",
}
HATCHES = {
    "completed": "",
    "started": "",
    "not_started": "",
    "undisclosed": "...",
    "opted_out": "///",
}
SEGMENTS = ("completed", "started", "not_started", "undisclosed", "opted_out")
DECLARED = ("completed", "started", "opted_out")
# The labels a ``chart_labels`` template must define (one ``key|text`` line each).
LABEL_KEYS = (
    "title",
    "bars_title",
    "curve_title",
    "total",
    "completed",
    "started",
    "not_started",
    "undisclosed",
    "opted_out",
    "share_axis",
    "deadline",
    "event",
    "hidden_note",
    "no_completion",
    "band",
)


@dataclass(frozen=True, slots=True)
class ChartData:
    """What the chart shows; built by :mod:`bot.services.charts` from the database."""

    stats: CampaignStats
    # (local day, completions that day), in day order.
    completions: Sequence[tuple[date, int]]
    start: date | None
    deadline: date
    today: date
    event_name: str | None = None
    event_date: date | None = None


def parse_labels(text: str) -> dict[str, str]:
    """``key|text`` lines (the ``chart_labels`` template) → a dict; other lines are ignored."""
    labels: dict[str, str] = {}
    for line in text.splitlines():
        key, separator, value = line.partition("|")
        if separator:
            labels[key.strip()] = value.strip()
    missing = [key for key in LABEL_KEYS if key not in labels]
    if missing:
        raise ValueError(f"chart labels missing: {', '.join(missing)}")
    return labels


def segments(group: GroupStats) -> dict[str, int]:
    """The invited split into disjoint parts, under the disclosure rule: a declared count is
    drawn only when it may be shown exactly; otherwise it joins "not disclosed" together with
    those who have not started (so no part's size gives a hidden count away)."""
    figures = {name: group.figure(name) for name in DECLARED}
    parts = {name: (f.value or 0) if f.exact else 0 for name, f in figures.items()}
    rest = max(0, group.counts.invited - sum(parts.values()))
    every_figure_exact = all(f.exact for f in figures.values())
    return {
        **parts,
        "not_started": rest if every_figure_exact else 0,
        "undisclosed": 0 if every_figure_exact else rest,
    }


def visible_groups(stats: CampaignStats) -> list[GroupStats]:
    """The total first, then each service whose figures may be shown."""
    if stats.total.hidden:
        return []
    return [stats.total, *(group for group in stats.services if not group.hidden)]


def curve(data: ChartData) -> list[tuple[date, float]]:
    """Cumulative share of the invited who completed, per day (a step per completion day)."""
    invited = data.stats.total.counts.invited
    if not invited:
        return []
    if not data.completions and not data.stats.total.completed.exact:
        return []  # no cumulative count may be drawn: the band says what the words say
    points: list[tuple[date, float]] = []
    done = 0
    start = data.start or (data.completions[0][0] if data.completions else data.today)
    points.append((min(start, data.today), 0.0))
    for day, count in data.completions:
        done += count
        points.append((day, 100.0 * done / invited))
    end = min(data.today, data.deadline)
    # Carried to today only when today's figure is exact; otherwise the band follows.
    if points[-1][0] < end and data.stats.total.completed.exact:
        points.append((end, points[-1][1]))
    return points


def completed_band(group: GroupStats) -> tuple[float, float] | None:
    """The share of completions the published words imply ("moins de 5" of 12: 0 to 34 %),
    in percent, for a figure in words (GroupStats.band); None otherwise."""
    band = group.band("completed")
    return None if band is None else (float(band[0]), float(band[1]))


def render_chart(
    data: ChartData, labels: Mapping[str, str], *, locale: str, alt: str, filename: str
) -> Image | None:
    """The chart as a PNG :class:`Image`; None when the campaign's figures are hidden."""
    groups = visible_groups(data.stats)
    if not groups:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=SIZE_INCHES, dpi=DPI)
    FigureCanvasAgg(figure)
    bars, timeline = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1]})
    figure.suptitle(labels["title"], fontsize=13, fontweight="bold")
    _draw_bars(bars, groups, labels, total=data.stats.total, locale=locale)
    _draw_curve(timeline, data, labels, locale)
    handles, names = bars.get_legend_handles_labels()
    figure.legend(
        handles,
        names,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.045),
        # One row: on two, the legend ran into the bars' axis label.
        ncol=max(1, len(handles)),
        fontsize=9,
        frameon=False,
    )
    if any(group.hidden for group in data.stats.services):
        figure.text(0.01, 0.005, labels["hidden_note"], fontsize=8, style="italic")
    figure.tight_layout(rect=(0, 0.12, 1, 0.94))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    png = buffer.getvalue()
    width, height = png_size(png)
    return Image(png, MIMETYPE, width, height, alt, filename)


def _draw_bars(
    axes: Any,
    groups: list[GroupStats],
    labels: Mapping[str, str],
    *,
    total: GroupStats,
    locale: str,
) -> None:
    names = [
        f"{labels['total'] if group is total else group.name} ({group.counts.invited})"
        for group in groups
    ]
    positions = list(range(len(groups)))[::-1]  # the total on top
    left = [0.0] * len(groups)
    for segment in SEGMENTS:
        shares = [100.0 * segments(g)[segment] / g.counts.invited for g in groups]
        axes.barh(
            positions,
            shares,
            height=0.55,
            left=left,
            color=COLOURS[segment],
            hatch=HATCHES[segment],
            edgecolor="#333333",
            linewidth=0.6,
            label=labels[segment],
        )
        for y, x, share in zip(positions, left, shares, strict=True):
            if share >= 8:
                dark = segment in ("completed", "opted_out")
                axes.text(
                    x + share / 2,
                    y,
                    format_percent(share / 100, locale=locale),
                    ha="center",
                    va="center",
                    fontsize=9,
                    color="white" if dark else "black",
                )
        left = [a + b for a, b in zip(left, shares, strict=True)]
    for y, group in zip(positions, groups, strict=True):
        band = completed_band(group)
        if band is not None:
            _bracket(axes, y, band, f"{labels['completed']} : {_span(band, locale)}")
    axes.set_yticks(positions, names)
    axes.set_ylim(-0.6, len(groups) - 0.4)
    axes.set_xlim(0, 100)
    axes.set_xlabel(labels["share_axis"])
    axes.set_title(labels["bars_title"], fontsize=11)


def _span(band: tuple[float, float], locale: str) -> str:
    low, high = (format_percent(v / 100, locale=locale) for v in band)
    return f"{low} – {high}"


def _bracket(axes: Any, y: float, band: tuple[float, float], text: str) -> None:
    """A figure in words on a bar: the range its words imply, as a bracket above the bar."""
    level = y + 0.36
    axes.plot(band, [level, level], color="#111111", linewidth=1.4, marker="|", markersize=7)
    axes.text(sum(band) / 2, level + 0.04, text, ha="center", va="bottom", fontsize=8)


def _draw_curve(axes: Any, data: ChartData, labels: Mapping[str, str], locale: str) -> None:
    from matplotlib import dates as mdates
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    points = curve(data)
    axes.set_title(labels["curve_title"], fontsize=11)
    axes.set_ylim(0, 100)
    axes.set_ylabel(labels["share_axis"])
    first = points[0][0] if points else min(data.start or data.today, data.today)
    last = max(data.deadline, data.event_date or data.deadline, first + timedelta(days=1))
    axes.set_xlim(
        mdates.date2num(first - timedelta(days=1)), mdates.date2num(last + timedelta(days=1))
    )
    if points and len(points) > 1:
        axes.step(
            [mdates.date2num(day) for day, _ in points],
            [share for _, share in points],
            where="post",
            color=COLOURS["completed"],
            linewidth=2,
            marker="o",
            markersize=4,
            label=labels["completed"],
        )
    else:
        axes.text(
            0.5,
            0.62,
            labels["no_completion"].replace(" : ", " :\n", 1),
            transform=axes.transAxes,
            ha="center",
            fontsize=8,
        )
    band = completed_band(data.stats.total)
    if band is not None:
        since = points[-1][0] if points else first
        until = min(data.today, data.deadline)
        axes.fill_between(
            [mdates.date2num(since), mdates.date2num(max(until, since + timedelta(days=1)))],
            band[0],
            band[1],
            color=COLOURS["completed"],
            alpha=0.25,
            linewidth=0,
        )
        axes.annotate(
            f"{labels['band']} : {_span(band, locale)}",
            (mdates.date2num(since), band[1]),
            xytext=(2, 3),
            textcoords="offset points",
            fontsize=8,
        )
    axes.axvline(mdates.date2num(data.deadline), color="black", linestyle="--", linewidth=1.2)
    axes.annotate(
        f"{labels['deadline']} {format_date(data.deadline, 'd MMM', locale=locale)}",
        (mdates.date2num(data.deadline), 96),
        xytext=(-3, 0),
        textcoords="offset points",
        ha="right",
        va="top",
        fontsize=8,
        rotation=90,
    )
    if data.event_date is not None:
        axes.axvline(
            mdates.date2num(data.event_date), color="#555555", linestyle=":", linewidth=1.5
        )
        axes.annotate(
            f"{labels['event']} {format_date(data.event_date, 'd MMM', locale=locale)}",
            (mdates.date2num(data.event_date), 4),
            xytext=(-3, 0),
            textcoords="offset points",
            ha="right",
            va="bottom",
            fontsize=8,
            rotation=90,
        )
    axes.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    axes.xaxis.set_major_formatter(
        FuncFormatter(
            lambda value, _: format_date(mdates.num2date(value).date(), "d MMM", locale=locale)
        )
    )
    axes.yaxis.set_major_formatter(
        FuncFormatter(lambda value, _: format_percent(value / 100, locale=locale))
    )
    axes.grid(axis="y", color="#dddddd", linewidth=0.6)


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header (IHDR)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)
