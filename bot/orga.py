"""Reading a Pix Orga participants export: participation columns only, never results.

The export has one row per participant with many columns (names, external id, dates, shared
results, scores, levels…). We read exactly three kinds of column: the external id (to find the
agent), "Date de début" (started) and "Partage (O/N)" / "Envoi (O/N)" (results sent, i.e.
completed). Every other column, including any score or percentage, is never read.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from bot.csvrows import numbered_rows
from bot.text import fold

YES = {"o", "oui", "y", "yes", "1", "true", "vrai"}
# A header line longer than this is refused (a real export has a few dozen columns).
MAX_HEADER_CHARS = 1024 * 1024
ID_HINTS = ("identifiant externe", "e-mail", "email", "mail", "adresse", "external id", "id")


def unescape(value: str) -> str:
    """A cell as it was typed: Pix writes ``'`` before a value starting with ``= + - @`` (so
    that a spreadsheet does not run it as a formula), e.g. ``'@alice:example.gouv.fr``."""
    if len(value) > 1 and value[0] == "'" and value[1] in "=+-@":
        return value[1:]
    return value


class OrgaError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class OrgaRow:
    line: int
    external_id: str
    started: bool
    shared: bool


@dataclass(frozen=True, slots=True)
class OrgaColumns:
    external_id: str
    started: str | None
    shared: str | None


# Pix's own columns around the external id in an export (never the id itself).
FIRST_NAME = "prenom du participant"
PIX_COLUMNS = frozenset(
    {
        "nom de l'organisation",
        "id campagne",
        "code",
        "nom de la campagne",
        "parcours",
        "nom du participant",
        FIRST_NAME,
        "classe",
        "groupe",
        "numero etudiant",
    }
)


def _participation_column(folded: str) -> bool:
    """A column where Pix's export starts describing the participation (after the person)."""
    return folded.startswith(
        ("% de progression", "date de debut", "date et heure de debut", "partage", "envoi")
    )


def _label_column(header: list[str]) -> str | None:
    """The external-id column of a real Pix Orga export: Pix names it with the campaign's own
    label ("Adresse e-mail professionnelle", "Matricule"…) and writes it last among the
    participant's columns, just before "% de progression" (assessment) or "Envoi (O/N)"
    (profiles collection). None when the header is not laid out like a Pix export."""
    folded = [fold(name) for name in header]
    if FIRST_NAME not in folded:
        return None
    start = folded.index(FIRST_NAME) + 1
    end = next((i for i in range(start, len(folded)) if _participation_column(folded[i])), None)
    if end is None:
        return None
    run = [i for i in range(start, end) if folded[i] not in PIX_COLUMNS]
    if not run:
        raise OrgaError(
            "l'export n'a pas de colonne d'identifiant externe (la campagne Pix n'en demande"
            " pas) : précisez-la avec --id-column"
        )
    return header[run[-1]]


def detect_columns(header: list[str], id_column: str | None = None) -> OrgaColumns:
    """The export's external-id, started and shared columns, named as Pix names them:
    "Date de début" or "Date et heure de début (Europe/Paris)", "Partage (O/N)" (assessment)
    or "Envoi (O/N)" (profiles collection), the external id under the campaign's label."""
    folded = {fold(name): name for name in header}
    if id_column is not None:
        if fold(id_column) not in folded:
            raise OrgaError(f"colonne « {id_column} » absente de l'export")
        external = folded[fold(id_column)]
    else:
        external = _label_column(header) or ""
        for hint in ID_HINTS if not external else ():
            matches = [
                orig for key, orig in folded.items() if hint in key and key not in PIX_COLUMNS
            ]
            if matches:
                external = matches[0]
                break
        if not external:
            raise OrgaError(
                "colonne d'identifiant externe introuvable : précisez-la avec --id-column"
            )
    started = next(
        (o for k, o in folded.items() if k.startswith(("date de debut", "date et heure de debut"))),
        None,
    )
    shared = next(
        (o for k, o in folded.items() if k.startswith(("partage (", "envoi ("))),
        None,
    ) or next((o for k, o in folded.items() if k.startswith(("partage", "envoi"))), None)
    if started is None and shared is None:
        raise OrgaError("ni « Date de début » ni « Partage (O/N) » / « Envoi (O/N) » dans l'export")
    return OrgaColumns(external, started, shared)


def _column_index(header: list[str]) -> dict[str, int]:
    """Each column name's first position, in one pass (a 40,000-column header stays fast)."""
    index: dict[str, int] = {}
    for position, name in enumerate(header):
        index.setdefault(name, position)
    return index


def read_export(source: str | TextIO, id_column: str | None = None) -> Iterator[OrgaRow]:
    """The export's rows, read as a stream (``source``: the text, or an open file).

    Raise :class:`OrgaError` for an empty export, a header too long or without the needed
    columns, a cell over the csv module's limit (with its line) or an unreadable file.
    """
    stream = io.StringIO(source) if isinstance(source, str) else source
    first = stream.readline(MAX_HEADER_CHARS + 1).lstrip("\ufeff")
    if len(first) > MAX_HEADER_CHARS:
        raise OrgaError(f"ligne 1 : en-tête trop long (plus de {MAX_HEADER_CHARS} caractères)")
    if not first.strip():
        raise OrgaError("export vide")
    try:
        # The delimiter is guessed from the header line alone: a long quoted cell further
        # down must not mislead the guess.
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(first[:4096], ";,\t")
    except csv.Error:
        dialect = csv.excel
    try:
        header = [h.strip() for h in next(csv.reader(io.StringIO(first), dialect), [])]
    except csv.Error as exc:
        raise OrgaError(f"ligne 1 : en-tête illisible ({exc})") from None
    columns = detect_columns(header, id_column)
    index = _column_index(header)

    def cell(row: list[str], name: str | None) -> str:
        if name is None or index[name] >= len(row):
            return ""
        return unescape(row[index[name]].strip())

    return _rows(csv.reader(stream, dialect), columns, cell)


def _rows(
    reader: Any, columns: OrgaColumns, cell: Callable[[list[str], str | None], str]
) -> Iterator[OrgaRow]:
    for line, row in numbered_rows(reader, OrgaError):
        if not any(value.strip() for value in row):
            continue
        yield OrgaRow(
            line=line,
            external_id=cell(row, columns.external_id),
            started=bool(cell(row, columns.started)),
            shared=fold(cell(row, columns.shared)) in YES,
        )
