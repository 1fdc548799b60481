"""``pixbot pix status`` and ``pixbot pix sync`` against the fake MaDDo (in its own thread: the
CLI runs its own event loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from bot.cli import app as cli
from tests.helpers.bot import Bot
from tests.helpers.campaigns import AGENTS, launched, with_emails
from tests.helpers.pix_fake import (
    CLIENT_ID,
    CLIENT_SECRET,
    FakeMaddo,
    Participation,
    maddo_in_thread,
)

runner = CliRunner()


@pytest.fixture
def maddo() -> Iterator[FakeMaddo]:
    with maddo_in_thread(lambda: datetime.now(UTC)) as fake:
        fake.add_campaign(555, "ABCDEF234")
        yield fake


@pytest.fixture
def configured(cli_env: Path, maddo: FakeMaddo, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PIXBOT_PIX__API_URL", maddo.base_url)
    monkeypatch.setenv("PIXBOT_PIX__CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("PIXBOT_PIX__CLIENT_SECRET", CLIENT_SECRET)
    return cli_env


async def invoke(*args: str) -> Result:
    """The CLI, which runs its own event loop, from a thread (this test's loop is running)."""
    return await asyncio.to_thread(runner.invoke, cli, list(args))


async def test_status_then_sync_then_status(bot: Bot, configured: Path, maddo: FakeMaddo) -> None:
    await launched(bot)
    with_emails(bot, {AGENTS[0]: "agent1@dreal.gouv.fr"})
    now = datetime.now(UTC)
    maddo.participations[555] += [
        Participation(1, "agent1@dreal.gouv.fr", "Un", "Agent", "SHARED", shared_at=now),
        Participation(2, "personne@ailleurs.fr", "Deux", "Inconnu", "STARTED"),
    ]
    result = await invoke("pix", "status")
    assert result.exit_code == 0, result.output
    assert "Jeton : obtenu" in result.output
    assert "101 Ministère — DREAL Bretagne : 1 campagnes" in result.output
    assert "ABCDEF234 (DREAL-BZH, running) : pas encore liée" in result.output
    result = await invoke("pix", "sync")
    assert result.exit_code == 0, result.output
    assert (
        "ABCDEF234 (DREAL-BZH) : 2 participations lues (toutes), 1 terminés, 0 commencés, "
        "0 sans changement, 1 participations sans correspondance (1 aucun agent)."
    ) in result.output
    result = await invoke("pix", "status")
    assert "campagne Pix 555, dernière synchronisation 20" in result.output
    # Counts only: nobody is named, nor the secret shown.
    for output in (result.output,):
        assert "personne@ailleurs.fr" not in output and CLIENT_SECRET not in output
    result = await invoke("pix", "sync", "abcdef234")
    assert result.exit_code == 0 and "0 terminés" in result.output


def test_without_api_url_it_says_the_sync_is_off(cli_env: Path) -> None:
    runner.invoke(cli, ["db", "upgrade"])
    result = runner.invoke(cli, ["pix", "status"])
    assert result.exit_code == 1 and "[pix] api_url est vide" in result.output


def test_wrong_secret_is_a_clear_refusal(configured: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner.invoke(cli, ["db", "upgrade"])
    monkeypatch.setenv("PIXBOT_PIX__CLIENT_SECRET", "s3cr3t-w0rd")
    result = runner.invoke(cli, ["pix", "status"])
    assert result.exit_code == 1 and "jeton refusé par Pix (HTTP 401)" in result.output
    assert "s3cr3t-w0rd" not in result.output


def test_an_unknown_code_is_said_so(configured: Path, maddo: FakeMaddo) -> None:
    runner.invoke(cli, ["db", "upgrade"])
    result = runner.invoke(cli, ["pix", "sync", "XYZXYZ123"])
    assert (
        result.exit_code == 1 and "Aucune campagne lancée avec le code XYZXYZ123" in result.output
    )
    assert maddo.requests == []  # nothing asked of Pix
