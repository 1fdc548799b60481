"""``pixbot run`` and ``pixbot db``."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from sqlalchemy.engine import make_url

from bot.cli.common import ConfigOption, fail, open_store, settings

db_app = typer.Typer(help="Base de données.", no_args_is_help=True)


def run(
    platform: Annotated[
        str | None, typer.Option(help="console | matrix | slack (défaut : configuration)")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Lancer le bot (console par défaut, base SQLite ./pixbot.db)."""
    from bot.runner import run_bot

    overrides: dict[str, Any] = {}
    cfg = settings(config)
    if platform is not None:
        if platform not in {"console", "matrix", "slack"}:
            raise fail(f"Plateforme inconnue : {platform} (console, matrix ou slack).", 2)
        cfg.bot.platform = platform  # type: ignore[assignment]
    try:
        code = asyncio.run(run_bot(cfg, **overrides))
    except KeyboardInterrupt:
        code = 0
    raise typer.Exit(code)


# -- db ----------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Créer ou migrer la base de données (Alembic)."""
    cfg = settings(config)
    store = open_store(cfg)
    url = make_url(store.database.url).render_as_string(hide_password=True)
    typer.echo(f"Base à jour : {url}")
