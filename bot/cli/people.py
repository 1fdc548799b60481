"""Roles, agents and erasure: ``pixbot ambassador|admin|agents|forget``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import check_id, fail, now, settings
from bot.cli.csvio import (
    MAX_LISTED_ERRORS,
    AgentRow,
    batched,
    check_agents_csv,
    id_fingerprint,
    import_pacing,
    read_agents_csv,
)
from bot.cli.database import open_store
from bot.cli.erasure import offline_pipeline, run_offline, step_label
from bot.cli.progress import progress
from bot.core import ErasedPerson
from bot.privacy import clean_display_name
from bot.render import Renderer
from bot.services.personal_data import erase
from bot.text import clean_line
from bot.translation import gettext as _
from bot.translation import language
from storage.uow import UnitOfWork

ambassador_app = typer.Typer(
    help="Gérer les ambassadeurs.", no_args_is_help=True, rich_markup_mode=None
)
admin_app = typer.Typer(
    help="Gérer les administrateurs.", no_args_is_help=True, rich_markup_mode=None
)
agents_app = typer.Typer(help="Gérer les agents.", no_args_is_help=True, rich_markup_mode=None)


@ambassador_app.command("add")
def ambassador_add(
    platform_id: Annotated[
        str,
        typer.Argument(metavar="ID", help="Identifiant de plateforme (@nom:serveur, U… Slack)."),
    ],
    service: Annotated[str, typer.Option("--service", help="Service de l'ambassadeur.")],
    display_name: Annotated[
        str | None, typer.Option("--name", help="Nom affiché (facultatif).")
    ] = None,
) -> None:
    """Nommer un ambassadeur pour un service."""
    pid = check_id(platform_id)
    service_name = clean_line(service, 100)
    if not service_name:
        raise fail(_("Le nom du service est vide."), 2)
    store = open_store(settings())
    with store.transaction() as uow:
        person = uow.people.ensure(pid, clean_display_name(display_name), now())
        added = uow.roles.add(person.id, "ambassador", service_name)
        uow.audit.add("cli", "ambassador_add", now(), detail=f"{pid} {service_name}")
    typer.echo(
        _("{id} est ambassadeur pour {service}.", id=pid, service=service_name)
        if added
        else _("{id} était déjà ambassadeur pour {service}.", id=pid, service=service_name)
    )


@ambassador_app.command("remove")
def ambassador_remove(
    platform_id: Annotated[
        str,
        typer.Argument(metavar="ID", help="Identifiant de plateforme (@nom:serveur, U… Slack)."),
    ],
    service: Annotated[
        str | None, typer.Option("--service", help="Un seul service (défaut : tous).")
    ] = None,
) -> None:
    """Retirer le rôle d'ambassadeur (d'un service, ou de tous)."""
    pid = check_id(platform_id)
    store = open_store(settings())
    with store.transaction() as uow:
        person = uow.people.by_platform_id(pid)
        removed = uow.roles.remove(person.id, "ambassador", service) if person else 0
        if removed:
            uow.audit.add("cli", "ambassador_remove", now(), detail=f"{pid} {service or '*'}")
    if not removed:
        raise fail(
            _("{id} n'est pas ambassadeur pour {service}.", id=pid, service=service)
            if service
            else _("{id} n'est pas ambassadeur.", id=pid)
        )
    typer.echo(
        _("{id} n'est plus ambassadeur pour {service}.", id=pid, service=service)
        if service
        else _("{id} n'est plus ambassadeur.", id=pid)
    )


@ambassador_app.command("list")
def ambassador_list(
    as_json: Annotated[
        bool, typer.Option("--json", help="Sortie JSON (pour les scripts).")
    ] = False,
) -> None:
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
        typer.echo(_("Aucun ambassadeur."))
    for person, service in holders:
        typer.echo(f"{person.platform_id}\t{person.display_name or ''}\t{service}")


@admin_app.command("add")
def admin_add(
    platform_id: Annotated[
        str,
        typer.Argument(metavar="ID", help="Identifiant de plateforme (@nom:serveur, U… Slack)."),
    ],
) -> None:
    """Nommer un administrateur."""
    pid = check_id(platform_id)
    store = open_store(settings())
    with store.transaction() as uow:
        person = uow.people.ensure(pid, None, now())
        added = uow.roles.add(person.id, "admin")
        uow.audit.add("cli", "admin_add", now(), detail=pid)
    typer.echo(
        _("{id} est administrateur.", id=pid)
        if added
        else _("{id} était déjà administrateur.", id=pid)
    )


@admin_app.command("remove")
def admin_remove(
    platform_id: Annotated[
        str,
        typer.Argument(metavar="ID", help="Identifiant de plateforme (@nom:serveur, U… Slack)."),
    ],
) -> None:
    """Retirer le rôle d'administrateur."""
    pid = check_id(platform_id)
    store = open_store(settings())
    with store.transaction() as uow:
        person = uow.people.by_platform_id(pid)
        removed = uow.roles.remove(person.id, "admin") if person else 0
    if not removed:
        raise fail(_("{id} n'est pas administrateur.", id=pid))
    typer.echo(_("{id} n'est plus administrateur.", id=pid))


@admin_app.command("list")
def admin_list() -> None:
    """Lister les administrateurs (base et configuration)."""
    cfg = settings()
    store = open_store(cfg)
    with store.transaction() as uow:
        ids = {p.platform_id for p, _service in uow.roles.holders("admin")}
    for pid in sorted(ids | set(cfg.bot.admins)):
        typer.echo(pid)


