"""Issue #9 acceptance, at the reply level: one agent's declaration never changes what an
ambassador reads while the people sharing it are under the threshold.

Two bot instances on two databases hold the same campaign; their audiences differ only in what
one agent (X) declared (nothing, fait, commencé, stop, plus tard, stop tout). Whenever "X's
group" is under the threshold — every count X's declaration moves (started, completed, stopped)
is shown in words in both worlds, or X declared after the daily snapshot — every message the
ambassador receives (``campagne stats|voir|liste|relancer|clore``, the weekly digest, batch
reports) and the CLI's ``campaign stats --json`` and ``--csv`` are byte-identical.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import shutil
from collections import Counter
from contextlib import redirect_stderr
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bot.app import App
from bot.cli import app as cli
from bot.config import load_settings
from bot.core import FakeClock
from bot.privacy import disclose
from storage.uow import Store
from tests.helpers.bot import Bot, RecordingConsole
from tests.helpers.campaigns import AMB, CREATE, other_service, setup_service

CODE = "ABCDEF234"
X = "@x:console"
# What an agent may say, and where it puts them (None: said nothing).
DECLARATIONS: dict[str | None, str] = {
    None: "invited",
    "plus tard": "invited",
    "commencé": "started",
    "fait": "completed",
    "stop": "opted_out",
    # #23: "stop tout" is no campaign's status (a bit shared by every campaign would let two
    # campaigns differ by one person): it counts as having declared nothing for the campaign.
    "stop tout": "invited",
}
FIELDS = ("started", "completed", "opted_out")


@dataclass(frozen=True)
class World:
    min_group: int
    refresh: str
    next_day: bool
    others: tuple[str | None, ...]
    x_said: str | None


def counts(world: World) -> Counter[str]:
    return Counter(DECLARATIONS[d] for d in (*world.others, world.x_said))


def under_threshold(a: World, b: World) -> bool:
    """Every count that differs between the worlds is in words in both (X's group is small),
    or the declarations are not in the figures yet (made after the daily snapshot)."""
    if a.refresh == "daily" and not a.next_day:
        return True
    audience = len(a.others) + 1
    ca, cb = counts(a), counts(b)
    return all(
        ca[f] == cb[f]
        or not (
            disclose(ca[f], audience, a.min_group).exact
            or disclose(cb[f], audience, a.min_group).exact
        )
        for f in FIELDS
    )


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite database, copied for every world (migrations are slow)."""
    path = tmp_path_factory.mktemp("template") / "pixbot.db"
    store = Store.from_url(f"sqlite:///{path}")
    store.upgrade()
    store.close()
    return path


def _cli(db: Path, world: World, clock: FakeClock, csv_file: Path) -> tuple[str, str]:
    env = {
        "PIXBOT_BOT__DATABASE_URL": f"sqlite:///{db}",
        "PIXBOT_STATS__REFRESH": world.refresh,
        "PIXBOT_STATS__MIN_GROUP": str(world.min_group),
    }
    runner = CliRunner()
    with (
        mock.patch.dict(os.environ, env),
        mock.patch("bot.cli.campaigns.now", clock.now),
        redirect_stderr(io.StringIO()),
    ):
        os.environ.pop("PIXBOT_CONFIG", None)
        as_json = runner.invoke(cli, ["campaign", "stats", CODE, "--json"])
        as_csv = runner.invoke(cli, ["campaign", "stats", CODE, "--csv", str(csv_file)])
    assert as_json.exit_code == 0 and as_csv.exit_code == 0, as_json.output + as_csv.output
    return as_json.stdout, csv_file.read_text(encoding="utf-8")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


async def _play(template: Path, directory: Path, world: World) -> list[str]:
    """The whole story in one world; returns everything the ambassador read, then the CLI's."""
    shutil.copy(template, directory / "pixbot.db")
    db = directory / "pixbot.db"
    store = Store.from_url(f"sqlite:///{db}")
    clock = FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    cfg = load_settings(
        None,
        bot={"database_url": f"sqlite:///{db}"},
        stats={"min_group": world.min_group, "refresh": world.refresh},
    )
    platform = RecordingConsole(journal_path=directory / "console.jsonl")
    bot = Bot(App(cfg, store, platform, clock=clock), platform, clock)
    try:
        agents = [f"@a{i}:console" for i in range(len(world.others))]
        setup_service(bot, agents=[*agents, X])
        await other_service(bot)
        await bot.say(AMB, CREATE)
        await bot.say(AMB, f"campagne lancer {CODE}")
        clock.advance(minutes=30)
        for agent, said in [*zip(agents, world.others, strict=True), (X, world.x_said)]:
            if said is not None:
                await bot.say(agent, said)
        clock.advance(days=1 if world.next_day else 0, minutes=30)
        for command in (f"campagne stats {CODE}", f"campagne voir {CODE}", "campagne liste"):
            await bot.say(AMB, command)
        bot.app.runner.digest(clock.now())
        # #24: the morning note (the next morning; none on launch day with the daily snapshot).
        bot.app.runner.morning_notes(clock.now())
        await bot.app.dispatcher.drain()
        await bot.say(AMB, f"campagne relancer {CODE}")
        await bot.say(AMB, f"campagne clore {CODE}")
        await bot.say(AMB, "oui")
        await bot.app.dispatcher.drain()
        # A picture is compared by its content (its file's name and folder are this world's).
        seen = [
            f"{m['text'].splitlines()[0]} <png {_digest(Path(m['image']))}>"
            if m.get("image")
            else m["text"]
            for m in bot.delivered()
            if m["to"] == AMB
        ]
        seen.extend(_cli(db, world, clock, directory / "stats.csv"))
        return seen
    finally:
        store.close()


@pytest.fixture(scope="module")
def worlds_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("worlds")


@settings(max_examples=25, deadline=None)
@given(
    min_group=st.sampled_from([3, 5]),
    refresh=st.sampled_from(["daily", "live"]),
    next_day=st.booleans(),
    # How many other agents said each thing (large enough audiences for exact figures).
    others=st.lists(st.integers(0, 7), min_size=len(DECLARATIONS), max_size=len(DECLARATIONS)),
    pair=st.lists(st.sampled_from(list(DECLARATIONS)), min_size=2, max_size=2, unique=True),
)
def test_one_agents_declaration_never_shows(
    template_db: Path,
    worlds_dir: Path,
    min_group: int,
    refresh: str,
    next_day: bool,
    others: list[int],
    pair: list[str | None],
) -> None:
    said = tuple(d for d, n in zip(DECLARATIONS, others, strict=True) for _ in range(n))
    a = World(min_group, refresh, next_day, said, pair[0])
    b = World(min_group, refresh, next_day, said, pair[1])
    assume(under_threshold(a, b))
    root = Path(os.path.realpath(worlds_dir))
    index = len(list(root.iterdir()))
    (one := root / f"{index}a").mkdir()
    (two := root / f"{index}b").mkdir()
    seen_a = asyncio.run(_play(template_db, one, a))
    seen_b = asyncio.run(_play(template_db, two, b))
    assert len(seen_a) >= 8  # the replies are there (a silent bot would pass trivially)
    assert seen_a == seen_b


def test_the_property_can_fail(template_db: Path, worlds_dir: Path) -> None:
    """The comparison is not vacuous: exact figures that differ do show (10 of 20, then 11)."""
    base = (None,) * 9 + ("fait",) * 10
    a, b = World(5, "live", True, base, None), World(5, "live", True, base, "fait")
    assert not under_threshold(a, b)
    root = Path(os.path.realpath(worlds_dir))
    (one := root / "exact-a").mkdir()
    (two := root / "exact-b").mkdir()
    seen_a = asyncio.run(_play(template_db, one, a))
    seen_b = asyncio.run(_play(template_db, two, b))
    assert seen_a != seen_b
    assert any("10 terminés" in text for text in seen_a)
    # The new outputs of #24 are in the comparison: the ministry's line and the morning note.
    assert any("parmi les 2 campagnes en cours des 2 services" in text for text in seen_a)
    assert any(text.startswith("Bonjour, les chiffres de ce matin") for text in seen_a)
    assert any("11 terminés" in text for text in seen_b)
