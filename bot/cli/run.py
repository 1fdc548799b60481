"""``pixbot run`` and ``pixbot db``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.engine import make_url

from bot import logs
from bot.cli.common import ConfigOption, fail, now, settings, state
from bot.cli.database import announce, check_folder, open_store, shown_url
from bot.cli.progress import progress
from bot.config import ConfigError, Settings, check_platform
from bot.translation import gettext as _

db_app = typer.Typer(help="Base de données.", no_args_is_help=True, rich_markup_mode=None)


def run(
    platform: Annotated[
        str | None, typer.Option(help="console | matrix | slack (défaut : configuration)")
    ] = None,
    config: ConfigOption = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Démonstration : console sur une base jetable, deux services (54 agents "
            "simulés) dont une campagne tourne depuis quelques jours, vous en êtes "
            "l'ambassadeur.",
        ),
    ] = False,
) -> None:
    """Lancer le bot (console par défaut, base SQLite ./pixbot.db)."""
    from bot.runner import run_bot

    overrides: dict[str, Any] = {}
    if platform is not None and platform not in {"console", "matrix", "slack"}:
        raise fail(_("Plateforme inconnue : {name} (console, matrix ou slack).", name=platform), 2)
    cfg = settings(config, **({"bot": {"platform": platform}} if platform and not demo else {}))
    logs.configure("INFO" if state.verbose else cfg.log.level, state.log_format or cfg.log.format)
    if demo:
        overrides.update(_demo_platform(cfg))
    else:
        try:
            check_platform(cfg)
        except ConfigError as error:
            raise fail(_("Configuration invalide : {error}", error=error), 2) from None
    if not demo:
        check_folder(cfg)
        announce(cfg)
    try:
        code = asyncio.run(run_bot(cfg, **overrides))
    except KeyboardInterrupt:
        code = 0
    raise typer.Exit(code)


def _demo_platform(cfg: Settings) -> dict[str, Any]:
    """Point ``cfg`` at a throwaway database, seed it, and return the demo console."""
    from bot.demo import DemoAgents, DemoClock, demo_database, demo_start, introduction, seed
    from bot.platforms.console import ConsolePlatform

    cfg.bot.platform = "console"
    cfg.bot.database_url = demo_database()
    # The deployment's rules: the daily snapshot of docs/privacy.md (over campaigns running
    # for days), the disclosure rule, messages within working hours (on the demo's clock).
    clock = DemoClock(demo_start(cfg, now()))
    database = Path(str(make_url(cfg.bot.database_url).database))
    store = open_store(cfg, create=True)
    try:
        seed(store, clock.start, settings=cfg)
    finally:
        store.close()
    typer.echo(introduction(cfg, database, clock.start))
    console = ConsolePlatform(journal_path=database.with_suffix(".console.jsonl"))
    return {"platform": DemoAgents(console), "clock": clock}


# -- db ----------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Créer ou migrer la base de données (Alembic)."""
    cfg = settings(config)
    store = open_store(cfg, create=True)
    store.close()
    typer.echo(_("Base à jour : {url}", url=shown_url(cfg.bot.database_url)))


@db_app.command("backup")
def db_backup(
    target: Annotated[
        Path,
        typer.Argument(metavar="FICHIER", help="Fichier de sauvegarde (SQLite), créé en 0600."),
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Remplacer le fichier de sauvegarde s'il existe déjà.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Sauvegarde à chaud d'une base SQLite (PostgreSQL : pg_dump, voir docs/deploy-tchap.md)."""
    from storage.backup import BackupError, backup_sqlite

    cfg = settings(config)
    check_folder(cfg)
    announce(cfg)
    try:
        with progress(None, _("Sauvegarde (pages)")) as bar:
            pages = backup_sqlite(cfg.bot.database_url, target, bar.update, overwrite=force)
    except BackupError as error:
        raise fail(
            _(
                "Sauvegarde refusée : {error}",
                error=_(error.template, **error.values),
            ),
            2,
        ) from None
    typer.echo(_("Sauvegarde écrite : {file} ({n} pages)", file=target, n=pages))


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
    typer.echo(
        _(
            "Campagnes terminées depuis plus de {days} jours : {n} ({codes})",
            days=cfg.privacy.retention_days,
            n=len(report.campaigns),
            codes=", ".join(report.campaigns) or _("aucune"),
        )
    )
    counts = {
        "people": report.people,
        "deliveries": report.deliveries,
        "events": report.participation_events,
        "audiences": report.audiences,
    }
    typer.echo(
        _(
            "Seraient supprimés : {people} personnes, {deliveries} messages, {events} "
            "déclarations, {audiences} inscriptions ; les effectifs par campagne et par service "
            "sont conservés.",
            **counts,
        )
        if dry_run
        else _(
            "Supprimés : {people} personnes, {deliveries} messages, {events} déclarations, "
            "{audiences} inscriptions ; les effectifs par campagne et par service sont conservés.",
            **counts,
        )
    )
