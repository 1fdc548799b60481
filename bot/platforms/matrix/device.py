"""The bot's Matrix device: its E2EE keys on the homeserver, and what they say of readiness.

nio trusts its store: once it published a device's keys it never publishes them again, and a
fresh store on a device id the server knows uploads one-time keys the server refuses ("already
exists") at every sync. Either way agents cannot start an encrypted session with the bot while
it looks connected. So, at each start and whenever the server reports a change of the bot's
own devices, the keys published for this device are compared with the store's:

- the same: nothing to do;
- missing, for a device the store had published (deleted on the server, then logged into
  again), or different (the store was lost and the device id reused), or one-time keys
  refused as "already exists": :class:`DeviceLost` — the bot leaves that device for a new one
  (:mod:`bot.platforms.matrix.healing`), or stops with :class:`MatrixNeedsOperator` (exit code
  78, not restarted by the unit) and one French line when that needs a person.

The device is signed with the account's cross-signing identity
(:mod:`bot.platforms.matrix.identity`). Readiness (:mod:`readiness`) is what health checks read;
``device-status.json`` in the store says it for ``pixbot matrix status``.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from nio import ErrorResponse, SyncResponse

from bot.core import PlatformNeedsOperator
from bot.platforms.matrix.codec import MatrixAuthError, errcode_of
from bot.platforms.matrix.connection import NETWORK_ERRORS, MatrixConnection, keep_keys
from bot.platforms.matrix.crypto_identity import public_key_of, read_recovery_file
from bot.platforms.matrix.identity import (
    RECOVERY_KEY_FILE,
    CrossSigning,
    IdentityState,
    IdentityStatus,
)
from bot.platforms.matrix.login import Login
from bot.platforms.matrix.readiness import (
    REACHABLE,
    DeviceMatch,
    DeviceStatus,
    Readiness,
    assess,
    server_device_match,
    upload_failure_cause,
)
from bot.platforms.matrix.session import SessionClient

logger = logging.getLogger(__name__)

ALREADY_EXISTS = "one_time_key_already_exists"
# Own devices are compared with the server at most this often when the server reports a
# change (a broadcast makes the bot join many rooms), and at least this often otherwise.
DEVICE_RECHECK = 5.0
DEVICE_CHECK_EVERY = 300.0


class MatrixNeedsOperator(MatrixAuthError, PlatformNeedsOperator):
    """The device cannot be healed without a person: one French line says what to do."""


class DeviceLost(Exception):
    """The device in use cannot serve any more (``reason``: a key of REASONS_FR, device_words)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DeviceKeys:
    """This device's keys on the server and their upkeep, its cross-signing, its readiness."""

    def __init__(
        self, connection: MatrixConnection, login: Login, *, recovery_key: str = ""
    ) -> None:
        self.connection = connection
        self.login = login
        # Opens the secret storage of the bot's cross-signing identity (docs/tchap.md).
        self._recovery_key = recovery_key
        self._identity: CrossSigning | None = None
        # What is known of this device's E2EE keys on the server.
        self.match: DeviceMatch | None = None
        self._checked_at = 0.0
        self._one_time_keys: int | None = None
        self._upload_failure: str | None = None
        self._upload_causes_reported: set[str] = set()
        # Whether the account has a cross-signing identity (a new device must be signed).
        self.has_identity = False
        self._healed: tuple[str, str] | None = None  # (reason, replaced device id)
        self._healed_at: str | None = None
        self._status_key: tuple[Any, ...] | None = None

    async def check(self) -> DeviceMatch:
        """Compare the keys the server publishes for this device with the store's."""
        client = self.connection.client
        assert client.olm is not None
        answer = await client.request_json(
            "POST", "keys/query", {"device_keys": {client.user_id: []}}
        )
        if not answer.ok:
            raise OSError(f"keys/query failed: {answer}")
        keys = client.olm.account.identity_keys
        match = server_device_match(
            answer.body, client.user_id, client.device_id, keys["ed25519"], keys["curve25519"]
        )
        self.has_identity = (
            public_key_of((answer.body.get("master_keys") or {}).get(client.user_id)) is not None
        )
        self.match = match
        self._checked_at = time.monotonic()
        self.publish_status()
        return match

    async def upload(self) -> None:
        client = self.connection.client
        if client.olm is not None and client.should_upload_keys:
            self.upload_answered(await client.keys_upload())

    def upload_answered(self, response: Any) -> None:
        """Note a key upload's outcome; an error is logged once per cause, without key
        material; one-time keys refused as "already exists" mean the store is not the one the
        server knows (raises :class:`DeviceLost`)."""
        if not isinstance(response, ErrorResponse):
            self._upload_failure = None
            count = getattr(response, "signed_curve25519_count", None)
            if isinstance(count, int):
                self._one_time_keys = count
            if self.match == DeviceMatch.MISSING and self.connection.client.olm is not None:
                self.match = DeviceMatch.SAME  # just published by this store
            self.publish_status()
            return
        cause = upload_failure_cause(errcode_of(response), str(response.message or ""))
        self._upload_failure = cause
        if cause not in self._upload_causes_reported:
            self._upload_causes_reported.add(cause)
            logger.error(
                "Matrix : le serveur refuse les clés de l'appareil %s (%s)",
                self.connection.client.device_id,
                cause,
            )
        self.publish_status()
        if cause == ALREADY_EXISTS:
            raise DeviceLost("keys_rejected")

    def note_key_counts(self, response: SyncResponse) -> None:
        """The one-time keys left on the server, from a sync. nio ignores a count of 0 (it
        would never replace keys all claimed by others): set it here."""
        client = self.connection.client
        count = response.device_key_count.signed_curve25519
        if client.olm is None or not isinstance(count, int):
            return
        client.olm.uploaded_key_count = count
        if count != self._one_time_keys:
            self._one_time_keys = count
            self.publish_status()

    async def keep(self) -> None:
        """What nio's sync_forever does between syncs: to-device messages and key upkeep."""
        client = self.connection.client
        if not client.olm:
            return
        try:
            for what, response in await keep_keys(client):
                if what == "keys_upload":
                    self.upload_answered(response)
                else:
                    await self.connection.check(response, what)
        except NETWORK_ERRORS as error:
            logger.warning("Matrix : entretien des clés en échec : %s", error)

    async def after_sync(self, response: SyncResponse) -> None:
        """Own devices changed (or not checked for a while): the device and the identity."""
        client = self.connection.client
        own_changed = client.user_id in set(response.device_list.changed)
        since = time.monotonic() - self._checked_at
        if client.olm is not None and (
            (own_changed and since >= DEVICE_RECHECK) or since >= DEVICE_CHECK_EVERY
        ):
            try:
                match = await self.check()
                if match != DeviceMatch.SAME:
                    # Asked twice before leaving a device: a passing glitch must not cost it.
                    match = await self.check()
            except (OSError, TimeoutError) as error:
                logger.warning("Matrix : vérification de l'appareil du bot en échec : %s", error)
            else:
                if match != DeviceMatch.SAME:
                    different = match == DeviceMatch.DIFFERENT
                    raise DeviceLost("store_mismatch" if different else "logged_out")
        if self._identity is None:
            return
        changed = list(response.device_list.changed)
        if self._identity.status.state == IdentityState.ERROR:
            # The server failed the last check (a 502…): try again, at most every few seconds,
            # rather than stay unsigned — and unreachable for strict clients — until a restart.
            changed.append(client.user_id)
        try:
            await self._identity.on_device_lists_changed(changed)
        except Exception:
            logger.exception(
                "Matrix : vérification de l'identité après un changement de clés en échec"
            )
        self.publish_status()

    @property
    def identity_status(self) -> IdentityStatus | None:
        """The cross-signing status of this device (for health checks); None before start."""
        return self._identity.status if self._identity else None

    async def ensure_identity(self) -> None:
        client = self.connection.client
        if not isinstance(client, SessionClient) or not self.connection.e2ee or client.olm is None:
            return
        if self._identity is None:
            self._identity = CrossSigning(
                client,
                store_path=self.connection.store_path,
                password=self.login.password,
                recovery_key=self._recovery_key,
            )
        await self._identity.ensure()
        self.publish_status()

    def readiness(self) -> Readiness:
        identity = self._identity
        return assess(
            e2ee=self.connection.e2ee,
            started=self.connection.started or self.match is not None,
            match=self.match,
            one_time_keys=self._one_time_keys,
            cross_signed=identity.status.cross_signed if identity else None,
            upload_failure=self._upload_failure,
        )

    def readiness_problem(self) -> str | None:
        """None when agents can reach the bot; else a short reason (no key, no secret)."""
        state = self.readiness()
        return None if state in REACHABLE else state.value

    def publish_status(self) -> None:
        if not self.connection.has_client:
            return
        client = self.connection.client
        olm = client.olm
        status = DeviceStatus(
            user_id=client.user_id,
            device_id=client.device_id or "",
            state=self.readiness(),
            ed25519=olm.account.identity_keys["ed25519"] if olm is not None else "",
            one_time_keys=self._one_time_keys,
            upload_failure=self._upload_failure,
        )
        if self._healed is not None:
            status.healed_reason, status.replaced_device = self._healed
            status.healed_at = self._healed_at
        key = (status.state, status.device_id, status.one_time_keys, status.upload_failure)
        if key == self._status_key:
            return
        changed = self._status_key is None or status.state != self._status_key[0]
        if changed and self.connection.started:
            level = logging.INFO if status.state in REACHABLE else logging.WARNING
            logger.log(level, "Matrix : %s", status.message)
        self._status_key = key
        status.save(self.connection.store_path)

    def can_sign_new_device(self) -> bool:
        """Whether a new device could be cross-signed without a person: the account has no
        identity yet, or a recovery key is at hand (configuration, else the store's file)."""
        if not self.has_identity:
            return True
        return bool(
            self._recovery_key.strip()
            or read_recovery_file(self.connection.store_path / RECOVERY_KEY_FILE)
        )

    def left_device(self, reason: str, old_device_id: str) -> None:
        """The bot left ``old_device_id`` for a new device: nothing is known of the new one."""
        self._identity = None
        self.match = None
        self._upload_failure = None
        self._upload_causes_reported.clear()
        self._healed = (reason, old_device_id)
        self._healed_at = datetime.now(UTC).isoformat()
