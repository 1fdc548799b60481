"""Issue #9: each attack a hostile or careless ambassador tried, played on the console."""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import String, Text, select

from bot.privacy import Shown, disclose, safe_cell
from storage.models import Base, CampaignRow, PersonRow
from tests.helpers.bot import Bot
from tests.helpers.campaigns import AGENTS, AMB, CREATE, launched, put_person, setup_service

AMB_B = "@amb-b:console"
B_AGENTS = [f"@b{i}:console" for i in range(1, 4)]


def _service_b(bot: Bot) -> None:
    now = bot.clock.now()
    with bot.store.transaction() as uow:
        amb = uow.people.ensure(AMB_B, "Béa", now)
        uow.roles.add(amb.id, "ambassador", "SVC-B")
        for pid in B_AGENTS:
            put_person(uow, pid, now, display_name=pid, service="SVC-B")


def _people(bot: Bot) -> set[str]:
    with bot.store.transaction() as uow:
        return set(uow.session.scalars(select(PersonRow.platform_id)))


async def test_list_of_other_services_agents_and_ghosts_is_not_invited(bot: Bot) -> None:
    setup_service(bot)
    _service_b(bot)
    before = _people(bot)
    ids = ",".join([AGENTS[0], *B_AGENTS, "@ghost1:console", "@pixbot:console"])
    reply = (await bot.say(AMB, f"{CREATE} pour {ids}"))[0]
    assert "Identifiants non retenus : 5" in reply
    assert "@b1" not in reply and "ghost" not in reply
    await bot.say(AMB, "campagne lancer ABCDEF234")
    assert _people(bot) == before  # nobody created
    assert all(not bot.inbox(pid) for pid in [*B_AGENTS, "@ghost1:console"])
    assert len(bot.inbox(AGENTS[0])) == 1


async def test_room_of_another_service_invites_only_own_agents(bot: Bot) -> None:
    setup_service(bot)
    _service_b(bot)
    for member in [*B_AGENTS, AGENTS[0]]:
        bot.platform.journal.append({"type": "join", "room": "#room-b:console", "member": member})
    await bot.say(AMB, f"{CREATE} pour salon #room-b:console")
    launch = (await bot.say(AMB, "campagne lancer ABCDEF234"))[0]
    # #23: fewer than min_group is said in words (a probe must not tell who left).
    assert "Membres du salon non retenus : moins de 5" in launch
    assert all(not any("vous invite" in t for t in bot.inbox(pid)) for pid in B_AGENTS)


async def test_no_existence_oracle_for_codes_and_services(bot: Bot) -> None:
    setup_service(bot)
    _service_b(bot)
    await bot.say(AMB_B, 'campagne créer ABCDEF234 "B" fin 15/12/2026')
    mine = (await bot.say(AMB, CREATE))[0]
    assert "existe déjà" not in mine and "créée" in mine
    unknown = await bot.say(AMB, f"{CREATE} pour service NOPE")
    other = await bot.say(AMB, f"{CREATE} pour service SVC-B")
    assert unknown[0].replace("NOPE", "X") == other[0].replace("SVC-B", "X")


async def test_operational_replies_do_not_count_declarations(bot: Bot) -> None:
    await launched(bot)
    await bot.say(AGENTS[0], "fait")
    one = (await bot.say(AMB, "campagne relancer ABCDEF234"))[0]
    assert "rappel" in one and "5 rappels" not in one and "moins de" not in one
    await bot.say(AMB, "campagne clore ABCDEF234")
    closed = (await bot.say(AMB, "oui"))[0]
    assert "1 remerciement" not in closed


async def test_stats_do_not_move_after_one_stop(bot: Bot) -> None:
    await launched(bot)
    before = (await bot.say(AMB, "campagne stats ABCDEF234"))[0]
    await bot.say(AGENTS[1], "stop")
    bot.clock.advance(seconds=60)
    after = (await bot.say(AMB, "campagne stats ABCDEF234"))[0]
    assert before == after


@settings(max_examples=300, deadline=None)
@given(audience=st.integers(0, 60), count=st.integers(0, 60), min_group=st.integers(1, 10))
def test_one_agent_never_changes_a_hidden_figure(audience: int, count: int, min_group: int) -> None:
    count = min(count, max(audience - 1, 0))
    a = disclose(count, audience, min_group)
    b = disclose(count + 1, audience, min_group)
    if not a.exact and not b.exact:
        assert a == b
    assert a.exact == (count >= min_group and audience - count >= min_group)


def test_csv_cells_cannot_be_formulas() -> None:
    for bad in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert str(safe_cell(bad)).startswith("'")
    assert safe_cell("DREAL") == "DREAL"


def test_sqlite_database_is_private(tmp_path: Path) -> None:
    from storage.uow import Store

    target = tmp_path / "new" / "pixbot.db"
    store = Store.from_url(f"sqlite:///{target}")
    store.upgrade()
    store.close()
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(target.parent).st_mode) == 0o700


def _rows_naming(bot: Bot, needles: list[str]) -> list[str]:
    hits = []
    with bot.store.transaction() as uow:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, (String, Text))]
            for row in uow.session.execute(select(*columns)).all() if columns else []:
                for value in row:
                    if isinstance(value, str) and any(n in value for n in needles):
                        hits.append(f"{table.name}: {value[:60]}")
    return hits


