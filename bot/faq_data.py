"""Loading the FAQ's data: the knowledge base files and the shared lexicons."""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

from bot.faq_lexicon import Lexicon

try:  # libyaml is ~10x faster; fall back to the pure-Python loader.
    _YamlLoader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _YamlLoader = yaml.SafeLoader

_LEXICONS: dict[str, Lexicon] = {}


def shared_lexicon(language: str) -> Lexicon:
    """One lexicon per language and process: it is read-only and the largest thing loaded."""
    lexicon = _LEXICONS.get(language)
    if lexicon is None:
        lexicon = _LEXICONS[language] = Lexicon.load(language)
    return lexicon


def load_data(locale: str) -> dict[str, Any]:
    """The raw knowledge base of ``locale`` (for :class:`FaqBase` and the bench)."""
    source = resources.files("bot") / "messages" / "faq" / f"{locale}.yaml"
    data: dict[str, Any] = yaml.load(source.read_text(encoding="utf-8"), Loader=_YamlLoader)
    return data


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_YamlLoader)
