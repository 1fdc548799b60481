"""Fail when a source file of the packages grows past 500 lines (two responsibilities share it)."""

from __future__ import annotations

import sys
from pathlib import Path

LIMIT = 500
PACKAGES = ("bot", "scheduler", "storage")


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    too_long = [
        (len(path.read_text(encoding="utf-8").splitlines()), path.relative_to(root))
        for package in PACKAGES
        for path in sorted((root / package).rglob("*.py"))
    ]
    too_long = [(lines, path) for lines, path in too_long if lines > LIMIT]
    for lines, path in too_long:
        print(f"{path}: {lines} lines (limit {LIMIT})")
    if not too_long:
        print(f"no source file over {LIMIT} lines")
    return 1 if too_long else 0


if __name__ == "__main__":
    sys.exit(main())
