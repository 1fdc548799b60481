"""Roles, agents and erasure: ``pixbot ambassador|admin|agents|forget``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import check_id, fail, now, open_store, settings
from bot.cli.csvio import (
    IMPORT_BATCH,
    IMPORT_PAUSE,
    batched,
    check_agents_csv,
    read_agents_csv,
)
from bot.text import clean_line

ambassador_app = typer.Typer(help="Gérer les ambassadeurs.", no_args_is_help=True)
admin_app = typer.Typer(help="Gérer les administrateurs.", no_args_is_help=True)
agents_app = typer.Typer(help="Gérer les agents.", no_args_is_help=True)


@ambassador_app.command("add")
def ambassador_add(
    platform_id: Annotated[str, typer.Argument(metavar="ID")],
    service: Annotated[str, typer.Option("--service", help="Service de l'ambassadeur.")],
    display_name: Annotated[str | None, typer.Option("--name")] = None,
) -> None:
    """Nommer un ambassadeur pour un service."""
    pid = check_id(platform_id)
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
    pid = check_id(platform_id)
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
    pid = check_id(platform_id)
    store = open_store(settings())
    with store.transaction() as uow:
        person = uow.people.ensure(pid, None, now())
        added = uow.roles.add(person.id, "admin")
        uow.audit.add("cli", "admin_add", now(), detail=pid)
    typer.echo(f"{pid} est administrateur." if added else f"{pid} était déjà administrateur.")


@admin_app.command("remove")
def admin_remove(platform_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Retirer le rôle d'administrateur."""
    pid = check_id(platform_id)
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


@agents_app.command("import")
def agents_import(
    file: Annotated[Path, typer.Argument(metavar="FILE.csv", exists=True, dir_okay=False)],
) -> None:
    """Importer ou mettre à jour des agents.

    CSV : id,display_name,service[,email][,timezone][,locale].
    """
    count, errors = check_agents_csv(file)
    if errors:
        for error in errors:
            typer.echo(error, err=True)
        raise fail("Import annulé : aucun agent n'a été importé.")
    store = open_store(settings())
    created = updated = 0
    # Short transactions: a running bot waits at most one batch for the database.
    for batch in batched(read_agents_csv(file), IMPORT_BATCH, IMPORT_PAUSE):
        with store.transaction() as uow:
            for row in batch:
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
    with store.transaction() as uow:
        uow.audit.add("cli", "agents_import", now(), count=count, detail=file.name)
    typer.echo(f"{count} agents importés ({created} nouveaux, {updated} mis à jour).")


def forget(platform_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Effacer toutes les données d'une personne."""
    pid = check_id(platform_id)
    store = open_store(settings())
    with store.transaction() as uow:
        person = uow.people.by_platform_id(pid)
        if person is not None:
            uow.people.delete(person.id)
            uow.audit.add("cli", "forget", now())
    if person is None:
        raise fail(f"Personne inconnue : {pid}")
    typer.echo(f"Données de {pid} effacées.")
