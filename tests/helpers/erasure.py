"""The erasure check on bytes: every file under a folder, searched for what names a person."""

from __future__ import annotations

from pathlib import Path


def files_naming(folder: Path, needles: list[str]) -> list[str]:
    """``path: needle`` for every file under ``folder`` whose bytes contain a needle (UTF-8, and
    JSON's ``\\uXXXX`` form for non-ASCII names)."""
    forms: list[tuple[str, bytes]] = []
    for needle in needles:
        forms.append((needle, needle.encode("utf-8")))
        escaped = needle.encode("ascii", "backslashreplace").replace(b"\\x", b"\\u00")
        if escaped != needle.encode("utf-8"):
            forms.append((needle, escaped))
    hits = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        hits.extend(f"{path.relative_to(folder)}: {n}" for n, form in forms if form in data)
    return hits
