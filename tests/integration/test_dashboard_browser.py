"""The dashboard in a real browser: Playwright driving Debian's Chromium against the pages the
bot serves on 127.0.0.1, opened with the link a console conversation asked for.

Skipped, with the reason, when Playwright or Chromium is missing (.ci/run installs both).
Screenshots of each page go to ``$PIXBOT_SCREENSHOTS`` (default: the test's tmp folder).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.campaigns import AMB
from tests.helpers.dashboard import ADMIN, CODE, ask_link, cli_stats_json, dashboard_bot, story

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
    return page


async def _cells(page: Page) -> dict[str, str]:
    found: dict[str, str] = await page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#services tr[data-group]')]
            .flatMap(row => [...row.querySelectorAll('td[data-field]')].map(cell =>
                [row.dataset.group + '.' + cell.dataset.field, cell.innerText.trim()])))"""
    )
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
        await story(bot, agents=14, done=7, started=5, stopped=1)
        expected: dict[str, Any] = json.loads(cli_stats_json(bot, sqlite_url))
        page = await _open(browser, await ask_link(bot))
        assert await page.title() == "Mes campagnes — Tableau de bord pixbot"
        assert await page.get_attribute("html", "lang") == "fr"
        await page.screenshot(path=shots / "dashboard-overview.png", full_page=True)
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
        focusable, reached = await _tab_through(page)
        assert focusable and focusable == reached, (focusable, reached)

        admin = await _open(browser, await ask_link(bot, ADMIN))
        await admin.get_by_role("link", name="Vue ministère").click()
        await admin.wait_for_url("**/tableau/ministere")
        assert await admin.locator("h1").inner_text() == "Vue ministère"
        row = admin.locator("#ministere tbody tr", has_text="DREAL-BZH")
        assert "50" in await row.inner_text()  # 7 of 14 completed
        await admin.screenshot(path=shots / "dashboard-ministry.png", full_page=True)
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
