"""Ministry-scale benchmark: import, launch, reminder selection, stats and Orga import.

Usage: python bench/scale.py [--n 100000] [--services 50] [--campaigns 20] [--audience 20000]
                             [--db sqlite|postgresql] [--pg-url URL]

One service holds ``--audience`` agents (the launch target), the others share the rest; every
other campaign targets one of them with realistic participation (all invited, 40 % started,
25 % completed, 3 % opted out). Each phase is timed beside its floor (a bare ``executemany``,
or ``COPY`` on PostgreSQL, of the same number of rows) and the process peak RSS after it.
Targets (issue #14): import ≤ 30× the floor, launch ≤ 1 ms per invitation and flat in N,
Orga 20,000 rows ≤ 5 s, due-recipient selection < 1 s, stats < 0.5 s, peak RSS < 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import text  # noqa: E402

from bot.core import FakeClock  # noqa: E402
from bot.domain import ParticipationKind  # noqa: E402
from bot.lease import Lease  # noqa: E402
from bot.notifier import Notifier  # noqa: E402
from bot.orga import OrgaRow  # noqa: E402
from bot.outbox import Dispatcher  # noqa: E402
from bot.platforms.console import ConsolePlatform  # noqa: E402
from bot.render import Renderer  # noqa: E402
from bot.services.campaigns import Batch, CampaignService  # noqa: E402
from bot.services.figures import figures  # noqa: E402
from bot.services.orga_import import apply_orga_export  # noqa: E402
from storage.health import DatabaseHealth  # noqa: E402
from storage.lock import InstanceLock  # noqa: E402
from storage.uow import Store  # noqa: E402

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ROWS: list[tuple[str, float, float | None, float]] = []
CPU: dict[str, float] = {}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def phase(name: str, floor: float | None = None) -> Iterator[None]:
    start = time.perf_counter()
    yield
    ROWS.append((name, time.perf_counter() - start, floor, peak_rss_mb()))


def progress(total: int, label: str) -> Any:
    """A rich progress bar on a terminal, nothing otherwise."""
    try:
        from bot.cli.progress import progress as bar
    except ImportError:  # before the progress helper existed
        return _NoBar()
    return bar(total, label)


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def advance(self, n: int = 1) -> None:
        return None


def floor_insert(store: Store, rows: list[tuple[Any, ...]], columns: int) -> float:
    """A bare insert of ``rows`` into a scratch table: executemany (SQLite) or COPY (PostgreSQL)."""
    names = ", ".join(f"c{i} text" for i in range(columns))
    engine = store.database.engine
    key = "serial" if engine.dialect.name == "postgresql" else "integer"
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_floor"))
        conn.execute(text(f"CREATE TABLE bench_floor (id {key} primary key, {names})"))
    raw: Any = engine.raw_connection()
    try:
        cursor = raw.cursor()
        start = time.perf_counter()
        if engine.dialect.name == "postgresql":
            cols = ", ".join(f"c{i}" for i in range(columns))
            with cursor.copy(f"COPY bench_floor ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([str(v) for v in row])
        else:
            marks = ", ".join("?" for _ in range(columns))
            cols = ", ".join(f"c{i}" for i in range(columns))
            cursor.executemany(
                f"INSERT INTO bench_floor ({cols}) VALUES ({marks})",
                [tuple(str(v) for v in row) for row in rows],
            )
        raw.commit()
        elapsed = time.perf_counter() - start
    finally:
        raw.close()
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE bench_floor"))
    return elapsed


def agents(
    n: int, services: int, audience: int, launches: list[int] | None = None
) -> list[tuple[str, str, str, str]]:
    """``audience`` agents in SG-CENTRAL, then a service LAUNCH-<size> per size of
    ``launches``, the rest shared by the other services."""
    blocks = [("SG-CENTRAL", audience)] + [(f"LAUNCH-{size}", size) for size in launches or []]
    rows = []
    for i in range(n):
        service, start = f"SERVICE-{i % (services - 1):02d}", 0
        for name, size in blocks:
            if start <= i < start + size:
                service = name
                break
            start += size
        rows.append((f"@agent{i}:bench", f"Agent {i}", service, f"Agent.{i}@Bench.gouv.fr"))
    return rows


def run_import(db_url: str, rows: list[tuple[str, str, str, str]], workdir: Path) -> None:
    from bot.cli import people

    path = workdir / "agents.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "display_name", "service", "email"])
        writer.writerows(rows)
    os.environ["PIXBOT_BOT__DATABASE_URL"] = db_url
    os.environ.pop("PIXBOT_CONFIG", None)
    stdout = sys.stdout
    sys.stdout = io.StringIO()
    try:
        people.agents_import(file=path)
    finally:
        sys.stdout = stdout


def create_campaign(store: Store, code: str, service: str) -> Any:
    with store.transaction() as uow:
        return uow.campaigns.create(
            code=code,
            title=f"Campagne {code}",
            url=f"https://app.pix.fr/campagnes/{code}",
            service=service,
            deadline=date(2026, 12, 20),
            audience_kind="service",
            audience_value=service,
            now=NOW,
            created_by=None,
        )


def record_many(uow: Any, events: list[tuple[int, ParticipationKind, int]], now: datetime) -> None:
    if hasattr(uow.participation, "record_many"):
        uow.participation.record_many(
            [(pid, kind, cid) for pid, kind, cid in events], now, source="chat"
        )
        return
    for pid, kind, cid in events:
        uow.participation.record(pid, kind, now, cid)


def participate(uow: Any, campaign_id: int, person_ids: list[int], rng: random.Random) -> None:
    events: list[tuple[int, ParticipationKind, int]] = []
    for pid in person_ids:
        roll = rng.random()
        if roll < 0.25:
            events.append((pid, ParticipationKind.STARTED, campaign_id))
            events.append((pid, ParticipationKind.COMPLETED, campaign_id))
        elif roll < 0.40:
            events.append((pid, ParticipationKind.STARTED, campaign_id))
        elif roll < 0.43:
            events.append((pid, ParticipationKind.OPTED_OUT, campaign_id))
    record_many(uow, events, NOW + timedelta(hours=1))


def launch(
    store: Store, service: CampaignService, campaign: Any, clock: FakeClock, workdir: Path
) -> tuple[int, float, float]:
    """Invite a campaign's audience and send everything on the console; returns
    (invitations, enqueue seconds, dispatch seconds); the process's CPU seconds for both in
    ``CPU["launch"]`` (the database server's own work left out)."""
    start, cpu = time.perf_counter(), time.process_time()
    with store.transaction() as uow:
        people = service.audience(uow, campaign, clock.now())
        result = service.invite(
            uow, campaign, people, clock.now(), Batch("launch", campaign.id, "x")
        )
    enqueued = time.perf_counter() - start
    platform = ConsolePlatform(
        input_stream=io.StringIO(),
        output=io.StringIO() if False else open(os.devnull, "w"),  # noqa: SIM115
        journal_path=workdir / f"journal-{campaign.code}.jsonl",
        interactive=False,
        rate_limit=1e9,  # the sink is not the subject: our own overhead is
    )
    dispatcher = Dispatcher(store, platform, clock)

    async def fenced_drain() -> float:
        # As in ``pixbot run``: the dispatcher holds the instance lock and checks it (and that
        # the row is still pending) before every send.
        lease = Lease(InstanceLock(store.database), DatabaseHealth())
        assert await lease.acquire(asyncio.Event())
        dispatcher.fencing.engage(lease)
        try:
            start = time.perf_counter()
            await dispatcher.drain()
            return time.perf_counter() - start
        finally:
            lease.release()

    with progress(result.new, "launch: dispatch") as bar:
        dispatcher.after_send = lambda _delivery: bar.advance()
        sent = asyncio.run(fenced_drain())
    platform.output.close()
    CPU["launch"] = time.process_time() - cpu
    return result.new, enqueued, sent


def setup_background(
    store: Store, service: CampaignService, index: int, others: list[str], rng: random.Random
) -> None:
    campaign = create_campaign(store, f"BG{index:04d}X", others[index % len(others)])
    with store.transaction() as uow:
        people = service.audience(uow, campaign, NOW)
        service.invite(uow, campaign, people, NOW, None)
        participate(uow, campaign.id, [p.id for p in people], rng)
    mark_all_sent(store)


def mark_all_sent(store: Store) -> None:
    with store.transaction() as uow:
        uow.session.execute(
            text("UPDATE deliveries SET status = 'sent', body = NULL WHERE status = 'pending'")
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--campaigns", type=int, default=20)
    parser.add_argument("--audience", type=int, default=20_000)
    parser.add_argument("--orga", type=int, default=20_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/pixbot_bench"
    )
    parser.add_argument("--skip-dispatch", action="store_true", help="time enqueue only")
    parser.add_argument(
        "--launches",
        type=int,
        nargs="*",
        default=[],
        metavar="SIZE",
        help="first launch to services of these sizes (e.g. 4000 10000): the cost per "
        "invitation at each size, in the same run as the main launch (flat in N?)",
    )
    args = parser.parse_args()
    audience = min(args.audience, args.n)
    if audience + sum(args.launches) > args.n:
        parser.error("--n must hold the audience and every --launches service")
    load_before = os.getloadavg()
    rng = random.Random(14)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        db_url = f"sqlite:///{workdir / 'bench.db'}" if args.db == "sqlite" else args.pg_url
        if args.db == "postgresql":
            _reset_postgres(db_url)
        store = Store.from_url(db_url)
        store.upgrade()
        rows = agents(args.n, args.services, audience, args.launches)

        floor = floor_insert(store, rows, 4)
        with phase(f"agents import ({args.n})", floor):
            run_import(db_url, rows, workdir)

        clock = FakeClock(NOW)
        renderer = Renderer("fr", "Europe/Paris")
        service = CampaignService(Notifier(renderer, "fr"), 5)

        # Background campaigns: launched, sent, with participation (setup, not timed).
        others = [f"SERVICE-{i:02d}" for i in range(args.services - 1)]
        with progress(args.campaigns - 1, "background campaigns") as bar:
            for index in range(args.campaigns - 1):
                setup_background(store, service, index, others, rng)
                bar.advance()

        flat: list[tuple[int, float, float]] = []
        for size in args.launches:
            campaign = create_campaign(store, f"LAUNCH{size}X", f"LAUNCH-{size}")
            new, enqueued, sent = launch(store, service, campaign, clock, workdir)
            per = (enqueued + sent) / max(1, new) * 1000
            flat.append((new, per, CPU["launch"] / max(1, new) * 1000))
            ROWS.append((f"launch to {new}: resolve + enqueue", enqueued, None, peak_rss_mb()))
            ROWS.append((f"launch to {new}: dispatch to console", sent, None, peak_rss_mb()))
            ROWS.append(("  per invitation, ms", per, None, peak_rss_mb()))

        big = create_campaign(store, "SCALE2026", "SG-CENTRAL")

        delivery_floor = floor_insert(
            store, [(f"inv:{i}", "invitation", "x" * 600, i) for i in range(audience)], 4
        )
        new, enqueued, sent = launch(store, service, big, clock, workdir)
        ROWS.append((f"launch: resolve + enqueue ({new})", enqueued, delivery_floor, peak_rss_mb()))
        ROWS.append((f"launch: dispatch to console ({new})", sent, None, peak_rss_mb()))
        per = (enqueued + sent) / max(1, new) * 1000
        flat.append((new, per, CPU["launch"] / max(1, new) * 1000))
        ROWS.append(("  per invitation, ms", per, None, peak_rss_mb()))
        with store.transaction() as uow:
            ids = [p.id for p in service.audience(uow, big, NOW)]
            participate(uow, big.id, ids, rng)

        with phase("due recipients (reminder step)"), store.transaction() as uow:
            due = service.due_for_reminder(uow, big)
        with phase(f"reminder enqueue ({len(due)})"), store.transaction() as uow:
            service.remind(uow, big, "bench", NOW + timedelta(days=1))
        with phase("stats (one campaign)"), store.transaction() as uow:
            figures(uow, big, 5)

        orga_rows = [
            OrgaRow(
                line=i + 2, external_id=f"agent.{i}@bench.GOUV.fr", started=True, shared=i % 2 == 0
            )
            for i in range(min(args.orga, audience))
        ]
        orga_floor = floor_insert(store, [(r.external_id, "orga") for r in orga_rows], 2)
        with phase(f"Orga import ({len(orga_rows)} rows)", orga_floor), store.transaction() as uow:
            apply_orga_export(uow, big, orga_rows, NOW + timedelta(days=2))
        plans = explain(store, big.id)
        store.close()
        if args.db == "postgresql":
            _reset_postgres(db_url)

    load = " ".join(f"{x:.1f}" for x in (*load_before, *os.getloadavg()))
    print(
        f"bench/scale.py — {args.db}, {args.n} agents, {args.services} services, "
        f"{args.campaigns} campaigns, audience {audience}; load average {load} "
        f"(1/5/15 min at the start, then at the end) on {os.cpu_count()} CPUs"
    )
    print(f"{'phase':<44} {'time s':>9} {'floor s':>9} {'ratio':>7} {'peak RSS MB':>12}")
    for name, seconds, floor_s, rss in ROWS:
        ratio = f"{seconds / floor_s:.1f}×" if floor_s else ""
        floor_text = f"{floor_s:.3f}" if floor_s else ""
        print(f"{name:<44} {seconds:>9.3f} {floor_text:>9} {ratio:>7} {rss:>12.0f}")
    if len(flat) > 1:
        sizes = " / ".join(f"{n}: {per:.2f}" for n, per, _ in flat)
        print(f"launch, ms per invitation (target ≤ 1, flat): {sizes}")
        sizes = " / ".join(f"{n}: {cpu:.2f}" for n, _, cpu in flat)
        print(f"launch, CPU ms per invitation (this process): {sizes}")
    for name, plan in plans:
        print(f"\nEXPLAIN {name}:\n{plan}")


def explain(store: Store, campaign_id: int) -> list[tuple[str, str]]:
    """EXPLAIN of the due-deliveries and due-recipients queries, on the bench's data."""
    try:
        from storage.repositories.outbox import OutboxRepo
        from storage.repositories.participation import ParticipationRepo
    except ImportError:  # pragma: no cover
        return []
    if not hasattr(ParticipationRepo, "due_query"):
        return []  # before issue #14
    engine = store.database.engine
    postgres = engine.dialect.name == "postgresql"
    queries = [
        ("due deliveries (replies)", OutboxRepo.due_query(NOW, to_conversation=True, limit=50)),
        ("due deliveries (people)", OutboxRepo.due_query(NOW, to_conversation=False, limit=50)),
        ("due recipients", ParticipationRepo.due_query(campaign_id)),
    ]
    plans = []
    with engine.connect() as conn:
        if postgres:
            conn.execute(text("ANALYZE"))
            start = time.perf_counter()
            conn.execute(queries[-1][1]).all()
            ROWS.append(("due recipients, after ANALYZE", time.perf_counter() - start, None, 0))
        for name, query in queries:
            compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
            prefix = (
                "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF)" if postgres else "EXPLAIN QUERY PLAN"
            )
            rows = conn.execute(text(f"{prefix} {compiled}")).all()
            lines = [str(r[0]) if postgres else str(r[-1]) for r in rows]
            plans.append((name, "\n".join(lines)))
    return plans


def _reset_postgres(db_url: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


if __name__ == "__main__":
    main()
