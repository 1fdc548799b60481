"""Logging the bot's account in on its device, and the session kept on disk.

``session.json`` (user id, device id, access token, refresh token; mode 0600) keeps the device
from changing between restarts. A ``[matrix] device_id`` different from the one the stored
session was made for wins: the bot logs in on the configured device (one log line) and logs the
replaced one out. The device the bot logs in on moves to a derived one when it leaves a device
it cannot use any more (:mod:`bot.platforms.matrix.healing`).
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from nio import AsyncClientConfig, WhoamiError
from nio.api import Api

from bot.platforms.matrix.codec import errcode_of, is_auth_error, is_credentials_refusal
from bot.platforms.matrix.connection import NETWORK_ERRORS, MatrixConnection
from bot.platforms.matrix.session import (
    Credentials,
    SessionClient,
    SessionRenewalError,
    password_login,
)
from bot.platforms.matrix.store import Session

logger = logging.getLogger(__name__)


class Login:
    """Logs the account in (password, stored session or access token) and saves the session."""

    def __init__(
        self,
        connection: MatrixConnection,
        *,
        password: str = "",
        access_token: str = "",
        device_id: str = "PIXBOT",
        request_timeout: float = 20.0,
    ) -> None:
        if not password and not access_token:
            raise ValueError("MatrixPlatform needs a password or an access token")
        self.connection = connection
        self._password = password
        self._access_token = access_token
        # The device to log in on: the [matrix] device_id, or the derived one the bot moved to.
        self.device_id = device_id
        self.configured_device_id = device_id
        self._request_timeout = request_timeout
        # The stored session a different configured device_id replaces (logged out once the
        # new device is logged in).
        self._replaced_session: Session | None = None

    @property
    def password(self) -> str:
        """The account's password ("" with an access token only): answers the server's
        user-interactive authentication when the cross-signing keys are published."""
        return self._password

    @property
    def session_path(self) -> Path:
        return self.connection.store_path / "session.json"

    def new_client(self) -> SessionClient:
        """A client for ``device_id``, in use from now on."""
        store_path = self.connection.store_path
        store_path.mkdir(parents=True, exist_ok=True, mode=0o700)
        config = AsyncClientConfig(
            # The outbox owns retries: nio must hand back 429s and connection errors at once.
            max_limit_exceeded=0,
            max_timeouts=0,
            request_timeout=self._request_timeout,
            encryption_enabled=self.connection.e2ee,
            store_sync_tokens=False,
        )
        client = SessionClient(
            self.connection.homeserver,
            self.connection.bot_id,
            device_id=self.device_id,
            store_path=str(store_path),
            config=config,
        )
        # Renewed tokens are saved at once (same device id).
        client.credentials = Credentials(password=self._password, on_renewed=self._save_tokens)
        self.connection.use(client)
        return client

    def move_to(self, device_id: str) -> None:
        """Log in on ``device_id`` from now on (a new device); the stored session is dropped."""
        self.session_path.unlink(missing_ok=True)
        self.device_id = device_id

    def remove_key_store(self, device_id: str) -> None:
        store_path = self.connection.store_path
        for suffix in ("", "-wal", "-shm"):
            (store_path / f"{self.connection.bot_id}_{device_id}.db{suffix}").unlink(
                missing_ok=True
            )

    def _save_session(self, device_id: str, access_token: str, refresh_token: str) -> None:
        Session(
            self.connection.client.user_id,
            device_id,
            access_token,
            self.connection.homeserver,
            refresh_token,
            configured_device_id=self.configured_device_id,
        ).save(self.session_path)

    def _save_tokens(self, access_token: str, refresh_token: str) -> None:
        self._save_session(self.connection.client.device_id, access_token, refresh_token)

    def _stored_session(self) -> Session | None:
        session = Session.load(self.session_path)
        if session is None:
            return None
        if session.user_id != self.connection.bot_id:
            logger.warning(
                "Matrix : le fichier de session est celui d'un autre utilisateur ; "
                "nouvelle connexion"
            )
            return None
        made_for = session.configured_device_id or session.device_id
        if self._password and made_for != self.configured_device_id:
            logger.warning(
                "Matrix : [matrix] device_id %s configuré, différent de celui de la session "
                "enregistrée (%s, appareil %s) : connexion sur l'appareil configuré",
                self.configured_device_id,
                made_for,
                session.device_id,
            )
            self.device_id = self.configured_device_id
            self.connection.client.device_id = self.configured_device_id
            self._replaced_session = session
            return None
        return session

    async def login(self) -> None:
        connection = self.connection
        client = connection.client
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
                await connection.auth_error(f"access token refused: {errcode_of(whoami)}")
            # Log in again on the same device so the E2EE identity is kept (when the device
            # was deleted meanwhile, the keys check notices and starts a new one).
            self.device_id = session.device_id
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
                await connection.auth_error(str(error))
            device_id = answer["device_id"]
            token = answer["access_token"]
            refresh_token = answer.get("refresh_token") or ""
            client.restore_login(answer.get("user_id") or connection.bot_id, device_id, token)
            if isinstance(client, SessionClient):
                client.credentials.refresh_token = refresh_token
        else:
            client.access_token = self._access_token
            client.user_id = connection.bot_id
            whoami = await client.whoami()
            if isinstance(whoami, WhoamiError):
                if not is_credentials_refusal(whoami):
                    raise OSError(f"whoami failed: {whoami}")
                await connection.auth_error(f"access token refused: {whoami}")
            device_id = whoami.device_id or self.device_id
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
        with contextlib.suppress(*NETWORK_ERRORS):
            await self.connection.client.send("POST", path, "{}", headers=headers)
        self.remove_key_store(session.device_id)
        logger.info("Matrix : appareil remplacé %s déconnecté", session.device_id)

    async def load_profile(self) -> None:
        """The account's display name: the configured one is set on the server, else the
        server's is taken (a message that starts with the bot's name is read without it)."""
        connection = self.connection
        client = connection.client
        response = await client.get_displayname(client.user_id)
        current = getattr(response, "displayname", None)
        if connection.display_name and current != connection.display_name:
            await client.set_displayname(connection.display_name)
        elif not connection.display_name and current:
            connection.display_name = current