async def test_forget_me_leaves_no_row_and_lasts(bot: Bot, tmp_path: Path) -> None:
    setup_service(bot)
    target = AGENTS[0]
    with bot.store.transaction() as uow:
        put_person(uow, target, bot.clock.now(), display_name="Agent Un", email="un@gouv.fr")
    await bot.say(AMB, f"{CREATE} pour {','.join(AGENTS)}")
    await bot.say(AMB, "campagne lancer ABCDEF234")
    await bot.say(target, "mes données")
    await bot.say(target, "oublie-moi")
    await bot.say(target, "oui")
    assert _rows_naming(bot, [target, "Agent Un", "un@gouv.fr"]) == []
    journal = (tmp_path / "console.jsonl").read_text(encoding="utf-8")
    assert target not in journal
    with bot.store.transaction() as uow:
        campaign = uow.session.scalar(select(CampaignRow))
        assert campaign is not None
        assert uow.privacy.is_erased(target) and uow.privacy.is_erased("UN@gouv.fr")
    await bot.say(AMB, "campagne lancer ABCDEF234")
    assert target not in _people(bot)


async def test_my_data_in_a_room_goes_to_a_dm(bot: Bot) -> None:
    await launched(bot)
    in_room = await bot.say(AGENTS[0], "!pix mes données", room="#salon:console")
    assert len(in_room) == 1 and "message direct" in in_room[0]
    assert AGENTS[0] not in in_room[0]
    dm = [t for t in bot.inbox(AGENTS[0]) if "tout ce que je conserve" in t]
    assert dm and "ABCDEF234" in dm[0] and "langue" in dm[0]


def test_figures_words_do_not_depend_on_one_person() -> None:
    assert disclose(2, 20, 5).shown is Shown.FEWER_THAN
    assert disclose(18, 20, 5).shown is Shown.ALMOST_ALL
    assert disclose(3, 8, 5).shown is Shown.HIDDEN
    assert disclose(10, 20, 5).value == 10


async def _second_launch_as_seen_by_the_ambassador(tmp_path: Path, x_stops_all: bool) -> list[str]:
    """X, invited to a first campaign, said "stop tout" (or nothing); the ambassador then
    launches a second campaign to a list naming only X."""
    from bot.app import App
    from bot.core import FakeClock
    from storage.uow import Store
    from tests.helpers.bot import RecordingConsole, make_settings

    db_url = f"sqlite:///{tmp_path / 'pixbot.db'}"
    store = Store.from_url(db_url)
    store.upgrade()
    clock = FakeClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    platform = RecordingConsole(journal_path=tmp_path / "console.jsonl")
    platform.journal.load()
    bot = Bot(App(make_settings(db_url), store, platform, clock=clock), platform, clock)
    try:
        setup_service(bot)
        x = AGENTS[0]
        await bot.say(AMB, f'campagne créer ABCDEF234 "Cyber" fin 15/12/2026 pour {x}')
        await bot.say(AMB, "campagne lancer ABCDEF234")
        if x_stops_all:
            await bot.say(x, "stop tout")
        await bot.say(AMB, f'campagne créer QWERTY234 "Bureautique" fin 15/12/2026 pour {x}')
        before = len(bot.inbox(AMB))
        await bot.say(AMB, "campagne lancer QWERTY234")
        return bot.inbox(AMB)[before:]
    finally:
        store.close()


async def test_a_launch_whose_only_newcomer_said_stop_tout_reads_like_any_other(
    tmp_path: Path,
) -> None:
    stopped = await _second_launch_as_seen_by_the_ambassador(tmp_path / "a", x_stops_all=True)
    invited = await _second_launch_as_seen_by_the_ambassador(tmp_path / "b", x_stops_all=False)
    assert stopped == invited
    assert len(invited) == 2  # the launch's reply, then the batch's summary


async def test_a_message_written_before_an_erasure_does_not_bring_the_person_back(
    bot: Bot,
) -> None:
    """A message waiting in a platform's backlog (the Slack spool, a Matrix replay after an
    outage) while its sender is erased is dropped when it is handled; what they write after
    their erasure brings them back, as before."""
    setup_service(bot)
    target = AGENTS[0]
    bot.platform.speaker = target
    bot.platform.room = None
    pending = replace(
        bot.platform.incoming("qui voit mes résultats ?"),
        timestamp=bot.clock.now() - timedelta(minutes=5),
    )
    await bot.say(target, "oublie-moi")
    await bot.say(target, "oui")
    with bot.store.transaction() as uow:
        assert uow.privacy.is_erased(target)
    bot.new_messages()
    await bot.app.handle(pending)
    await bot.app.dispatcher.drain()
    assert bot.new_messages() == []
    assert target not in _people(bot)
    with bot.store.transaction() as uow:
        assert uow.privacy.is_erased(target)
    later = replace(
        bot.platform.incoming("bonjour"), timestamp=bot.clock.now() + timedelta(minutes=1)
    )
    await bot.app.handle(later)
    await bot.app.dispatcher.drain()
    assert target in _people(bot)
    with bot.store.transaction() as uow:
        assert not uow.privacy.is_erased(target)
