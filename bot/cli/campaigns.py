"""``pixbot campaign …``: the same views as in chat, and the Pix Orga import."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from bot.cli.charts import write_stats_chart
from bot.cli.common import fail, now, settings
from bot.cli.csvio import write_stats_csv
from bot.cli.database import open_store
from bot.cli.progress import progress
from bot.config import Settings
from bot.domain import Campaign, StepView
from bot.text import clean_line
from bot.translation import gettext as _
from bot.translation import language
from storage.uow import UnitOfWork

MAX_LISTED_UNMATCHED = 100

campaign_app = typer.Typer(
    help="Consulter les campagnes.", no_args_is_help=True, rich_markup_mode=None
)


def _iso_day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def campaign_payload(
    uow: UnitOfWork, campaign: Campaign, cfg: Settings, steps: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    stats = _figures(uow, campaign, cfg)
    return {
        "code": campaign.code,
        "title": campaign.title,
        "parcours": campaign.parcours,
        "url": campaign.url,
        "service": campaign.service,
        "status": campaign.status.value,
        "start_date": _iso_day(campaign.start_date),
        "deadline": _iso_day(campaign.deadline),
        "event": (
            {"name": campaign.event_name, "date": _iso_day(campaign.event_date)}
            if campaign.event_name
            else None
        ),
        "audience": {
            "kind": campaign.audience_kind,
            # A list's people are not named here (internal ids only in the database).
            "value": None if campaign.audience_kind == "list" else campaign.audience_value,
            # The audience of the figures (the stored snapshot), as they show it: a live count
            # would move with one person's erasure between two readings of the same day.
            "size": stats.total.counts.invited
            if not stats.total.hidden
            else f"fewer_than:{stats.min_group}",
        },
        "created_at": campaign.created_at.astimezone(ZoneInfo(cfg.bot.timezone)).isoformat(),
        "stats": {
            "min_group": stats.min_group,
            "as_of": stats.as_of.isoformat() if stats.as_of else None,
            "total": stats.total.as_dict(stats.min_group),
            "services": [g.as_dict(stats.min_group) for g in stats.services],
        },
        "steps": steps or [],
    }


def _figures(uow: UnitOfWork, campaign: Campaign, cfg: Settings) -> Any:
    from bot.services.figures import figures

    return figures(
        uow, campaign, cfg.stats.min_group, now(), cfg.stats.refresh, ZoneInfo(cfg.bot.timezone)
    )


def _with_ministry(uow: UnitOfWork, campaign: Campaign, cfg: Settings, stats: Any) -> Any:
    from bot.services.ministry import with_ministry

    tz = ZoneInfo(cfg.bot.timezone)
    return with_ministry(uow, campaign, stats, cfg.stats.min_group, now(), cfg.stats.refresh, tz)


def _ministry_json(stats: Any) -> dict[str, Any] | None:
    """The ministry's line (bot.stats.ministry): published figures only."""
    line = stats.ministry
    if line is None:
        return None
    return {
        "services": line.services,
        "campaigns": line.campaigns,
        "invited": line.invited,
        "completed_rate": [round(line.low, 4), round(line.high, 4)],
        "position": line.position or None,
        "half": line.half or None,
    }


def _find_campaign(uow: UnitOfWork, code: str, service: str | None = None) -> Campaign:
    from bot.parsing import ParseError, parse_code

    try:
        parsed = parse_code(code).code
    except ParseError:
        raise fail(_("Code de campagne invalide : {code}", code=repr(code)), 2) from None
    found = uow.campaigns.with_code(parsed, [service] if service else None)
    if not found:
        raise fail(_("Campagne inconnue : {code}", code=parsed))
    if len(found) > 1:
        services = ", ".join(c.service for c in found)
        raise fail(
            _(
                "Plusieurs services utilisent {code} ({services}) : précisez --service.",
                code=parsed,
                services=services,
            ),
            2,
        )
    return found[0]


ServiceOption = Annotated[
    str | None, typer.Option("--service", help="Le service, quand plusieurs utilisent ce code.")
]


def _plan(cfg: Settings, uow: UnitOfWork, campaign: Campaign) -> list[StepView]:
    """The plan as chat shows it: each line says what happened (or will) and when, manual
    relances included (``campagne relancer``, at the working time they leave)."""
    from scheduler.planning import Planner

    return Planner(cfg).describe(uow, campaign, now())


