"""Pure parsing of ambassador commands: codes, dates, audiences, ``campagne créer`` arguments.

Every error is a :class:`ParseError` carrying a template name and its variables, so the wording
stays in ``bot/messages/``. Nothing here touches storage or the network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from bot.dates import DateError, read_date
from bot.text import clean_line, fold, strip_invisible

MAX_TITLE = 200
# Pix campaign codes are 9 ASCII letters and digits (FAQ-FACTS.md); nothing but case folding
# is applied: "ſ" is not an "S" and full-width letters are not letters of a code.
CODE_LENGTH = 9
CODE_CHARS = re.compile(r"^[A-Z0-9]{9}$")
STANDARD_CODE = re.compile(r"^[A-Z]{6}[0-9]{3}$")
PIX_JOIN_URL = "https://app.pix.fr/campagnes/{code}"
PLATFORM_ID = re.compile(r"^(@[^\s:,]+:[^\s,]+|U[A-Z0-9]{5,})$")
# Aliases and room ids with a server; room version 12 ids are opaque (no ":server").
ROOM_ID = re.compile(r"^(#[^\s:,]+:[^\s,]+|![^\s:,]+(:[^\s,]+)?)$")
DEFAULT_HORIZON_DAYS = 730

_QUOTES = {'"': '"', "«": "»", "“": "”", "„": "“", "'": "'"}


class ParseError(Exception):
    """Bad input: ``template`` names the message to show, ``variables`` fill it."""

    def __init__(self, template: str, **variables: Any) -> None:
        super().__init__(template)
        self.template = template
        self.variables = variables


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    quoted: bool


def tokenize(text: str) -> list[Token]:
    """Split on spaces, keeping "quoted", «quoted» and “quoted” strings whole."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        closing = _QUOTES.get(ch)
        if closing is not None and ch != "'":
            end = text.find(closing, i + 1)
            if end == -1:
                raise ParseError("error_unclosed_quote")
            tokens.append(Token(text[i + 1 : end].strip(), True))
            i = end + 1
            continue
        j = i
        while j < n and not text[j].isspace():
            j += 1
        tokens.append(Token(text[i:j], False))
        i = j
    return tokens


@dataclass(frozen=True, slots=True)
class CampaignCode:
    code: str
    standard: bool

    @property
    def url(self) -> str:
        return PIX_JOIN_URL.format(code=self.code)


def parse_code(raw: str) -> CampaignCode:
    """Pix campaign codes: spaces and dashes removed, ASCII only, then upper case; 9 letters
    and digits."""
    visible = strip_invisible(raw).strip()
    code = re.sub(r"[\s\-]", "", visible)
    if not code:
        raise ParseError("error_code_missing")
    if not code.isascii() or not CODE_CHARS.match(code.upper()):
        raise ParseError("error_code_invalid", code=clean_line(raw, 40))
    code = code.upper()
    standard = bool(STANDARD_CODE.match(code))
    # Separators are a way of typing a Pix code ("ABC DEF 234", "ABC-DEF-234"), not of making one
    # out of words: "pas un code" must not become PASUNCODE.
    if code != visible.upper() and not standard:
        raise ParseError("error_code_invalid", code=clean_line(raw, 40))
    return CampaignCode(code, standard)


def parse_date(raw: str, today: date) -> date:
    """A date as French speakers write it (bot/dates.py), seen from ``today``."""
    try:
        return read_date(raw, today)
    except DateError as error:
        value = clean_line(raw, 30)
        if error.reason == "weekday":
            raise ParseError(
                "error_date_weekday", value=value, day=error.day, weekday=error.weekday
            ) from None
        raise ParseError(f"error_date_{error.reason}", value=value) from None


