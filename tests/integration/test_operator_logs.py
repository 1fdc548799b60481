"""What an operator reads in the journal (issue #30): one format for everything pixbot writes on
stderr, and no per-room chatter from matrix-nio at INFO."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

from bot import logs
from tests.helpers.bot import clean_environment


def test_nio_details_need_debug() -> None:
    try:
        logs.configure(logging.INFO, "text")
        nio = logging.getLogger("nio.rooms")
        assert not nio.isEnabledFor(logging.INFO) and nio.isEnabledFor(logging.WARNING)
        assert logging.getLogger("bot.app").isEnabledFor(logging.INFO)
        logs.configure("DEBUG", "text")
        assert nio.isEnabledFor(logging.DEBUG)
    finally:
        logs.configure(logging.WARNING, "text")


def _pixbot(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_environment(**env),
        input="",
        timeout=120,
        check=False,
    )


def test_json_format_covers_the_database_line_and_the_refusals(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "dir" / "pixbot.db"
    refused = _pixbot(
        tmp_path, "--log-format", "json", "run", PIXBOT_BOT__DATABASE_URL=f"sqlite:///{missing}"
    )
    assert refused.returncode == 2
    (record,) = [json.loads(line) for line in refused.stderr.splitlines()]
    assert record["level"] == "ERROR" and "install -d" in record["message"]
    ran = _pixbot(tmp_path, "--log-format", "json", "run")
    assert ran.returncode == 0, ran.stderr
    records = [json.loads(line) for line in ran.stderr.splitlines()]
    assert records[0]["message"].startswith("Base de données : sqlite:///")
