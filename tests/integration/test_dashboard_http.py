"""The dashboard over plain HTTP (aiohttp client, no browser): the link asked in the chat, the
cookie, refusals, headers, scope, audit, and the two-worlds property on the served HTML."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from bot.dashboard.tokens import LINK, SESSION, Claims, TokenError, sign, verify
from storage.models import AuditRow
from tests.helpers.campaigns import AMB
from tests.helpers.dashboard import ADMIN, CODE, ask_link, cli_stats_json, dashboard_bot, story


def client() -> aiohttp.ClientSession:
    # The jar keeps cookies of an IP host only when "unsafe" (127.0.0.1).
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


def tamper(link: str) -> str:
    head, _, signature = link.rpartition(".")
    flipped = "A" if signature[0] != "A" else "B"
    return f"{head}.{flipped}{signature[1:]}"


def test_tokens_are_bound_to_their_kind_key_and_time() -> None:
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    claims = Claims(7, "ambassador", now.replace(hour=10), "n")
    token = sign(b"k" * 32, LINK, claims)
    assert verify(b"k" * 32, LINK, token, now) == claims
    for key, kind, moment, reason in (
        (b"x" * 32, LINK, now, "tampered"),
        (b"k" * 32, SESSION, now, "tampered"),
        (b"k" * 32, LINK, now.replace(hour=10), "expired"),
    ):
        with pytest.raises(TokenError) as refused:
            verify(key, kind, token, moment)
        assert refused.value.reason == reason
    for garbage in ("", "a.b", "x" * 600, token + "." + token, tamper(token)):
        with pytest.raises(TokenError):
            verify(b"k" * 32, LINK, garbage, now)


async def test_link_in_dm_then_cookie_then_pages(tmp_path: Path, db_url: str) -> None:
    async with dashboard_bot(tmp_path, db_url) as (bot, base):
        await story(bot)
        replies = await bot.say(AMB, "!pix campagne tableau", room="!salon:console")
        assert replies == ["Je vous envoie le lien du tableau de bord en conversation privée."]
        link = await ask_link(bot)
        assert link.startswith(f"{base}/tableau/lien/")
        async with client() as http:
            response = await http.get(link, allow_redirects=False)
            assert response.status == 200
            # A page of ours moves on (not a redirect: see test_dashboard_browser, other site).
            assert '<meta http-equiv="refresh" content="0; url=/tableau">' in await response.text()
            cookie = response.headers["Set-Cookie"]
            for attribute in ("HttpOnly", "SameSite=Strict", "Path=/tableau", "Max-Age=3600"):
                assert attribute in cookie
            assert "Secure" not in cookie  # plain HTTP here
            page = await http.get(f"{base}/tableau")
            html = await page.text()
            assert page.status == 200
            assert CODE in html and "Mes campagnes" in html
            assert page.headers["Referrer-Policy"] == "no-referrer"
            assert "script-src" not in page.headers["Content-Security-Policy"]
            assert "default-src 'none'" in page.headers["Content-Security-Policy"]
            assert page.headers["Cache-Control"] == "no-store"
            # GET only: nothing else is routed.
            for method in ("POST", "PUT", "DELETE", "HEAD"):
                refused = await http.request(method, f"{base}/tableau")
                assert refused.status == 405
        with bot.store.transaction() as uow:
            actions = [row.action for row in uow.session.scalars(select(AuditRow))]
        assert actions.count("dashboard_link") == 2
        assert actions.count("dashboard_open") == 1
        assert actions.count("dashboard_view") == 1


async def test_expired_reused_tampered_and_missing_links_get_the_french_page(
    tmp_path: Path, sqlite_url: str
) -> None:
    async with dashboard_bot(tmp_path, sqlite_url) as (bot, base):
        await story(bot)
        link = await ask_link(bot)
        async with client() as http:
            tampered = await http.get(tamper(link), allow_redirects=False)
            assert tampered.status == 403
            assert "Ce lien n'est pas valable" in await tampered.text()
            assert "campagne tableau" in await tampered.text()
            assert (await http.get(link, allow_redirects=False)).status == 200
            reused = await http.get(link, allow_redirects=False)
            assert reused.status == 403 and "Ce lien a déjà servi" in await reused.text()
            # The session lasts one hour.
            assert (await http.get(f"{base}/tableau")).status == 200
            bot.clock.advance(minutes=61)
            late = await http.get(f"{base}/tableau")
            assert late.status == 401 and "expiré" in await late.text()
        old = await ask_link(bot)
        bot.clock.advance(minutes=15)
        async with client() as http:
            expired = await http.get(old, allow_redirects=False)
            assert expired.status == 401 and "Ce lien a expiré" in await expired.text()
            missing = await http.get(f"{base}/tableau")
            assert missing.status == 401 and "Un lien est nécessaire" in await missing.text()
            forged = await http.get(f"{base}/tableau", headers={"Cookie": "pixbot_tableau=x.y"})
            assert forged.status == 403


async def test_secure_cookie_behind_https(tmp_path: Path, sqlite_url: str) -> None:
    async with dashboard_bot(tmp_path, sqlite_url, public_url="https://pixbot.example.gouv.fr") as (
        bot,
        base,
    ):
        await story(bot, next_day=False)
        link = await ask_link(bot)
        assert link.startswith("https://pixbot.example.gouv.fr/tableau/lien/")
        async with client() as http:
            local = base + link.removeprefix("https://pixbot.example.gouv.fr")
            response = await http.get(local, allow_redirects=False)
            assert "Secure" in response.headers["Set-Cookie"]


async def test_scope_roles_and_ministry(tmp_path: Path, sqlite_url: str) -> None:
    async with dashboard_bot(tmp_path, sqlite_url) as (bot, base):
        await story(bot)
        with bot.store.transaction() as uow:
            campaign = uow.campaigns.by_code(CODE)
            assert campaign is not None
            other = uow.people.ensure("@amb2:console", "Autre", bot.clock.now())
            uow.roles.add(other.id, "ambassador", "DDT-35")
        outsider = await ask_link(bot, "@amb2:console")
        admin = await ask_link(bot, ADMIN, "campaign dashboard")
        async with client() as http:
            await http.get(outsider)
            page = await http.get(f"{base}/tableau/campagne/{campaign.id}")
            assert page.status == 404  # not in their services: as if it did not exist
            assert CODE not in await (await http.get(f"{base}/tableau")).text()
            assert (await http.get(f"{base}/tableau/ministere")).status == 404
            with bot.store.transaction() as uow:
                uow.roles.remove(other.id, "ambassador", "DDT-35")
            gone = await http.get(f"{base}/tableau")
            assert gone.status == 403 and "Accès non autorisé" in await gone.text()
        async with client() as http:
            await http.get(admin)
            ministry = await http.get(f"{base}/tableau/ministere")
            html = await ministry.text()
            assert ministry.status == 200 and "Vue ministère" in html
            assert "DREAL-BZH" in html and CODE in html


async def test_unknown_code_and_dashboard_off(tmp_path: Path, sqlite_url: str) -> None:
    async with dashboard_bot(tmp_path, sqlite_url) as (bot, _):
        await story(bot, next_day=False)
        replies = await bot.say(AMB, "campagne tableau ZZZZZZ999")
        assert any("ZZZZZZ999" in reply for reply in replies)
        link = await ask_link(bot, command=f"campagne tableau {CODE}")
        assert link.endswith(f"?campagne={CODE}")
        with bot.store.transaction() as uow:
            campaign = uow.campaigns.by_code(CODE)
            assert campaign is not None
        async with client() as http:
            opening = await (await http.get(link)).text()
        assert f"url=/tableau/campagne/{campaign.id}" in opening
    # Without [http] listen the command says so (nothing sent elsewhere).
    async with dashboard_bot(tmp_path / "off", f"sqlite:///{tmp_path}/off.db") as (bot, _):
        bot.app.deps = replace(bot.app.deps, dashboard=None)
        await story(bot, next_day=False)
        replies = await bot.say(AMB, "campagne tableau")
        assert replies and "pas activé" in replies[0]


def _figures(html: str) -> dict[str, str]:
    """The per-service table's cells, by group and field, as text."""
    cells: dict[str, str] = {}
    for group, row in re.findall(r'<tr data-group="([^"]+)">(.*?)</tr>', html, re.S):
        for field, value in re.findall(r'data-field="(\w+)">(.*?)</td>', row, re.S):
            cells[f"{group}.{field}"] = re.sub(r"<[^>]+>|\s+", " ", value).strip()
    return cells


