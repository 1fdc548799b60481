"""The Slack bot (platform + application) as a real process, to be killed like a crash.

``python -m tests.helpers.slack_process DATABASE_URL SPOOL_PATH WEB_API_URL`` runs the Slack
platform in HTTP events mode on a free port of 127.0.0.1 (signed with
:data:`tests.helpers.slack.SECRET`), against the fake Web API at ``WEB_API_URL``, and prints
``listening <port>`` once Slack's requests are accepted.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


async def _main(database_url: str, spool: str, web_api: str) -> int:
    from bot.app import App
    from bot.platforms.slack import SlackPlatform
    from storage.uow import Store
    from tests.helpers.bot import make_settings
    from tests.helpers.slack import BOT_TOKEN, SECRET

    store = Store.from_url(database_url)
    platform = SlackPlatform(
        bot_token=BOT_TOKEN,
        signing_secret=SECRET,
        base_url=web_api,
        http_port=0,
        spool_path=Path(spool),
    )
    app = App(make_settings(database_url), store, platform)
    running = asyncio.ensure_future(app.run())
    await platform.listening.wait()
    print(f"listening {platform.bound_port}", flush=True)
    return await running


class SlackBotProcess:
    """One bot process; :meth:`crash` kills it with SIGKILL (nothing runs on the way out)."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port

    @classmethod
    async def start(
        cls, database_url: str, spool: Path, web_api: str, wait: float
    ) -> SlackBotProcess:
        log = spool.with_name(f"{spool.name}.{os.getpid()}-{id(spool)}.log")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.helpers.slack_process",
            database_url,
            str(spool),
            web_api,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log.open("wb"),  # read on failure; a pipe nobody reads could block it
        )
        assert process.stdout is not None
        try:
            while True:
                line = (await asyncio.wait_for(process.stdout.readline(), wait)).decode()
                if not line:
                    output = log.read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"the Slack bot process ended before listening:\n{output}")
                if line.startswith("listening "):
                    return cls(process, int(line.split()[1]))
        except BaseException:
            process.kill()
            await process.wait()
            raise

    async def crash(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def kill(self) -> None:
        if self.process.returncode is None:
            await self.crash()


if __name__ == "__main__":
    sys.exit(asyncio.run(_main(*sys.argv[1:4])))
