"""The participation chart in the conversation (console platform): stats and the weekly digest
carry a PNG, under the same confidentiality rule as the text; the outbox sends it once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import App
from bot.core import DeliveryError, FakeClock, Outgoing
from bot.outbox import RateLimiter
from storage.uow import Store
from tests.helpers.bot import Bot, RecordingConsole, make_settings
from tests.helpers.campaigns import AGENTS, AMB, CREATE, launched, put_person, setup_service

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def bot(store: Store, clock: FakeClock, tmp_path: Path, db_url: str) -> Bot:
    """The usual console bot, with live figures: the pictures' mechanics are tested here;
    the daily snapshot they follow is tested in tests/privacy and tests/unit/test_charts.py."""
    settings = make_settings(db_url, admins=["@admin:console"])
    settings.stats.refresh = "live"
    platform = RecordingConsole(journal_path=tmp_path / "console.jsonl")
    return Bot(App(settings, store, platform, clock=clock), platform, clock)


def read(path: str | Path) -> bytes:
    return Path(path).read_bytes()


def pictures(bot: Bot) -> list[dict[str, str]]:
    return [m for m in bot.delivered() if m.get("image") is not None]


async def test_stats_answer_with_the_text_and_a_png_chart(bot: Bot) -> None:
    await launched(bot)
    await bot.say(AGENTS[0], "fait")
    await bot.say(AGENTS[1], "commencé")
    await bot.say(AGENTS[2], "stop")
    replies = await bot.say(AMB, "campagne stats ABCDEF234")
    assert len(replies) == 2
    assert replies[0].startswith("Statistiques de ABCDEF234")
    assert replies[1].startswith("Graphique de participation de ABCDEF234")
    [picture] = pictures(bot)
    path = Path(picture["image"])
    assert picture["to"] == AMB and str(path) in picture["text"]
    data = read(path)
    assert data.startswith(PNG)
    [sent] = [m for m in bot.platform.sent if m.image is not None]
    assert sent.image is not None
    assert (sent.image.width, sent.image.height) == (1100, 460)
    assert sent.image.mimetype == "image/png" and sent.image.data == data
    # With 6 people (fewer than twice the threshold) no declared figure is given, not even
    # in words: the description follows the disclosure rule like the text.
    assert "sur 6 personnes invitées, ont terminé : non communiqué" in sent.image.alt
    assert sent.text == sent.image.alt


async def test_no_picture_for_a_group_under_the_threshold(bot: Bot) -> None:
    setup_service(bot, agents=AGENTS[:3])
    await bot.say(AMB, CREATE)
    await bot.say(AMB, "campagne lancer ABCDEF234")
    replies = await bot.say(AMB, "campagne stats ABCDEF234")
    assert len(replies) == 1 and "chiffres masqués" in replies[0]
    assert pictures(bot) == []


async def test_english_reader_gets_an_english_description(bot: Bot) -> None:
    await launched(bot)
    with bot.store.transaction() as uow:
        put_person(uow, AMB, bot.clock.now(), display_name="Ambre", service=None, locale="en")
    replies = await bot.say(AMB, "campaign stats ABCDEF234")
    assert replies[1].startswith("Participation chart for ABCDEF234")


async def test_a_failed_upload_is_retried_and_posted_once(bot: Bot) -> None:
    await launched(bot)
    failures = [DeliveryError("console", "M_UNKNOWN", "upload failed")]

    def fail_first_picture(message: Outgoing) -> DeliveryError | None:
        return failures.pop() if message.image is not None and failures else None

    bot.platform.fail_when(fail_first_picture)
    replies = await bot.say(AMB, "campagne stats ABCDEF234")
    assert len(replies) == 1  # the text; the picture waits for its retry
    bot.clock.advance(minutes=5)
    await bot.app.dispatcher.drain()
    await bot.app.dispatcher.drain()
    assert len(pictures(bot)) == 1
    # Replayed by a crash between "sent" and "marked": the key is known, nothing new.
    [message] = [m for m in bot.platform.sent if m.image is not None]
    await bot.platform.send(message)
    assert len(pictures(bot)) == 1


async def test_the_upload_counts_for_the_rate_limiter(bot: Bot) -> None:
    await launched(bot)
    await bot.app.dispatcher.drain()

    class Counting(RateLimiter):
        calls = 0

        async def acquire(self) -> None:
            Counting.calls += 1

    bot.app.dispatcher.sender.limiter = Counting(1000)
    await bot.say(AMB, "campagne stats ABCDEF234")
    assert Counting.calls == 3  # the text, then the picture: its upload and its message


async def test_weekly_digest_carries_the_same_picture(bot: Bot) -> None:
    await launched(bot)
    assert bot.app.runner.digest() == 1
    await bot.app.dispatcher.drain()
    inbox = bot.inbox(AMB)
    assert any("Point hebdomadaire" in t for t in inbox)
    [picture] = pictures(bot)
    assert picture["to"] == AMB and read(picture["image"]).startswith(PNG)
    assert bot.app.runner.digest() == 0
    await bot.app.dispatcher.drain()
    assert len(pictures(bot)) == 1


async def test_closing_note_says_how_to_get_the_chart(bot: Bot) -> None:
    await launched(bot)
    await bot.say(AMB, "campagne clore ABCDEF234")
    await bot.say(AMB, "oui")
    [note] = [t for t in bot.inbox(AMB) if "close" in t and "Bilan" in t]
    assert "pixbot campaign stats ABCDEF234 --chart ABCDEF234.png" in note
    assert pictures(bot) == []


async def test_a_picture_that_can_no_longer_be_shown_is_dropped(bot: Bot) -> None:
    await launched(bot)
    bot.platform.speaker, bot.platform.room = AMB, None
    await bot.app.handle(bot.platform.incoming("campagne stats ABCDEF234"))
    # Before it is sent, two agents are erased: under the threshold, no picture any more.
    with bot.store.transaction() as uow:
        for agent in AGENTS[:2]:
            person = uow.people.by_platform_id(agent)
            assert person is not None
            uow.people.delete(person.id)
    await bot.app.dispatcher.drain()
    assert pictures(bot) == []
    with bot.store.transaction() as uow:
        assert uow.outbox.pending_count() == 0