async def test_numbers_equal_the_cli_json(tmp_path: Path, sqlite_url: str) -> None:
    async with dashboard_bot(tmp_path, sqlite_url) as (bot, base):
        await story(bot, agents=14, done=7, started=5, stopped=1)
        await bot.say(AMB, f"campagne relancer {CODE}")
        expected = json.loads(cli_stats_json(bot, sqlite_url))["total"]
        with bot.store.transaction() as uow:
            campaign = uow.campaigns.by_code(CODE)
            assert campaign is not None
        async with client() as http:
            await http.get(await ask_link(bot))
            html = await (await http.get(f"{base}/tableau/campagne/{campaign.id}")).text()
        cells = _figures(html)
        assert cells["total.invited"] == str(expected["invited"]) == "14"
        assert cells["total.completed"].startswith(f"{expected['completed']} ")  # 7 (50 %)
        assert cells["total.started"].startswith(f"{expected['started']} ")
        # One "stop" out of 14: under the threshold, in words on both sides.
        assert expected["opted_out"] == "fewer_than:5"
        assert cells["total.opted_out"] == "moins de 5"
        # The SVG draws what the PNG draws: the one "stop" may not be shown, so it is not drawn;
        # it joins "non communiqué" with the 1 who has not started (14 - 7 - 5 = 2).
        assert 'class="segment-opted_out"' not in html
        # The plan says what happened and when, the manual relance included (as campagne voir).
        plan = re.search(r'<table id="plan">(.*?)</table>', html, re.S)
        assert plan is not None and "relance" in plan.group(1) and "envoyé" in plan.group(1)
        drawn = dict(re.findall(r'class="segment-(\w+)"><title>[^<]* : (\d+)</title>', html))
        assert drawn == {"completed": "7", "started": "5", "undisclosed": "2"}


