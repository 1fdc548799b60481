"""Exit codes the systemd unit does not restart (deploy/pixbot.service RestartPreventExitStatus):
4 when the platform refuses the bot's credentials, 78 when healing needs a person (#31)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.core import PlatformAuthError, PlatformNeedsOperator
from bot.platforms.console import ConsolePlatform
from bot.runner import EXIT_CREDENTIALS_REFUSED, EXIT_NEEDS_OPERATOR, run_bot
from tests.helpers.bot import make_settings

LINE = "L'appareil Matrix PIXBOT du bot n'est plus utilisable : renseignez [matrix] recovery_key."


class RefusingPlatform(ConsolePlatform):
    def __init__(self, error: Exception) -> None:
        super().__init__(input_stream=io.StringIO(), output=io.StringIO(), interactive=False)
        self.error = error

    async def start(self) -> None:
        raise self.error


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (PlatformNeedsOperator(LINE), EXIT_NEEDS_OPERATOR),
        (PlatformAuthError("M_FORBIDDEN"), EXIT_CREDENTIALS_REFUSED),
    ],
)
async def test_a_platform_that_needs_a_person_stops_with_its_code_and_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], error: Exception, code: int
) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'pixbot.db'}")
    assert await run_bot(settings, platform=RefusingPlatform(error)) == code
    printed = capsys.readouterr().err.strip().splitlines()
    assert len(printed) == 1
    if code == EXIT_NEEDS_OPERATOR:
        assert printed == [LINE]
    assert (EXIT_CREDENTIALS_REFUSED, EXIT_NEEDS_OPERATOR) == (4, 78)
