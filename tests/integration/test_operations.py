"""Running for months (issue #11): a hot standby takes over a killed process without sending
anything twice; /healthz and /metrics tell what each process does.

Two real ``pixbot run`` processes (console platform) on a private PostgreSQL server; the
shared console journal counts every delivery, whichever process made it. Every wait is
bounded; no assertion depends on how long something took.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.console_process import (
    ConsoleBot,
    agents,
    invitations,
    launch_lines,
    populate,
)
from tests.helpers.pgserver import PrivatePostgres, free_port, wait_until

pytestmark = pytest.mark.postgres
AGENTS = 3000
WAIT = 300.0


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""


def health(port: int) -> tuple[int, dict[str, Any]]:
    status, body = get(port, "/healthz")
    return status, (json.loads(body) if body else {})


def role_is(port: int, role: str) -> bool:
    status, body = health(port)
    return status == 200 and body.get("role") == role


def metric(text: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        metric_name, _, rest = key.partition("{")
        found = ",".join(sorted(rest.rstrip("}").split(","))) if rest else ""
        if metric_name == name and found == wanted:
            return float(value)
    return None


def test_standby_takes_over_a_killed_process_and_sends_nothing_twice(
    pg_url: str, tmp_path: Path
) -> None:
    populate(pg_url, AGENTS)
    port_a, port_b = free_port(), free_port()
    active = ConsoleBot(pg_url, tmp_path, env={"PIXBOT_HTTP__LISTEN": f"127.0.0.1:{port_a}"})
    standby: ConsoleBot | None = None
    try:
        wait_until(lambda: role_is(port_a, "active"), 60, "the first process to be active")
        standby = ConsoleBot(pg_url, tmp_path, env={"PIXBOT_HTTP__LISTEN": f"127.0.0.1:{port_b}"})
        wait_until(lambda: role_is(port_b, "standby"), 60, "the second process to stand by")
        status, body = health(port_b)
        assert status == 200  # a standby is healthy
        assert body["checks"]["database"] == "up"
        assert body["checks"]["platform"] == "idle"

        active.write(launch_lines())
        wait_until(lambda: sum(invitations(tmp_path).values()) >= 200, WAIT, "the launch")
        active.kill()  # SIGKILL: no cleanup at all
        active.wait(60)
        killed_at = time.monotonic()
        assert sum(invitations(tmp_path).values()) < AGENTS, "launch over before the kill"
        wait_until(lambda: role_is(port_b, "active"), 60, "the standby to take over")
        print(f"takeover after {time.monotonic() - killed_at:.1f} s")
        wait_until(lambda: len(invitations(tmp_path)) == AGENTS, WAIT, "every invitation")
        received = invitations(tmp_path)
        assert sorted(received) == sorted(agents(AGENTS))
        assert set(received.values()) == {1}, "an agent was invited twice"

        status, body = health(port_b)
        assert status == 200 and body["status"] == "ok"
        assert body["checks"]["scheduler"] == "running"
        _, metrics = get(port_b, "/metrics")
        assert metric(metrics, "pixbot_role", role="active") == 1.0
        assert metric(metrics, "pixbot_role", role="standby") == 0.0
        # No count of invitations (it would be the audience minus "stop tout"): only whether
        # anything waits past its time.
        assert metric(metrics, "pixbot_outbox_overdue_seconds") == 0.0
        assert "invitation" not in metrics
        assert metric(metrics, "pixbot_campaigns", status="running") == 1.0
        assert "@agent" not in metrics and "@amb" not in metrics  # no personal data

        standby.terminate()
        assert standby.wait(60) == 0
    finally:
        active.kill()
        if standby is not None:
            standby.kill()
    assert "Traceback" not in standby.output()


def test_healthz_reports_the_database_down_and_recovers(
    private_pg: PrivatePostgres, pg_url: str, tmp_path: Path
) -> None:
    populate(pg_url, 3)
    port = free_port()
    bot = ConsoleBot(pg_url, tmp_path, env={"PIXBOT_HTTP__LISTEN": f"127.0.0.1:{port}"})
    try:
        wait_until(lambda: role_is(port, "active"), 60, "the process to be active")
        bot.write("/as @agent1:console\nqui voit mes résultats ?\n")
        wait_until(
            lambda: (
                metric(get(port, "/metrics")[1], "pixbot_faq_questions_total", outcome="answered")
                == 1.0
            ),
            60,
            "the FAQ answer to be counted",
        )
        private_pg.stop()
        try:
            status, body = health(port)
            assert status == 503
            assert body["status"] == "degraded"
            assert body["checks"]["database"] == "down"
            assert set(body["reasons"]) == {"database"}
            _, metrics = get(port, "/metrics")
            assert metric(metrics, "pixbot_database_up") == 0.0
        finally:
            private_pg.start()
        wait_until(lambda: health(port)[0] == 200, 60, "the health check to recover")
        bot.terminate()
        assert bot.wait(60) == 0
    finally:
        bot.kill()
    output = bot.output()
    assert "Traceback" not in output
    assert "qui voit" not in output  # message bodies are not logged
