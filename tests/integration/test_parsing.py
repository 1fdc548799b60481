"""The command parser: unit cases and property-based tests (it never crashes)."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.parsing import ParseError, parse_code, parse_create, parse_date, tokenize
from tests.helpers.bot import Bot
from tests.helpers.campaigns import AMB, setup_service

TODAY = date(2026, 11, 23)


@pytest.mark.parametrize(
    ("raw", "code", "standard"),
    [
        ("ABCDEF234", "ABCDEF234", True),
        (" abc def 234 ", "ABCDEF234", True),
        ("abc-def-234", "ABCDEF234", True),
        ("abc123def", "ABC123DEF", False),
    ],
)
def test_codes(raw: str, code: str, standard: bool) -> None:
    parsed = parse_code(raw)
    assert (parsed.code, parsed.standard) == (code, standard)
    assert parsed.url == f"https://app.pix.fr/campagnes/{code}"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "ABC_123",
        "ÉCOLE123",
        "A" * 40,
        "<script>",
        "XYZ",
        "ABCDEF2345",
        # Only case folding: the long s is not an S, full-width letters are not letters.
        "abcdeſ235",
        "ＡＢＣＤＥＦ２３４",
        "ABCDEF２３４",
        # Words are not a code once their spaces are removed.
        "pas un code",
        "mon code ici",
        "abc 123 def",
    ],
)
def test_bad_codes(raw: str) -> None:
    with pytest.raises(ParseError):
        parse_code(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("15/12/2026", date(2026, 12, 15)),
        ("2026-12-15", date(2026, 12, 15)),
        ("5/1/2027", date(2027, 1, 5)),
        ("15-12-2026", date(2026, 12, 15)),
    ],
)
def test_dates(raw: str, expected: date) -> None:
    assert parse_date(raw, TODAY) == expected


@pytest.mark.parametrize("raw", ["31/02/2026", "2026-13-01", "15/13", "demain matin !", ""])
def test_bad_dates(raw: str) -> None:
    with pytest.raises(ParseError):
        parse_date(raw, TODAY)


def test_full_create_with_event_and_audience() -> None:
    request = parse_create(
        "ABCDEF234 « Cyber » avant “Conférence cyber” le 10/12/2026 "
        "pour salon #cyber:agent.gouv.fr",
        TODAY,
    )
    assert request.title == "Cyber"
    assert request.event_name == "Conférence cyber"
    assert request.deadline == request.event_date == date(2026, 12, 10)
    assert request.audience is not None and request.audience.kind == "room"


def test_english_form() -> None:
    request = parse_create('ABCDEF234 "Cyber" until 2026-12-15 for @a:x.fr, @b:x.fr', TODAY)
    assert request.deadline == date(2026, 12, 15)
    assert request.audience is not None and request.audience.ids == ["@a:x.fr", "@b:x.fr"]


@given(st.text(max_size=300))
@settings(max_examples=400)
def test_parser_never_crashes(text: str) -> None:
    try:
        tokenize(text)
        parse_create(text, TODAY)
    except ParseError as error:
        assert error.template.startswith("error_")


words = st.sampled_from(
    [
        "campagne",
        "créer",
        "lancer",
        "fin",
        "avant",
        "le",
        "pour",
        "service",
        "salon",
        "stop",
        "ABCDEF234",
        '"Titre"',
        "«",
        "»",
        "15/12/2026",
        "2026-13-45",
        "@a:x",
        ",",
        "{{",
        "}}",
        "\u202e",
        "@room",
        "fait",
        "tout",
        "J-3",
        "rappels",
    ]
)
commands = st.lists(words | st.text(max_size=12), max_size=12).map(" ".join)


@given(text=commands)
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_bot_never_answers_with_an_internal_error(bot: Bot, text: str) -> None:
    setup_service(bot)  # idempotent
    replies = asyncio.run(bot.say(AMB, text))
    for reply in replies:
        assert "une erreur m'a empêché" not in reply, text
