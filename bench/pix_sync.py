"""Pix organisation API sync at campaign scale: 20,000 participations through a local MaDDo.

Usage: python bench/pix_sync.py [--n 20000] [--db sqlite|postgresql] [--pg-url URL]

One running campaign whose audience is ``--n`` agents (with work emails); the fake MaDDo of the
tests (``tests/helpers/pix_fake.py``, on loopback) holds ``--n`` participations carrying every
result field: 60 % shared, 30 % started, 10 % strangers (no agent). Timed, with the client's
real HTTP, JSON decoding and allow-list, and the database's real transaction:

1. the first sync (everything: 100 pages of 200), split into reading and applying;
2. an incremental sync after 500 participations changed (``since``, with the overlap);
3. a full re-read that changes nothing (``--full``: the idempotence path).

PostgreSQL runs in a schema of its own on the given server, dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, func, select, text  # noqa: E402

from bot.core import FakeClock  # noqa: E402
from bot.pix.client import PixClient  # noqa: E402
from bot.services.pix_sync import PixSync  # noqa: E402
from storage.models import ParticipationEventRow  # noqa: E402
from storage.repositories.people import AgentRecord  # noqa: E402
from storage.uow import Store  # noqa: E402
from tests.helpers.pix_fake import (  # noqa: E402
    CLIENT_ID,
    CLIENT_SECRET,
    Participation,
    running_maddo,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CODE, PIX_ID, SERVICE = "ABCDEF234", 555, "SG-CENTRAL"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def setup(store: Store, n: int) -> None:
    with store.transaction() as uow:
        uow.people.upsert_many(
            [
                AgentRecord(
                    f"@agent{i}:bench",
                    f"Agent {i}",
                    SERVICE,
                    f"agent.{i}@bench.gouv.fr",
                    None,
                    None,
                )
                for i in range(n)
            ],
            NOW,
        )
    with store.transaction() as uow:
        campaign = uow.campaigns.create(
            code=CODE,
            title="Cybersécurité",
            url=f"https://app.pix.fr/campagnes/{CODE}",
            service=SERVICE,
            deadline=date(2026, 12, 20),
            audience_kind="service",
            audience_value=SERVICE,
            now=NOW,
            created_by=None,
        )
        uow.campaigns.add_audience(campaign.id, [p.id for p in uow.people.in_service(SERVICE)], NOW)
        uow.campaigns.set_status(campaign.id, "running")  # type: ignore[arg-type]


def participations(n: int) -> list[Participation]:
    rows = []
    for i in range(n):
        created = NOW - timedelta(days=3, seconds=i)
        if i % 10 == 9:
            rows.append(
                Participation(i + 1, f"stranger.{i}@ailleurs.fr", "X", f"Y{i}", created_at=created)
            )
        elif i % 10 < 6:
            rows.append(
                Participation(
                    i + 1,
                    f"Agent.{i}@Bench.gouv.fr",
                    "Agent",
                    str(i),
                    "SHARED",
                    created,
                    created + timedelta(hours=1),
                )
            )
        else:
            rows.append(
                Participation(
                    i + 1, f"agent.{i}@bench.gouv.fr", "Agent", str(i), created_at=created
                )
            )
    return rows


async def floor(fake: Any, n: int) -> tuple[str, float, str]:
    """A bare aiohttp loop reading the same pages and decoding their JSON (no allow-list, no
    retry logic, no database): what reading costs here, the fake's own work included (it runs
    in this process, on this loop)."""
    import aiohttp

    async with aiohttp.ClientSession() as http:
        form = {
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": "meta campaigns",
        }
        async with http.post(f"{fake.base_url}/api/application/token", data=form) as answer:
            token = (await answer.json())["access_token"]
        start, pages, number = time.perf_counter(), 0, 1
        while True:
            async with http.get(
                f"{fake.base_url}/api/campaigns/{PIX_ID}/participations",
                params={"page[number]": str(number), "page[size]": "200"},
                headers={"Authorization": f"Bearer {token}"},
            ) as answer:
                body = await answer.json()
            pages += 1
            if body["page"]["number"] >= body["page"]["count"]:
                break
            number += 1
        seconds = time.perf_counter() - start
    return ("floor: bare aiohttp read of the pages", seconds, f"{n} in {pages} pages")


async def run(db_url: str, n: int) -> list[tuple[str, float, str]]:
    store = Store.from_url(db_url)
    store.upgrade()
    t0 = time.perf_counter()
    setup(store, n)
    table: list[tuple[str, float, str]] = [("setup (not the sync)", time.perf_counter() - t0, "")]
    clock = FakeClock(NOW)
    async with running_maddo(clock.now, timedelta(hours=1)) as fake:
        fake.add_campaign(PIX_ID, CODE)
        fake.participations[PIX_ID] = participations(n)
        client = PixClient(fake.base_url, CLIENT_ID, CLIENT_SECRET, now=clock.now)
        sync = PixSync(client, store, clock, overlap=timedelta(hours=1))
        applied: list[float] = []
        original = sync._apply

        def timed_apply(*args: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args)
            finally:
                applied.append(time.perf_counter() - start)

        sync._apply = timed_apply  # type: ignore[method-assign]

        async def measured(label: str, **kw: Any) -> None:
            fake.requests.clear()
            applied.clear()
            start = time.perf_counter()
            [report] = await sync.sync(**kw)
            total = time.perf_counter() - start
            assert report.error is None, report.error
            reads = sum(1 for _, path, _ in fake.requests if path.endswith("/participations"))
            detail = (
                f"{report.fetched} read in {reads} pages, apply {applied[0]:.2f} s"
                f" (read {total - applied[0]:.2f} s), {report.completed} completed,"
                f" {report.started} started, {report.unmatched_total} unmatched,"
                f" {report.fetched / total:,.0f} participations/s"
            )
            table.append((label, total, detail))

        table.append(await floor(fake, n))
        await measured("first sync (all)")
        clock.advance(minutes=30)
        for row in fake.participations[PIX_ID][6:5000:10][:500]:  # started ones share
            row.status, row.shared_at = "SHARED", clock.now() - timedelta(minutes=5)
        await measured("incremental (500 changed)")
        clock.advance(minutes=30)
        await measured("full re-read, nothing new", code=CODE, full=True)
        await sync.close()
    with store.transaction() as uow:
        events = uow.session.scalar(select(func.count()).select_from(ParticipationEventRow))
    table.append(("participation events in the database", 0.0, str(events)))
    store.close()
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with tempfile.TemporaryDirectory() as tmp:
        if args.db == "sqlite":
            db_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        else:
            admin = create_engine(args.pg_url)
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            sep = "&" if "?" in args.pg_url else "?"
            db_url = f"{args.pg_url}{sep}options=-csearch_path%3D{schema}"
        try:
            table = asyncio.run(run(db_url, args.n))
        finally:
            if args.db == "postgresql":
                with admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
    print(
        f"bench/pix_sync.py — {args.n} participations, {args.db}, peak RSS {peak_rss_mb():.0f} MB"
    )
    print(f"{'phase':<40} {'seconds':>8}  detail")
    for label, seconds, detail in table:
        print(f"{label:<40} {seconds:>8.2f}  {detail}")


if __name__ == "__main__":
    main()
