"""CSV files: the agents import (validated as a whole, read as a stream) and the stats export.

A file is never loaded whole: the header line is read with a size cap, rows one at a time, and
the whole-file check keeps only a fingerprint per id. The import is then written in batches
paced by :func:`import_pacing`, so a running bot is never locked out of the database.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar

from bot.config import LimitsSection
from bot.csvrows import numbered_rows
from bot.privacy import Figure, clean_display_name, safe_cell
from bot.stats import CampaignStats
from bot.text import clean_line, is_canonical_timezone, is_clean_id
from bot.translation import gettext as _
from storage.uow import Store

REQUIRED_COLUMNS = ("id", "display_name", "service")
OPTIONAL_COLUMNS = ("email", "timezone", "locale")
# A header line longer than this is not a CSV header we could use.
MAX_HEADER_CHARS = 64 * 1024
# Rows written per transaction by the imports when nobody is starved: on PostgreSQL (many
# writers at once, row locks only) or on a SQLite database no running bot shares.
BULK_IMPORT_BATCH = 5000
# At most this many errors are listed; the rest are counted.
MAX_LISTED_ERRORS = 100


T = TypeVar("T")


def batched(
    items: Iterable[T], size: int, pause: Callable[[], float] = lambda: 0.0
) -> Iterator[list[T]]:
    """Lists of at most ``size`` items, in order (``itertools.batched`` before Python 3.12);
    before each batch but the first, a pause of ``pause()`` seconds, to let others use the
    database between two write transactions."""
    batch: list[T] = []
    first = True
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            _rest(first, pause)
            yield batch
            first = False
            batch = []
    if batch:
        _rest(first, pause)
        yield batch


def _rest(first: bool, pause: Callable[[], float]) -> None:
    seconds = 0.0 if first else pause()
    if seconds > 0:
        time.sleep(seconds)


def import_pacing(limits: LimitsSection, store: Store) -> tuple[int, Callable[[], float]]:
    """Rows per transaction, and the pause before each next one, for an import run from the
    command line.

    The command line is a process of its own. Only on SQLite can it starve a running bot:
    one writer at a time, and a waiting writer (the bot, polling in its busy handler) gets in
    only during a gap between two write transactions. So while a bot holds the instance lock
    of a SQLite database the import writes ``[limits] import_batch`` rows per transaction and
    pauses ``import_pause`` after each: the bot waits one short batch at most. Otherwise —
    PostgreSQL, where writers only meet on the same rows, or no bot running — it writes bulk
    batches without pausing; the lock is probed again before each batch, so a bot started
    meanwhile gets the pauses (and waits one bulk batch at most)."""
    from storage.lock import InstanceLock

    if store.database.dialect == "postgresql":
        return max(limits.import_batch, BULK_IMPORT_BATCH), lambda: 0.0
    lock = InstanceLock(store.database)

    def pause() -> float:
        return limits.import_pause if lock.held_elsewhere() else 0.0

    if lock.held_elsewhere():
        return limits.import_batch, pause
    return max(limits.import_batch, BULK_IMPORT_BATCH), pause


class CsvError(Exception):
    """The file cannot be read as a CSV at all (the message names the line)."""


@dataclass(frozen=True)
class AgentRow:
    line: int
    platform_id: str
    display_name: str
    service: str
    email: str | None
    timezone: str | None
    locale: str | None


def _short(value: str, limit: int = 60) -> str:
    """A cell quoted in an error line: cleaned and bounded, however long the cell was."""
    cleaned = clean_line(value, limit)
    return repr(cleaned + ("…" if len(value) > limit else ""))


def open_csv(path: Path) -> tuple[TextIO, list[str], Any]:
    """Open ``path``; return the handle (positioned after the header), the header cells and
    the dialect. The header line is read with a size cap; raise :class:`CsvError`."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise CsvError(_("fichier illisible : {error}", error=exc.strerror or exc)) from None
    try:
        first = handle.readline(MAX_HEADER_CHARS + 1)
        if len(first) > MAX_HEADER_CHARS:
            raise CsvError(
                _("ligne 1 : en-tête trop long (plus de {n} caractères)", n=MAX_HEADER_CHARS)
            )
        try:
            # Guessed from the header line alone: a long quoted cell must not mislead it.
            dialect: Any = csv.Sniffer().sniff(first[:4096], delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        try:
            header = next(csv.reader(io.StringIO(first), dialect), [])
        except csv.Error as exc:
            raise CsvError(_("ligne 1 : en-tête illisible ({error})", error=exc)) from None
        return handle, header, dialect
    except UnicodeDecodeError:
        handle.close()
        raise CsvError(_("fichier illisible : il n'est pas encodé en UTF-8")) from None
    except BaseException:
        handle.close()
        raise


def csv_rows(handle: TextIO, dialect: Any) -> Iterator[tuple[int, list[str]]]:
    """The rows after the header with their line number; a bad row is a :class:`CsvError`."""
    return numbered_rows(csv.reader(handle, dialect), CsvError)


def _agents_header(header: list[str]) -> list[str]:
    names = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise CsvError(_("ligne 1 : colonnes manquantes : {names}", names=", ".join(missing)))
    unknown = [c for c in names if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        listed = ", ".join(_short(c, 40) for c in unknown[:10])
        more = _(" (et {n} autres)", n=len(unknown) - 10) if len(unknown) > 10 else ""
        raise CsvError(_("ligne 1 : colonnes inconnues : {names}", names=listed) + more)
    if len(set(names)) != len(names):
        raise CsvError(_("ligne 1 : colonne en double"))
    return names


def _agent(line: int, names: list[str], raw: list[str]) -> AgentRow | str:
    """One row, checked: the row or the error line."""
    if len(raw) > len(names):
        return _("ligne {line} : trop de colonnes", line=line)
    values = {name: (raw[i] if i < len(raw) else "").strip() for i, name in enumerate(names)}
    pid = values.get("id", "")
    email = values.get("email") or None
    tz = values.get("timezone") or None
    locale = values.get("locale") or None
    if not pid:
        return _("ligne {line} : identifiant manquant", line=line)
    if not is_clean_id(pid):
        return _("ligne {line} : identifiant invalide {value}", line=line, value=_short(pid))
    service = clean_line(values.get("service", ""), 100)
    if not service:
        return _("ligne {line} : service manquant pour {id}", line=line, id=pid)
    if tz and not is_canonical_timezone(tz):
        return _("ligne {line} : fuseau horaire inconnu {value}", line=line, value=_short(tz))
    if locale and locale not in {"fr", "en"}:
        return _(
            "ligne {line} : langue inconnue {value} (fr ou en)", line=line, value=_short(locale)
        )
    if email and ("@" not in email or not is_clean_id(email)):
        return _(
            "ligne {line} : adresse électronique invalide {value}", line=line, value=_short(email)
        )
    name = clean_display_name(values.get("display_name", "")) or ""
    return AgentRow(line, pid, name, service, email, tz, locale)


def id_fingerprint(platform_id: str) -> bytes:
    return hashlib.blake2b(platform_id.encode(), digest_size=8).digest()


def check_agents_csv(
    path: Path, on_agent: Callable[[AgentRow], None] | None = None
) -> tuple[int, list[str]]:
    """Validate the whole file as a stream; return the number of agents and the errors (line
    number and reason, at most :data:`MAX_LISTED_ERRORS` listed). ``on_agent`` sees each
    valid agent as it is read (the email check gathers its emails in the same pass)."""
    errors: list[str] = []
    hidden = 0
    count = 0
    seen: dict[bytes, int] = {}
    try:
        handle, header, dialect = open_csv(path)
        with handle:
            names = _agents_header(header)
            for line, raw in csv_rows(handle, dialect):
                if not any(cell.strip() for cell in raw):
                    continue
                row = _agent(line, names, raw)
                if isinstance(row, AgentRow):
                    key = id_fingerprint(row.platform_id)
                    if key in seen:
                        row = _(
                            "ligne {line} : identifiant {id} en double (déjà ligne {first})",
                            line=line,
                            id=row.platform_id,
                            first=seen[key],
                        )
                    else:
                        seen[key] = line
                        count += 1
                        if on_agent is not None:
                            on_agent(row)
                        continue
                if len(errors) < MAX_LISTED_ERRORS:
                    errors.append(row)
                else:
                    hidden += 1
    except CsvError as exc:
        errors.append(str(exc))
    if hidden:
        errors.append(_("… et {n} autres erreurs", n=hidden))
    if not count and not errors:
        errors.append(_("aucun agent dans le fichier"))
    return count, errors


def read_agents_csv(path: Path) -> Iterator[AgentRow]:
    """The agents of a file that :func:`check_agents_csv` accepted, one at a time."""
    handle, header, dialect = open_csv(path)
    with handle:
        names = _agents_header(header)
        for line, raw in csv_rows(handle, dialect):
            if any(cell.strip() for cell in raw):
                row = _agent(line, names, raw)
                if isinstance(row, AgentRow):
                    yield row


def parse_agents_csv(path: Path) -> tuple[list[AgentRow], list[str]]:
    """Validate the whole file; return the rows and the errors (for small files and tests)."""
    _count, errors = check_agents_csv(path)
    if errors:
        return [], errors
    return list(read_agents_csv(path)), []


def figure_cell(figure: Figure) -> str | int:
    """A figure in a CSV cell: the number, or the French wording of the disclosure rule."""
    return figure.as_text(
        fewer=_("moins de {n}"),
        almost=_("presque tous (moins de {n} exceptions)"),
        hidden=_("masqué"),
    )


def _band_cell(band: tuple[int, int] | None) -> str:
    return "" if band is None else f"{band[0]}-{band[1]}"


def write_stats_csv(
    path: Path, stats: CampaignStats, on_row: Callable[[int], None] | None = None
) -> None:
    """The statistics as CSV, one row per group; ``on_row(1)`` after each row written."""
    from bot.stats import DECLARED

    hidden = f"< {stats.min_group}"
    banded = (*DECLARED, "answered")
    header = [
        "group",
        "invited",
        *DECLARED,
        *(f"{f}_rate" for f in DECLARED),
        # A figure in words: the band of whole percents its words imply ("0-34"), #24.
        *(f"{f}_band" for f in banded),
    ]
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # as docs/privacy.md
    with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for group in (stats.total, *stats.services):
            if group.hidden:
                row: list[object] = [group.name, *([hidden] * (len(header) - 1))]
            else:
                figures = [group.figure(f) for f in DECLARED]
                row = [
                    group.name,
                    group.counts.invited,
                    *(figure_cell(f) for f in figures),
                    *("" if f.rate is None else f"{f.rate:.4f}" for f in figures),
                    *(_band_cell(group.band(f)) for f in banded),
                ]
            writer.writerow([safe_cell(cell) for cell in row])
            if on_row is not None:
                on_row(1)
