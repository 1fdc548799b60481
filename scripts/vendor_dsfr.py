"""Copy the Système de design de l'État (DSFR) into the package, at build time, from npm.

    python scripts/vendor_dsfr.py [--version 1.15.3] [--from TARBALL]

Runs ``npm pack @gouvfr/dsfr@VERSION`` (the npm registry, through npm itself) in a temporary
folder, or reads a tarball already fetched, and copies into ``bot/dashboard/static/dsfr/`` only
what the pages use: ``dsfr.min.css``, the fonts and the icons that stylesheet refers to
(``url(...)``), and DSFR's licence. About 2 MB instead of the package's 23 MB (7,400 files).

The copy is not committed (.gitignore): DSFR's fonts and marks belong to the State's services
and its terms restrict who may use them, so the repository does not redistribute them; the
Docker image and CI run this script. Without it the pages link ``dashboard.css`` only, which
keeps them readable and accessible (the tests run either way and say which).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "@gouvfr/dsfr"
VERSION = "1.15.3"
TARGET = Path(__file__).resolve().parents[1] / "bot" / "dashboard" / "static" / "dsfr"
URL = re.compile(r"url\(([^)\"'][^)]*)\)")


def fetch(version: str, folder: Path) -> Path:
    subprocess.run(
        ["npm", "pack", f"{PACKAGE}@{version}", "--silent"],
        cwd=folder,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    found = sorted(folder.glob("gouvfr-dsfr-*.tgz"))
    if not found:
        raise SystemExit("npm pack produced no tarball")
    return found[0]


def vendor(tarball: Path, target: Path = TARGET) -> list[str]:
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())

        def read(name: str) -> bytes:
            member = archive.extractfile(f"package/{name}")
            if member is None:
                raise SystemExit(f"{name} missing from {tarball}")
            return member.read()

        css = read("dist/dsfr.min.css")
        wanted = ["dist/dsfr.min.css", "LICENSE.md"]
        for reference in sorted(set(URL.findall(css.decode("utf-8")))):
            path = reference.split("?")[0].split("#")[0]
            if path.startswith("data:") or ".." in path:
                continue
            if f"package/dist/{path}" in names:
                wanted.append(f"dist/{path}")
        if target.exists():
            shutil.rmtree(target)
        for name in wanted:
            destination = target / name.removeprefix("dist/")
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(read(name))
    version = re.search(r"gouvfr-dsfr-(.+)\.tgz$", tarball.name)
    (target / "VERSION").write_text((version.group(1) if version else "?") + "\n")
    return wanted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=VERSION)
    parser.add_argument("--from", dest="tarball", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tarball = args.tarball or fetch(args.version, Path(folder))
        copied = vendor(tarball)
    size = sum(p.stat().st_size for p in TARGET.rglob("*") if p.is_file())
    print(f"DSFR {args.version}: {len(copied)} files, {size // 1024} KiB in {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
