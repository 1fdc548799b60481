"""The ``pixbot`` command line (typer). Names follow COMMANDS.md exactly."""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from sqlalchemy.engine import make_url

from bot.config import ConfigError, Settings, load_settings
from bot.stats import CampaignStats
from bot.text import clean_line
from storage.repo import Campaign, Store, UnitOfWork

app = typer.Typer(
    help="pixbot : le bot des campagnes Pix (Tchap, Slack, console).",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Base de données.", no_args_is_help=True)
ambassador_app = typer.Typer(help="Gérer les ambassadeurs.", no_args_is_help=True)
admin_app = typer.Typer(help="Gérer les administrateurs.", no_args_is_help=True)
agents_app = typer.Typer(help="Gérer les agents.", no_args_is_help=True)
campaign_app = typer.Typer(help="Consulter les campagnes.", no_args_is_help=True)
faq_app = typer.Typer(help="La FAQ.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(ambassador_app, name="ambassador")
app.add_typer(admin_app, name="admin")
app.add_typer(agents_app, name="agents")
app.add_typer(campaign_app, name="campaign")
app.add_typer(faq_app, name="faq")
matrix_app = typer.Typer(help="Le compte Matrix (Tchap) du bot.", no_args_is_help=True)
app.add_typer(matrix_app, name="matrix")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Fichier de configuration (défaut : ./pixbot.toml)."),
]


@dataclass
class State:
    config: Path | None = None


state = State()


@app.callback()
def root(config: ConfigOption = None, verbose: bool = False) -> None:
    """pixbot : le bot des campagnes Pix."""
    state.config = config
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def settings(config: Path | None = None, **overrides: Any) -> Settings:
    try:
        return load_settings(config or state.config, **overrides)
    except ConfigError as exc:
        raise fail(f"Configuration invalide : {exc}", 2) from None


def open_store(cfg: Settings, upgrade: bool = True) -> Store:
    store = Store.from_url(cfg.bot.database_url)
    if upgrade:
        store.upgrade()
    return store


def now() -> datetime:
    return datetime.now(UTC)


# -- run ---------------------------------------------------------------------------------------


@app.command()
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


# -- roles -------------------------------------------------------------------------------------


def _check_id(platform_id: str) -> str:
    cleaned = clean_line(platform_id, 255)
    if not cleaned or " " in cleaned or cleaned != platform_id.strip():
        raise fail(f"Identifiant invalide : {platform_id!r}", 2)
    return cleaned


@ambassador_app.command("add")
def ambassador_add(
    platform_id: Annotated[str, typer.Argument(metavar="ID")],
    service: Annotated[str, typer.Option("--service", help="Service de l'ambassadeur.")],
    display_name: Annotated[str | None, typer.Option("--name")] = None,
) -> None:
    """Nommer un ambassadeur pour un service."""
    pid = _check_id(platform_id)
    service_name = clean_line(service, 100)
    if not service_name:
        raise fail("Le nom du service est vide.", 2)
    store = open_store(settings())
    with store.transaction() as uow:
        person = uow.people.ensure(pid, display_name, now())
        added = uow.roles.add(person.id, "ambassador", service_name)
        uow.audit.add("cli", "ambassador_add", now(), detail=f"{pid} {service_name}")
    typer.echo(
        f"{pid} est ambassadeur pour {service_name}."
        if added
        else f"{pid} était déjà ambassadeur pour {service_name}."
    )


@ambassador_app.command("remove")
def ambassador_remove(
    platform_id: Annotated[str, typer.Argument(metavar="ID")],
    service: Annotated[str | None, typer.Option("--service")] = None,
) -> None:
    """Retirer le rôle d'ambassadeur (d'un service, ou de tous)."""
    pid = _check_id(platform_id)
    store = open_store(settings())
    with store.transaction() as uow:
        person = uow.people.by_platform_id(pid)
        removed = uow.roles.remove(person.id, "ambassador", service) if person else 0
        if removed:
            uow.audit.add("cli", "ambassador_remove", now(), detail=f"{pid} {service or '*'}")
    if not removed:
        raise fail(f"{pid} n'est pas ambassadeur{' pour ' + service if service else ''}.")
    typer.echo(f"{pid} n'est plus ambassadeur{' pour ' + service if service else ''}.")


@ambassador_app.command("list")
def ambassador_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Lister les ambassadeurs et leurs services."""
    store = open_store(settings())
    with store.transaction() as uow:
        holders = uow.roles.holders("ambassador")
    if as_json:
        payload = [
            {"id": p.platform_id, "display_name": p.display_name, "service": s} for p, s in holders
        ]
        typer.echo(json.dumps(payload, ensure_ascii=False))
        return
    if not holders:
        typer.echo("Aucun ambassadeur.")
    for person, service in holders:
        typer.echo(f"{person.platform_id}\t{person.display_name or ''}\t{service}")


@admin_app.command("add")
def admin_add(platform_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Nommer un administrateur."""
    pid = _check_id(platform_id)
    store = open_store(settings())
    with store.transaction() as uow:
        person = uow.people.ensure(pid, None, now())
        added = uow.roles.add(person.id, "admin")
        uow.audit.add("cli", "admin_add", now(), detail=pid)
    typer.echo(f"{pid} est administrateur." if added else f"{pid} était déjà administrateur.")


@admin_app.command("remove")
def admin_remove(platform_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Retirer le rôle d'administrateur."""
    pid = _check_id(platform_id)
    store = open_store(settings())
    with store.transaction() as uow:
        person = uow.people.by_platform_id(pid)
        removed = uow.roles.remove(person.id, "admin") if person else 0
    if not removed:
        raise fail(f"{pid} n'est pas administrateur.")
    typer.echo(f"{pid} n'est plus administrateur.")


@admin_app.command("list")
def admin_list() -> None:
    """Lister les administrateurs (base et configuration)."""
    cfg = settings()
    store = open_store(cfg)
    with store.transaction() as uow:
        ids = {p.platform_id for p, _ in uow.roles.holders("admin")}
    for pid in sorted(ids | set(cfg.bot.admins)):
        typer.echo(pid)


# -- agents ------------------------------------------------------------------------------------

REQUIRED_COLUMNS = ("id", "display_name", "service")
OPTIONAL_COLUMNS = ("email", "timezone", "locale")


@dataclass(frozen=True)
class AgentRow:
    line: int
    platform_id: str
    display_name: str
    service: str
    email: str | None
    timezone: str | None
    locale: str | None


def parse_agents_csv(path: Path) -> tuple[list[AgentRow], list[str]]:
    """Validate the whole file; return the rows and the errors (line number and reason)."""
    errors: list[str] = []
    rows: list[AgentRow] = []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [f"fichier illisible : {exc}"]
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(text.splitlines(), dialect=dialect)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        return [], [f"ligne 1 : colonnes manquantes : {', '.join(missing)}"]
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        return [], [f"ligne 1 : colonnes inconnues : {', '.join(unknown)}"]
    reader.fieldnames = header
    seen: dict[str, int] = {}
    for index, raw in enumerate(reader, start=2):
        line = reader.line_num if reader.line_num else index
        if None in raw:
            errors.append(f"ligne {line} : trop de colonnes")
            continue
        values = {k: (v or "").strip() for k, v in raw.items()}
        pid = values.get("id", "")
        name = clean_line(values.get("display_name", ""), 200)
        service = clean_line(values.get("service", ""), 100)
        email = values.get("email") or None
        tz = values.get("timezone") or None
        locale = values.get("locale") or None
        if not pid:
            errors.append(f"ligne {line} : identifiant manquant")
            continue
        if " " in pid or clean_line(pid, 255) != pid:
            errors.append(f"ligne {line} : identifiant invalide {pid!r}")
            continue
        if pid in seen:
            errors.append(f"ligne {line} : identifiant {pid} en double (déjà ligne {seen[pid]})")
            continue
        seen[pid] = line
        if not service:
            errors.append(f"ligne {line} : service manquant pour {pid}")
            continue
        if tz:
            try:
                ZoneInfo(tz)
            except (ZoneInfoNotFoundError, ValueError):
                errors.append(f"ligne {line} : fuseau horaire inconnu {tz!r}")
                continue
        if locale and locale not in {"fr", "en"}:
            errors.append(f"ligne {line} : langue inconnue {locale!r} (fr ou en)")
            continue
        if email and ("@" not in email or " " in email or len(email) > 255):
            errors.append(f"ligne {line} : adresse électronique invalide {email!r}")
            continue
        rows.append(AgentRow(line, pid, name, service, email, tz, locale))
    if not rows and not errors:
        errors.append("aucun agent dans le fichier")
    return rows, errors


@agents_app.command("import")
def agents_import(
    file: Annotated[Path, typer.Argument(metavar="FILE.csv", exists=True, dir_okay=False)],
) -> None:
    """Importer ou mettre à jour des agents.

    CSV : id,display_name,service[,email][,timezone][,locale].
    """
    rows, errors = parse_agents_csv(file)
    if errors:
        for error in errors:
            typer.echo(error, err=True)
        raise fail("Import annulé : aucun agent n'a été importé.")
    store = open_store(settings())
    created = updated = 0
    with store.transaction() as uow:
        for row in rows:
            _, is_new = uow.people.upsert(
                row.platform_id,
                display_name=row.display_name or None,
                service=row.service,
                email=row.email,
                timezone=row.timezone,
                locale=row.locale,
                now=now(),
            )
            created += is_new
            updated += not is_new
        uow.audit.add("cli", "agents_import", now(), count=len(rows), detail=file.name)
    typer.echo(f"{len(rows)} agents importés ({created} nouveaux, {updated} mis à jour).")


# -- campaigns ---------------------------------------------------------------------------------


def _iso_day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def campaign_payload(
    uow: UnitOfWork, campaign: Campaign, cfg: Settings, steps: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    from bot import campaign_ops as ops

    stats = ops.stats(uow, campaign, cfg.stats.min_group)
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
            "value": campaign.audience_value,
            "size": uow.campaigns.audience_size(campaign.id),
        },
        "created_at": campaign.created_at.astimezone(ZoneInfo(cfg.bot.timezone)).isoformat(),
        "stats": {
            "min_group": stats.min_group,
            "total": stats.total.as_dict(stats.min_group),
            "services": [g.as_dict(stats.min_group) for g in stats.services],
        },
        "steps": steps or [],
    }


def _find_campaign(uow: UnitOfWork, code: str) -> Campaign:
    from bot.parsing import ParseError, parse_code

    try:
        parsed = parse_code(code).code
    except ParseError:
        raise fail(f"Code de campagne invalide : {code!r}", 2) from None
    campaign = uow.campaigns.by_code(parsed)
    if campaign is None:
        raise fail(f"Campagne inconnue : {parsed}")
    return campaign


def _plan_steps(cfg: Settings, uow: UnitOfWork, campaign: Campaign) -> list[dict[str, Any]]:
    from scheduler.service import describe_steps

    return describe_steps(cfg, uow, campaign)


@campaign_app.command("list")
def campaign_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Lister les campagnes (statut et participation)."""
    from bot import campaign_ops as ops
    from bot.render import Renderer

    cfg = settings()
    store = open_store(cfg)
    with store.transaction() as uow:
        campaigns = uow.campaigns.search()
        if as_json:
            payload = [campaign_payload(uow, c, cfg) for c in campaigns]
            typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
            return
        rows = [
            {"campaign": c, "total": ops.stats(uow, c, cfg.stats.min_group).total}
            for c in campaigns
        ]
        renderer = Renderer(cfg.bot.locale, cfg.bot.timezone)
        typer.echo(renderer.render("campaign_list", rows=rows, min_group=cfg.stats.min_group))


@campaign_app.command("show")
def campaign_show(
    code: Annotated[str, typer.Argument(metavar="CODE")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Détails d'une campagne, calendrier des rappels et participation."""
    from bot import campaign_ops as ops
    from bot.render import Renderer

    cfg = settings()
    store = open_store(cfg)
    with store.transaction() as uow:
        campaign = _find_campaign(uow, code)
        steps = _plan_steps(cfg, uow, campaign)
        if as_json:
            typer.echo(
                json.dumps(
                    campaign_payload(uow, campaign, cfg, steps), ensure_ascii=False, indent=2
                )
            )
            return
        renderer = Renderer(cfg.bot.locale, cfg.bot.timezone)
        typer.echo(
            renderer.render(
                "campaign_show",
                campaign=campaign,
                audience_size=uow.campaigns.audience_size(campaign.id),
                stats=ops.stats(uow, campaign, cfg.stats.min_group),
                steps=[_step_view(s) for s in steps],
            )
        )


def _step_view(step: dict[str, Any]) -> Any:
    from scheduler.service import StepView

    return StepView(
        when=datetime.fromisoformat(step["at"]),
        kind=step["kind"],
        label=step["label"],
        status=step["status"],
        day=date.fromisoformat(step["day"]),
    )


@campaign_app.command("stats")
def campaign_stats_cmd(
    code: Annotated[str, typer.Argument(metavar="CODE")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    csv_file: Annotated[Path | None, typer.Option("--csv", metavar="FILE")] = None,
    chart: Annotated[Path | None, typer.Option("--chart", metavar="FILE.png")] = None,
) -> None:
    """Statistiques (petits groupes masqués) ; export CSV ou graphique PNG."""
    from bot import campaign_ops as ops
    from bot.render import Renderer

    cfg = settings()
    store = open_store(cfg)
    with store.transaction() as uow:
        campaign = _find_campaign(uow, code)
        stats = ops.stats(uow, campaign, cfg.stats.min_group)
        completions = uow.participation.completions(campaign.id)
    if csv_file is not None:
        write_stats_csv(csv_file, stats)
        typer.echo(f"CSV écrit : {csv_file}", err=as_json)
    if chart is not None:
        if stats.total.hidden:
            raise fail(
                f"Moins de {stats.min_group} personnes invitées : pas de graphique "
                "(confidentialité)."
            )
        write_stats_chart(chart, campaign, stats, completions, ZoneInfo(cfg.bot.timezone))
        typer.echo(f"Graphique écrit : {chart}", err=as_json)
    if as_json:
        payload = {
            "code": campaign.code,
            "min_group": stats.min_group,
            "total": stats.total.as_dict(stats.min_group),
            "services": [g.as_dict(stats.min_group) for g in stats.services],
        }
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    elif csv_file is None and chart is None:
        renderer = Renderer(cfg.bot.locale, cfg.bot.timezone)
        typer.echo(renderer.render("campaign_stats", campaign=campaign, stats=stats))


def write_stats_csv(path: Path, stats: CampaignStats) -> None:
    from bot.stats import FIELDS

    hidden = f"< {stats.min_group}"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["groupe", *FIELDS, *(f"{f}_rate" for f in FIELDS[1:])])
        for group in (stats.total, *stats.services):
            if group.hidden:
                writer.writerow([group.name, *([hidden] * (2 * len(FIELDS) - 1))])
                continue
            counts = group.counts
            writer.writerow(
                [
                    group.name,
                    *(getattr(counts, f) for f in FIELDS),
                    *(f"{counts.rate(getattr(counts, f)):.4f}" for f in FIELDS[1:]),
                ]
            )


def write_stats_chart(
    path: Path,
    campaign: Campaign,
    stats: CampaignStats,
    completions: list[datetime],
    tz: ZoneInfo,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = stats.total.counts
    figure, (bars, timeline) = plt.subplots(1, 2, figsize=(11, 4.5))
    labels = ["invités", "en cours", "terminés", "rappels arrêtés"]
    values = [counts.invited, counts.started, counts.completed, counts.opted_out]
    bars.bar(labels, values, color=["#9aa5b1", "#f0b429", "#3ebd93", "#e66a6a"])
    bars.set_title(f"{campaign.code} : participation déclarée")
    for x, value in enumerate(values):
        bars.annotate(str(value), (x, value), ha="center", va="bottom")
    days = sorted({moment.astimezone(tz).date() for moment in completions})
    cumulative = [
        sum(1 for moment in completions if moment.astimezone(tz).date() <= day) for day in days
    ]
    if days:
        timeline.step(days, cumulative, where="post", color="#3ebd93")
        timeline.plot(days, cumulative, "o", color="#3ebd93")
    timeline.axvline(campaign.deadline, color="#e66a6a", linestyle="--", label="fin")
    timeline.set_title("Parcours déclarés terminés (cumul)")
    timeline.legend()
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


@campaign_app.command("import-orga")
def campaign_import_orga(
    code: Annotated[str, typer.Argument(metavar="CODE")],
    file: Annotated[Path, typer.Argument(metavar="FILE.csv", exists=True, dir_okay=False)],
    id_column: Annotated[
        str | None, typer.Option("--id-column", help="Colonne d'identifiant externe.")
    ] = None,
) -> None:
    """Marquer commencé / terminé depuis un export Pix Orga (jamais de résultat)."""
    from bot.orga import OrgaError, read_export
    from storage.repo import ParticipationKind, ParticipationStatus

    try:
        rows = read_export(file.read_text(encoding="utf-8-sig"), id_column)
    except (OrgaError, OSError, UnicodeDecodeError) as exc:
        raise fail(f"Export illisible : {exc}. Rien n'a été modifié.") from None
    store = open_store(settings())
    completed = started = unchanged = 0
    unmatched: list[str] = []
    with store.transaction() as uow:
        campaign = _find_campaign(uow, code)
        states = uow.participation.states(campaign.id)
        moment = now()
        for row in rows:
            person = None
            if row.external_id:
                person = uow.people.by_email(row.external_id) or uow.people.by_platform_id(
                    row.external_id
                )
            if person is None or person.id not in states:
                reason = "aucun agent" if person is None else "pas dans le public de la campagne"
                unmatched.append(f"ligne {row.line} : {reason} ({row.external_id or 'vide'})")
                continue
            status = states[person.id].status
            if row.shared and status != ParticipationStatus.COMPLETED:
                uow.participation.record(
                    person.id, ParticipationKind.COMPLETED, moment, campaign.id, source="orga"
                )
                uow.outbox.cancel_pending_for(person.id, campaign.id)
                completed += 1
            elif row.started and status in (
                ParticipationStatus.INVITED,
                ParticipationStatus.NOT_INVITED,
            ):
                uow.participation.record(
                    person.id, ParticipationKind.STARTED, moment, campaign.id, source="orga"
                )
                started += 1
            else:
                unchanged += 1
        uow.audit.add("cli", "import_orga", moment, campaign.id, count=completed + started)
    typer.echo(
        f"{len(rows)} lignes : {completed} terminés, {started} commencés, "
        f"{unchanged} sans changement, {len(unmatched)} sans correspondance."
    )
    for line in unmatched:
        typer.echo(line)


# -- faq ---------------------------------------------------------------------------------------


@faq_app.command("ask")
def faq_ask(
    question: Annotated[str, typer.Argument(help="La question, ou - pour lire stdin.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    service: Annotated[str | None, typer.Option("--service")] = None,
) -> None:
    """Répondre à une question depuis la FAQ (une par ligne avec -)."""
    from bot.handlers.faq import knowledge_base

    cfg = settings()
    base = knowledge_base(cfg.bot.locale, cfg.bot.faq_overrides)
    questions = sys.stdin.read().splitlines() if question == "-" else [question]
    for line in questions:
        if question == "-" and not line.strip():
            continue
        match = base.match(line, service=service)
        if as_json:
            payload = {"topic": match.topic, "score": round(match.score, 4), "answer": match.answer}
            typer.echo(json.dumps(payload, ensure_ascii=False))
        else:
            typer.echo(match.answer)


@faq_app.command("unanswered")
def faq_unanswered(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Les questions restées sans réponse (texte, date, service ; jamais qui les a posées)."""
    cfg = settings()
    store = open_store(cfg)
    with store.transaction() as uow:
        questions = uow.questions.unanswered()
    tz = ZoneInfo(cfg.bot.timezone)
    if as_json:
        payload = [
            {"text": q.text, "date": q.asked_at.astimezone(tz).isoformat(), "service": q.service}
            for q in questions
        ]
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    if not questions:
        typer.echo("Aucune question sans réponse.")
    for q in questions:
        when = q.asked_at.astimezone(tz).strftime("%d/%m/%Y %H:%M")
        typer.echo(f"{when}\t{q.service or '-'}\t{q.text}")


# -- privacy -----------------------------------------------------------------------------------


@app.command()
def forget(platform_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Effacer toutes les données d'une personne."""
    pid = _check_id(platform_id)
    store = open_store(settings())
    with store.transaction() as uow:
        person = uow.people.by_platform_id(pid)
        if person is not None:
            uow.people.delete(person.id)
            uow.audit.add("cli", "forget", now())
    if person is None:
        raise fail(f"Personne inconnue : {pid}")
    typer.echo(f"Données de {pid} effacées.")


# -- matrix (issue #16) --------------------------------------------------------------------------


@matrix_app.command("status")
def matrix_status(
    as_json: Annotated[bool, typer.Option("--json")] = False, config: ConfigOption = None
) -> None:
    """Utilisateur, appareil, signature croisée, empreinte de la clé maîtresse, stockage."""
    from bot.platforms.matrix_identity import describe

    m = settings(config).matrix
    info = asyncio.run(describe(Path(m.store_path), m.homeserver))
    if as_json:
        typer.echo(json.dumps(info, ensure_ascii=False, indent=2))
        return
    yes_no = {True: "oui", False: "non", None: "inconnu"}
    store = info["store"]
    typer.echo(f"Utilisateur : {info['user_id'] or '-'}")
    typer.echo(f"Appareil : {info['device_id'] or '-'}")
    typer.echo(f"Signé par son identité (signature croisée) : {yes_no[info['cross_signed']]}")
    typer.echo(f"Empreinte de la clé maîtresse : {info['master_fingerprint'] or '-'}")
    typer.echo(f"Stockage : {store['path']} ({store['mode'] or 'absent'})")
    for name in ("session.json", "recovery-key.txt"):
        typer.echo(f"  {name} : {store[name] or 'absent'}")
    if info["message"]:
        typer.echo(f"État : {info['message']}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
