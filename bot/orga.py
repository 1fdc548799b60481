"""Reading a Pix Orga participants export: participation columns only, never results.

The export has one row per participant with many columns (names, external id, dates, shared
results, scores, levels…). We read exactly three kinds of column: the external id (to find the
agent), "Date de début" (started) and "Partage (O/N)" / "Envoi (O/N)" (results sent, i.e.
completed). Every other column, including any score or percentage, is never read.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from bot.text import fold

YES = {"o", "oui", "y", "yes", "1", "true", "vrai"}
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


def read_export(text: str, id_column: str | None = None) -> list[OrgaRow]:
    text = text.lstrip("\ufeff")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], ";,\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise OrgaError("export vide") from None
    columns = detect_columns(header, id_column)
    index = {name: header.index(name) for name in header}

    def cell(row: list[str], name: str | None) -> str:
        if name is None or index[name] >= len(row):
            return ""
        return row[index[name]].strip()

    rows = []
    for row in reader:
        if not any(value.strip() for value in row):
            continue
        rows.append(
            OrgaRow(
                line=reader.line_num,
                external_id=cell(row, columns.external_id),
                started=bool(cell(row, columns.started)),
                shared=fold(cell(row, columns.shared)) in YES,
            )
        )
    return rows
