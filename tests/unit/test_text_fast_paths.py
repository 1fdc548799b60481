"""The fast paths of bot/text.py (#14: imports spent most of their time checking cells) keep the
exact meaning of the character-by-character rules they short-cut, for every code point."""

from __future__ import annotations

import sys
import unicodedata

from bot.text import _INVISIBLE, is_clean_id, strip_invisible

REMOVED = {"Cc", "Cf", "Co", "Cs"}


def _reference_strip(text: str) -> str:
    text = text.translate(_INVISIBLE)
    return "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch) not in REMOVED)


def _reference_clean_id(text: str, max_length: int = 255) -> bool:
    return (
        0 < len(text) <= max_length
        and not any(ch.isspace() for ch in text)
        and _reference_strip(text) == text
    )


# The whole Basic Multilingual Plane, and the astral ranges holding format (tags), private-use
# and unassigned characters, plus emoji.
CODE_POINTS = [
    *range(0x10000),
    *range(0x1F300, 0x1F700),
    *range(0xE0000, 0xE0200),
    *range(0xF0000, 0xF0100),
    *range(0x10FF00, sys.maxunicode + 1),
]


def test_every_code_point_is_stripped_as_by_its_category() -> None:
    for code in CODE_POINTS:
        ch = chr(code)
        word = f"a{ch}b"
        assert strip_invisible(word) == _reference_strip(word), hex(code)
        assert is_clean_id(word) == _reference_clean_id(word), hex(code)


def test_common_cells_are_kept_as_they_are() -> None:
    for cell in ("@agent1:agent.tchap.gouv.fr", "Zoé Lefèvre-Ñúñez", "agent.1@Bench.gouv.fr"):
        assert strip_invisible(cell) == cell
    assert strip_invisible("a\u202eb\u200bc\x00d\ne") == "abcd\ne"
    assert not is_clean_id("a\u00a0b")  # a no-break space is a space
    assert not is_clean_id("a\u2028b")
