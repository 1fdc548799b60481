"""Every sentence an operator reads has its English entry (issue #30): the command line's help
texts, its messages (``gettext``) and the log sentences are French in the code and English in
``bot/messages/operator/en.po``; a sentence added without its translation fails here."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from typer.main import get_command

from bot import translation
from bot.cli import app

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("bot", "scheduler", "storage")
LOG_METHODS = {"info", "warning", "error", "exception", "critical"}
LOGGERS = {"logger", "log", "_log", "LOG"}


def help_texts() -> Iterator[tuple[str, str]]:
    def walk(command: object, path: str) -> Iterator[tuple[str, str]]:
        for name in ("help", "short_help", "epilog"):
            value = getattr(command, name, None)
            if isinstance(value, str) and value:
                yield path, value
        for param in getattr(command, "params", []):
            if getattr(param, "help", None):
                yield f"{path} {param.name}", param.help
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, f"{path} {name}")

    yield from walk(get_command(app), "pixbot")


def source_messages() -> Iterator[tuple[str, str, str]]:
    """(kind, where, text): ``gettext``/``_`` calls and log calls with a literal message."""
    for folder in SOURCES:
        for path in sorted((REPO / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                first = node.args[0]
                if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                    continue
                where = f"{path.relative_to(REPO)}:{node.lineno}"
                func = node.func
                if isinstance(func, ast.Name) and func.id in {"_", "gettext", "N_"}:
                    yield "message", where, first.value
                elif (
                    isinstance(func, ast.Attribute)
                    and func.attr in LOG_METHODS
                    and isinstance(func.value, ast.Name)
                    and func.value.id in LOGGERS
                    and first.value.strip("%s ")
                ):
                    yield "log", where, first.value


def test_every_help_text_has_its_english_entry() -> None:
    english = translation.english()
    missing = [f"{where}: {text!r}" for where, text in help_texts() if text not in english]
    assert missing == []


def test_every_message_and_log_sentence_has_its_english_entry() -> None:
    english = translation.english()
    missing = [
        f"{kind} {where}: {text!r}"
        for kind, where, text in source_messages()
        if text not in english
    ]
    assert missing == []


def test_log_sentences_are_french_in_the_code() -> None:
    """A log sentence whose English entry is itself was left in English."""
    english = translation.english()
    untranslated = [
        f"{where}: {text!r}"
        for kind, where, text in source_messages()
        if kind == "log" and english.get(text) == text
    ]
    assert untranslated == []


def test_values_survive_translation() -> None:
    """The English keeps the French's placeholders (a missing one would raise at run time)."""
    import re

    fields = re.compile(r"\{[a-z_]*\}|%[-0-9.]*[sdrf]")
    wrong = [
        (french, text)
        for french, text in translation.english().items()
        if sorted(fields.findall(french)) != sorted(fields.findall(text))
    ]
    assert wrong == []


def test_the_catalogue_translates_in_english_only() -> None:
    french = "Base à jour : {url}"
    assert french in translation.english()
    try:
        translation.set_language("en")
        assert translation.gettext(french, url="sqlite://") == "Database up to date: sqlite://"
        translation.set_language("fr")
        assert translation.gettext(french, url="sqlite://") == "Base à jour : sqlite://"
    finally:
        translation.set_language("fr")