def _fresh(folder: Path) -> Path:
    folder.mkdir()
    return folder


async def _pages(folder: Path, x_said: str | None) -> list[str]:
    """Every page an ambassador and an administrator see, in a world where agent X said
    ``x_said`` (the other agents the same in every world)."""
    async with dashboard_bot(_fresh(folder), f"sqlite:///{folder}/pixbot.db") as (bot, base):
        ids = await story(bot, agents=12, done=6, started=1, next_day=False)
        if x_said is not None:
            await bot.say(ids[-1], x_said)
        bot.clock.advance(days=1)
        with bot.store.transaction() as uow:
            campaign = uow.campaigns.by_code(CODE)
            assert campaign is not None
        pages = []
        for person, paths in (
            (AMB, ["/tableau", f"/tableau/campagne/{campaign.id}"]),
            (ADMIN, ["/tableau", f"/tableau/campagne/{campaign.id}", "/tableau/ministere"]),
        ):
            async with client() as http:
                await http.get(await ask_link(bot, person))
                for path in paths:
                    response = await http.get(base + path)
                    assert response.status == 200
                    pages.append(await response.text())
        return pages


async def test_one_agent_differing_gives_identical_html(tmp_path: Path) -> None:
    """Two worlds whose audiences differ only in what agent X declared, while every count X
    moves stays under the threshold (in words): the served HTML is byte-identical."""
    reference = await _pages(tmp_path / "none", None)
    assert "moins de 5" in reference[1]  # the counts X moves are in words
    for said in ("stop", "commencé", "plus tard", "stop tout"):
        assert await _pages(tmp_path / said.replace(" ", "-"), said) == reference, said
    # Control: a declaration that moves an exact figure does change the page.
    assert await _pages(tmp_path / "fait", "fait") != reference


