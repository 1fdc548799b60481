"""Online backup of a SQLite database (the bot may keep running meanwhile).

PostgreSQL is backed up with its own tools (``pg_dump``); see docs/deploy-tchap.md.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.translation import N_
from storage.db import normalise_url


class BackupError(Exception):
    """The backup cannot be made (not SQLite, missing source, unwritable target): a French
    message id and its values, for the operator's language (:mod:`bot.translation`)."""

    def __init__(self, template: str, **values: object) -> None:
        self.template, self.values = template, values
        super().__init__(template.format(**values))


def backup_sqlite(
    url: str,
    target: Path,
    on_progress: Callable[[int, int], None] | None = None,
    overwrite: bool = False,
) -> int:
    """Copy the database at ``url`` into ``target`` page by page; return the page count.
    ``on_progress(pages copied, total pages)`` is called after each step of 1,024 pages.

    The copy holds personal data: it is created 0600. An existing ``target`` is replaced only
    with ``overwrite`` (an earlier backup is never lost by a typo)."""
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() != "sqlite":
        raise BackupError(
            N_(
                "pixbot db backup ne sauvegarde que SQLite ; pour PostgreSQL utilisez "
                "pg_dump --format=custom (voir docs/deploy-tchap.md)."
            )
        )
    if not parsed.database or parsed.database == ":memory:":
        raise BackupError(N_("base SQLite en mémoire : rien à sauvegarder."))
    source_path = Path(parsed.database)
    if not source_path.exists():
        raise BackupError(N_("base introuvable : {path}"), path=source_path)
    if target.resolve() == source_path.resolve():
        raise BackupError(N_("la sauvegarde doit aller dans un autre fichier que la base."))
    if target.exists() and not overwrite:
        raise BackupError(
            N_(
                "le fichier {path} existe déjà : choisissez un autre nom, ou ajoutez --force "
                "pour le remplacer."
            ),
            path=target,
        )
    temporary = target.with_name(f".{target.name}.partial")
    try:
        temporary.unlink(missing_ok=True)
        os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=30)
        try:
            copy = sqlite3.connect(temporary)
            try:

                def step(_status: int, remaining: int, total: int) -> None:
                    if on_progress is not None:
                        on_progress(total - remaining, total)

                source.backup(copy, pages=1024, progress=step)
                pages = int(copy.execute("PRAGMA page_count").fetchone()[0])
                check = copy.execute("PRAGMA integrity_check").fetchone()[0]
            finally:
                copy.close()
        finally:
            source.close()
        if check != "ok":
            raise BackupError(N_("la copie n'est pas intègre : {check}"), check=check)
        temporary.replace(target)  # never a half-written backup under the final name
    except (sqlite3.Error, OSError) as error:
        temporary.unlink(missing_ok=True)
        raise BackupError(N_("sauvegarde impossible : {error}"), error=error) from error
    return pages
