"""The bot's Matrix device: logging in, its E2EE keys on the homeserver, and a new device when
the store and the server disagree.

nio trusts its store: once it published a device's keys it never publishes them again, and a
fresh store on a device id the server knows uploads one-time keys the server refuses ("already
exists") at every sync. Either way agents cannot start an encrypted session with the bot while
it looks connected. So, at each start and whenever the server reports a change of the bot's
own devices, the keys published for this device are compared with the store's:

- the same: nothing to do;
- missing, for a device the store had published (deleted on the server, then logged into
  again), or different (the store was lost and the device id reused), or one-time keys
  refused as "already exists": the bot leaves that device (logged out, its store removed),
  logs in on a new one (``PIXBOT-4F2A9C``, derived from ``[matrix] device_id``), publishes its
  keys, and signs it with the recovery key (:mod:`bot.platforms.matrix.identity`); one warning
  says so, and ``device-status.json`` keeps why and which device was replaced;
- when that needs a person (only an access token is configured, or the account has a
  cross-signing identity and no recovery key is at hand), the bot stops with
  :class:`MatrixNeedsOperator` (exit code 78, not restarted by the unit) and one French line.

A ``[matrix] device_id`` different from the one the stored session was made for wins: the bot
logs in on the configured device (one log line). Readiness (:mod:`readiness`) is what health
checks read.
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

from nio import AsyncClientConfig, ErrorResponse, SyncResponse, WhoamiError
from nio.api import Api

from bot.core import PlatformNeedsOperator
from bot.platforms.matrix.codec import (
    MatrixAuthError,
    errcode_of,
    is_auth_error,
    is_credentials_refusal,
)
from bot.platforms.matrix.connection import _NETWORK_ERRORS, keep_keys
from bot.platforms.matrix.crypto_identity import public_key_of, read_recovery_file
from bot.platforms.matrix.device_words import (
    needs_password,
    needs_recovery_key,
    new_device_refused,
    why_lost,
)
from bot.platforms.matrix.identity import (
    RECOVERY_KEY_FILE,
    CrossSigning,
    IdentityState,
    IdentityStatus,
)
from bot.platforms.matrix.inbound import InboundEvents
from bot.platforms.matrix.readiness import (
    REACHABLE,
    DeviceMatch,
    DeviceStatus,
    Readiness,
    assess,
    derive_device_id,
    needs_new_device,
    server_device_match,
    upload_failure_cause,
)
from bot.platforms.matrix.session import (
    Credentials,
    SessionClient,
    SessionRenewalError,
    password_login,
)
from bot.platforms.matrix.store import Session

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


class DeviceCare(InboundEvents):
    """Login, device keys and their upkeep, cross-signing, and healing a lost device."""

    def _make_client(self) -> SessionClient:
        self.store_path.mkdir(parents=True, exist_ok=True, mode=0o700)
        config = AsyncClientConfig(
            # The outbox owns retries: nio must hand back 429s and connection errors at once.
            max_limit_exceeded=0,
            max_timeouts=0,
            request_timeout=self._request_timeout,
            encryption_enabled=self.e2ee,
            store_sync_tokens=False,
        )
        client = SessionClient(
            self.homeserver,
            self.bot_id,
            device_id=self._device_id,
            store_path=str(self.store_path),
            config=config,
        )
        # Renewed tokens are saved at once (same device id).
        client.credentials = Credentials(password=self._password, on_renewed=self._save_tokens)
        return client

    # -- login -------------------------------------------------------------------------------

    def _save_session(self, device_id: str, access_token: str, refresh_token: str) -> None:
        client = self.client
        Session(
            client.user_id,
            device_id,
            access_token,
            self.homeserver,
            refresh_token,
            configured_device_id=self._configured_device_id,
        ).save(self.session_path)

    def _save_tokens(self, access_token: str, refresh_token: str) -> None:
        self._save_session(self.client.device_id, access_token, refresh_token)

    def _stored_session(self) -> Session | None:
        session = Session.load(self.session_path)
        if session is None:
            return None
        if session.user_id != self.bot_id:
            logger.warning(
                "Matrix : le fichier de session est celui d'un autre utilisateur ; "
                "nouvelle connexion"
            )
            return None
        made_for = session.configured_device_id or session.device_id
        if self._password and made_for != self._configured_device_id:
            logger.warning(
                "Matrix : [matrix] device_id %s configuré, différent de celui de la session "
                "enregistrée (%s, appareil %s) : connexion sur l'appareil configuré",
                self._configured_device_id,
                made_for,
                session.device_id,
            )
            self._device_id = self._configured_device_id
            self.client.device_id = self._configured_device_id
            self._replaced_session = session
            return None
        return session

    async def _login(self) -> None:
        client = self.client
        session = self._stored_session()
        if session is not None:
            client.restore_login(session.user_id, session.device_id, session.access_token)
            if isinstance(client, SessionClient):
                client.credentials.refresh_token = session.refresh_token
            whoami = await client.whoami()
            if not isinstance(whoami, WhoamiError):
                return
            if not is_auth_error(whoami):
                raise OSError(f"whoami failed: {whoami}")
            logger.warning("Matrix : jeton d'accès enregistré refusé (%s)", errcode_of(whoami))
            if not self._password:
                await self._auth_error(f"access token refused: {errcode_of(whoami)}")
            # Log in again on the same device so the E2EE identity is kept (when the device
            # was deleted meanwhile, the keys check below notices and starts a new one).
            self._device_id = session.device_id
            client.device_id = session.device_id
            client.access_token = ""

        refresh_token = ""
        if self._password:
            # A password login asks for a refresh token (renewed by SessionClient).
            try:
                answer = await password_login(client, self._password, client.device_id)
            except SessionRenewalError as error:
                if not error.credentials_refused:
                    raise OSError(f"login failed: {error}") from None
                await self._auth_error(str(error))
            device_id = answer["device_id"]
            token = answer["access_token"]
            refresh_token = answer.get("refresh_token") or ""
            client.restore_login(answer.get("user_id") or self.bot_id, device_id, token)
            if isinstance(client, SessionClient):
                client.credentials.refresh_token = refresh_token
        else:
            client.access_token = self._access_token
            client.user_id = self.bot_id
            whoami = await client.whoami()
            if isinstance(whoami, WhoamiError):
                if not is_credentials_refusal(whoami):
                    raise OSError(f"whoami failed: {whoami}")
                await self._auth_error(f"access token refused: {whoami}")
            device_id = whoami.device_id or self._device_id
            token = self._access_token
            client.restore_login(whoami.user_id, device_id, token)
        self._save_session(device_id, token, refresh_token)
        replaced, self._replaced_session = self._replaced_session, None
        if replaced is not None and replaced.device_id != device_id:
            await self._end_device(replaced)

    async def _end_device(self, session: Session) -> None:
        """Log out the device a configured ``device_id`` replaced (the server deletes it, so
        agents' clients stop encrypting for it) and remove its key store: nothing of it is
        used again, and erasures reach only the store in use."""
        path = Api._build_path(["logout"])
        headers = {"Authorization": f"Bearer {session.access_token}"}
        with contextlib.suppress(*_NETWORK_ERRORS):
            await self.client.send("POST", path, "{}", headers=headers)
        self._remove_key_store(session.device_id)
        logger.info("Matrix : appareil remplacé %s déconnecté", session.device_id)

    def _remove_key_store(self, device_id: str) -> None:
        for suffix in ("", "-wal", "-shm"):
            (self.store_path / f"{self.bot_id}_{device_id}.db{suffix}").unlink(missing_ok=True)

    async def _login_on_a_usable_device(self) -> None:
        """Log in; leave for a new device when the server's keys and the store's disagree."""
        await self._login()
        client = self.client
        if client.olm is None:
            return
        match = await self._check_device()
        reason = needs_new_device(match, bool(client.olm.account.shared))
        if reason is not None:
            await self._leave_device(reason)
            await self._login()
            await self._check_device()
        await self._upload_keys()

    async def _on_a_new_device(self) -> None:
        """Log in on the new device :meth:`_leave_device` chose; if the server refuses even
        its keys, a person must look (no loop of new devices)."""
        try:
            await self._login_on_a_usable_device()
        except DeviceLost as lost:
            line = new_device_refused(str(self.client.device_id), lost.reason)
            logger.error("Matrix : %s", line)
            raise MatrixNeedsOperator(line) from None

    # -- the device's keys on the server -------------------------------------------------------

    async def _check_device(self) -> DeviceMatch:
        """Compare the keys the server publishes for this device with the store's."""
        client = self.client
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
        self._has_identity = (
            public_key_of((answer.body.get("master_keys") or {}).get(client.user_id)) is not None
        )
        self._device_match = match
        self._device_checked_at = time.monotonic()
        self._publish_device_status()
        return match

    async def _upload_keys(self) -> None:
        client = self.client
        if client.olm is not None and client.should_upload_keys:
            self._upload_answered(await client.keys_upload())

    def _upload_answered(self, response: Any) -> None:
        """Note a key upload's outcome; an error is logged once per cause, without key
        material; one-time keys refused as "already exists" mean the store is not the one the
        server knows (raises :class:`DeviceLost`)."""
        if not isinstance(response, ErrorResponse):
            self._upload_failure = None
            count = getattr(response, "signed_curve25519_count", None)
            if isinstance(count, int):
                self._one_time_keys = count
            if self._device_match == DeviceMatch.MISSING and self.client.olm is not None:
                self._device_match = DeviceMatch.SAME  # just published by this store
            self._publish_device_status()
            return
        cause = upload_failure_cause(errcode_of(response), str(response.message or ""))
        self._upload_failure = cause
        if cause not in self._upload_causes_reported:
            self._upload_causes_reported.add(cause)
            logger.error(
                "Matrix : le serveur refuse les clés de l'appareil %s (%s)",
                self.client.device_id,
                cause,
            )
        self._publish_device_status()
        if cause == ALREADY_EXISTS:
            raise DeviceLost("keys_rejected")

    def _note_key_counts(self, response: SyncResponse) -> None:
        """The one-time keys left on the server, from a sync. nio ignores a count of 0 (it
        would never replace keys all claimed by others): set it here."""
        client = self.client
        count = response.device_key_count.signed_curve25519
        if client.olm is None or not isinstance(count, int):
            return
        client.olm.uploaded_key_count = count
        if count != self._one_time_keys:
            self._one_time_keys = count
            self._publish_device_status()

    async def _keep_keys(self) -> None:
        """What nio's sync_forever does between syncs: to-device messages and key upkeep."""
        client = self.client
        if not client.olm:
            return
        try:
            for what, response in await keep_keys(client):
                if what == "keys_upload":
                    self._upload_answered(response)
                else:
                    await self._check(response, what)
        except _NETWORK_ERRORS as error:
            logger.warning("Matrix : entretien des clés en échec : %s", error)

    async def _after_sync(self, response: SyncResponse) -> None:
        """Own devices changed (or not checked for a while): the device and the identity."""
        client = self.client
        own_changed = client.user_id in set(response.device_list.changed)
        since = time.monotonic() - self._device_checked_at
        if client.olm is not None and (
            (own_changed and since >= DEVICE_RECHECK) or since >= DEVICE_CHECK_EVERY
        ):
            try:
                match = await self._check_device()
                if match != DeviceMatch.SAME:
                    # Asked twice before leaving a device: a passing glitch must not cost it.
                    match = await self._check_device()
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
        self._publish_device_status()

    # -- a new device --------------------------------------------------------------------------

    def _heal_blocker(self, reason: str, device_id: str) -> str | None:
        """The French line saying why a person must act, or None when the bot can heal."""
        if not self._password:
            return needs_password(device_id, reason)
        has_key = self._recovery_key.strip() or read_recovery_file(
            self.store_path / RECOVERY_KEY_FILE
        )
        if self._has_identity and not has_key:
            return needs_recovery_key(device_id, reason)
        return None

    async def _leave_device(self, reason: str) -> None:
        """Leave this device (logged out, store removed) for a new one; the caller logs in."""
        client = self.client
        old = client.device_id
        blocker = self._heal_blocker(reason, old)
        if blocker is not None:
            logger.error("Matrix : %s", blocker)
            raise MatrixNeedsOperator(blocker)
        new = derive_device_id(self._configured_device_id)
        logger.warning(
            "Matrix : l'appareil %s du bot n'est plus utilisable (%s) : le bot passe sur un "
            "nouvel appareil %s et le signe avec la clé de récupération (docs/tchap.md § 8)",
            old,
            why_lost(reason),
            new,
        )
        self._started = False
        if client.access_token and reason != "logged_out":
            # Deletes the old device on the server: agents' clients stop encrypting for keys
            # nobody holds any more.
            with contextlib.suppress(*_NETWORK_ERRORS):
                await client.request_json("POST", "logout", {})
        await client.close()
        self._remove_key_store(old)
        self.session_path.unlink(missing_ok=True)
        self._device_id = new
        self._client = self._make_client()
        self._identity = None
        self._ready_rooms.clear()
        self._requested_sessions.clear()
        self._device_match = None
        self._upload_failure = None
        self._upload_causes_reported.clear()
        self._healed = (reason, old)
        self._healed_at = datetime.now(UTC).isoformat()

    async def _continue_on_new_device(self, reason: str) -> None:
        """While running: leave the device, then start again on a new one (the stored sync
        token makes the first sync resume where the old device stopped)."""
        async with self._start_lock:
            await self._leave_device(reason)
        await self.start()

    # -- cross-signing and readiness -----------------------------------------------------------

    @property
    def identity_status(self) -> IdentityStatus | None:
        """The cross-signing status of this device (for health checks); None before start."""
        return self._identity.status if self._identity else None

    async def _ensure_identity(self) -> None:
        client = self._client
        if not isinstance(client, SessionClient) or not self.e2ee or client.olm is None:
            return
        if self._identity is None:
            self._identity = CrossSigning(
                client,
                store_path=self.store_path,
                password=self._password,
                recovery_key=self._recovery_key,
            )
        await self._identity.ensure()
        self._publish_device_status()

    def readiness(self) -> Readiness:
        identity = self._identity
        return assess(
            e2ee=self.e2ee,
            started=self._started or self._device_match is not None,
            match=self._device_match,
            one_time_keys=self._one_time_keys,
            cross_signed=identity.status.cross_signed if identity else None,
            upload_failure=self._upload_failure,
        )

    def readiness_problem(self) -> str | None:
        """None when agents can reach the bot; else a short reason (no key, no secret)."""
        state = self.readiness()
        return None if state in REACHABLE else state.value

    def _publish_device_status(self) -> None:
        client = self._client
        if client is None:
            return
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
        if key == self._device_status_key:
            return
        changed = self._device_status_key is None or status.state != self._device_status_key[0]
        if changed and self._started:
            level = logging.INFO if status.state in REACHABLE else logging.WARNING
            logger.log(level, "Matrix : %s", status.message)
        self._device_status_key = key
        status.save(self.store_path)
