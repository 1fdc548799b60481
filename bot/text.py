"""Text hygiene: what users type is normalised for matching and cleaned before it is stored."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from zoneinfo import available_timezones

# Bidirectional controls (Trojan Source), zero-width characters and the BOM.
_INVISIBLE = dict.fromkeys(
    [
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
        0x200B,
        0x200C,
        0x200D,
        0x200E,
        0x200F,
        0x061C,
        0x2060,
        0xFEFF,
    ]
)
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "ʼ": "'", "´": "'"})
_SPACES = re.compile(r"\s+")
# One whitespace character: the same set as ``str.isspace`` (Unicode), searched in C.
_SPACE = re.compile(r"\s")

MAX_MESSAGE = 4000


def strip_invisible(text: str) -> str:
    """Remove bidi overrides, zero-width characters and control characters (but newlines)."""
    if text.isprintable():
        # Nothing to remove: every character of Cc, Cf, Co and Cs (the invisible ones above
        # are all Cf) is non-printable for Python. The common case, checked in C.
        return text
    text = text.translate(_INVISIBLE)
    return "".join(
        ch for ch in text if ch == "\n" or unicodedata.category(ch) not in {"Cc", "Cf", "Co", "Cs"}
    )


def clean_message(text: str) -> str:
    """What a person typed, as the bot reads it: the one place inbound text is cleaned.

    NUL and other control characters, bidi overrides and zero-width characters are removed
    (tabs become spaces, CR/LF become newlines); lone surrogates cannot survive either.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    return strip_invisible(text)


def is_clean_id(text: str, max_length: int = 255) -> bool:
    """A platform id, an email or a CSV key: printable, no space, no invisible character."""
    return (
        0 < len(text) <= max_length
        and _SPACE.search(text) is None
        and strip_invisible(text) == text
    )


def clean_line(text: str, max_length: int) -> str:
    """A single line of user text safe to store and show: no controls, no bidi, bounded."""
    text = _SPACES.sub(" ", strip_invisible(text)).strip()
    return text[:max_length].rstrip()


def fold(text: str) -> str:
    """Lower case, no accents, straight apostrophes, single spaces: for matching only."""
    text = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES).lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return _SPACES.sub(" ", strip_invisible(text)).strip()


def is_yes(text: str) -> bool:
    return fold(text).strip(" .!") in {"oui", "yes", "o", "y", "ok", "d'accord", "confirme"}


def is_no(text: str) -> bool:
    return fold(text).strip(" .!") in {"non", "no", "n", "annuler", "cancel"}


# Names in the IANA database that are not places: "Factory" (a placeholder), "localtime"
# (the host's setting), "posixrules"; "right/…" and "posix/…" are variants of real zones.
_NOT_ZONES = frozenset({"Factory", "localtime", "posixrules"})


@lru_cache(maxsize=1)
def _canonical_timezones() -> frozenset[str]:
    return frozenset(
        name
        for name in available_timezones()
        if name not in _NOT_ZONES and not name.startswith(("right/", "posix/"))
    )


def is_canonical_timezone(name: str) -> bool:
    """A time zone from the IANA list, spelled as listed (``Europe/Paris``, ``UTC``)."""
    return name in _canonical_timezones()


def split_message(text: str, limit: int) -> list[str]:
    """A reply too long for the platform, as numbered parts ("(1/3) …") of at most ``limit``
    characters each, cut at line ends where possible, else at spaces."""
    if len(text) <= limit:
        return [text]
    room = max(limit - 12, 1)  # "(99/99) " and a margin
    pieces: list[str] = []
    rest = text
    while rest:
        if len(rest) <= room:
            pieces.append(rest)
            break
        cut = rest.rfind("\n", 0, room + 1)
        if cut < room // 2:
            cut = rest.rfind(" ", 0, room + 1)
        if cut < room // 2:
            cut = room
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n ")
    total = len(pieces)
    return [f"({index}/{total}) {piece}" for index, piece in enumerate(pieces, start=1)]
