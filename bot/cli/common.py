"""What every command shares: the configuration option, settings, the store, errors."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from bot import logs
from bot.config import ConfigError, Settings, load_settings
from bot.text import clean_line
from bot.translation import gettext as _

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Fichier de configuration (défaut : ./pixbot.toml)."),
]


@dataclass
class State:
    config: Path | None = None
    verbose: bool = False
    log_format: str | None = None


state = State()


def fail(message: str, code: int = 1) -> typer.Exit:
    """Say why the command stops (stderr, one JSON object with ``--log-format json``)."""
    if logs.is_json():
        logs.emit(logging.ERROR, message)
    else:
        typer.echo(message, err=True)
    return typer.Exit(code)


def settings(config: Path | None = None, **overrides: Any) -> Settings:
    try:
        return load_settings(config or state.config, **overrides)
    except ConfigError as exc:
        raise fail(
            "\n".join(
                _("Configuration invalide : {error}", error=line) for line in str(exc).splitlines()
            ),
            2,
        ) from None


def now() -> datetime:
    return datetime.now(UTC)


def check_id(platform_id: str) -> str:
    cleaned = clean_line(platform_id, 255)
    if not cleaned or " " in cleaned or cleaned != platform_id.strip():
        raise fail(_("Identifiant invalide : {id}", id=repr(platform_id)), 2)
    return cleaned
