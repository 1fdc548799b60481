"""The dashboard in a real browser: Playwright driving Debian's Chromium against the pages the
bot serves on 127.0.0.1, opened with the link a console conversation asked for.

Skipped, with the reason, when Playwright or Chromium is missing (.ci/run installs both).
Screenshots of each page go to ``$PIXBOT_SCREENSHOTS`` (default: the test's tmp folder).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.campaigns import AMB
from tests.helpers.dashboard import (
    ADMIN,
    CODE,
    ask_link,
    cli_stats_json,
    dashboard_bot,
    other_service,
    story,
)

CHROMIUM = os.environ.get("PIXBOT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

try:
    from playwright.async_api import Browser, Page, async_playwright
except ImportError:  # pragma: no cover - depends on the machine
    pytest.skip("playwright is not installed (pip install playwright)", allow_module_level=True)
if not Path(CHROMIUM).exists():  # pragma: no cover - depends on the machine
    pytest.skip(
        f"no Chromium at {CHROMIUM} (apt-get install chromium, or set PIXBOT_CHROMIUM)",
        allow_module_level=True,
    )


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("PIXBOT_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def _open(browser: Browser, link: str) -> Page:
    page = await (await browser.new_context(locale="fr-FR")).new_page()
    response = await page.goto(link)
    assert response is not None and response.status == 200
    # The link's page sets the cookie and moves on by itself to the dashboard.
    await page.wait_for_url(re.compile(r".*/tableau(/campagne/\d+)?$"))
    await page.wait_for_load_state()
    return page


async def _cells(page: Page) -> dict[str, str]:
    found: dict[str, str] = await page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#services tr[data-group]')]
            .flatMap(row => [...row.querySelectorAll('td[data-field]')].map(cell =>
                [row.dataset.group + '.' + cell.dataset.field, cell.innerText.trim()])))"""
    )
    return found


CONTRAST = """() => {
    const rgb = c => c.match(/[\\d.]+/g).map(Number);
    const lum = ([r, g, b]) => { const f = v => { v /= 255;
        return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
    const background = el => { for (; el; el = el.parentElement) {
        const c = getComputedStyle(el).backgroundColor;
        if (rgb(c).length < 4 || rgb(c)[3] > 0) return rgb(c).slice(0, 3); }
        return [255, 255, 255]; };
    const worst = [];
    for (const el of document.querySelectorAll('body *')) {
        const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
        if (!own || !el.getClientRects().length || el.closest('svg, .fr-sr-only')) continue;
        const a = lum(rgb(getComputedStyle(el).color)), b = lum(background(el));
        const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        if (ratio < 4.5) worst.push(el.tagName + ' ' + el.textContent.trim().slice(0, 30) + ' '
                                    + ratio.toFixed(2));
    }
    return worst;
}"""


async def _low_contrast(page: Page) -> list[str]:
    """Texts whose contrast with their background is under RGAA's 4.5:1."""
    found: list[str] = await page.evaluate(CONTRAST)
    return found


async def _tab_through(page: Page) -> tuple[list[str], list[str]]:
    """(every visible focusable element, the elements Tab reached in order), each element named
    by its position in the document and its text."""
    focusable: list[str] = await page.evaluate(
        """() => [...document.querySelectorAll(
            'a[href], button, input, select, textarea, [tabindex]:not([tabindex="-1"])')]
            .filter(el => el.getClientRects().length)
            .map((el, i) => { el.dataset.probe = i + '|' + el.textContent.trim().slice(0, 40);
                              return el.dataset.probe; })"""
    )
    reached: list[str] = []
    for _ in range(len(focusable) + 3):
        await page.keyboard.press("Tab")
        current = await page.evaluate(
            "() => document.activeElement.dataset?.probe || document.activeElement.tagName"
        )
        if current in reached or current == "BODY":  # past the last control
            break
        reached.append(current)
    # Focus left the document for the browser's own controls: come back to a fresh page.
    await page.reload()
    return focusable, reached


