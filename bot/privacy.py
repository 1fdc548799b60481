"""The confidentiality model, as pure functions (see ``docs/privacy.md``).

One rule decides how every number derived from agents' declarations (started, completed,
stopped, "later", "stop tout") is shown to an ambassador, in any reply, export, chart or digest:

* exact only when the count **and** its complement within the audience are both at least
  ``min_group``;
* otherwise a wording that one person cannot change: "moins de N" (few did it), "presque tous"
  (few did not), or "non communiqué" when the audience is too small for any figure.

Going from one wording to the other always needs at least ``min_group`` people, except at the
edge where a figure becomes exact, which is the threshold itself.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from dataclasses import dataclass

from bot.text import clean_line

MAX_DISPLAY_NAME = 100


class Shown(enum.StrEnum):
    EXACT = "exact"
    FEWER_THAN = "fewer_than"  # fewer than min_group people
    ALMOST_ALL = "almost_all"  # all but fewer than min_group people
    HIDDEN = "hidden"  # the audience is too small for any figure


@dataclass(frozen=True, slots=True)
class Figure:
    """What an ambassador may see of a count: the number itself, or a wording key."""

    shown: Shown
    value: int | None  # only when exact
    audience: int | None  # only when exact (for rates)
    bound: int  # min_group, for the wording

    @property
    def exact(self) -> bool:
        return self.shown is Shown.EXACT

    @property
    def rate(self) -> float | None:
        if self.value is None or not self.audience:
            return None
        return self.value / self.audience

    def as_json(self) -> int | str:
        """Exact numbers stay numbers; anything else is its wording key."""
        return self.value if self.value is not None else f"{self.shown.value}:{self.bound}"

    def as_text(self, fewer: str = "< {n}", almost: str = "> N-{n}", hidden: str = "-") -> str:
        if self.value is not None:
            return str(self.value)
        template = {Shown.FEWER_THAN: fewer, Shown.ALMOST_ALL: almost}.get(self.shown, hidden)
        return template.format(n=self.bound)


def disclose(count: int, audience: int, min_group: int) -> Figure:
    """The one disclosure rule (pure): see the module docstring."""
    if audience < 2 * min_group:
        return Figure(Shown.HIDDEN, None, None, min_group)
    if count < min_group:
        return Figure(Shown.FEWER_THAN, None, None, min_group)
    if audience - count < min_group:
        return Figure(Shown.ALMOST_ALL, None, None, min_group)
    return Figure(Shown.EXACT, count, audience, min_group)


def audience_figure(audience: int, min_group: int) -> Figure:
    """An audience size (chosen by the ambassador, not declared): exact unless tiny."""
    if audience < min_group:
        return Figure(Shown.FEWER_THAN, None, None, min_group)
    return Figure(Shown.EXACT, audience, audience, min_group)


def clean_display_name(name: str | None) -> str | None:
    """Display names come from platforms and files: no controls, no bidi, bounded."""
    if name is None:
        return None
    cleaned = clean_line(name, MAX_DISPLAY_NAME)
    return cleaned or None


def keyed_hash(key: bytes, value: str) -> str:
    """HMAC-SHA-256 of a normalised identifier: pseudonyms and erasure tombstones."""
    normalised = value.strip().lower().encode("utf-8")
    return hmac.new(key, normalised, hashlib.sha256).hexdigest()


def pseudonym(key: bytes, platform_id: str) -> str:
    """What the audit log keeps of an erased person: stable, not reversible without the key."""
    return "erased:" + keyed_hash(key, platform_id)[:16]


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """A spreadsheet cell that cannot run as a formula (CSV injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
