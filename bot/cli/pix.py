"""``pixbot pix …``: Pix's organisation API (MaDDo), for operators.

``status`` shows that a token is obtained, what Pix lets this client see, and where each
campaign's sync stands; ``sync`` runs the same sync as the scheduler, now. Counts only: no
participant is ever named (an unmatched participation is a number of them, by reason).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from bot.cli.common import fail, settings
from bot.cli.database import open_store
from bot.config import Settings
from bot.core import SystemClock
from bot.pix.client import PixError
from bot.services.pix_apply import SyncReport
from bot.services.pix_sync import Overview, PixSync, client_from

pix_app = typer.Typer(help="L'API organisations de Pix (MaDDo).", no_args_is_help=True)

REASONS = {
    "unknown": "aucun agent",
    "outside": "hors du public de la campagne",
    "ambiguous": "adresse partagée par plusieurs agents",
}


def _service(cfg: Settings) -> PixSync:
    client = client_from(cfg, SystemClock())
    if client is None:
        raise fail("Synchronisation Pix désactivée : [pix] api_url est vide.")
    store = open_store(cfg)
    return PixSync(
        client,
        store,
        SystemClock(),
        overlap=timedelta(minutes=cfg.pix.overlap_minutes),
        tz=ZoneInfo(cfg.bot.timezone),
    )


def _moment(value: object, tz: ZoneInfo) -> str:
    if not isinstance(value, datetime):
        return "jamais"
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _unmatched(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    if not total:
        return "aucune participation sans correspondance"
    parts = ", ".join(f"{n} {REASONS.get(reason, reason)}" for reason, n in sorted(counts.items()))
    return f"{total} participations sans correspondance ({parts})"


@pix_app.command("status")
def status() -> None:
    """Jeton, organisations et campagnes visibles, état de la synchronisation."""
    cfg = settings()
    service = _service(cfg)
    tz = ZoneInfo(cfg.bot.timezone)

    async def look() -> Overview:
        try:
            return await service.overview()
        finally:
            await service.close()

    try:
        overview = asyncio.run(look())
    except PixError as error:
        raise fail(f"API Pix ({cfg.pix.api_url}) : {error}") from None
    typer.echo(f"API Pix : {cfg.pix.api_url} (client {cfg.pix.client_id})")
    expiry = _moment(overview.token_expires, tz) if overview.token_expires else "non indiquée"
    typer.echo(f"Jeton : obtenu (expiration : {expiry})")
    typer.echo(f"Organisations visibles : {len(overview.organizations)}")
    for organization, campaigns in overview.organizations:
        archived = sum(1 for c in campaigns if c.archived)
        typer.echo(
            f"  • {organization.id} {organization.name} : {len(campaigns)} campagnes"
            + (f" (dont {archived} archivées)" if archived else "")
        )
    typer.echo("Campagnes pixbot :" if overview.campaigns else "Aucune campagne pixbot ouverte.")
    for item in overview.campaigns:
        c, link = item.campaign, item.link
        head = f"  • {c.code} ({c.service}, {c.status.value})"
        if link is None:
            typer.echo(
                f"{head} : pas encore liée"
                + ("" if item.visible else " (code absent des campagnes visibles)")
            )
            continue
        line = (
            f"{head} : campagne Pix {link.pix_campaign_id}, dernière synchronisation "
            f"{_moment(link.last_sync_at, tz)}, {_unmatched(item.unmatched)}"
        )
        if link.matched_by_name:
            line += f", {link.matched_by_name} rapprochées par le nom seul (à vérifier)"
        typer.echo(line)
        if link.last_error:
            typer.echo(
                f"    dernière erreur ({_moment(link.last_error_at, tz)}) : {link.last_error}"
            )


def describe(report: SyncReport) -> str:
    """One line per campaign: counts only."""
    head = f"{report.code} ({report.service})"
    if report.error is not None:
        return f"{head} : échec — {report.error}"
    line = (
        f"{head} : {report.fetched} participations lues"
        + (" (toutes)" if report.full else "")
        + f", {report.completed} terminés, {report.started} commencés, "
        f"{report.unchanged} sans changement"
    )
    if report.by_name:
        line += f", {report.by_name} rapprochées par le nom seul (à vérifier)"
    if report.unmatched_total:
        line += ", " + _unmatched(report.unmatched)
    if report.erased:
        line += f", {report.erased} de personnes effacées (ignorées)"
    if report.skipped:
        line += f", {report.skipped} illisibles (ignorées)"
    return line + "."


@pix_app.command("sync")
def sync(
    code: Annotated[
        str | None, typer.Argument(metavar="[CODE]", help="Une seule campagne (défaut : toutes).")
    ] = None,
    service_name: Annotated[
        str | None, typer.Option("--service", help="Le service, quand plusieurs ont ce code.")
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Tout relire depuis le début (après un import d'agents).")
    ] = False,
) -> None:
    """Synchroniser maintenant les participations (campagnes en cours, ou CODE)."""
    from bot.parsing import ParseError, parse_code

    if code is not None:
        try:
            code = parse_code(code).code
        except ParseError:
            raise fail(f"Code de campagne invalide : {code!r}", 2) from None
    cfg = settings()
    service = _service(cfg)

    async def run() -> list[SyncReport]:
        try:
            return await service.sync(code, service_name, full=full)
        finally:
            await service.close()

    reports = asyncio.run(run())
    if not reports:
        raise fail(
            f"Aucune campagne lancée avec le code {code} (la synchronisation commence au"
            " lancement)."
            if code
            else "Aucune campagne en cours à synchroniser."
        )
    for report in reports:
        typer.echo(describe(report))
    if any(r.error for r in reports):
        raise typer.Exit(1)
