"""Which database a command uses, whether it exists, and what to check when it cannot be opened.

Every command that uses the database names it first (one line on stderr, password hidden), so
that an operator never works on the wrong one without seeing it. Only ``pixbot db upgrade`` and
``pixbot run`` may create a database; the others refuse one that does not exist yet instead of
creating an empty ``./pixbot.db`` wherever they were started.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import typer
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url

from bot import logs
from bot.cli.common import fail, state
from bot.config import Settings, config_file_in_use
from bot.runner import store_for
from storage.db import current_revision
from storage.uow import Store

HINT = (
    "créez-la avec « pixbot --config FICHIER db upgrade », ou, si elle existe déjà ailleurs, "
    "indiquez la configuration qui la désigne (--config FICHIER ou PIXBOT_CONFIG)"
)


def shown_url(url: str) -> str:
    """The URL as the operator should see it: password hidden, SQLite path made absolute."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and _sqlite_file(parsed) is not None:
        parsed = parsed.set(database=str(Path(str(parsed.database)).absolute()))
    return parsed.render_as_string(hide_password=True)


def _sqlite_file(parsed: URL) -> Path | None:
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def where_from(cfg_file: Path | None) -> str:
    """Where ``bot.database_url`` came from, in a few words."""
    if os.environ.get("PIXBOT_BOT__DATABASE_URL"):
        return "variable PIXBOT_BOT__DATABASE_URL"
    if cfg_file is not None:
        return f"configuration {cfg_file}"
    return "valeur par défaut, sans configuration : ni --config, ni PIXBOT_CONFIG, ni ./pixbot.toml"


def label(cfg: Settings) -> str:
    """The database and where its URL came from: ``sqlite:////srv/pixbot.db (configuration …)``."""
    try:
        shown = shown_url(cfg.bot.database_url)
    except sa_exc.ArgumentError:
        shown = "adresse illisible"
    return f"{shown} ({where_from(config_file_in_use(state.config))})"


def check_folder(cfg: Settings) -> None:
    """Refuse a SQLite file whose folder does not exist (rather than creating the folder where a
    typo points), or a URL that cannot be read."""
    try:
        parsed = make_url(cfg.bot.database_url)
    except sa_exc.ArgumentError as error:
        raise fail(explain(error, cfg), 2) from None
    path = _sqlite_file(parsed) if parsed.get_backend_name() == "sqlite" else None
    if path is not None and not path.parent.is_dir():
        folder = path.parent.absolute()
        raise fail(
            f"Base de données inaccessible, {label(cfg)} : le dossier {folder} n'existe pas "
            f"(ou n'est pas un dossier) ; créez-le (install -d -m 700 -o pixbot {folder}) ou "
            "corrigez bot.database_url.",
            2,
        )


def announce(cfg: Settings) -> None:
    """The one line naming the database a command works on (stderr: stdout stays for data)."""
    if logs.is_json():
        logs.emit(logging.INFO, f"Base de données : {label(cfg)}")
    else:
        typer.echo(f"Base de données : {label(cfg)}", err=True)


def open_store(cfg: Settings, *, create: bool = False, upgrade: bool = True) -> Store:
    """The database, migrated to the current schema when ``upgrade``, named in one line on
    stderr once open.

    Without ``create``, a database that does not exist yet (no SQLite file, or no pixbot schema)
    is refused with exit code 2. Any failure is one French line naming the database and saying
    what to check."""
    url = cfg.bot.database_url
    check_folder(cfg)
    parsed = make_url(url)
    path = _sqlite_file(parsed) if parsed.get_backend_name() == "sqlite" else None
    if path is not None and not create and not path.exists():
        raise fail(f"Base de données absente, {label(cfg)} : elle n'existe pas encore ; {HINT}.", 2)
    store: Store | None = None
    try:
        store = store_for(cfg)
        if not create and current_revision(store.database.engine) is None:
            store.close()
            raise fail(
                f"Base de données vide, {label(cfg)} : elle n'a pas encore les tables de pixbot ; "
                f"{HINT}.",
                2,
            )
        if upgrade:
            store.upgrade()
    except typer.Exit:
        raise
    except Exception as error:
        if store is not None:
            store.close()
        raise fail(explain(error, cfg), 2) from None
    announce(cfg)
    return store


def explain(error: BaseException, cfg: Settings) -> str:
    """One French line for a database that cannot be used: what is wrong, what to check."""
    shown = label(cfg)
    if isinstance(error, sa_exc.ArgumentError):
        return (
            f"Base de données inaccessible, {shown} : bot.database_url n'est pas une adresse de "
            "base ; exemple : sqlite:////var/lib/pixbot/pixbot.db ou "
            "postgresql://pixbot@localhost/pixbot."
        )
    parsed = make_url(cfg.bot.database_url)
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()[0] if str(original).strip() else ""
    low = text.lower()
    server = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    if isinstance(error, sa_exc.NoSuchModuleError | ModuleNotFoundError | ImportError):
        return (
            f"Base de données non prise en charge, {shown} : pixbot utilise SQLite "
            "(sqlite:////var/lib/pixbot/pixbot.db) ou PostgreSQL "
            "(postgresql://pixbot@localhost/pixbot). Corrigez bot.database_url."
        )
    hints = (
        (
            "password authentication failed",
            "mot de passe refusé pour l'utilisateur "
            f"{parsed.username} : vérifiez le mot de passe dans bot.database_url "
            "(ou PIXBOT_BOT__DATABASE_URL) et pg_hba.conf",
        ),
        (
            "no password supplied",
            "le serveur demande un mot de passe : ajoutez-le à "
            "bot.database_url (postgresql://pixbot:MOT_DE_PASSE@hôte/pixbot), de préférence par "
            "PIXBOT_BOT__DATABASE_URL",
        ),
        (
            "role",
            f"le rôle {parsed.username} n'existe pas sur {server} : créez-le "
            "(sudo -u postgres createuser --pwprompt pixbot)",
        ),
        (
            "does not exist",
            f"la base {parsed.database} n'existe pas sur {server} : créez-la "
            "(sudo -u postgres createdb --owner pixbot pixbot) puis « pixbot db upgrade »",
        ),
        (
            "connection refused",
            f"aucun serveur PostgreSQL n'écoute sur {server} : vérifiez "
            "qu'il tourne, son adresse et son port",
        ),
        (
            "could not translate host name",
            f"hôte inconnu {parsed.host} : vérifiez le nom du serveur dans bot.database_url",
        ),
        ("timeout", f"le serveur {server} ne répond pas : vérifiez le réseau et le pare-feu"),
        (
            "unable to open database file",
            "fichier SQLite impossible à ouvrir : vérifiez que "
            "l'utilisateur qui lance pixbot peut lire et écrire le fichier et son dossier",
        ),
        (
            "readonly database",
            "base SQLite en lecture seule : vérifiez les droits du fichier, "
            "de son dossier et des fichiers -wal et -shm",
        ),
        (
            "file is not a database",
            "ce fichier n'est pas une base SQLite : vérifiez le chemin dans bot.database_url",
        ),
        (
            "permission denied",
            "accès refusé : vérifiez les droits de l'utilisateur qui lance pixbot sur la base",
        ),
    )
    for needle, hint in hints:
        if needle in low and (needle != "role" or "does not exist" in low):
            return f"Base de données inaccessible, {shown} : {hint}."
    detail = f"{type(original).__name__} : {text}" if text else type(original).__name__
    return (
        f"Base de données inaccessible, {shown} : {detail}. Vérifiez bot.database_url, que le "
        "serveur tourne et que l'utilisateur de pixbot y a accès."
    )
