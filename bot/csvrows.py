"""Reading CSV rows with their line numbers: a cell over the csv module's field limit or
bytes that are not UTF-8 become one error naming the line (agents import, Pix Orga export)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from typing import Any


def numbered_rows(
    reader: Any, error: Callable[[str], Exception]
) -> Iterator[tuple[int, list[str]]]:
    """``(line, row)`` for each row of a ``csv.reader``; a bad row raises ``error(message)``."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            reason = "cellule trop longue" if "field larger" in str(exc) else str(exc)
            raise error(f"ligne {reader.line_num + 1} : {reason}") from None
        except UnicodeDecodeError:
            raise error(
                f"ligne {reader.line_num + 2} : caractères illisibles (le fichier doit être "
                "en UTF-8)"
            ) from None
        yield reader.line_num + 1, row
