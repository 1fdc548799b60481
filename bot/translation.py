"""What operators read — the command line's messages and help, the log sentences — in French,
or in English with ``pixbot --lang en`` or an English locale (LC_ALL, LC_MESSAGES, LANG).

The French text, as written in the code, is the gettext message id; the English is its entry in
the catalogue ``bot/messages/operator/en.po`` (a standard PO file, read with Babel). Messages
with values name them (``gettext("Base à jour : {url}", url=…)``); log calls keep their
``%s`` arguments and are translated as the record is created (:mod:`bot.logs`), so the JSON
format's structure does not change. A test checks that every message id in the code has its
English entry (tests/unit/test_operator_catalogue.py).

The people the bot talks to get their own language through ``bot/messages/<locale>/``
(:mod:`bot.render`); this module is for the operator's terminal and journal only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any

from babel.messages.pofile import read_po

LANGUAGES = ("fr", "en")
CATALOGUE = ("messages", "operator", "en.po")
_language = "fr"


def choose_language(argv: Sequence[str], environ: Mapping[str, str]) -> str:
    """``--lang X`` on the command line, else the locale (LC_ALL, LC_MESSAGES, LANG): English
    for an English locale, French otherwise."""
    for index, arg in enumerate(argv):
        if arg == "--lang" and index + 1 < len(argv):
            return argv[index + 1] if argv[index + 1] in LANGUAGES else "fr"
        if arg.startswith("--lang="):
            value = arg.partition("=")[2]
            return value if value in LANGUAGES else "fr"
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "")
        if value:
            return "en" if value.lower().startswith("en") else "fr"
    return "fr"


def set_language(lang: str) -> None:
    global _language
    _language = lang if lang in LANGUAGES else "fr"


def language() -> str:
    return _language


@cache
def english() -> dict[str, str]:
    """French message id -> English, from the PO catalogue (untranslated entries left out)."""
    path = resources.files("bot").joinpath(*CATALOGUE)
    with path.open("rb") as handle:
        catalogue = read_po(handle, locale="en")
    return {
        str(message.id): str(message.string)
        for message in catalogue
        if message.id and isinstance(message.id, str) and message.string
    }


def translate(text: str) -> str:
    """``text`` (a French message id) in the current language."""
    if _language == "fr" or not text:
        return text
    return english().get(text, text)


def N_(text: str) -> str:
    """Mark ``text`` as a message id without translating it now (gettext_noop): for sentences
    kept in tables and translated where they are shown, with :func:`translate`."""
    return text


def gettext(text: str, /, **values: Any) -> str:
    """The message in the current language, with its named values put in."""
    translated = translate(text)
    return translated.format(**values) if values else translated