async def test_pages_in_chromium(
    browser: Browser, tmp_path: Path, sqlite_url: str, shots: Path
) -> None:
    async with dashboard_bot(tmp_path, sqlite_url) as (bot, _):
        # The same Pix code in two more services (one too small to show), and a second code.
        bot.clock.advance(minutes=-1)
        await other_service(bot, "DDT-35", "@amb-ddt:console", agents=40, done=3)
        await other_service(bot, "SGAR", "@amb-sgar:console", agents=3, done=1)
        await other_service(bot, "DDT-35", "@amb-ddt:console", agents=0, done=0, code="QWERTY567")
        bot.clock.advance(minutes=1)
        await story(bot, agents=14, done=7, started=5, stopped=1)
        expected: dict[str, Any] = json.loads(cli_stats_json(bot, sqlite_url))
        page = await _open(browser, await ask_link(bot))
        assert await page.title() == "Mes campagnes — Tableau de bord pixbot"
        assert await page.get_attribute("html", "lang") == "fr"
        await page.screenshot(path=shots / "dashboard-overview.png", full_page=True)
        assert await _low_contrast(page) == []
        focusable, reached = await _tab_through(page)
        assert focusable and focusable == reached, (focusable, reached)

        await page.get_by_role("link", name=f"{CODE} « Cybersécurité »").click()
        await page.wait_for_url("**/tableau/campagne/*")
        assert await page.locator("h1").inner_text() == f"{CODE} « Cybersécurité »"
        cells = await _cells(page)
        total = expected["total"]
        assert cells["total.invited"] == str(total["invited"])
        for field in ("started", "completed"):
            value, rate = total[field], total[f"{field}_rate"]
            assert isinstance(value, int)
            assert cells[f"total.{field}"].startswith(f"{value} (")
            assert cells[f"total.{field}"].replace("\xa0", " ").endswith(f"({round(rate * 100)} %)")
        assert total["opted_out"] == "fewer_than:5" and cells["total.opted_out"] == "moins de 5"
        # The chart is an image with a text alternative, and its data is a table.
        chart = page.locator("figure.chart svg[role=img]")
        assert await chart.count() == 1
        assert "sur 14 personnes invitées" in (
            await page.locator("#chart-desc").text_content() or ""
        )
        assert await page.locator("#courbe tbody tr").count() >= 1
        # Every table has a caption and column headers.
        for table in await page.locator("table").all():
            assert await table.locator("caption").count() == 1
            assert await table.locator("thead th[scope=col]").count() >= 2
        await page.screenshot(path=shots / "dashboard-campaign.png", full_page=True)
        assert await _low_contrast(page) == []
        focusable, reached = await _tab_through(page)
        assert focusable and focusable == reached, (focusable, reached)

        admin = await _open(browser, await ask_link(bot, ADMIN))
        await admin.get_by_role("link", name="Vue ministère").click()
        await admin.wait_for_url("**/tableau/ministere")
        assert await admin.locator("h1").inner_text() == "Vue ministère"
        rows = {
            service: await admin.locator("#ministere tbody tr", has_text=service).inner_text()
            for service in ("DREAL-BZH", "DDT-35", "SGAR")
        }
        assert "50" in rows["DREAL-BZH"]  # 7 of 14 completed
        # 3 of 40: in words by the rule, so the chat's band (#24): at most 4 of 40, 10 %.
        assert "au plus 10 %" in rows["DDT-35"] and "sur 40" in rows["DDT-35"]
        assert "moins de 5 personnes" in rows["SGAR"]
        await admin.screenshot(path=shots / "dashboard-ministry.png", full_page=True)
        assert await _low_contrast(admin) == []
        focusable, reached = await _tab_through(admin)
        assert focusable and focusable == reached, (focusable, reached)


async def test_masking_under_the_threshold(
    browser: Browser, tmp_path: Path, sqlite_url: str, shots: Path
) -> None:
    async with dashboard_bot(tmp_path, sqlite_url) as (bot, _):
        await story(bot, agents=4, done=2, started=1)
        expected = json.loads(cli_stats_json(bot, sqlite_url))["total"]
        assert expected == {"group": "total", "hidden": True, "below": 5}
        page = await _open(browser, await ask_link(bot, command=f"campagne tableau {CODE}"))
        text = await page.locator("main").inner_text()
        assert "Moins de 5 personnes invitées : chiffres masqués" in text
        assert await page.locator("figure.chart").count() == 0
        assert await page.locator("#services").count() == 0
        await page.screenshot(path=shots / "dashboard-masked.png", full_page=True)


async def test_refused_links_in_chromium(
    browser: Browser, tmp_path: Path, sqlite_url: str, shots: Path
) -> None:
    async with dashboard_bot(tmp_path, sqlite_url) as (bot, base):
        await story(bot, next_day=False)
        link = await ask_link(bot)
        page = await (await browser.new_context()).new_page()
        head, _, signature = link.rpartition(".")
        response = await page.goto(f"{head}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}")
        assert response is not None and response.status == 403
        assert await page.locator("h1").inner_text() == "Ce lien n'est pas valable"
        assert (await page.goto(link)) is not None
        again = await (await browser.new_context()).new_page()
        reused = await again.goto(link)
        assert reused is not None and reused.status == 403
        assert await again.locator("h1").inner_text() == "Ce lien a déjà servi"
        old = await ask_link(bot)
        bot.clock.advance(minutes=16)
        expired = await again.goto(old)
        assert expired is not None and expired.status == 401
        assert await again.locator("h1").inner_text() == "Ce lien a expiré"
        assert "campagne tableau" in await again.locator("main").inner_text()
        await again.screenshot(path=shots / "dashboard-expired.png", full_page=True)
        assert base and AMB


async def test_without_dsfr_the_pages_stay_usable(
    browser: Browser, tmp_path: Path, sqlite_url: str, shots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """scripts/vendor_dsfr.py not run: dashboard.css alone; the skip link, the focus ring and
    the keyboard path still work."""
    monkeypatch.setattr("bot.dashboard.pages.DSFR_CSS", tmp_path / "absent.css")
    async with dashboard_bot(tmp_path, sqlite_url) as (bot, _):
        await story(bot)
        page = await _open(browser, await ask_link(bot))
        assert await page.locator("link[href$='dsfr.min.css']").count() == 0
        focusable, reached = await _tab_through(page)
        assert focusable and focusable == reached
        await page.keyboard.press("Tab")
        outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline == "solid"  # the focus is visible
        await page.screenshot(path=shots / "dashboard-fallback.png", full_page=True)
        assert await _low_contrast(page) == []


async def test_the_link_clicked_in_a_chat_on_another_site_opens_the_dashboard(
    browser: Browser, tmp_path: Path, sqlite_url: str
) -> None:
    """As from Tchap or Slack in a browser: the link is followed from another site. The cookie
    is SameSite=Strict, so the page that sets it must hand over with a same-site navigation."""
    async with dashboard_bot(tmp_path, sqlite_url) as (bot, _):
        await story(bot)
        link = await ask_link(bot)
        page = await (await browser.new_context()).new_page()
        chat = f'<!doctype html><title>Chat</title><a href="{link}">le lien</a>'
        await page.route(
            "http://chat.example/",
            lambda route: route.fulfill(body=chat, content_type="text/html"),
        )
        await page.goto("http://chat.example/")
        await page.get_by_role("link", name="le lien").click()
        await page.wait_for_url("**/tableau")
        assert await page.locator("h1").inner_text() == "Mes campagnes"
