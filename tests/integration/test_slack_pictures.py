"""Pictures on Slack, against the fake Web API of ``tests.helpers.slack`` extended with the
three calls of ``files_upload_v2`` (get an upload URL, upload, complete and share)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.app import App
from bot.core import Image, Outgoing
from bot.domain import ParticipationKind
from bot.platforms.slack import SlackPlatform
from storage.uow import Store
from tests.helpers.bot import make_settings
from tests.helpers.slack import (
    ALICE,
    BOT,
    WAIT,
    EventsEndpoint,
    FakeSlack,
    bounded,
    dm,
    make_platform,
    serving,
    stop_platform,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class FakeSlackFiles(FakeSlack):
    """Adds files.getUploadURLExternal, the upload URL and files.completeUploadExternal."""

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, dict[str, Any]] = {}
        self.changed = asyncio.Condition()

    async def handle(self, request: web.Request) -> web.Response:
        response = await super().handle(request)
        async with self.changed:
            self.changed.notify_all()
        return response

    async def until(self, check: Callable[[], bool]) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(check), WAIT)

    def api_files_getUploadURLExternal(self, payload: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{len(self.files) + 1:06d}"
        self.files[file_id] = {
            "id": file_id,
            "name": payload.get("filename"),
            "length": int(payload.get("length", 0)),
            "alt_txt": payload.get("alt_txt"),
            "data": None,
        }
        url = f"http://127.0.0.1:{self.port}/upload/{file_id}"
        return {"ok": True, "upload_url": url, "file_id": file_id}

    async def upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        self.requests.append(("upload", {"file_id": file_id}))
        self.files[file_id]["data"] = await request.read()
        return web.Response(text="OK - uploaded")

    def api_files_completeUploadExternal(self, payload: dict[str, Any]) -> dict[str, Any]:
        shared = []
        for item in json.loads(str(payload["files"])):
            file = self.files[item["id"]]
            file["title"] = item.get("title")
            shared.append({k: v for k, v in file.items() if k != "data"})
        channel = str(payload.get("channel_id") or "")
        if channel:
            if not self._known_channel(channel):
                return {"ok": False, "error": "channel_not_found"}
            self._clock += 1
            self.messages[channel].append(
                {
                    "type": "message",
                    "subtype": "file_share",
                    "ts": f"1700000000.{self._clock:06d}",
                    "user": BOT,
                    "text": payload.get("initial_comment", ""),
                    "files": shared,
                }
            )
        return {"ok": True, "files": shared}

    def uploads(self) -> list[dict[str, Any]]:
        return self.calls("files.completeUploadExternal")


@pytest.fixture
async def fake_files() -> AsyncIterator[FakeSlackFiles]:
    fake = FakeSlackFiles()
    async with serving(fake, ("POST", "/upload/{file_id}", fake.upload)):
        yield fake


def picture(key: str = "reply:slack:DALICE/1:1", *, resend: bool = False) -> Outgoing:
    image = Image(PNG, "image/png", 1100, 460, "Graphique de participation (image)", "c.png")
    return Outgoing(
        text="Graphique de participation", key=key, person_id=ALICE, image=image, resend=resend
    )


async def test_a_picture_is_one_upload_flow_into_the_conversation(
    fake_files: FakeSlackFiles,
) -> None:
    slack = make_platform(fake_files)
    result = await bounded(slack.send(picture()))
    assert len(fake_files.calls("files.getUploadURLExternal")) == 1
    assert len(fake_files.calls("upload")) == 1
    [complete] = fake_files.uploads()
    assert complete["channel_id"] == "DALICE"
    assert complete["initial_comment"] == "Graphique de participation"
    [file] = fake_files.files.values()
    assert file["data"] == PNG and file["alt_txt"] == "Graphique de participation (image)"
    assert file["name"].startswith("pixbot-") and file["name"].endswith(".png")
    assert (result.remote_id, result.conversation_id) == (file["id"], "DALICE")
    assert fake_files.calls("chat.postMessage") == []


async def test_the_same_key_uploads_once_even_after_a_restart(fake_files: FakeSlackFiles) -> None:
    first = make_platform(fake_files)
    sent = await bounded(first.send(picture()))
    assert await bounded(first.send(picture())) == sent
    # A crash between the upload and the outbox's mark: the row was claimed before, so the
    # dispatcher says it may have gone out, and the new process finds the file.
    restarted = make_platform(fake_files)
    again = await bounded(restarted.send(picture(resend=True)))
    assert again.remote_id == sent.remote_id
    assert len(fake_files.uploads()) == 1
    # Another key is another picture.
    await bounded(restarted.send(picture("reply:slack:DALICE/2:1")))
    assert len(fake_files.uploads()) == 2


def seed(store: Store, invited: int) -> None:
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    with store.transaction() as uow:
        ambassador = uow.people.ensure(ALICE, "Alice", now)
        uow.roles.add(ambassador.id, "ambassador", "DREAL")
        campaign = uow.campaigns.create(
            code="ABCDEF234",
            title="Cybersécurité",
            url="https://app.pix.fr/campagnes/ABCDEF234",
            service="DREAL",
            deadline=date(2026, 12, 15),
            audience_kind="service",
            audience_value="DREAL",
            now=now,
            created_by=ambassador.id,
        )
        for index in range(invited):
            person, _ = uow.people.upsert(
                f"UAGENT{index}",
                display_name=None,
                service="DREAL",
                email=None,
                timezone=None,
                locale=None,
                now=now,
            )
            uow.campaigns.add_audience(campaign.id, [person.id], now)
            uow.participation.record(
                person.id, ParticipationKind.INVITED, now, campaign.id, source="system"
            )


@pytest.mark.parametrize(("invited", "pictures"), [(6, 1), (3, 0)])
async def test_stats_request_gives_one_upload_in_the_right_channel(
    fake_files: FakeSlackFiles, sqlite_url: str, invited: int, pictures: int
) -> None:
    settings = make_settings(sqlite_url)
    settings.stats.refresh = (
        "live"  # the seeded audience is from today (the snapshot: tests/privacy)
    )
    store = Store.from_url(sqlite_url)
    store.upgrade()
    seed(store, invited)
    platform: SlackPlatform = make_platform(fake_files)
    app = App(settings, store, platform, drain_after_message=True)
    await bounded(platform.start())
    running = asyncio.ensure_future(platform.run(app.handle))
    try:
        await bounded(platform.listening.wait())
        async with aiohttp.ClientSession() as session:
            endpoint = EventsEndpoint(platform, asyncio.Queue(), session)
            assert await endpoint.event(dm("campagne stats ABCDEF234", "1700000900.000001")) == 200
            await fake_files.until(lambda: len(fake_files.calls("chat.postMessage")) == 1)
            assert "Statistiques de ABCDEF234" in fake_files.messages["DALICE"][0]["text"]
            await fake_files.until(lambda: len(fake_files.uploads()) == pictures)
            await bounded(app.dispatcher.drain())
            # A second request: a second picture (one per request), in the same DM.
            assert await endpoint.event(dm("campagne stats ABCDEF234", "1700000900.000002")) == 200
            await fake_files.until(lambda: len(fake_files.calls("chat.postMessage")) == 2)
            await fake_files.until(lambda: len(fake_files.uploads()) == 2 * pictures)
            await bounded(app.dispatcher.drain())
        assert len(fake_files.uploads()) == 2 * pictures
        assert all(call["channel_id"] == "DALICE" for call in fake_files.uploads())
        assert len(fake_files.calls("files.getUploadURLExternal")) == 2 * pictures
    finally:
        await stop_platform(platform, running)
        store.close()