async def test_pages_without_dsfr_and_static_files(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DSFR not vendored (scripts/vendor_dsfr.py not run): the pages link dashboard.css only;
    the static route serves files of its folder and nothing outside it."""
    monkeypatch.setattr("bot.dashboard.pages.DSFR_CSS", tmp_path / "absent.css")
    async with dashboard_bot(tmp_path, sqlite_url) as (bot, base):
        await story(bot, next_day=False)
        async with client() as http:
            await http.get(await ask_link(bot))
            html = await (await http.get(f"{base}/tableau")).text()
            assert "dsfr.min.css" not in html and "/tableau/static/dashboard.css" in html
            css = await http.get(f"{base}/tableau/static/dashboard.css")
            assert css.status == 200 and "focus-visible" in await css.text()
            for path in ("%2e%2e/tokens.py", "..%2f..%2fconfig.py", "nothing.css"):
                assert (await http.get(f"{base}/tableau/static/{path}")).status == 404


def test_vendor_script_copies_only_what_the_stylesheet_uses(tmp_path: Path) -> None:
    import io
    import tarfile

    from scripts.vendor_dsfr import vendor

    files = {
        "package/dist/dsfr.min.css": b"a{background:url(icons/a.svg)}"
        b"@font-face{src:url(fonts/M.woff2)}",
        "package/dist/icons/a.svg": b"<svg/>",
        "package/dist/icons/unused.svg": b"<svg/>",
        "package/dist/fonts/M.woff2": b"font",
        "package/LICENSE.md": b"Licence Ouverte",
    }
    tarball = tmp_path / "gouvfr-dsfr-9.9.9.tgz"
    with tarfile.open(tarball, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    target = tmp_path / "dsfr"
    vendor(tarball, target)
    copied = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert copied == ["LICENSE.md", "VERSION", "dsfr.min.css", "fonts/M.woff2", "icons/a.svg"]
    assert (target / "VERSION").read_text() == "9.9.9\n"


async def test_english_pages_for_an_english_speaker(tmp_path: Path, sqlite_url: str) -> None:
    async with dashboard_bot(tmp_path, sqlite_url) as (bot, base):
        await story(bot)
        with bot.store.transaction() as uow:
            person = uow.people.by_platform_id(AMB)
            assert person is not None
            uow.people.upsert(
                AMB,
                display_name="Ambre",
                service=None,
                email=None,
                timezone=None,
                locale="en",
                now=bot.clock.now(),
            )
            campaign = uow.campaigns.by_code(CODE)
            assert campaign is not None
        link = await ask_link(bot)
        assert "Your personal link to the dashboard" in bot.inbox(AMB)[-1]
        async with client() as http:
            await http.get(link)
            overview = await (await http.get(f"{base}/tableau")).text()
            detail = await (await http.get(f"{base}/tableau/campagne/{campaign.id}")).text()
        assert '<html lang="en"' in overview and "My campaigns" in overview
        assert "Participation per service" in detail and "Sending schedule" in detail
        assert "fewer than 5" in detail  # nobody said "stop": in words, as in chat


async def test_one_link_opened_twice_at_once_opens_once(tmp_path: Path, db_url: str) -> None:
    async with dashboard_bot(tmp_path, db_url) as (bot, _):
        await story(bot, next_day=False)
        link = await ask_link(bot)
        async with client() as first, client() as second:
            responses = await asyncio.gather(
                first.get(link, allow_redirects=False), second.get(link, allow_redirects=False)
            )
        assert sorted(r.status for r in responses) == [200, 403]


async def test_a_standby_on_the_same_database_opens_the_active_ones_link(
    tmp_path: Path, sqlite_url: str
) -> None:
    """The signing key comes from the privacy key (outside the database, shared by both
    processes): a link issued by one process opens on the other, once in all."""
    async with dashboard_bot(tmp_path, sqlite_url) as (active, base):
        await story(active, next_day=False)
        link = await ask_link(active)
        (tmp_path / "standby").mkdir()
        async with dashboard_bot(tmp_path / "standby", sqlite_url) as (_, standby):
            on_standby = standby + link.removeprefix(base)
            async with client() as http:
                assert (await http.get(on_standby, allow_redirects=False)).status == 200
                assert (await http.get(link, allow_redirects=False)).status == 403


async def test_what_people_typed_is_escaped(tmp_path: Path, sqlite_url: str) -> None:
    async with dashboard_bot(tmp_path, sqlite_url) as (bot, base):
        await story(bot, next_day=False)
        await bot.say(
            AMB,
            'campagne créer XSSXSS123 "<script>alert(1)</script>" '
            'avant "<b>Jour</b>" le 10/12/2026',
        )
        with bot.store.transaction() as uow:
            campaign = uow.campaigns.by_code("XSSXSS123")
            assert campaign is not None and campaign.title == "<script>alert(1)</script>"
        async with client() as http:
            await http.get(await ask_link(bot))
            pages = [
                await (await http.get(f"{base}{path}")).text()
                for path in ("/tableau", f"/tableau/campagne/{campaign.id}")
            ]
        for html in pages:
            assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<b>Jour</b>" not in pages[1] and "&lt;b&gt;Jour&lt;/b&gt;" in pages[1]


async def test_erasure_closes_the_session_and_the_audit_keeps_a_pseudonym(
    tmp_path: Path, sqlite_url: str
) -> None:
    async with dashboard_bot(tmp_path, sqlite_url) as (bot, base):
        await story(bot)
        async with client() as http:
            await http.get(await ask_link(bot))
            assert (await http.get(f"{base}/tableau")).status == 200
            await bot.say(AMB, "oublie-moi")
            await bot.say(AMB, "oui")
            closed = await http.get(f"{base}/tableau")
            assert closed.status == 403 and CODE not in await closed.text()
        with bot.store.transaction() as uow:
            actors = {
                row.actor
                for row in uow.session.scalars(select(AuditRow))
                if row.action.startswith("dashboard_")
            }
        assert actors and AMB not in actors
        assert all(actor.startswith("erased:") for actor in actors)


@pytest.mark.parametrize(
    ("refresh", "said"),
    [
        ("daily", "les prochains arrivent le mardi 24 novembre 2026 à 00:00"),
        ("live", "Chiffres en direct."),
    ],
)
async def test_the_page_says_when_the_next_figures_come(
    tmp_path: Path, sqlite_url: str, refresh: str, said: str
) -> None:
    """Even with no campaign yet (nothing to read the moment from)."""
    async with dashboard_bot(tmp_path, sqlite_url, stats={"refresh": refresh}) as (bot, base):
        with bot.store.transaction() as uow:
            amb = uow.people.ensure(AMB, "Ambre", bot.clock.now())
            uow.roles.add(amb.id, "ambassador", "DREAL-BZH")
        async with client() as http:
            await http.get(await ask_link(bot))
            html = await (await http.get(f"{base}/tableau")).text()
        assert said in html and "Aucune campagne dans vos services" in html
