"""Retention and backups (issue #11): what the purge deletes and keeps, its dry run, and a
SQLite backup that restores."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.services.retention import purge
from storage.models import AuditRow, CampaignRow, DeliveryRow, ParticipationEventRow, PersonRow
from tests.helpers.bot import Bot
from tests.helpers.campaigns import AGENTS, AMB, count_rows, launched

runner = CliRunner()
LONG_AGO = datetime(2020, 1, 6, 9, 0, tzinfo=UTC)


async def closed_long_ago(bot: Bot) -> None:
    """ABCDEF234 launched, one agent done, closed, and all of it dated 2020."""
    await launched(bot)
    await bot.say(AGENTS[0], "c'est fait")
    await bot.say(AMB, "campagne clore ABCDEF234")
    await bot.say(AMB, "oui")
    with bot.store.transaction() as uow:
        uow.session.execute(update(CampaignRow).values(deadline=LONG_AGO.date()))
        uow.session.execute(update(AuditRow).values(at=LONG_AGO))


def personal_rows(bot: Bot) -> tuple[int, int, int]:
    return (
        count_rows(bot, DeliveryRow),
        count_rows(bot, ParticipationEventRow),
        count_rows(bot, PersonRow),
    )


async def test_dry_run_reports_and_keeps_everything(bot: Bot) -> None:
    await closed_long_ago(bot)
    before = personal_rows(bot)
    report = purge(bot.store, bot.clock.now(), 365, dry_run=True)
    assert report.campaigns == ["ABCDEF234"]
    assert report.people == len(AGENTS)  # the ambassador has a role: kept
    assert report.deliveries > 0 and report.participation_events > 0
    assert personal_rows(bot) == before


async def test_purge_keeps_only_counts_per_campaign_and_service(bot: Bot) -> None:
    await closed_long_ago(bot)
    report = purge(bot.store, bot.clock.now(), 365, dry_run=False)
    assert report.people == len(AGENTS)
    assert count_rows(bot, ParticipationEventRow) == 0
    with bot.store.transaction() as uow:
        left = uow.session.query(DeliveryRow).all()
        # Only this week's replies to the ambassador remain (not yet past the retention).
        assert left and {d.recipient for d in left} == {f"dm:{AMB}"}
        assert uow.people.by_platform_id(AMB) is not None
        assert all(uow.people.by_platform_id(agent) is None for agent in AGENTS)
        campaign = uow.session.query(CampaignRow).one()
        kept = uow.retention.retained(campaign.id)
    assert kept == {"DREAL-BZH": {"invited": 6, "started": 0, "completed": 1, "opted_out": 0}}
    # Run again: nothing left to purge.
    assert purge(bot.store, bot.clock.now(), 365, dry_run=False).campaigns == []


async def test_recent_and_open_campaigns_are_untouched(bot: Bot) -> None:
    await launched(bot)
    await bot.say(AMB, "campagne clore ABCDEF234")  # closed today: within the retention
    await bot.say(AMB, "oui")
    before = personal_rows(bot)
    assert purge(bot.store, bot.clock.now(), 365, dry_run=False).campaigns == []
    assert personal_rows(bot) == before


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_purge_command_and_its_dry_run(
    bot: Bot, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await closed_long_ago(bot)
    monkeypatch.delenv("PIXBOT_CONFIG", raising=False)
    env = {"PIXBOT_BOT__DATABASE_URL": db_url}
    dry = runner.invoke(cli, ["purge", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "ABCDEF234" in dry.output and "Seraient supprimés : 6 personnes" in dry.output
    assert count_rows(bot, PersonRow) == len(AGENTS) + 1
    done = runner.invoke(cli, ["purge"], env=env)
    assert done.exit_code == 0, done.output
    assert "Supprimés : 6 personnes" in done.output
    assert count_rows(bot, PersonRow) == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_backup_restores_the_same_data(
    bot: Bot, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await launched(bot)
    monkeypatch.delenv("PIXBOT_CONFIG", raising=False)
    target = tmp_path / "backups" / "pixbot-backup.db"
    target.parent.mkdir()
    result = runner.invoke(
        cli, ["db", "backup", str(target)], env={"PIXBOT_BOT__DATABASE_URL": db_url}
    )
    assert result.exit_code == 0, result.output
    # Restore: the backup file is a database the bot opens as is.
    restored = f"sqlite:///{target}"
    listing = runner.invoke(
        cli, ["campaign", "list", "--json"], env={"PIXBOT_BOT__DATABASE_URL": restored}
    )
    assert listing.exit_code == 0, listing.output
    assert "ABCDEF234" in listing.output
    original = runner.invoke(
        cli, ["campaign", "list", "--json"], env={"PIXBOT_BOT__DATABASE_URL": db_url}
    )
    assert listing.stdout == original.stdout


def test_backup_of_postgresql_points_to_pg_dump(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIXBOT_CONFIG", raising=False)
    result = runner.invoke(
        cli,
        ["db", "backup", "x.db"],
        env={"PIXBOT_BOT__DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"},
    )
    assert result.exit_code == 2
    assert "pg_dump" in result.output
