"""Loading the FAQ's data: the knowledge base files and the shared lexicons."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from bot.faq.lexicon import Lexicon

try:  # libyaml is ~10x faster; fall back to the pure-Python loader.
    _YamlLoader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _YamlLoader = yaml.SafeLoader

_LEXICONS: dict[str, Lexicon] = {}
# One question of the example corpus: its topic id (None: off-topic) and its analysed tokens.
Example = tuple[str | None, tuple[str, ...]]


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


def load_overrides(
    path: Path | None,
) -> tuple[Mapping[str, str], Mapping[str, Mapping[str, str]]]:
    """A deployment's overrides: ``answers: {topic: text}``, ``services: {S: {topic: text}}``."""
    if path is None:
        return {}, {}
    extra = load_yaml(path.read_text(encoding="utf-8")) or {}
    return extra.get("answers") or {}, extra.get("services") or {}


def checked_overrides(
    answers: Mapping[str, str],
    services: Mapping[str, Mapping[str, str]],
    topics: Collection[str],
) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """A deployment's overrides, stripped; an unknown topic id raises ``ValueError``."""
    places = [(topic_id, "answers") for topic_id in answers] + [
        (topic_id, f"services.{service}")
        for service, per_topic in services.items()
        for topic_id in per_topic
    ]
    for topic_id, where in places:
        if topic_id not in topics:
            raise ValueError(f"unknown FAQ topic id {topic_id!r} in overrides ({where})")
    return {topic_id: str(text).strip() for topic_id, text in answers.items()}, {
        str(service): {topic_id: str(text).strip() for topic_id, text in per_topic.items()}
        for service, per_topic in services.items()
    }


def load_examples(locale: str) -> list[Example]:
    """The example corpus of ``locale``, analysed at build time (see ``faqbuild/corpus.py``):
    ``examples_{locale}.tsv``, one question a line (topic id or ``-``, tokens, question)."""
    source = resources.files("bot") / "messages" / "faq" / f"examples_{locale}.tsv"
    if not source.is_file():
        return []
    examples: list[Example] = []
    for line in source.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        label, tokens, *_ = line.split("\t")
        examples.append((None if label == "-" else label, tuple(tokens.split())))
    return examples
