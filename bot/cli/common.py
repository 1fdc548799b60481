"""What every command shares: the configuration option, settings, the store, errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.config import ConfigError, Settings, load_settings
from bot.runner import store_for
from bot.text import clean_line
from storage.uow import Store

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
    typer.echo(message, err=True)
    return typer.Exit(code)


def settings(config: Path | None = None, **overrides: Any) -> Settings:
    try:
        return load_settings(config or state.config, **overrides)
    except ConfigError as exc:
        raise fail(f"Configuration invalide : {exc}", 2) from None


def open_store(cfg: Settings, upgrade: bool = True) -> Store:
    """The database, or one French line and exit code 2 when it cannot be opened."""
    try:
        store = store_for(cfg)
        if upgrade:
            store.upgrade()
    except Exception as exc:  # malformed URL, unknown driver, unreachable server, bad file
        raise fail(
            f"Base de données inaccessible ({type(exc).__name__}) : vérifiez bot.database_url.",
            2,
        ) from None
    return store


def now() -> datetime:
    return datetime.now(UTC)


def check_id(platform_id: str) -> str:
    cleaned = clean_line(platform_id, 255)
    if not cleaned or " " in cleaned or cleaned != platform_id.strip():
        raise fail(f"Identifiant invalide : {platform_id!r}", 2)
    return cleaned
