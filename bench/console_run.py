"""A launch as a user runs it: a console ``pixbot run`` printing every invitation.

Usage: python bench/console_run.py [--n 4000 20000] [--db sqlite|postgresql] [--pg-url URL]
                                   [--repeat 2] [--before SOURCE_TREE]

For each N: a fresh database (SQLite file, or the PostgreSQL database at ``--pg-url``, its
``public`` schema dropped and re-created), N agents imported in one service, an ambassador and
a campaign; then ``pixbot run`` as a subprocess with the input ``campagne lancer CODE`` piped
in, its output (every invitation, printed) written to a file. The floor is the same process
with the input ``aide`` (start, one reply, stop): the launch costs the difference, divided by N.
Each N is run ``--repeat`` times beside its floor (the machine is shared: take the best).
Beside the wall time, the CPU time of the ``pixbot run`` process (user + system, from
``getrusage``) the same way: less sensitive to a loaded machine than the wall time, it leaves
out the database server's own work.
Target (issue #29): ≤ 1 ms per invitation, flat from 4,000 to 20,000.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CODE = "BENCH2026"
AMBASSADOR = "@amb:console"


CPU: dict[str, float] = {"last": 0.0}  # CPU seconds of the last pixbot() call


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pixbot(
    workdir: Path,
    *args: str,
    stdin: str | None = None,
    out: Path | None = None,
    code: str | None = None,
) -> float:
    """Run ``pixbot ARGS`` in ``workdir`` (from the source tree ``code`` when given); returns
    its wall time (its CPU time in ``CPU["last"]``)."""
    command = [sys.executable, "-c", "from bot.cli import main; main()", *args]
    env = dict(os.environ)
    if code:
        env["PYTHONPATH"] = code
    start, cpu = time.perf_counter(), _children_cpu()
    with open(out or os.devnull, "w") as handle:
        subprocess.run(
            command,
            cwd=workdir,
            input=stdin,
            text=True,
            stdout=handle,
            check=True,
            timeout=3600,
            env=env,
        )
    CPU["last"] = _children_cpu() - cpu
    return time.perf_counter() - start


def prepare(workdir: Path, n: int, db_url: str, code: str | None) -> None:
    (workdir / "pixbot.toml").write_text(
        f'[bot]\nplatform = "console"\ndatabase_url = "{db_url}"\n'
        # Any hour, any day: the launch leaves now whenever the bench runs.
        '[schedule]\nworking_hours = "00:00-23:59"\nworking_days = "mon-sun"\n',
        encoding="utf-8",
    )
    with (workdir / "agents.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "display_name", "service", "email"])
        for i in range(n):
            writer.writerow([f"@agent{i}:console", f"Agent {i}", "SG", f"agent.{i}@bench.gouv.fr"])
    pixbot(workdir, "db", "upgrade", code=code)
    pixbot(workdir, "agents", "import", "agents.csv", code=code)
    pixbot(workdir, "ambassador", "add", AMBASSADOR, "--service", "SG", code=code)
    deadline = (date.today() + timedelta(days=30)).strftime("%d/%m/%Y")
    pixbot(
        workdir,
        "run",
        stdin=f'/as {AMBASSADOR}\ncampagne créer {CODE} "Bench" fin {deadline}\n',
        code=code,
    )


def reset_postgres(db_url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def one(n: int, db: str, pg_url: str, code: str | None) -> tuple[float, float, int, float, float]:
    """(launch wall s, floor wall s, invitations printed, launch CPU s, floor CPU s) for one
    fresh set-up."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if db == "postgresql":
            reset_postgres(pg_url)
            url = pg_url
        else:
            url = f"sqlite:///{workdir / 'pixbot.db'}"
        prepare(workdir, n, url, code)
        floor = pixbot(workdir, "run", stdin=f"/as {AMBASSADOR}\naide\n", code=code)
        floor_cpu = CPU["last"]
        out = workdir / "out.txt"
        launch = f"/as {AMBASSADOR}\ncampagne lancer {CODE}\n"
        wall = pixbot(workdir, "run", stdin=launch, out=out, code=code)
        cpu = CPU["last"]
        printed = out.read_text(encoding="utf-8").count("→ @agent")
        if printed != n:
            raise SystemExit(f"{printed} invitations printed, {n} expected")
        if db == "postgresql":
            reset_postgres(pg_url)
        return wall, floor, printed, cpu, floor_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[4000, 20000])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/pixbot_bench"
    )
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--before",
        metavar="SOURCE_TREE",
        help="also run this source tree (e.g. `git archive main | tar -x -C /tmp/before`), "
        "alternating with the current one, to compare them in the same conditions",
    )
    args = parser.parse_args()
    trees: list[tuple[str, str | None]] = [("now", None)]
    if args.before:
        trees.insert(0, ("before", args.before))
    rows = []
    load_before = os.getloadavg()
    for n in args.n:
        for _ in range(args.repeat):
            for label, code in trees:
                rows.append((label, n, *one(n, args.db, args.pg_url, code)))
    load = " ".join(f"{x:.1f}" for x in (*load_before, *os.getloadavg()))
    print(
        f"bench/console_run.py — {args.db}, load average {load} (1/5/15 min at the start, "
        f"then at the end) on {os.cpu_count()} CPUs"
    )
    print(
        f"{'code':<7} {'N':>7} {'run s':>8} {'floor s':>8} {'printed':>8} {'ms/invitation':>14}"
        f" {'CPU ms/invitation':>18}"
    )
    for label, n, wall, floor, printed, cpu, floor_cpu in rows:
        per = (wall - floor) / n * 1000
        cpu_per = (cpu - floor_cpu) / n * 1000
        print(
            f"{label:<7} {n:>7} {wall:>8.2f} {floor:>8.2f} {printed:>8} {per:>14.2f}"
            f" {cpu_per:>18.2f}"
        )


if __name__ == "__main__":
    main()
