"""CSV files: the agents import (validated as a whole) and the stats export."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.privacy import Figure, clean_display_name, safe_cell
from bot.stats import CampaignStats
from bot.text import clean_line

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
        name = clean_display_name(values.get("display_name", "")) or ""
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


def figure_cell(figure: Figure) -> str | int:
    """A figure in a CSV cell: the number, or the French wording of the disclosure rule."""
    return figure.as_text(
        fewer="moins de {n}", almost="presque tous (moins de {n} exceptions)", hidden="masqué"
    )


def write_stats_csv(path: Path, stats: CampaignStats) -> None:
    from bot.stats import DECLARED

    hidden = f"< {stats.min_group}"
    header = ["groupe", "invited", *DECLARED, *(f"{f}_rate" for f in DECLARED)]
    with path.open("w", encoding="utf-8", newline="") as handle:
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
                ]
            writer.writerow([safe_cell(cell) for cell in row])