@agents_app.command("import")
def agents_import(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE.csv", exists=True, dir_okay=False, help="Le fichier CSV à importer."
        ),
    ],
) -> None:
    """Importer ou mettre à jour des agents.

    CSV : id,display_name,service[,email][,timezone][,locale].
    """
    emails = EmailCheck()
    count, errors = check_agents_csv(file, emails.add)  # one pass: rows checked, emails kept
    if errors:
        for error in errors:
            typer.echo(error, err=True)
        raise fail(_("Import annulé : aucun agent n'a été importé."))
    from storage.repositories.people import AgentRecord

    cfg = settings()
    store = open_store(cfg)
    # The whole file is checked before any write: emails shared in the file or with another
    # agent refuse the import (reads only, in chunks through the normalised email's index).
    with store.transaction() as uow:
        clashes = emails.clashes(uow)
    if clashes:
        for clash in clashes:
            typer.echo(clash, err=True)
        raise fail(_("Import annulé : aucun agent n'a été importé."))
    created = updated = skipped = 0
    size, pause = import_pacing(cfg.limits, store)
    with progress(count, _("Import des agents")) as bar:
        # One bulk upsert per transaction: a running bot waits at most one batch.
        for batch in batched(read_agents_csv(file), size, pause):
            with store.transaction() as uow:
                # An import never brings back a person erased at their request (an agent
                # already known is updated: only new ids and emails are checked).
                erased = uow.privacy.erased_among(
                    [row.platform_id for row in batch] + [row.email for row in batch if row.email]
                )
                known = (
                    uow.people.existing_platform_ids(
                        row.platform_id
                        for row in batch
                        if row.platform_id in erased or row.email in erased
                    )
                    if erased
                    else set()
                )
                records = [
                    AgentRecord(
                        row.platform_id,
                        row.display_name or None,
                        row.service,
                        row.email,
                        row.timezone,
                        row.locale,
                    )
                    for row in batch
                    if row.platform_id in known
                    or not (row.platform_id in erased or (row.email and row.email in erased))
                ]
                skipped += len(batch) - len(records)
                if records:
                    new, changed = uow.people.upsert_many(records, now())
                    created, updated = created + new, updated + changed
            bar.advance(len(batch))
    with store.transaction() as uow:
        uow.audit.add("cli", "agents_import", now(), count=created + updated, detail=file.name)
    renderer = Renderer(language(), cfg.bot.timezone)
    typer.echo(
        renderer.render("cli_agents_imported", created=created, updated=updated, skipped=skipped)
    )


def forget(
    platform_id: Annotated[
        str,
        typer.Argument(metavar="ID", help="Identifiant de plateforme (@nom:serveur, U… Slack)."),
    ],
) -> None:
    """Effacer toutes les données d'une personne."""
    pid = check_id(platform_id)
    cfg = settings()
    store = open_store(cfg)
    erased: ErasedPerson | None = None
    with store.transaction() as uow:
        person = uow.people.by_platform_id(pid)
        if person is not None:
            erase(uow, person, now(), by="cli")
            erased = ErasedPerson(pid, now(), person.display_name, person.email)
    if erased is None:
        raise fail(_("Personne inconnue : {id}", id=pid))
    failed = run_offline(offline_pipeline(cfg, store), erased)
    store.close()
    if failed:
        raise fail(
            _(
                "Données de {id} effacées de la base ; à reprendre : {steps}.",
                id=pid,
                steps=", ".join(map(step_label, failed)),
            )
        )
    typer.echo(_("Données de {id} effacées.", id=pid))


class EmailCheck:
    """Two agents may not share an email (it identifies them in Pix Orga exports).

    Fed the file's agents one at a time (:meth:`add`, during the validation pass): per email
    only its line and the agent's id are kept, and per agent a fingerprint of the id; then
    :meth:`clashes` compares them with the database (reads only, through the normalised
    email's index)."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.seen: dict[str, tuple[int, str, str]] = {}  # normalised email -> (line, email, id)
        self.in_file: set[bytes] = set()

    def add(self, row: AgentRow) -> None:
        self.in_file.add(id_fingerprint(row.platform_id))
        if not row.email:
            return
        key = row.email.strip().lower()
        if key in self.seen:
            self.problems.append(
                _(
                    "ligne {line} : adresse {email} déjà utilisée ligne {first}",
                    line=row.line,
                    email=row.email,
                    first=self.seen[key][0],
                )
            )
            return
        self.seen[key] = (row.line, row.email, row.platform_id)

    def clashes(self, uow: UnitOfWork) -> list[str]:
        problems = list(self.problems)
        owners = uow.people.by_emails(self.seen)
        for key, (line, email, platform_id) in self.seen.items():
            others = [p for p in owners.get(key, []) if p.platform_id != platform_id]
            if any(id_fingerprint(p.platform_id) not in self.in_file for p in others):
                problems.append(
                    _(
                        "ligne {line} : adresse {email} déjà utilisée par un autre agent",
                        line=line,
                        email=email,
                    )
                )
        if len(problems) > MAX_LISTED_ERRORS:
            hidden = len(problems) - MAX_LISTED_ERRORS
            problems = [*problems[:MAX_LISTED_ERRORS], _("… et {n} autres erreurs", n=hidden)]
        return problems
