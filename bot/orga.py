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


def detect_columns(header: list[str], id_column: str | None = None) -> OrgaColumns:
    folded = {fold(name): name for name in header}
    if id_column is not None:
        if fold(id_column) not in folded:
            raise OrgaError(f"colonne « {id_column} » absente de l'export")
        external = folded[fold(id_column)]
    else:
        external = ""
        for hint in ID_HINTS:
            matches = [orig for key, orig in folded.items() if hint in key]
            if matches:
                external = matches[0]
                break
        if not external:
            raise OrgaError(
                "colonne d'identifiant externe introuvable : précisez-la avec --id-column"
            )
    started = next((o for k, o in folded.items() if k.startswith("date de debut")), None)
    shared = next(
        (o for k, o in folded.items() if k.startswith("partage") or k.startswith("envoi")), None
    )
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
        return row[index[name]].strip()

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
