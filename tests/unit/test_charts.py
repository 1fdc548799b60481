"""The chart renderer (pure): what it draws, and what it refuses to draw."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.charts import (
    COLOURS,
    HATCHES,
    LABEL_KEYS,
    ChartData,
    completed_band,
    curve,
    parse_labels,
    png_size,
    segments,
)
from bot.domain import Campaign, CampaignStatus
from bot.render import LOCALES, Renderer
from bot.services.charts import chart_data, chart_ref, draw, parse_chart_ref
from bot.stats import CampaignStats, Counts, GroupStats

PARIS = ZoneInfo("Europe/Paris")
CAMPAIGN = Campaign(
    id=1,
    code="ABCDEF234",
    title="Cybersécurité",
    parcours=None,
    url="https://app.pix.fr/campagnes/ABCDEF234",
    service="DREAL",
    start_date=date(2026, 11, 23),
    deadline=date(2026, 12, 13),
    event_name="Conférence",
    event_date=date(2026, 12, 10),
    status=CampaignStatus.RUNNING,
    audience_kind="service",
    audience_value="DREAL",
    reminders=None,
    created_by=None,
    created_at=datetime(2026, 11, 23, tzinfo=UTC),
)


def stats(invited: int, started: int, completed: int, opted_out: int) -> CampaignStats:
    counts = Counts(invited, started, completed, opted_out)
    return CampaignStats(GroupStats("total", counts, invited < 5), (), 5)


def luminance(colour: str) -> float:
    red, green, blue = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def test_segments_split_the_invited_without_overlap() -> None:
    parts = segments(stats(40, 10, 20, 5).total)
    assert parts == {
        "completed": 20,
        "started": 10,
        "not_started": 5,
        "undisclosed": 0,
        "opted_out": 5,
    }
    assert sum(parts.values()) == 40


def test_a_count_that_may_not_be_shown_is_not_drawn_either() -> None:
    """The bars follow the disclosure rule: one "stop" among 20 is not a visible sliver; it
    joins those who have not started in one "not disclosed" part."""
    parts = segments(stats(20, 6, 8, 1).total)
    assert parts == {
        "completed": 8,
        "started": 6,
        "not_started": 0,
        "undisclosed": 6,
        "opted_out": 0,
    }
    # The same picture whether that person said "stop" or nothing at all.
    assert segments(stats(20, 6, 8, 0).total) == {**parts, "undisclosed": 6}


def test_colours_stay_apart_in_greyscale() -> None:
    shades = sorted(luminance(c) for key, c in COLOURS.items() if not HATCHES[key])
    assert all(b - a > 0.2 for a, b in itertools.pairwise(shades))
    hatched = [key for key, hatch in HATCHES.items() if hatch]
    assert sorted(hatched) == ["opted_out", "undisclosed"]
    assert HATCHES["opted_out"] != HATCHES["undisclosed"]  # told apart without colour


def test_curve_is_cumulative_and_capped_by_the_completed_count() -> None:
    days = [24] * 5 + [26] * 2 + [27, 30]
    moments = [datetime(2026, 11, d, 10, tzinfo=UTC) for d in days]
    data = chart_data(CAMPAIGN, stats(20, 0, 7, 0), moments, date(2026, 12, 1), PARIS)
    assert list(data.completions) == [(date(2026, 11, 24), 5), (date(2026, 11, 26), 2)]
    assert curve(data) == [
        (date(2026, 11, 23), 0.0),
        (date(2026, 11, 24), 25.0),
        (date(2026, 11, 26), 35.0),
        (date(2026, 12, 1), 35.0),
    ]


def test_curve_points_follow_the_disclosure_rule() -> None:
    """A day whose cumulative count may not be shown exactly (fewer than 5 so far) is folded
    into the next day that may: the curve never shows one person's completion."""
    days = [24, 25, 25, 27, 27, 28]
    moments = [datetime(2026, 11, d, 10, tzinfo=UTC) for d in days]
    data = chart_data(CAMPAIGN, stats(20, 0, 6, 0), moments, date(2026, 12, 1), PARIS)
    assert list(data.completions) == [(date(2026, 11, 27), 5), (date(2026, 11, 28), 1)]


def test_a_small_group_shows_the_band_its_words_imply() -> None:
    """#24: 3 of 12 completed reads "moins de 5 terminés (au plus 34 %)"; the chart draws no
    cumulative line (a 0 % line would contradict the text) but the same band, 0 to 34 %, on the
    bar and on the timeline; with 3 or with 4 the picture is the same."""
    pictures = []
    for completed in (3, 4):
        small = stats(12, 1, completed, 0)
        moments = [datetime(2026, 11, 24, 10, tzinfo=UTC)] * completed
        data = chart_data(CAMPAIGN, small, moments, date(2026, 12, 1), PARIS)
        assert curve(data) == []
        assert completed_band(small.total) == (0.0, 34.0)
        image = draw(Renderer(), CAMPAIGN, small, moments, day=date(2026, 12, 1), locale="fr")
        assert image is not None
        pictures.append(image.data)
    assert pictures[0] == pictures[1]
    # An exact figure has no band; a group in words over 10 with almost all done has one.
    assert completed_band(stats(20, 0, 7, 0).total) is None
    assert completed_band(stats(12, 0, 10, 0).total) == (66.0, 100.0)


def test_nothing_is_drawn_under_the_threshold() -> None:
    assert (
        draw(Renderer(), CAMPAIGN, stats(4, 1, 2, 0), [], day=date(2026, 12, 1), locale="fr")
        is None
    )


@pytest.mark.parametrize("locale", LOCALES)
def test_a_png_with_its_size_and_description(locale: str) -> None:
    moments = [datetime(2026, 11, 25, 10, tzinfo=UTC)]
    image = draw(
        Renderer(), CAMPAIGN, stats(8, 2, 1, 1), moments, day=date(2026, 12, 1), locale=locale
    )
    assert image is not None
    assert image.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert png_size(image.data) == (image.width, image.height)
    assert image.mimetype == "image/png" and image.filename.endswith(".png")
    assert "ABCDEF234" in image.alt and "8" in image.alt


@pytest.mark.parametrize("locale", LOCALES)
def test_every_locale_defines_every_label(locale: str) -> None:
    text = Renderer().render(
        "chart_labels", locale, campaign=CAMPAIGN, stats=stats(8, 1, 1, 1), hidden=2
    )
    assert set(parse_labels(text)) >= set(LABEL_KEYS)


def test_missing_labels_are_an_error() -> None:
    with pytest.raises(ValueError, match="missing"):
        parse_labels("title|x")


def test_chart_references_round_trip() -> None:
    ref = chart_ref(12, date(2026, 11, 23), "fr")
    assert parse_chart_ref(ref) == (12, date(2026, 11, 23), "fr")
    assert parse_chart_ref("chart:x:2026-11-23:fr") is None
    assert parse_chart_ref("other:1:2:3") is None


def test_chart_data_shows_event_and_deadline() -> None:
    data = chart_data(CAMPAIGN, stats(8, 0, 0, 0), [], date(2026, 11, 30), PARIS)
    assert isinstance(data, ChartData)
    assert (data.deadline, data.event_date) == (date(2026, 12, 13), date(2026, 12, 10))
