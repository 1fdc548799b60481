"""Logs: ``--log-format json`` (or ``[log] format = "json"``) writes one JSON object per line."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from bot import logs
from tests.helpers.bot import clean_environment


def _run(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = clean_environment()
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )


def _records(stderr: str) -> list[dict[str, str]]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, "nothing logged"
    return [json.loads(line) for line in lines]


def test_json_logs_of_a_real_run_are_one_object_per_line(tmp_path: Path) -> None:
    completed = _run(tmp_path, "--log-format", "json", "--verbose", "run", stdin="aide\n")
    assert completed.returncode == 0, completed.stderr
    records = _records(completed.stderr)
    assert all(set(r) >= {"time", "level", "logger", "message"} for r in records)
    assert {r["level"] for r in records} <= {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
    loggers = {r["logger"] for r in records}
    assert any(name.startswith("bot") for name in loggers), loggers
    # Multi-line messages stay on one line (the migrations' docstrings have newlines).
    assert len(completed.stderr.strip().splitlines()) == len(records)
    # The conversation itself is on stdout, never in the logs.
    assert "aide" not in " ".join(r["message"] for r in records).lower().split()


def test_the_configuration_chooses_json_and_the_level(tmp_path: Path) -> None:
    (tmp_path / "pixbot.toml").write_text('[log]\nformat = "json"\nlevel = "INFO"\n')
    completed = _run(tmp_path, "--config", "pixbot.toml", "run", stdin="aide\n")
    assert completed.returncode == 0, completed.stderr
    assert {r["level"] for r in _records(completed.stderr)} >= {"INFO"}


def test_an_unknown_log_format_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    completed = _run(tmp_path, "--log-format", "xml", "run", stdin="aide\n")
    assert completed.returncode == 2
    assert "text ou json" in completed.stderr
    assert not (tmp_path / "pixbot.db").exists()


def test_an_exception_is_kept_inside_its_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure(logging.INFO, "json")
    try:
        try:
            raise RuntimeError("panne « base »")
        except RuntimeError:
            logging.getLogger("bot.test").exception("échec de l'envoi %s", "inv:1:2")
        (record,) = _records(capsys.readouterr().err)
    finally:
        logs.configure(logging.WARNING, "text")
    assert record["level"] == "ERROR"
    assert record["logger"] == "bot.test"
    # A delivery key is logged as an opaque digest (its kind may tell a declaration).
    assert record["message"] == f"échec de l'envoi {logs.opaque('inv:1:2')}"
    assert "RuntimeError: panne « base »" in record["exception"]
