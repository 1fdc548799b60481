"""Server-side SVG geometry of the participation chart, from the PNG's own data.

The bars and the curve are those of :mod:`bot.charts` (``segments``, ``visible_groups``,
``curve``): a count the rule does not let us show is not drawn (it joins "not disclosed"), a
point of the curve exists only where its cumulative figure may be shown. This module turns
them into coordinates; the template ``_chart.html`` draws them, and the data table beside the
chart gives the same figures in words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.charts import COLOURS, SEGMENTS, ChartData, curve, parse_labels, segments, visible_groups
from bot.domain import StepView
from bot.render import Renderer

WIDTH = 720
BAR_LEFT = 170
BAR_WIDTH = WIDTH - BAR_LEFT - 20
BAR_HEIGHT = 22
BAR_GAP = 12
BARS_TOP = 24
CURVE_LEFT = 56
CURVE_WIDTH = WIDTH - CURVE_LEFT - 20
CURVE_HEIGHT = 200


@dataclass(frozen=True, slots=True)
class Segment:
    name: str
    x: float
    width: float
    colour: str
    count: int


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    y: float
    segments: list[Segment]


@dataclass(frozen=True, slots=True)
class Marker:
    kind: str  # deadline, event, reminder, today
    day: date
    x: float


@dataclass(frozen=True, slots=True)
class Geometry:
    width: int
    bars_top: int
    bars_height: float
    bars: list[Bar]
    curve_top: float
    curve_height: int
    curve_left: int
    curve_width: int
    points: str  # SVG polyline points
    markers: list[Marker]
    ticks: list[tuple[float, int]]  # (y, percent)
    height: float
    start: date
    end: date


def labels(renderer: Renderer, locale: str, **variables: Any) -> dict[str, str]:
    return parse_labels(renderer.render("chart_labels", locale, **variables))


def geometry(data: ChartData, plan: Sequence[StepView], total_label: str) -> Geometry:
    bars = []
    y = 0.0
    for group in visible_groups(data.stats):
        parts = segments(group)
        invited = group.counts.invited or 1
        x = float(BAR_LEFT)
        drawn = []
        for name in SEGMENTS:
            width = BAR_WIDTH * parts[name] / invited
            if parts[name]:
                drawn.append(
                    Segment(name, round(x, 1), round(width, 1), COLOURS[name], parts[name])
                )
            x += width
        label = total_label if group is data.stats.total else group.name
        bars.append(Bar(label, y, drawn))
        y += BAR_HEIGHT + BAR_GAP
    bars_height = y
    # The bars start below their heading (24), the curve below the bars and its own heading.
    curve_top = BARS_TOP + bars_height + 40
    points = curve(data)
    start = points[0][0] if points else (data.start or data.today)
    end = max(d for d in (data.deadline, data.event_date, data.today, start) if d is not None)
    span = max(1, (end - start).days)

    def x_of(day: date) -> float:
        return round(CURVE_LEFT + CURVE_WIDTH * (day - start).days / span, 1)

    def y_of(share: float) -> float:
        return round(curve_top + CURVE_HEIGHT * (1 - share / 100.0), 1)

    # A step curve, as in the PNG: flat until the next day with completions.
    coordinates: list[str] = []
    previous: float | None = None
    for day, share in points:
        if previous is not None:
            coordinates.append(f"{x_of(day)},{y_of(previous)}")
        coordinates.append(f"{x_of(day)},{y_of(share)}")
        previous = share
    markers = [Marker("deadline", data.deadline, x_of(data.deadline))]
    if data.event_date is not None:
        markers.append(Marker("event", data.event_date, x_of(data.event_date)))
    for step in plan:
        if step.kind in ("reminder", "launch", "relance") and start <= step.day <= end:
            markers.append(Marker(step.kind, step.day, x_of(step.day)))
    if start <= data.today <= end:
        markers.append(Marker("today", data.today, x_of(data.today)))
    ticks = [(y_of(share), share) for share in (0, 25, 50, 75, 100)]
    return Geometry(
        WIDTH,
        BARS_TOP,
        bars_height,
        bars,
        curve_top,
        CURVE_HEIGHT,
        CURVE_LEFT,
        CURVE_WIDTH,
        " ".join(coordinates),
        markers,
        ticks,
        curve_top + CURVE_HEIGHT + 40,
        start,
        end,
    )