def _read_date_tokens(tokens: list[Token], index: int, today: date) -> tuple[date, int]:
    """The date written from ``index`` ("15 janvier 2027", "vendredi prochain") up to the next
    keyword or quoted text: the longest run of words that reads as a date, so that a stray
    word after it is reported as such; returns it and the index after it."""
    end = index
    while end < len(tokens) and not tokens[end].quoted:
        if fold(tokens[end].text) in _KEYWORDS and end > index:
            break
        end += 1
    if end == index:
        raise ParseError("error_date_missing")
    first_error: ParseError | None = None
    for stop in range(end, index, -1):
        try:
            return parse_date(" ".join(t.text for t in tokens[index:stop]), today), stop
        except ParseError as error:
            if first_error is None and error.template != "error_date_invalid":
                raise  # read as a date, but vague or self-contradicting: say so
            first_error = first_error or error
    assert first_error is not None
    raise first_error


def clean_title(raw: str) -> str:
    title = clean_line(raw, MAX_TITLE * 4)
    if not title:
        raise ParseError("error_title_missing")
    if len(title) > MAX_TITLE:
        raise ParseError("error_title_too_long", limit=MAX_TITLE)
    return title


@dataclass(frozen=True, slots=True)
class Audience:
    kind: str  # service | room | list
    value: str  # service name, room id, or comma-separated ids

    @property
    def ids(self) -> list[str]:
        return [item for item in self.value.split(",") if item] if self.kind == "list" else []


def parse_audience(tokens: list[Token]) -> Audience:
    if not tokens:
        raise ParseError("error_audience_missing")
    head = fold(tokens[0].text)
    rest = " ".join(t.text for t in tokens[1:]).strip()
    if head == "service":
        name = clean_line(rest, 100)
        if not name:
            raise ParseError("error_audience_missing")
        return Audience("service", name)
    if head in {"salon", "room", "channel", "canal"}:
        room = rest.strip()
        if not ROOM_ID.match(room):
            raise ParseError("error_room_invalid", room=clean_line(room, 80))
        return Audience("room", room)
    ids = [item.strip() for item in " ".join(t.text for t in tokens).split(",")]
    ids = [item for item in ids if item]
    bad = [item for item in ids if not PLATFORM_ID.match(item)]
    if bad or not ids:
        raise ParseError("error_ids_invalid", ids=", ".join(clean_line(b, 60) for b in bad[:5]))
    return Audience("list", ",".join(dict.fromkeys(ids)))


@dataclass(frozen=True, slots=True)
class CreateRequest:
    code: CampaignCode
    title: str
    deadline: date | None
    event_name: str | None = None
    event_date: date | None = None
    audience: Audience | None = None
    parcours: str | None = None
    warnings: tuple[str, ...] = field(default=())


_KEYWORDS = {
    "fin": "deadline",
    "until": "deadline",
    "jusqu'au": "deadline",
    "avant": "event",
    "before": "event",
    "pour": "audience",
    "for": "audience",
    "parcours": "parcours",
}


def parse_create(args: str, today: date, horizon_days: int = DEFAULT_HORIZON_DAYS) -> CreateRequest:
    """``CODE "Titre" [fin JJ/MM/AAAA] [avant "Événement" le JJ/MM/AAAA] [pour AUDIENCE]``.

    Deadlines and events further than ``horizon_days`` away are refused.
    """
    tokens = tokenize(args)
    code_parts: list[str] = []
    index = 0
    while index < len(tokens) and not tokens[index].quoted:
        if fold(tokens[index].text) in _KEYWORDS:
            break
        code_parts.append(tokens[index].text)
        index += 1
    if not code_parts:
        raise ParseError("error_code_missing")
    code = parse_code("".join(code_parts))
    if index >= len(tokens) or not tokens[index].quoted:
        raise ParseError("error_title_missing")
    title = clean_title(tokens[index].text)
    index += 1

    deadline: date | None = None
    event_name: str | None = None
    event_date: date | None = None
    audience: Audience | None = None
    parcours: str | None = None
    seen: set[str] = set()
    while index < len(tokens):
        keyword = _KEYWORDS.get(fold(tokens[index].text))
        if keyword is None or tokens[index].quoted:
            raise ParseError("error_unexpected", word=clean_line(tokens[index].text, 40))
        if keyword in seen:
            raise ParseError("error_repeated", word=clean_line(tokens[index].text, 40))
        seen.add(keyword)
        index += 1
        if keyword == "deadline":
            deadline, index = _read_date_tokens(tokens, index, today)
        elif keyword == "event":
            if index >= len(tokens) or not tokens[index].quoted:
                raise ParseError("error_event_name_missing")
            event_name = clean_title(tokens[index].text)
            index += 1
            if index < len(tokens) and fold(tokens[index].text) in {"le", "on", "du"}:
                index += 1
            event_date, index = _read_date_tokens(tokens, index, today)
        elif keyword == "parcours":
            if index >= len(tokens):
                raise ParseError("error_title_missing")
            parcours = clean_title(tokens[index].text)
            index += 1
        else:  # audience: everything up to the next keyword
            start = index
            while index < len(tokens) and not (
                not tokens[index].quoted
                and _KEYWORDS.get(fold(tokens[index].text)) in {"deadline", "event", "parcours"}
            ):
                index += 1
            audience = parse_audience(tokens[start:index])

    if deadline is None and event_date is None:
        raise ParseError("error_deadline_missing")
    if deadline is None:
        deadline = event_date
    assert deadline is not None
    check_dates(deadline, event_date, today, horizon_days)
    warnings = () if code.standard else ("code_nonstandard",)
    return CreateRequest(
        code=code,
        title=title,
        deadline=deadline,
        event_name=event_name,
        event_date=event_date,
        audience=audience,
        parcours=parcours,
        warnings=warnings,
    )


