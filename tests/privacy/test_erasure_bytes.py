"""Issue #23, items 6 and 7: after every erasure path (``oublie-moi`` in a direct conversation or
in a room, ``pixbot forget``), no file under the data folder — the SQLite database, its WAL and
shared memory, the console journal, the pictures, the key file — holds a byte naming the person
(id, display name, email). On main the database's free pages and ``-wal`` kept them (36 hits)."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.app import App
from bot.cli import app as cli
from bot.core import FakeClock
from storage.models import PrivacyKeyRow, ProcessedEventRow, QuestionRow
from storage.uow import Store
from tests.helpers.bot import Bot, RecordingConsole, make_settings, point_cli_at
from tests.helpers.campaigns import AGENTS, AMB, CREATE, put_person, setup_service
from tests.helpers.erasure import files_naming

TARGET = AGENTS[0]
NAME = "Gwénaëlle Le Floc'h"
EMAIL = "gwenaelle.lefloch@dreal.gouv.fr"
NEEDLES = [TARGET, NAME, EMAIL]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def sqlite_bot(folder: Path, clock: FakeClock) -> Bot:
    folder.mkdir(mode=0o700)
    url = f"sqlite:///{folder / 'pixbot.db'}"
    store = Store.from_url(url)
    store.upgrade()
    platform = RecordingConsole(journal_path=folder / "pixbot.console.jsonl")
    platform.journal.load()
    app = App(make_settings(url), store, platform, clock=clock)
    return Bot(app, platform, clock)


async def _a_life(bot: Bot) -> None:
    """Everything the person leaves behind: an invitation, a declaration, a question kept
    unanswered, their data sent to them, a chart the ambassador received."""
    setup_service(bot)
    with bot.store.transaction() as uow:
        put_person(uow, TARGET, bot.clock.now(), display_name=NAME, email=EMAIL)
    await bot.say(AMB, f"{CREATE} pour {','.join(AGENTS)}")
    await bot.say(AMB, "campagne lancer ABCDEF234")
    await bot.say(TARGET, "commencé")
    await bot.say(TARGET, "combien de chats a le voisin de ma grand-mère ?")
    await bot.say(TARGET, "non")
    await bot.say(TARGET, "mes données")
    await bot.say(AMB, "campagne stats ABCDEF234")
    folder = Path(bot.store.database.url.removeprefix("sqlite:///")).parent
    assert files_naming(folder, NEEDLES)  # the person is there before


async def test_forget_me_in_a_direct_conversation_leaves_no_byte(
    sqlite_bot: Bot, folder: Path
) -> None:
    await _a_life(sqlite_bot)
    await sqlite_bot.say(TARGET, "oublie-moi")
    await sqlite_bot.say(TARGET, "oui")
    assert files_naming(folder, NEEDLES) == []


async def test_forget_me_in_a_room_leaves_no_byte(sqlite_bot: Bot, folder: Path) -> None:
    await _a_life(sqlite_bot)
    await sqlite_bot.say(TARGET, "!pix oublie-moi", room="#salon:console")
    await sqlite_bot.say(TARGET, "!pix oui", room="#salon:console")
    assert files_naming(folder, NEEDLES) == []


def test_pixbot_forget_leaves_no_byte(
    sqlite_bot: Bot, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(_a_life(sqlite_bot))
    point_cli_at(monkeypatch, folder, f"sqlite:///{folder / 'pixbot.db'}")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        result = CliRunner().invoke(cli, ["forget", TARGET])
    finally:  # the CLI points logging at CliRunner's stream, closed once it returns
        root.handlers[:] = handlers
        root.setLevel(level)
    assert result.exit_code == 0, result.output
    assert files_naming(folder, NEEDLES) == []


async def test_the_tombstone_key_lives_beside_the_database_not_in_it(
    sqlite_bot: Bot, folder: Path
) -> None:
    await _a_life(sqlite_bot)
    await sqlite_bot.say(TARGET, "oublie-moi")
    await sqlite_bot.say(TARGET, "oui")
    key_file = folder / "pixbot.db.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    with sqlite_bot.store.transaction() as uow:
        assert uow.session.scalar(select(PrivacyKeyRow)) is None
        assert uow.privacy.is_erased(TARGET)
    # The database alone (a backup) cannot tell whose tombstone it is: with another key, the
    # same id is not recognised.
    key_file.rename(folder.parent / "elsewhere.key")
    other = Store.from_url(f"sqlite:///{folder / 'pixbot.db'}")
    try:
        with other.transaction() as uow:
            assert not uow.privacy.is_erased(TARGET)
    finally:
        other.close()


def test_a_key_kept_in_an_older_database_moves_to_the_key_file(folder: Path) -> None:
    """Databases made before keep their tombstones: the key moves out, unchanged."""
    folder.mkdir()
    url = f"sqlite:///{folder / 'pixbot.db'}"
    store = Store.from_url(url)
    store.upgrade()
    with store.transaction() as uow:
        uow.session.add(PrivacyKeyRow(name="hmac", value="ab" * 32))
    store.close()
    store = Store.from_url(url)
    try:
        with store.transaction() as uow:
            assert uow.privacy.key() == bytes.fromhex("ab" * 32)
        with store.transaction() as uow:
            assert uow.session.scalar(select(PrivacyKeyRow)) is None
    finally:
        store.close()
    assert (folder / "pixbot.db.key").read_text().strip() == "ab" * 32


async def test_unanswered_questions_and_event_ids_go_with_their_asker(sqlite_bot: Bot) -> None:
    await _a_life(sqlite_bot)
    await sqlite_bot.say(AGENTS[1], "combien de phares compte le port de Brest ?")
    await sqlite_bot.say(AGENTS[1], "non")
    with sqlite_bot.store.transaction() as uow:
        texts = set(uow.session.scalars(select(QuestionRow.text)))
        events = list(uow.session.scalars(select(ProcessedEventRow.event_id)))
    assert any("chat" in t for t in texts) and any("Brest" in t for t in texts)
    assert events and all(len(e) == 64 and TARGET not in e for e in events)  # keyed hashes
    await sqlite_bot.say(TARGET, "oublie-moi")
    await sqlite_bot.say(TARGET, "oui")
    with sqlite_bot.store.transaction() as uow:
        texts = set(uow.session.scalars(select(QuestionRow.text)))
    assert not any("chat" in t for t in texts)  # the erased person's question went
    assert any("Brest" in t for t in texts)  # another's stays (still without its asker)
