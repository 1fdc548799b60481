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
from bot.translation import gettext as _

pix_app = typer.Typer(
    help="L'API organisations de Pix (MaDDo).", no_args_is_help=True, rich_markup_mode=None
)


def _reasons() -> dict[str, str]:
    return {
        "unknown": _("aucun agent"),
        "outside": _("hors du public de la campagne"),
        "ambiguous": _("adresse partagée par plusieurs agents"),
    }


def _service(cfg: Settings) -> PixSync:
    client = client_from(cfg, SystemClock())
    if client is None:
        raise fail(_("Synchronisation Pix désactivée : [pix] api_url est vide."))
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
        return _("jamais")
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _unmatched(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    if not total:
        return _("aucune participation sans correspondance")
    reasons = _reasons()
    parts = ", ".join(f"{n} {reasons.get(reason, reason)}" for reason, n in sorted(counts.items()))
    return _("{n} participations sans correspondance ({reasons})", n=total, reasons=parts)


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
        raise fail(_("API Pix ({url}) : {error}", url=cfg.pix.api_url, error=error)) from None
    typer.echo(
        _("API Pix : {url} (client {client})", url=cfg.pix.api_url, client=cfg.pix.client_id)
    )
    expiry = _moment(overview.token_expires, tz) if overview.token_expires else _("non indiquée")
    typer.echo(_("Jeton : obtenu (expiration : {expiry})", expiry=expiry))
    typer.echo(_("Organisations visibles : {n}", n=len(overview.organizations)))
    for organization, campaigns in overview.organizations:
        archived = sum(1 for c in campaigns if c.archived)
        typer.echo(
            _(
                "  • {id} {name} : {n} campagnes",
                id=organization.id,
                name=organization.name,
                n=len(campaigns),
            )
            + (_(" (dont {n} archivées)", n=archived) if archived else "")
        )
    typer.echo(
        _("Campagnes pixbot :") if overview.campaigns else _("Aucune campagne pixbot ouverte.")
    )
    for item in overview.campaigns:
        c, link = item.campaign, item.link
        head = f"  • {c.code} ({c.service}, {c.status.value})"
        if link is None:
            typer.echo(
                _("{head} : pas encore liée", head=head)
                + ("" if item.visible else _(" (code absent des campagnes visibles)"))
            )
            continue
        line = _(
            "{head} : campagne Pix {id}, dernière synchronisation {moment}, {unmatched}",
            head=head,
            id=link.pix_campaign_id,
            moment=_moment(link.last_sync_at, tz),
            unmatched=_unmatched(item.unmatched),
        )
        if link.matched_by_name:
            line += _(", {n} rapprochées par le nom seul (à vérifier)", n=link.matched_by_name)
        typer.echo(line)
        if link.last_error:
            typer.echo(
                _(
                    "    dernière erreur ({moment}) : {error}",
                    moment=_moment(link.last_error_at, tz),
                    error=link.last_error,
                )
            )


def describe(report: SyncReport) -> str:
    """One line per campaign: counts only."""
    head = f"{report.code} ({report.service})"
    if report.error is not None:
        return _("{head} : échec — {error}", head=head, error=report.error)
    line = (
        _("{head} : {n} participations lues", head=head, n=report.fetched)
        + (_(" (toutes)") if report.full else "")
        + _(
            ", {completed} terminés, {started} commencés, {unchanged} sans changement",
            completed=report.completed,
            started=report.started,
            unchanged=report.unchanged,
        )
    )
    if report.by_name:
        line += _(", {n} rapprochées par le nom seul (à vérifier)", n=report.by_name)
    if report.unmatched_total:
        line += ", " + _unmatched(report.unmatched)
    if report.erased:
        line += _(", {n} de personnes effacées (ignorées)", n=report.erased)
    if report.skipped:
        line += _(", {n} illisibles (ignorées)", n=report.skipped)
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
            raise fail(_("Code de campagne invalide : {code}", code=repr(code)), 2) from None
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
            _(
                "Aucune campagne lancée avec le code {code} (la synchronisation commence au "
                "lancement).",
                code=code,
            )
            if code
            else _("Aucune campagne en cours à synchroniser.")
        )
    for report in reports:
        typer.echo(describe(report))
    if any(r.error for r in reports):
        raise typer.Exit(1)
