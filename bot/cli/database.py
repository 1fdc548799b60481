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
from bot.translation import gettext as _
from storage.db import current_revision
from storage.uow import Store


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
        return _("variable PIXBOT_BOT__DATABASE_URL")
    if cfg_file is not None:
        return _("configuration {file}", file=cfg_file)
    return _(
        "valeur par défaut, sans configuration : ni --config, ni PIXBOT_CONFIG, ni ./pixbot.toml"
    )


def label(cfg: Settings) -> str:
    """The database and where its URL came from: ``sqlite:////srv/pixbot.db (configuration …)``."""
    try:
        shown = shown_url(cfg.bot.database_url)
    except sa_exc.ArgumentError:
        shown = _("adresse illisible")
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
            _(
                "Base de données inaccessible, {database} : le dossier {folder} n'existe pas (ou "
                "n'est pas un dossier) ; créez-le (install -d -m 700 -o pixbot {folder}) ou "
                "corrigez bot.database_url.",
                database=label(cfg),
                folder=folder,
            ),
            2,
        )


def announce(cfg: Settings) -> None:
    """The one line naming the database a command works on (stderr: stdout stays for data)."""
    line = _("Base de données : {database}", database=label(cfg))
    if logs.is_json():
        logs.emit(logging.INFO, line)
    else:
        typer.echo(line, err=True)


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
        raise fail(
            _(
                "Base de données absente, {database} : elle n'existe pas encore ; créez-la avec "
                "« pixbot --config FICHIER db upgrade », ou, si elle existe déjà ailleurs, "
                "indiquez la configuration qui la désigne (--config FICHIER ou PIXBOT_CONFIG).",
                database=label(cfg),
            ),
            2,
        )
    store: Store | None = None
    try:
        store = store_for(cfg)
        if not create and current_revision(store.database.engine) is None:
            store.close()
            raise fail(
                _(
                    "Base de données vide, {database} : elle n'a pas encore les tables de pixbot ; "
                    "créez-la avec « pixbot --config FICHIER db upgrade », ou, si elle existe déjà "
                    "ailleurs, indiquez la configuration qui la désigne (--config FICHIER ou "
                    "PIXBOT_CONFIG).",
                    database=label(cfg),
                ),
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
        return _(
            "Base de données inaccessible, {database} : bot.database_url n'est pas une adresse de "
            "base ; exemple : sqlite:////var/lib/pixbot/pixbot.db ou "
            "postgresql://pixbot@localhost/pixbot.",
            database=shown,
        )
    parsed = make_url(cfg.bot.database_url)
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()[0] if str(original).strip() else ""
    low = text.lower()
    server = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    if isinstance(error, sa_exc.NoSuchModuleError | ModuleNotFoundError | ImportError):
        return _(
            "Base de données non prise en charge, {database} : pixbot utilise SQLite "
            "(sqlite:////var/lib/pixbot/pixbot.db) ou PostgreSQL "
            "(postgresql://pixbot@localhost/pixbot). Corrigez bot.database_url.",
            database=shown,
        )
    hints = (
        (
            "password authentication failed",
            _(
                "mot de passe refusé pour l'utilisateur {user} : vérifiez le mot de passe dans "
                "bot.database_url (ou PIXBOT_BOT__DATABASE_URL) et pg_hba.conf",
                user=parsed.username,
            ),
        ),
        (
            "no password supplied",
            _(
                "le serveur demande un mot de passe : ajoutez-le à bot.database_url "
                "(postgresql://pixbot:MOT_DE_PASSE@hôte/pixbot), de préférence par "
                "PIXBOT_BOT__DATABASE_URL"
            ),
        ),
        (
            "role",
            _(
                "le rôle {user} n'existe pas sur {server} : créez-le "
                "(sudo -u postgres createuser --pwprompt pixbot)",
                user=parsed.username,
                server=server,
            ),
        ),
        (
            "does not exist",
            _(
                "la base {name} n'existe pas sur {server} : créez-la "
                "(sudo -u postgres createdb --owner pixbot pixbot) puis « pixbot db upgrade »",
                name=parsed.database,
                server=server,
            ),
        ),
        (
            "connection refused",
            _(
                "aucun serveur PostgreSQL n'écoute sur {server} : vérifiez qu'il tourne, son "
                "adresse et son port",
                server=server,
            ),
        ),
        (
            "could not translate host name",
            _(
                "hôte inconnu {host} : vérifiez le nom du serveur dans bot.database_url",
                host=parsed.host,
            ),
        ),
        (
            "timeout",
            _(
                "le serveur {server} ne répond pas : vérifiez le réseau et le pare-feu",
                server=server,
            ),
        ),
        (
            "unable to open database file",
            _(
                "fichier SQLite impossible à ouvrir : vérifiez que l'utilisateur qui lance pixbot "
                "peut lire et écrire le fichier et son dossier"
            ),
        ),
        (
            "readonly database",
            _(
                "base SQLite en lecture seule : vérifiez les droits du fichier, de son dossier et "
                "des fichiers -wal et -shm"
            ),
        ),
        (
            "file is not a database",
            _("ce fichier n'est pas une base SQLite : vérifiez le chemin dans bot.database_url"),
        ),
        (
            "permission denied",
            _("accès refusé : vérifiez les droits de l'utilisateur qui lance pixbot sur la base"),
        ),
    )
    for needle, hint in hints:
        if needle in low and (needle != "role" or "does not exist" in low):
            return _(
                "Base de données inaccessible, {database} : {hint}.", database=shown, hint=hint
            )
    detail = f"{type(original).__name__} : {text}" if text else type(original).__name__
    return _(
        "Base de données inaccessible, {database} : {detail}. Vérifiez bot.database_url, que le "
        "serveur tourne et que l'utilisateur de pixbot y a accès.",
        database=shown,
        detail=detail,
    )
