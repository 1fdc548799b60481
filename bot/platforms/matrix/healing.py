"""A new device when the store and the server disagree (:mod:`bot.platforms.matrix.device`).

The bot leaves the device it cannot use (logged out, its store removed), logs in on a new one
(``PIXBOT-4F2A9C``, derived from ``[matrix] device_id``), publishes its keys, and signs it with
the recovery key (:mod:`bot.platforms.matrix.identity`); one warning says so, and
``device-status.json`` keeps why and which device was replaced. When that needs a person (only
an access token is configured, or the account has a cross-signing identity and no recovery key
is at hand), the bot stops with :class:`MatrixNeedsOperator` and one French line.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence

from bot.platforms.matrix.connection import NETWORK_ERRORS, MatrixConnection
from bot.platforms.matrix.device import DeviceKeys, DeviceLost, MatrixNeedsOperator
from bot.platforms.matrix.device_words import (
    needs_password,
    needs_recovery_key,
    new_device_refused,
    why_lost,
)
from bot.platforms.matrix.login import Login
from bot.platforms.matrix.readiness import derive_device_id, needs_new_device

logger = logging.getLogger(__name__)


class DeviceHealing:
    """Logs in on a device the server and the store agree on, leaving one that is lost.

    ``on_new_device``: what the other parts forget when the bot moves to a new device (the
    rooms whose state was read, the room keys asked for).
    """

    def __init__(
        self,
        connection: MatrixConnection,
        login: Login,
        keys: DeviceKeys,
        *,
        on_new_device: Sequence[Callable[[], None]] = (),
    ) -> None:
        self.connection = connection
        self.login = login
        self.keys = keys
        self._on_new_device = tuple(on_new_device)

    def blocker(self, reason: str, device_id: str) -> str | None:
        """The French line saying why a person must act, or None when the bot can heal."""
        if not self.login.password:
            return needs_password(device_id, reason)
        if not self.keys.can_sign_new_device():
            return needs_recovery_key(device_id, reason)
        return None

    async def log_in(self) -> None:
        """Log in; leave for a new device when the server's keys and the store's disagree."""
        await self.login.login()
        client = self.connection.client
        if client.olm is None:
            return
        match = await self.keys.check()
        reason = needs_new_device(match, bool(client.olm.account.shared))
        if reason is not None:
            await self.leave(reason)
            await self.login.login()
            await self.keys.check()
        await self.keys.upload()

    async def log_in_on_a_new_device(self) -> None:
        """Log in on the new device :meth:`leave` chose; if the server refuses even its keys,
        a person must look (no loop of new devices)."""
        try:
            await self.log_in()
        except DeviceLost as lost:
            line = new_device_refused(str(self.connection.client.device_id), lost.reason)
            logger.error("Matrix : %s", line)
            raise MatrixNeedsOperator(line) from None

    async def leave(self, reason: str) -> None:
        """Leave this device (logged out, store removed) for a new one; the caller logs in."""
        connection = self.connection
        client = connection.client
        old = client.device_id
        blocker = self.blocker(reason, old)
        if blocker is not None:
            logger.error("Matrix : %s", blocker)
            raise MatrixNeedsOperator(blocker)
        new = derive_device_id(self.login.configured_device_id)
        logger.warning(
            "Matrix : l'appareil %s du bot n'est plus utilisable (%s) : le bot passe sur un "
            "nouvel appareil %s et le signe avec la clé de récupération (docs/tchap.md § 8)",
            old,
            why_lost(reason),
            new,
        )
        connection.started = False
        if client.access_token and reason != "logged_out":
            # Deletes the old device on the server: agents' clients stop encrypting for keys
            # nobody holds any more.
            with contextlib.suppress(*NETWORK_ERRORS):
                await client.request_json("POST", "logout", {})
        await client.close()
        self.login.remove_key_store(old)
        self.login.move_to(new)
        self.login.new_client()
        self.keys.left_device(reason, old)
        for forget in self._on_new_device:
            forget()
