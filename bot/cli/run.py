"""``pixbot run`` and ``pixbot db``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.engine import make_url

from bot import logs
from bot.cli.common import ConfigOption, fail, now, open_store, settings, state

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
    if state.log_format not in {None, "text", "json"}:
        raise fail("--log-format : text ou json.", 2)
    logs.configure("INFO" if state.verbose else cfg.log.level, state.log_format or cfg.log.format)
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


@db_app.command("backup")
def db_backup(
    target: Annotated[Path, typer.Argument(help="Fichier de sauvegarde (SQLite).")],
    config: ConfigOption = None,
) -> None:
    """Sauvegarde à chaud d'une base SQLite (PostgreSQL : pg_dump, voir docs/deploy-tchap.md)."""
    from storage.backup import BackupError, backup_sqlite

    cfg = settings(config)
    try:
        pages = backup_sqlite(cfg.bot.database_url, target)
    except BackupError as error:
        raise fail(str(error), 2) from None
    typer.echo(f"Sauvegarde écrite : {target} ({pages} pages)")


def purge(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Montrer ce qui serait supprimé, sans supprimer.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Appliquer la politique de conservation ([privacy] retention_days) maintenant."""
    from bot.services.retention import purge as apply_retention

    cfg = settings(config)
    store = open_store(cfg)
    try:
        report = apply_retention(store, now(), cfg.privacy.retention_days, dry_run=dry_run)
    finally:
        store.close()
    verb = "seraient supprimés" if dry_run else "supprimés"
    typer.echo(
        f"Campagnes terminées depuis plus de {cfg.privacy.retention_days} jours : "
        f"{len(report.campaigns)} ({', '.join(report.campaigns) or 'aucune'})"
    )
    typer.echo(
        f"{verb} : {report.people} personnes, {report.deliveries} messages, "
        f"{report.participation_events} déclarations, {report.audiences} inscriptions ; "
        "les effectifs par campagne et par service sont conservés."
    )