def check_dates(deadline: date, event_date: date | None, today: date, horizon_days: int) -> None:
    """A deadline (and event) in the future, not too far, the event not after the deadline."""
    if deadline < today:
        raise ParseError("error_date_past", value=deadline)
    horizon = today + timedelta(days=horizon_days)
    for value in (deadline, event_date):
        if value is not None and value > horizon:
            raise ParseError("error_date_too_far", value=value, horizon=horizon)
    if event_date is not None:
        if event_date < today:
            raise ParseError("error_date_past", value=event_date)
        if event_date > deadline:
            raise ParseError("error_event_after_deadline", event=event_date, deadline=deadline)


@dataclass(frozen=True, slots=True)
class EditRequest:
    """``campagne modifier``: what to change (None: unchanged)."""

    deadline: date | None = None
    title: str | None = None
    event_name: str | None = None
    event_date: date | None = None


_EDIT_KEYWORDS = {
    "fin": "deadline",
    "until": "deadline",
    "jusqu'au": "deadline",
    "titre": "title",
    "title": "title",
    "avant": "event",
    "before": "event",
    "evenement": "event",
    "event": "event",
}


def parse_edit(args: str, today: date) -> EditRequest:
    """``fin DATE`` · ``titre "…"`` · ``avant "Événement" le DATE``, one or several."""
    tokens = tokenize(args)
    if not tokens:
        raise ParseError("error_edit_missing")
    values: dict[str, Any] = {}
    index = 0
    while index < len(tokens):
        keyword = _EDIT_KEYWORDS.get(fold(tokens[index].text))
        if keyword is None or tokens[index].quoted:
            raise ParseError("error_edit_unexpected", word=clean_line(tokens[index].text, 40))
        if keyword in values:
            raise ParseError("error_repeated", word=clean_line(tokens[index].text, 40))
        index += 1
        if keyword == "deadline":
            values["deadline"], index = _read_date_tokens(tokens, index, today)
        elif keyword == "title":
            if index >= len(tokens) or not tokens[index].quoted:
                raise ParseError("error_title_missing")
            values["title"] = clean_title(tokens[index].text)
            index += 1
        else:
            if index >= len(tokens) or not tokens[index].quoted:
                raise ParseError("error_event_name_missing")
            values["event_name"] = clean_title(tokens[index].text)
            index += 1
            if index < len(tokens) and fold(tokens[index].text) in {"le", "on", "du"}:
                index += 1
            values["event"] = True
            values["event_date"], index = _read_date_tokens(tokens, index, today)
    values.pop("event", None)
    return EditRequest(**values)


def split_code_arg(args: str) -> tuple[str, str]:
    """First word (a campaign code) and the rest."""
    tokens = args.strip().split(maxsplit=1)
    if not tokens:
        raise ParseError("error_code_missing")
    return tokens[0], tokens[1] if len(tokens) > 1 else ""
