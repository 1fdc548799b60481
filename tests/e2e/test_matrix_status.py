"""``pixbot matrix status`` against a real Synapse (issue #30): one French line per check, and
exit code 1 whenever something needs a person — the recovery key missing from the secrets, still
in recovery-key.txt, mistyped, another key, or the bot's token refused; 0 when nothing does."""

from __future__ import annotations

import asyncio
import logging
import secrets
from pathlib import Path

import aiohttp
import pytest
from typer.testing import CliRunner, Result

from bot.cli import app as cli
from tests.e2e.test_matrix_crosssigning import person_recovery_key
from tests.helpers.matrix_client import BotAccount

pytestmark = pytest.mark.synapse


async def status(
    bot: BotAccount, store: Path, monkeypatch: pytest.MonkeyPatch, recovery_key: str | None
) -> Result:
    """The command as the operator runs it, with the service's settings (in a thread: the
    command runs its own event loop)."""
    for name, value in {
        "PIXBOT_BOT__PLATFORM": "matrix",
        "PIXBOT_MATRIX__HOMESERVER": bot.server.base_url,
        "PIXBOT_MATRIX__USER_ID": bot.user_id,
        "PIXBOT_MATRIX__STORE_PATH": str(store),
    }.items():
        monkeypatch.setenv(name, value)
    if recovery_key is None:
        monkeypatch.delenv("PIXBOT_MATRIX__RECOVERY_KEY", raising=False)
    else:
        monkeypatch.setenv("PIXBOT_MATRIX__RECOVERY_KEY", recovery_key)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        return await asyncio.to_thread(CliRunner().invoke, cli, ["matrix", "status"])
    finally:  # the command sets up logging on the runner's stream, closed afterwards
        root.handlers[:], root.level = handlers, level


def mistyped(key: str) -> str:
    """The key with one character changed for another base58 one (the check byte catches it)."""
    compact = key.replace(" ", "")
    index = len(compact) // 2
    other = "2" if compact[index] != "2" else "3"
    return compact[:index] + other + compact[index + 1 :]


async def test_status_checks_the_recovery_key_and_the_token(
    bot: BotAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    platform = bot.platform(store)
    await platform.start()
    await platform.stop()
    key_file = store / "recovery-key.txt"
    key = next(line for line in key_file.read_text().splitlines() if not line.startswith("#"))

    waiting = await status(bot, store, monkeypatch, None)
    assert waiting.exit_code == 1, waiting.output
    assert "Clé de récupération dans les secrets (PIXBOT_MATRIX__RECOVERY_KEY) : non" in (
        waiting.stdout
    )
    assert "Les agents peuvent joindre le bot : oui" in waiting.stdout
    assert "encore dans recovery-key.txt" in waiting.stdout

    key_file.unlink()
    for given in (key, key.replace(" ", "")):  # spaces are optional
        ok = await status(bot, store, monkeypatch, given)
        assert ok.exit_code == 0, ok.output
        assert "Clé de récupération bien formée (base58, espaces facultatifs) : oui" in ok.stdout
        assert "Clé de récupération reconnue par le serveur : oui" in ok.stdout
        assert "Jeton d'accès : accepté par le serveur" in ok.stdout
        assert given not in ok.output and key.replace(" ", "") not in ok.output

    typo = await status(bot, store, monkeypatch, mistyped(key))
    assert typo.exit_code == 1, typo.output
    assert "Clé de récupération bien formée (base58, espaces facultatifs) : non" in typo.stdout
    assert "À faire :" in typo.stdout and "recopiez-la" in typo.stdout

    other = await status(bot, store, monkeypatch, person_recovery_key(secrets.token_bytes(32)))
    assert other.exit_code == 1, other.output
    assert "Clé de récupération reconnue par le serveur : non : c'est une autre clé" in (
        other.stdout
    )

    # The bot's device logged out on the server: its token is refused.
    token = platform.client.access_token
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{bot.server.base_url}/_matrix/client/v3/logout",
            headers={"Authorization": f"Bearer {token}"},
            json={},
        ) as answer,
    ):
        assert answer.status == 200
    gone = await status(bot, store, monkeypatch, key)
    assert gone.exit_code == 1, gone.output
    assert "Jeton d'accès : refusé : appareil supprimé ou déconnecté" in gone.stdout
    assert "Les agents peuvent joindre le bot : non" in gone.stdout
    assert "Clé de récupération reconnue par le serveur : non vérifiée" in gone.stdout
