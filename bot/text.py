"""Text hygiene: what users type is normalised for matching and cleaned before it is stored."""

from __future__ import annotations

import re
import unicodedata

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

MAX_MESSAGE = 4000


def strip_invisible(text: str) -> str:
    """Remove bidi overrides, zero-width characters and control characters (but newlines)."""
    text = text.translate(_INVISIBLE)
    return "".join(
        ch for ch in text if ch == "\n" or unicodedata.category(ch) not in {"Cc", "Cf", "Co", "Cs"}
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