def _step_json(step: StepView) -> dict[str, Any]:
    return {
        "kind": step.kind,
        "label": step.label,
        "day": step.day.isoformat(),
        "at": step.when.isoformat(),
        "status": step.status,
        # Done, but its messages leave later (outside working hours, queued for the window).
        "pending": step.pending,
    }


@campaign_app.command("list")
def campaign_list(
    as_json: Annotated[
        bool, typer.Option("--json", help="Sortie JSON (pour les scripts).")
    ] = False,
) -> None:
    """Lister les campagnes (statut et participation)."""
    from bot.render import Renderer

    cfg = settings()
    store = open_store(cfg)
    with store.transaction() as uow:
        campaigns = uow.campaigns.search()
        if as_json:
            payload = [campaign_payload(uow, c, cfg) for c in campaigns]
            typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
            return
        rows = [{"campaign": c, "total": _figures(uow, c, cfg).total} for c in campaigns]
        renderer = Renderer(language(), cfg.bot.timezone)
        typer.echo(renderer.render("campaign_list", rows=rows, min_group=cfg.stats.min_group))


@campaign_app.command("show")
def campaign_show(
    code: Annotated[str, typer.Argument(metavar="CODE", help="Code de la campagne Pix.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Sortie JSON (pour les scripts).")
    ] = False,
    service: ServiceOption = None,
) -> None:
    """Détails d'une campagne, calendrier des rappels et participation."""
    from bot.render import Renderer

    cfg = settings()
    store = open_store(cfg)
    with store.transaction() as uow:
        campaign = _find_campaign(uow, code, service)
        steps = _plan(cfg, uow, campaign)
        if as_json:
            payload = campaign_payload(uow, campaign, cfg, [_step_json(s) for s in steps])
            typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
            return
        renderer = Renderer(language(), cfg.bot.timezone)
        typer.echo(
            renderer.render(
                "campaign_show",
                campaign=campaign,
                stats=_figures(uow, campaign, cfg),
                steps=steps,
                pix=uow.pix.link(campaign.id),
            )
        )


@campaign_app.command("stats")
def campaign_stats_cmd(
    code: Annotated[str, typer.Argument(metavar="CODE", help="Code de la campagne Pix.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Sortie JSON (pour les scripts).")
    ] = False,
    csv_file: Annotated[
        Path | None,
        typer.Option("--csv", metavar="FILE", help="Écrire les chiffres dans ce fichier CSV."),
    ] = None,
    chart: Annotated[
        Path | None,
        typer.Option(
            "--chart", metavar="FILE.png", help="Écrire le graphique dans ce fichier PNG."
        ),
    ] = None,
    service: ServiceOption = None,
) -> None:
    """Statistiques (petits groupes masqués) ; export CSV ou graphique PNG."""
    from bot.render import Renderer

    if chart is not None and (chart.suffix.lower() != ".png" or not chart.stem):
        raise fail(_("Le graphique doit être un fichier .png nommé : {file}", file=chart), 2)
    cfg = settings()
    store = open_store(cfg)
    with store.transaction() as uow:
        campaign = _find_campaign(uow, code, service)
        stats = _with_ministry(uow, campaign, cfg, _figures(uow, campaign, cfg))
        steps = _plan(cfg, uow, campaign)
        from bot.services.figures import completion_moments

        completions = completion_moments(uow, campaign, stats)
    if stats.as_of is not None:
        completions = [moment for moment in completions if moment < stats.as_of]
    if csv_file is not None:
        try:
            with progress(1 + len(stats.services), _("Export CSV")) as bar:
                write_stats_csv(csv_file, stats, bar.advance)
        except OSError as exc:
            raise fail(
                _("Impossible d'écrire {file} : {error}.", file=csv_file, error=exc.strerror or exc)
            ) from None
        typer.echo(_("CSV écrit : {file}", file=csv_file), err=as_json)
    if chart is not None:
        if stats.total.hidden:
            raise fail(
                _(
                    "Moins de {n} personnes invitées : pas de graphique (confidentialité).",
                    n=stats.min_group,
                )
            )
        renderer = Renderer(language(), cfg.bot.timezone)
        day = now().astimezone(renderer.timezone).date()
        try:
            write_stats_chart(chart, campaign, stats, completions, renderer, day)
        except OSError as exc:
            raise fail(
                _("Impossible d'écrire {file} : {error}.", file=chart, error=exc.strerror or exc)
            ) from None
        typer.echo(_("Graphique écrit : {file}", file=chart), err=as_json)
    if as_json:
        payload = {
            "code": campaign.code,
            "min_group": stats.min_group,
            "as_of": stats.as_of.isoformat() if stats.as_of else None,
            "total": stats.total.as_dict(stats.min_group),
            "services": [g.as_dict(stats.min_group) for g in stats.services],
            "ministry": _ministry_json(stats),
            "steps": [_step_json(s) for s in steps],
        }
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    elif csv_file is None and chart is None:
        renderer = Renderer(language(), cfg.bot.timezone)
        typer.echo(renderer.render("campaign_stats", campaign=campaign, stats=stats, steps=steps))


