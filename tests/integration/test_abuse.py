"""Holds under abuse (#18), on the console: strict input, per-sender limits, hand-off cap,
reminders on demand, room chatter, impersonation, long replies."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import App
from bot.core import FakeClock, Incoming, Outgoing
from bot.platforms.console import ConsolePlatform
from bot.text import split_message
from storage.models import QuestionRow
from storage.uow import Store
from tests.helpers.bot import Bot, RecordingConsole, make_settings
from tests.helpers.campaigns import AGENTS, AMB, count_rows, launched, put_person, setup_service

OFF_TOPIC = "Quel temps fera-t-il demain à Brest ?"


# -- strict input ----------------------------------------------------------------------------


async def test_control_and_bidi_characters_are_stripped_once_for_everything(bot: Bot) -> None:
    """On SQLite and PostgreSQL: NUL in a display name or a message is cleaned, not a crash."""
    setup_service(bot)
    bot.platform.speaker = "@nul:console"
    incoming = bot.platform.incoming(f"{OFF_TOPIC}\x00\u202e\x07")
    await bot.app.handle(replace(incoming, sender_name="Eve\x00 \u202eMartin"))
    await bot.app.dispatcher.drain()
    [reply] = [m["text"] for m in bot.new_messages() if m["to"] == "@nul:console"]
    assert reply.startswith("Je ne sais pas répondre")
    with bot.store.transaction() as uow:
        person = uow.people.by_platform_id("@nul:console")
        texts = list(uow.session.scalars(select(QuestionRow.text)))
    assert person is not None and person.display_name == "Eve Martin"
    assert texts == [OFF_TOPIC]


async def test_a_malformed_sender_id_is_dropped_and_the_console_goes_on(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pixbot.db'}"
    store = Store.from_url(url)
    store.upgrade()
    out = io.StringIO()
    platform = ConsolePlatform(
        input_stream=io.StringIO("/as @x\x00y:console\naide\n/as @ok:console\naide\n"),
        output=out,
        journal_path=tmp_path / "j.jsonl",
        interactive=False,
    )
    app = App(make_settings(url), store, platform, drain_after_message=True)
    try:
        assert await app.run() == 0
    finally:
        store.close()
    recipients = [m["to"] for m in platform.journal.messages]
    # Both "aide" were answered: the first as the default speaker (the bad /as was refused).
    assert recipients == ["@vous:console", "@ok:console"]
    assert "Identifiant invalide" in out.getvalue()


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ('campagne créer abcdeſ235 "T" fin 15/12/2026', "n'est pas un code"),
        ('campagne créer ABCDEF234 "T" fin １５/１２/２０２６', "Je ne comprends pas la date"),
        ('campagne créer ABCDEF234 "T" fin ١٥/١٢/٢٠٢٦', "Je ne comprends pas la date"),
        ('campagne créer ABCDEF234 "T" fin 31/12/9999', "trop lointaine"),
        ('campagne créer ABCDEF234 "T" avant "Conf" le 01/01/2029', "trop lointaine"),
    ],
)
async def test_lax_codes_digits_and_far_dates_are_refused(
    bot: Bot, command: str, expected: str
) -> None:
    setup_service(bot)
    [reply] = await bot.say(AMB, command)
    assert expected in reply and "Rien n'a été" in reply
    with bot.store.transaction() as uow:
        assert uow.campaigns.search() == []


async def test_room_version_12_ids_are_accepted(bot: Bot) -> None:
    setup_service(bot)
    room = "!OpaqueRoomIdOfVersionTwelve_abc-123"  # no ":server" since room version 12
    bot.platform.speaker = AGENTS[0]
    bot.platform._command(f"/salon {room}")
    [reply] = await bot.say(AMB, f'campagne créer ABCDEF234 "T" fin 15/12/2026 pour salon {room}')
    # The room was found; how many members are agents is in words under the threshold (#23).
    assert "créée" in reply and "(moins de 5 aujourd'hui)" in reply


# -- fairness and limits ---------------------------------------------------------------------


async def test_a_flood_is_limited_once_and_never_delays_another_user(bot: Bot) -> None:
    setup_service(bot)
    flooder, other = AGENTS[0], AGENTS[1]
    bot.platform.speaker = flooder
    for _ in range(60):
        await bot.app.handle(bot.platform.incoming("aide"))
    bot.platform.speaker = other
    await bot.app.handle(bot.platform.incoming("aide"))
    # The other user's reply goes out within the first two sends, whatever the backlog.
    await bot.app.dispatcher.drain(limit=2)
    assert any(m["to"] == other for m in bot.platform.journal.messages)
    await bot.app.dispatcher.drain()
    to_flooder = [m["text"] for m in bot.platform.journal.messages if m["to"] == flooder]
    limit = bot.app.settings.limits.messages_per_minute
    busy = [t for t in to_flooder if "beaucoup de messages" in t]
    assert len(busy) == 1 and len(to_flooder) == limit + 1
    # A minute later the sender is served again.
    bot.clock.advance(minutes=1)
    assert "beaucoup" not in (await bot.say(flooder, "aide"))[0]


async def test_hand_offs_per_agent_and_day_are_capped(tmp_path: Path, clock: FakeClock) -> None:
    url = f"sqlite:///{tmp_path / 'pixbot.db'}"
    store = Store.from_url(url)
    store.upgrade()
    settings = make_settings(url)
    settings.limits.messages_per_minute = 10_000
    settings.limits.questions_per_day = 1_000
    platform = RecordingConsole(journal_path=tmp_path / "j.jsonl")
    bot = Bot(App(settings, store, platform, clock=clock), platform, clock)
    setup_service(bot)
    try:
        for attempt in range(500):
            await bot.app.handle(_incoming(bot, AGENTS[0], f"{OFF_TOPIC} {attempt}"))
            await bot.app.handle(_incoming(bot, AGENTS[0], "oui"))
        await bot.app.dispatcher.drain()
        handed = [t for t in bot.inbox(AMB) if t.startswith("Question n°")]
        assert len(handed) == settings.limits.handoffs_per_day == 5
        refusals = [t for t in bot.inbox(AGENTS[0]) if "je ne transmets plus" in t]
        assert len(refusals) == 495
        # The next day, the allowance is back.
        clock.advance(days=1)
        await bot.say(AGENTS[0], OFF_TOPIC)
        await bot.say(AGENTS[0], "oui")
        assert len([t for t in bot.inbox(AMB) if t.startswith("Question n°")]) == 6
    finally:
        store.close()


def _incoming(bot: Bot, sender: str, text: str) -> Incoming:
    bot.platform.speaker = sender
    bot.platform.room = None
    return bot.platform.incoming(text)


async def test_questions_stored_per_sender_and_day_are_bounded(bot: Bot) -> None:
    stranger = "@stranger:console"
    limit = bot.app.settings.limits.questions_per_day
    for index in range(limit + 5):
        if index % 15 == 14:
            bot.clock.advance(minutes=1)  # stay under the per-minute limit
        await bot.say(stranger, f"{OFF_TOPIC} {'x' * 3000} {index}")
    assert count_rows(bot, QuestionRow) == limit


async def test_relancer_once_per_working_day_and_only_in_working_hours(
    bot: Bot, clock: FakeClock
) -> None:
    await launched(bot)
    bot.new_messages()
    # Tuesday 24 November 2026, 01:58 in Paris.
    clock.current = datetime(2026, 11, 24, 0, 58, tzinfo=UTC)
    replies = [await bot.say(AMB, "campagne relancer ABCDEF234") for _ in range(20)]
    assert "prévus pour" in replies[0][0] and "9:30" in replies[0][0]
    assert all("déjà été relancée" in r[0] for r in replies[1:])
    assert not any(m["to"] in AGENTS for m in bot.new_messages())  # nothing at night
    clock.current = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)  # 09:30 in Paris
    await bot.app.dispatcher.drain()
    for agent in AGENTS:
        assert len([t for t in bot.inbox(agent) if t.startswith("Rappel")]) == 1


async def test_a_reminder_plan_has_at_most_ten_steps(bot: Bot) -> None:
    await launched(bot)
    offsets = ",".join(f"J-{n}" for n in range(11))
    [reply] = await bot.say(AMB, f"campagne rappels ABCDEF234 {offsets}")
    assert "au plus 10 étapes" in reply
    with bot.store.transaction() as uow:
        campaign = uow.campaigns.by_code("ABCDEF234")
        assert campaign is not None and campaign.reminders is None


# -- rooms and identity ----------------------------------------------------------------------


async def test_room_chatter_is_not_for_the_bot(bot: Bot) -> None:
    setup_service(bot)
    room = "#equipe:console"
    chatter = "Quelqu'un a déjà utilisé pixbot ? Je trouve ça nul"
    assert await bot.say(AGENTS[0], chatter, room=room) == []
    assert count_rows(bot, QuestionRow) == 0
    assert await bot.say(AGENTS[0], "!pix aide", room=room)


async def test_names_come_from_the_import_and_the_platform_id_is_always_shown(bot: Bot) -> None:
    setup_service(bot)
    impostor = "@nobody:console"
    with bot.store.transaction() as uow:
        put_person(uow, impostor, bot.clock.now())
    for sender, name in ((impostor, "Sophie Martin (DRH, directrice)"), (AGENTS[0], "Chef")):
        incoming = _incoming(bot, sender, OFF_TOPIC)
        await bot.app.handle(replace(incoming, sender_name=name))
        await bot.say(sender, "oui")
    first, second = [t for t in bot.inbox(AMB) if t.startswith("Question n°")]
    assert "Sophie Martin (DRH, directrice) (@nobody:console, DREAL-BZH)" in first
    # The imported name wins over the platform's display name.
    assert "Agent 1 (@agent1:console, DREAL-BZH)" in second and "Chef" not in second


class SmallConsole(RecordingConsole):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.capabilities = replace(self.capabilities, max_text_length=300)


async def test_long_replies_are_split_into_numbered_parts(tmp_path: Path, clock: FakeClock) -> None:
    url = f"sqlite:///{tmp_path / 'pixbot.db'}"
    store = Store.from_url(url)
    store.upgrade()
    platform = SmallConsole(journal_path=tmp_path / "j.jsonl")
    app = App(make_settings(url), store, platform, clock=clock)
    try:
        text = "\n".join(f"Ligne {n} : " + "x" * 40 for n in range(40))
        with store.transaction() as uow:
            app.notifier.enqueue_text(
                uow, "dm:@a:console", text, key="k1", now=clock.now(), kind="reply"
            )
        await app.dispatcher.drain()
        parts = [m.text for m in platform.sent]
        assert len(parts) > 1 and all(len(p) <= 300 for p in parts)
        assert parts[0].startswith(f"(1/{len(parts)}) ") and parts[-1].startswith(f"({len(parts)}/")
        assert "Ligne 0" in parts[0] and "Ligne 39" in parts[-1]
        # Sent once: the parts' keys are remembered like the message's.
        with store.transaction() as uow:
            assert uow.outbox.get("k1").status == "sent"  # type: ignore[union-attr]
        await platform.send(Outgoing(text="x", key="k1#2", person_id="@a:console"))
        assert len(platform.journal.messages) == len(parts)
    finally:
        store.close()


def test_split_message_keeps_short_text_and_cuts_long_lines() -> None:
    assert split_message("court", 100) == ["court"]
    parts = split_message("mot " * 1000, 120)
    assert all(len(p) <= 120 for p in parts) and len(parts) > 30
    assert "".join(p.split(") ", 1)[1] + " " for p in parts).split() == ["mot"] * 1000
