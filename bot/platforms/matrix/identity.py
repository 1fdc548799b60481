"""The bot's cross-signing identity on the homeserver: create it, or sign this device with it.

Element (and so Tchap) shows every message from a device its owner has not cross-signed as
"encrypted by a device not verified by its owner", and with MSC4153 ("exclude insecure
devices") such a device can neither send nor receive. matrix-nio has no cross-signing, so this
module speaks the client-server API itself; the formats and the crypto are in
:mod:`bot.platforms.matrix.crypto_identity`.

- No identity on the account: create master, self-signing and user-signing keys, keep their
  private parts in secret storage under a new recovery key (written once to
  ``recovery-key.txt`` in the store, 0600), publish them and sign this device.
- An identity exists and this device is not signed by it: open secret storage with the recovery
  key (configuration, else the file), check the self-signing key is the published one, sign.
- Otherwise (no key, wrong key, storage without the key): keep serving, and say so in the log
  and in :class:`IdentityStatus` (also written to ``identity-status.json`` for
  ``pixbot matrix status`` and health checks), with a French sentence for the operator.
- The master key changed under the bot (someone reset the identity): noticed when a sync lists
  the bot in ``device_lists.changed``; logged, flagged, and the device is signed again if the
  recovery key opens the new storage.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from canonicaljson import encode_canonical_json

from bot.platforms.matrix.crypto_identity import (
    DEFAULT_KEY_TYPE,
    KEY_TYPE_PREFIX,
    SECRET_NAMES,
    SELF_SIGNING,
    CrossSigningKeys,
    RecoveryKeyError,
    SecretStorageError,
    SigningKey,
    decode_recovery_key,
    decrypt_secret,
    device_signing_upload,
    device_trust,
    encode_recovery_key,
    fingerprint,
    generate_key,
    key_matches,
    new_key_id,
    public_key_of,
    read_recovery_file,
    secret_storage_account_data,
)
from bot.platforms.matrix.identity_state import (
    RESET_FR,
    STATUS_FILE,
    IdentityState,
    IdentityStatus,
)
from bot.platforms.matrix.session import JsonResponse, SessionClient
from bot.platforms.matrix.store import write_private

logger = logging.getLogger(__name__)

RECOVERY_KEY_FILE = "recovery-key.txt"
CONFIG_HINT = "[matrix] recovery_key (PIXBOT_MATRIX__RECOVERY_KEY)"
# Synapse lists our own user as "changed" at each room we join (a broadcast: every new direct
# room); the identity is checked again at most this often (s), a change meanwhile later.
RECHECK_INTERVAL = 5.0


class IdentityError(Exception):
    """A step failed; ``state`` says what the operator must do."""

    def __init__(self, state: IdentityState, detail: str) -> None:
        super().__init__(detail)
        self.state = state


class CrossSigning:
    """Keeps the bot's device cross-signed; every failure becomes a status, never a crash."""

    def __init__(
        self,
        client: SessionClient,
        *,
        store_path: Path,
        password: str = "",
        recovery_key: str = "",
    ) -> None:
        self.client = client
        self.store_path = Path(store_path)
        self._password = password
        self._configured_key = recovery_key.strip()
        self.status = IdentityStatus(client.user_id, client.device_id or "")
        self._known_master: str | None = self._load_known_master()
        # Own keys changed and not checked yet (deferred, or the server away): at a later sync.
        self._recheck = False
        self._checked_at = -RECHECK_INTERVAL  # monotonic time of the last check at a sync

    @property
    def recovery_key_path(self) -> Path:
        return self.store_path / RECOVERY_KEY_FILE

    @property
    def status_path(self) -> Path:
        return self.store_path / STATUS_FILE

    # -- entry points --------------------------------------------------------------------------

    async def ensure(self) -> IdentityStatus:
        """At start (and after an own-keys change): make this device cross-signed if we can."""
        client = self.client
        status = IdentityStatus(
            client.user_id,
            client.device_id or "",
            reset_detected=self.status.reset_detected,
            previous_master_key=self.status.previous_master_key,
        )
        if client.olm is None:
            status.state = IdentityState.NO_E2EE
            return self._publish(status)
        try:
            trust = device_trust(await self._own_keys(), client.user_id, client.device_id)
            if trust.device_key is None:
                raise IdentityError(IdentityState.ERROR, "this device's keys are not published")
            if trust.master is None:
                await self._bootstrap()
            else:
                self._note_master(status, trust.master)
                if not trust.cross_signed:
                    await self._sign_with_recovery_key(trust.self_signing)
            trust = device_trust(await self._own_keys(), client.user_id, client.device_id)
            # The keys may have changed between the two queries (someone resetting them now).
            self._note_master(status, trust.master)
            status.cross_signed = trust.cross_signed
            status.state = IdentityState.VERIFIED if trust.cross_signed else IdentityState.ERROR
        except IdentityError as error:
            status.state = error.state
            status.detail = str(error)
            status.master_key = status.master_key or self._known_master
        except (OSError, TimeoutError) as error:
            status.state = IdentityState.ERROR
            status.detail = f"{type(error).__name__}: {error}"
            self._recheck = True
        if status.master_key:
            self._known_master = status.master_key
        return self._publish(status)

    def _note_master(self, status: IdentityStatus, master: str | None) -> None:
        """Record the published master key; a different one than we knew is a reset."""
        status.master_key = master
        if master is None or self._known_master in (None, master):
            return
        if status.reset_detected and status.previous_master_key == self._known_master:
            return  # already noted in this check
        status.reset_detected = True
        status.previous_master_key = self._known_master
        logger.warning(
            "Matrix : %s (ancienne clé %s, nouvelle %s)",
            RESET_FR,
            fingerprint(self._known_master),
            fingerprint(master),
        )

    async def on_device_lists_changed(self, changed: Iterable[str]) -> None:
        """Sync hook: our own user in ``device_lists.changed`` → check the identity again."""
        if self.client.user_id in set(changed):
            self._recheck = True
        if not self._recheck or self.client.olm is None:
            return
        if (now := time.monotonic()) - self._checked_at < RECHECK_INTERVAL:
            return  # still pending: checked at a later sync
        self._recheck = False
        self._checked_at = now
        before = (self.status.state, self.status.master_key)
        try:
            status = await self.ensure()
        except Exception:
            self._recheck = True  # e.g. keys read while someone was still uploading them
            raise
        if (status.state, status.master_key) != before:
            logger.info("Matrix : identité du bot revérifiée : %s", status.state.value)

    # -- steps ---------------------------------------------------------------------------------

    async def _own_keys(self) -> dict[str, Any]:
        answer = await self.client.request_json(
            "POST", "keys/query", {"device_keys": {self.client.user_id: []}}
        )
        self._expect(answer, "keys/query")
        return answer.body

    async def _bootstrap(self) -> None:
        client = self.client
        storage_key = self._usable_recovery_key()
        if storage_key is None:
            storage_key = generate_key()
            self._write_recovery_key(storage_key)
        keys = CrossSigningKeys.generate()
        key_id = new_key_id()
        # Secret storage first: published keys whose private parts were lost would be useless.
        for event_type, content in secret_storage_account_data(storage_key, key_id, keys).items():
            await self._put_account_data(event_type, content)
        await self._upload_cross_signing_keys(device_signing_upload(client.user_id, keys))
        await self._upload_signatures(keys.self_signing, keys.master.public)
        logger.info(
            "Matrix : identité de signature croisée créée pour %s (clé maîtresse %s)",
            client.user_id,
            fingerprint(keys.master.public),
        )

    async def _sign_with_recovery_key(self, published_ssk: str | None) -> None:
        text = self._configured_key or read_recovery_file(self.recovery_key_path)
        if not text:
            raise IdentityError(IdentityState.NO_RECOVERY_KEY, "no recovery key")
        try:
            storage_key = decode_recovery_key(text)
        except RecoveryKeyError as error:
            raise IdentityError(IdentityState.WRONG_RECOVERY_KEY, str(error)) from None
        default = await self._get_account_data(DEFAULT_KEY_TYPE)
        key_id = default.get("key") if default else None
        if not isinstance(key_id, str):
            raise IdentityError(IdentityState.NO_SECRET_STORAGE, "no default secret storage key")
        description = await self._get_account_data(f"{KEY_TYPE_PREFIX}{key_id}")
        if not description or not key_matches(storage_key, description):
            raise IdentityError(IdentityState.WRONG_RECOVERY_KEY, "recovery key check failed")
        name = SECRET_NAMES[SELF_SIGNING]
        stored = await self._get_account_data(name)
        encrypted = ((stored or {}).get("encrypted") or {}).get(key_id)
        if not isinstance(encrypted, Mapping):
            raise IdentityError(IdentityState.NO_SECRET_STORAGE, f"{name} not in secret storage")
        try:
            ssk = SigningKey.from_secret(decrypt_secret(storage_key, name, encrypted))
        except SecretStorageError as error:
            raise IdentityError(IdentityState.WRONG_RECOVERY_KEY, str(error)) from None
        if ssk.public != published_ssk:
            raise IdentityError(
                IdentityState.STORAGE_MISMATCH, "stored self-signing key is not the published one"
            )
        master = await self._own_master_public()
        await self._upload_signatures(ssk, master)
        logger.info("Matrix : appareil %s signé avec la clé de récupération", self.client.device_id)

    async def _own_master_public(self) -> str | None:
        query = await self._own_keys()
        return public_key_of((query.get("master_keys") or {}).get(self.client.user_id))

    async def _upload_cross_signing_keys(self, body: dict[str, Any]) -> None:
        answer = await self.client.request_json("POST", "keys/device_signing/upload", body)
        if answer.status == 401 and "flows" in answer.body:
            # User-interactive authentication: answered with the account's password.
            if not self._password:
                raise IdentityError(IdentityState.BOOTSTRAP_FAILED, "password needed (UIA)")
            auth = {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": self.client.user_id},
                "password": self._password,
            }
            if "session" in answer.body:
                auth["session"] = answer.body["session"]
            answer = await self.client.request_json(
                "POST", "keys/device_signing/upload", {**body, "auth": auth}
            )
        if not answer.ok:
            raise IdentityError(IdentityState.BOOTSTRAP_FAILED, f"device_signing/upload: {answer}")

    async def _upload_signatures(self, ssk: SigningKey, master_public: str | None) -> None:
        """Sign this device with the self-signing key, and the master key with this device."""
        client = self.client
        query = await self._own_keys()
        device = ((query.get("device_keys") or {}).get(client.user_id) or {}).get(client.device_id)
        if not isinstance(device, Mapping):
            raise IdentityError(IdentityState.ERROR, "this device's keys are not published")
        signed: dict[str, Any] = {client.device_id: ssk.sign(device, client.user_id)}
        master_obj = (query.get("master_keys") or {}).get(client.user_id)
        if master_public and isinstance(master_obj, Mapping) and client.olm is not None:
            payload = {k: v for k, v in master_obj.items() if k not in ("signatures", "unsigned")}
            signature = client.olm.account.sign(encode_canonical_json(payload).decode("utf-8"))
            payload["signatures"] = {client.user_id: {f"ed25519:{client.device_id}": signature}}
            signed[master_public] = payload
        answer = await client.request_json(
            "POST", "keys/signatures/upload", {client.user_id: signed}
        )
        self._expect(answer, "keys/signatures/upload")
        failures = answer.body.get("failures")
        if failures:
            raise IdentityError(IdentityState.ERROR, f"signatures refused: {failures}")

    # -- account data and files ------------------------------------------------------------------

    async def _get_account_data(self, event_type: str) -> dict[str, Any] | None:
        answer = await self.client.request_json(
            "GET", f"user/{self.client.user_id}/account_data/{event_type}"
        )
        if answer.status == 404:
            return None
        self._expect(answer, f"account_data {event_type}")
        return answer.body

    async def _put_account_data(self, event_type: str, content: dict[str, Any]) -> None:
        answer = await self.client.request_json(
            "PUT", f"user/{self.client.user_id}/account_data/{event_type}", content
        )
        self._expect(answer, f"account_data {event_type}")

    def _expect(self, answer: JsonResponse, what: str) -> None:
        if not answer.ok:
            raise IdentityError(IdentityState.ERROR, f"{what}: {answer}")

    def _usable_recovery_key(self) -> bytes | None:
        """A recovery key already given (so the operator's copy stays valid), if well-formed."""
        text = self._configured_key or read_recovery_file(self.recovery_key_path)
        if not text:
            return None
        try:
            return decode_recovery_key(text)
        except RecoveryKeyError:
            logger.warning("Matrix : clé de récupération mal formée ignorée ; une autre est créée")
            return None

    def _write_recovery_key(self, key: bytes) -> None:
        self.store_path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.store_path, 0o700)
        write_private(
            self.recovery_key_path,
            "# Clé de récupération Matrix du bot pixbot : à ranger dans le coffre de secrets\n"
            f"# comme {CONFIG_HINT}, puis à supprimer d'ici.\n"
            f"{encode_recovery_key(key)}\n",
        )
        logger.warning(
            "Matrix : clé de récupération écrite dans %s : déplacez-la dans votre coffre de "
            "secrets comme %s",
            self.recovery_key_path,
            CONFIG_HINT,
        )

    def _load_known_master(self) -> str | None:
        try:
            data = json.loads(self.status_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        master = data.get("master_key") if isinstance(data, dict) else None
        return master if isinstance(master, str) else None

    def _publish(self, status: IdentityStatus) -> IdentityStatus:
        self.status = status
        level = logging.INFO if status.state == IdentityState.VERIFIED else logging.WARNING
        if status.reset_detected:
            level = logging.WARNING
        logger.log(level, "Matrix: %s", status.message)
        if status.detail:
            logger.info("Matrix : détail de l'identité : %s", status.detail)
        try:
            write_private(self.status_path, json.dumps(status.as_dict(), indent=2))
        except OSError as error:
            logger.warning("Matrix : état de l'identité non écrit : %s", error)
        return status