@campaign_app.command("import-orga")
def campaign_import_orga(
    code: Annotated[str, typer.Argument(metavar="CODE", help="Code de la campagne Pix.")],
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE.csv", exists=True, dir_okay=False, help="Le fichier CSV à importer."
        ),
    ],
    id_column: Annotated[
        str | None, typer.Option("--id-column", help="Colonne d'identifiant externe.")
    ] = None,
    service: ServiceOption = None,
) -> None:
    """Marquer commencé / terminé depuis un export Pix Orga (jamais de résultat)."""
    from bot.cli.csvio import batched, import_pacing
    from bot.orga import OrgaError, read_export
    from bot.render import Renderer
    from bot.services.orga_import import plan_orga_export, write_orga_events

    # First the whole export is read (as a stream, with caps): a bad line changes nothing.
    try:
        with file.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(read_export(handle, id_column))
    except (OrgaError, OSError, UnicodeDecodeError) as exc:
        raise fail(_("Export illisible : {error}. Rien n'a été modifié.", error=exc)) from None
    count = len(rows)
    cfg = settings()
    store = open_store(cfg)
    # Then it is matched as a whole (reads only: one query on the normalised email), and
    # refused when an email names several agents, before anything is written.
    with store.transaction() as uow:
        campaign = _find_campaign(uow, code, service)
        plan = plan_orga_export(uow, campaign, rows)
    outcome = plan.outcome
    if outcome.ambiguous:
        for line_no, email in outcome.ambiguous[:MAX_LISTED_UNMATCHED]:
            typer.echo(
                _(
                    "ligne {line} : plusieurs agents ont l'adresse {email}",
                    line=line_no,
                    email=clean_line(email, 80),
                ),
                err=True,
            )
        if len(outcome.ambiguous) > MAX_LISTED_UNMATCHED:
            typer.echo(
                _(
                    "… et {n} autres adresses partagées",
                    n=len(outcome.ambiguous) - MAX_LISTED_UNMATCHED,
                ),
                err=True,
            )
        raise fail(_("Import annulé : une adresse doit désigner un seul agent."))
    size, pause = import_pacing(cfg.limits, store)
    with progress(len(plan.events), _("Import Pix Orga")) as bar:
        # Batched transactions: a running bot waits at most one batch for the database.
        for batch in batched(plan.events, size, pause):
            with store.transaction() as uow:
                write_orga_events(uow, campaign, plan, batch, now())
            bar.advance(len(batch))
    with store.transaction() as uow:
        uow.audit.add(
            "cli", "import_orga", now(), campaign.id, count=outcome.completed + outcome.started
        )
    completed, started, unchanged = outcome.completed, outcome.started, outcome.unchanged
    unmatched = [
        (
            _("ligne {line} : aucun agent ({id})", line=line, id=shown)
            if unknown
            else _("ligne {line} : pas dans le public de la campagne ({id})", line=line, id=shown)
        )
        for line, external_id, unknown in outcome.unmatched
        for shown in [clean_line(external_id, 80) or _("vide")]
    ]
    renderer = Renderer(language(), cfg.bot.timezone)
    typer.echo(
        renderer.render(
            "cli_orga_imported",
            lines=count,
            completed=completed,
            started=started,
            unchanged=unchanged,
            unmatched=len(unmatched),
            duplicates=outcome.duplicates,
        )
    )
    for line in unmatched[:MAX_LISTED_UNMATCHED]:
        typer.echo(line)
    if len(unmatched) > MAX_LISTED_UNMATCHED:
        typer.echo(
            _(
                "… et {n} autres lignes sans correspondance.",
                n=len(unmatched) - MAX_LISTED_UNMATCHED,
            )
        )
