"""The command line's words in French (English with ``--lang en`` or an English locale).

Typer (0.29 and later) vendors Click without gettext, so Click's own messages cannot be
translated by a catalogue at the source: the usage errors and help screens are translated where
they are shown, from ``bot/messages/cli/fr.yaml`` (whole-message patterns, so that a Click
wording we do not know stays English rather than half-translated).

pixbot's own help texts (commands, options, arguments) and messages are French in the code and
English through :mod:`bot.translation`'s catalogue: the help texts of the command being shown are
translated just before Click formats them, the messages where they are written (``gettext``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from importlib import resources
from typing import IO, Any

import yaml
from typer import _click as click_impl

from bot import translation

LANGUAGES = translation.LANGUAGES


@cache
def _catalogue() -> tuple[dict[str, str], list[tuple[re.Pattern[str], str, int]]]:
    text = (resources.files("bot") / "messages" / "cli" / "fr.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    patterns = [
        (re.compile(entry[0], re.S), entry[1], entry[2] if len(entry) > 2 else 0)
        for entry in data["messages"]
    ]
    return dict(data["headings"]), patterns


def choose_language(argv: Sequence[str], environ: Mapping[str, str]) -> str:
    """``--lang X`` on the command line, else the locale (:func:`translation.choose_language`)."""
    return translation.choose_language(argv, environ)


def language() -> str:
    return translation.language()


def message(text: str) -> str:
    """One of Click's messages in the current language."""
    if language() == "en":
        return text
    _headings, patterns = _catalogue()
    for pattern, french, inner in patterns:
        match = pattern.match(text)
        if match is None:
            continue
        if inner:
            # The nested message is translated on its own, then put back in place.
            start, end = match.span(inner)
            text = text[:start] + message(match.group(inner)) + text[end:]
            match = pattern.match(text)
            if match is None:
                return text
        return match.expand(french) + text[match.end() :]
    return text


def screen(text: str) -> str:
    """A help screen or usage line: Click's headings in the current language."""
    if language() == "en":
        return text
    headings, _patterns = _catalogue()
    for english, french in headings.items():
        text = text.replace(english, french)
    return text


def _show_usage_error(self: Any, file: IO[Any] | None = None) -> None:
    lines = []
    if self.ctx is not None:
        lines.append(screen(self.ctx.get_usage()))
        if self.ctx.command.get_help_option(self.ctx) is not None:
            lines.append(screen(f"Try '{self.ctx.command_path} --help' for help."))
    lines.append(screen("Error: ") + message(self.format_message()))
    click_impl.echo("\n".join(lines), file=file, err=file is None)


def _show_error(self: Any, file: IO[Any] | None = None) -> None:
    click_impl.echo(screen("Error: ") + message(self.format_message()), file=file, err=file is None)


def translate_help(command: Any) -> None:
    """pixbot's help texts of ``command``, its parameters and its subcommands in the current
    language (Typer builds the Click commands afresh for every run: changing them is safe)."""
    if language() == "fr":
        return
    for name in ("help", "short_help", "epilog"):
        value = getattr(command, name, None)
        if isinstance(value, str):
            setattr(command, name, translation.translate(value))
    for param in getattr(command, "params", []):
        if isinstance(getattr(param, "help", None), str):
            param.help = translation.translate(param.help)
    for sub in getattr(command, "commands", {}).values():
        translate_help(sub)


def _translated_help(original: Callable[[Any, Any], str]) -> Callable[[Any, Any], str]:
    def get_help(self: Any, ctx: Any) -> str:
        translate_help(self)
        return screen(original(self, ctx))

    get_help.__wrapped__ = original  # type: ignore[attr-defined]
    return get_help


def install(lang: str) -> None:
    """Speak ``lang`` from now on (idempotent)."""
    translation.set_language(lang)
    # Class attributes of Typer's vendored Click, replaced once (setattr: they are methods).
    setattr(click_impl.exceptions.UsageError, "show", _show_usage_error)  # noqa: B010
    setattr(click_impl.exceptions.ClickException, "show", _show_error)  # noqa: B010
    command = click_impl.core.Command
    for name in ("get_help", "get_usage"):
        method = getattr(command, name)
        if not hasattr(method, "__wrapped__"):
            setattr(command, name, _translated_help(method))
