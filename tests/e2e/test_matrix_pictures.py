"""The participation chart on a real Synapse: an ambassador's E2EE client receives an encrypted
``m.image`` that decrypts to a PNG; no picture for a small group; a crash between the upload and
the outbox's mark does not post a second picture (the event is de-duplicated by its txnId)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from nio import DownloadResponse, RoomEncryptedImage
from nio.crypto.attachments import decrypt_attachment

from bot.app import App
from bot.charts import png_size
from bot.domain import Delivery, ParticipationKind
from bot.platforms.matrix import MatrixPlatform
from storage.uow import Store
from tests.helpers.bot import make_settings
from tests.helpers.matrix_client import WAIT, BotAccount, MatrixUser, until
from tests.helpers.synapse import SynapseServer

pytestmark = pytest.mark.synapse

SERVICE = "DREAL-BZH"
BIG, SMALL = "ABCDEF234", "GHIJKL567"


class Crash(Exception):
    """The process dies after the platform accepted the picture, before the mark."""


def seed(store: Store, ambassador: str, server: str) -> None:
    now = datetime.now(UTC)
    with store.transaction() as uow:
        person = uow.people.ensure(ambassador, "Ambre", now)
        uow.roles.add(person.id, "ambassador", SERVICE)
        for code, invited in ((BIG, 6), (SMALL, 3)):
            campaign = uow.campaigns.create(
                code=code,
                title="Cybersécurité",
                url=f"https://app.pix.fr/campagnes/{code}",
                service=SERVICE,
                deadline=date.today() + timedelta(days=20),
                audience_kind="service",
                audience_value=SERVICE,
                now=now,
                created_by=person.id,
            )
            for index in range(invited):
                agent, _ = uow.people.upsert(
                    f"@{code.lower()}-{index}:{server}",
                    display_name=None,
                    service=SERVICE,
                    email=None,
                    timezone=None,
                    locale=None,
                    now=now,
                )
                uow.campaigns.add_audience(campaign.id, [agent.id], now)
                uow.participation.record(
                    agent.id, ParticipationKind.INVITED, now, campaign.id, source="system"
                )
                if index < 2:
                    uow.participation.record(
                        agent.id, ParticipationKind.COMPLETED, now, campaign.id, source="chat"
                    )


@contextlib.asynccontextmanager
async def running_bot(
    synapse: SynapseServer, tmp_path: Path, ambassador: MatrixUser, account: BotAccount
) -> AsyncIterator[tuple[App, MatrixPlatform]]:
    url = f"sqlite:///{tmp_path / 'pixbot.db'}"
    store = Store.from_url(url)
    store.upgrade()
    seed(store, ambassador.user_id, synapse.user_id("x").partition(":")[2])
    platform = account.platform(tmp_path / "bot-store")
    settings = make_settings(url)
    settings.stats.refresh = "live"  # the audience is seeded today (the snapshot: tests/privacy)
    app = App(settings, store, platform)
    task = asyncio.create_task(app.run())
    try:
        await asyncio.wait_for(platform.start(), WAIT)
        yield app, platform
    finally:
        await platform.stop()
        await asyncio.wait_for(task, WAIT)
        store.close()


async def images(person: MatrixUser, bot_id: str, room_id: str) -> list[Any]:
    """The bot's pictures in the room, from the server's history."""
    return [
        event
        for event in await person.history_from(bot_id, room_id)
        if event.source.get("content", {}).get("msgtype") == "m.image"
        or isinstance(event, RoomEncryptedImage)
    ]


async def decrypted_png(person: MatrixUser, event: RoomEncryptedImage) -> bytes:
    response = await person.client.download(event.url)
    assert isinstance(response, DownloadResponse), response
    assert not response.body.startswith(b"\x89PNG"), "the media repository holds it in clear"
    return bytes(
        decrypt_attachment(response.body, event.key["k"], event.hashes["sha256"], event.iv)
    )


@pytest.fixture
def account(synapse: SynapseServer) -> BotAccount:
    return BotAccount(synapse)


@pytest.fixture
async def ambassador(
    synapse: SynapseServer, tmp_path: Path, account: BotAccount
) -> AsyncIterator[MatrixUser]:
    person = await MatrixUser(
        synapse, tmp_path / "amb-store", prefix="amb", bot_id=account.user_id
    ).login()
    yield person
    await person.close()


async def test_stats_bring_an_encrypted_png_and_nothing_for_a_small_group(
    synapse: SynapseServer, tmp_path: Path, ambassador: MatrixUser, account: BotAccount
) -> None:
    async with running_bot(synapse, tmp_path, ambassador, account):
        room = await ambassador.open_dm()
        await ambassador.say(f"campagne stats {BIG}", f"Statistiques de {BIG}")

        async def picture() -> Any:
            found = await images(ambassador, account.user_id, room)
            if not found:
                await ambassador.sync(timeout_ms=500)
            return found or None

        [image] = await until(picture, "the chart")
        assert isinstance(image, RoomEncryptedImage) and image.decrypted
        content = image.source["content"]
        assert "url" not in content and content["file"]["url"].startswith("mxc://")
        assert content["body"].startswith(f"Graphique de participation de {BIG}")
        info = content["info"]
        assert info["mimetype"] == "image/png"
        png = await decrypted_png(ambassador, image)
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert (info["w"], info["h"]) == png_size(png) and info["size"] == len(png)

        # A group under the threshold: the text says so, and no picture follows it.
        text = await ambassador.say(f"campagne stats {SMALL}", f"Statistiques de {SMALL}")
        assert "masqués" in text
        await ambassador.say("aide", "campagne")  # anything sent after it has arrived
        assert len(await images(ambassador, account.user_id, room)) == 1


async def test_a_crash_between_upload_and_mark_posts_one_picture(
    synapse: SynapseServer, tmp_path: Path, ambassador: MatrixUser, account: BotAccount
) -> None:
    async with running_bot(synapse, tmp_path, ambassador, account) as (app, platform):
        uploads = {"count": 0}
        upload = platform.outbound.upload_image

        async def counted(room_id: str, message: Any) -> dict[str, Any]:
            uploads["count"] += 1
            return await upload(room_id, message)

        platform.outbound.upload_image = counted  # type: ignore[method-assign]
        crashed: list[str] = []

        def crash_once(delivery: Delivery) -> None:
            if delivery.attachment and not crashed:
                crashed.append(delivery.key)
                raise Crash

        app.dispatcher.after_send = crash_once
        room = await ambassador.open_dm()
        await ambassador.say(f"campagne stats {BIG}", f"Statistiques de {BIG}")

        async def settled() -> bool | None:
            with app.store.transaction() as uow:
                delivery = uow.outbox.get(crashed[0]) if crashed else None
            if delivery is None or delivery.status != "sent":
                await asyncio.sleep(0.2)
                return None
            return True

        await until(settled, "the picture to be marked sent after the crash")
        assert uploads["count"] == 2  # uploaded again after the crash...
        await ambassador.say("aide", "campagne")
        assert len(await images(ambassador, account.user_id, room)) == 1  # ...posted once
