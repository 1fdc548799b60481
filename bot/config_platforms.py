"""The sections of the settings for the services pixbot talks to: ``[matrix]``, ``[slack]`` and
``[pix]`` (Pix's organisation API); see :mod:`bot.config`."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from bot.translation import gettext as _

_SERVER_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?$")
_BASE58 = set("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _matrix_id(value: str) -> str:
    if not re.fullmatch(r"@[^:\s]+:\S+", value.strip()):
        raise ValueError(_("identifiant Matrix attendu, de la forme @nom:serveur"))
    return value.strip()


def _no_space(value: str) -> str:
    if not value.strip() or any(char.isspace() for char in value.strip()):
        raise ValueError(_("ne peut être vide ni contenir d'espace"))
    return value.strip()


def _recovery(value: SecretStr) -> SecretStr:
    text = value.get_secret_value().strip()
    if not text:
        return value
    if text[0] in "'\"" or text[-1] in "'\"":
        raise ValueError(
            _(
                "guillemets en trop autour de la clé (docker --env-file les garde : "
                "écrivez la clé sans guillemets, espaces facultatifs)"
            )
        )
    compact = "".join(text.split())
    if not set(compact) <= _BASE58 or len(compact) != 48:
        raise ValueError(
            _(
                "clé de récupération attendue : 48 caractères base58 (espaces facultatifs), "
                "copiée de recovery-key.txt"
            )
        )
    return value


# The checks the main account ([matrix]) and each sender account ([[matrix.senders]]) share.
MatrixId = Annotated[str, AfterValidator(_matrix_id)]
NoSpace = Annotated[str, AfterValidator(_no_space)]
RecoveryKey = Annotated[SecretStr, AfterValidator(_recovery)]


class MatrixSender(_Section):
    """One extra sender account (``[[matrix.senders]]``): its own credentials, device, store
    and cross-signing identity, on the main account's homeserver (docs/scaling.md)."""

    user_id: MatrixId = Field(
        description="The sender account.", examples=["@pixbot-2:agent.dinum.tchap.gouv.fr"]
    )
    password: SecretStr = Field(
        default=SecretStr(""), description="Its password (or access_token); secret."
    )
    access_token: SecretStr = Field(
        default=SecretStr(""), description="Instead of the password; secret."
    )
    recovery_key: RecoveryKey = Field(
        default=SecretStr(""),
        description="Opens its cross-signing identity's secret storage; secret.",
    )
    device_id: NoSpace = Field(default="PIXBOT", description="Its stable device id.")
    store_path: NoSpace = Field(
        description="Its own E2EE store (never another account's).",
        examples=["/var/lib/pixbot/matrix-store-2"],
    )
    rate_limit: float | None = Field(
        default=None,
        gt=0,
        le=1000,
        description="Its messages per second; empty: the main account's rate_limit.",
        examples=[1.0],
    )


class MatrixSection(_Section):
    homeserver: str = Field(
        default="https://matrix.example.gouv.fr",
        description="The homeserver's client API, with its scheme.",
        examples=["https://matrix.agent.dinum.tchap.gouv.fr"],
    )
    user_id: MatrixId = Field(
        default="@pixbot:example.gouv.fr",
        description="The bot's Matrix account.",
        examples=["@pixbot-ministere:agent.dinum.tchap.gouv.fr"],
    )
    password: SecretStr = Field(
        default=SecretStr(""),
        description="The bot account's password (or access_token); secret: give it by "
        "PIXBOT_MATRIX__PASSWORD.",
    )
    access_token: SecretStr = Field(
        default=SecretStr(""), description="Instead of the password; secret."
    )
    recovery_key: RecoveryKey = Field(
        default=SecretStr(""),
        description="Opens the secret storage of the bot's cross-signing identity "
        "(docs/tchap.md); from recovery-key.txt; spaces optional; secret.",
    )
    device_id: NoSpace = Field(default="PIXBOT", description="Stable device id of the bot.")
    store_path: NoSpace = Field(
        default="matrix-store",
        description="E2EE keys and sync token; keep it on a persistent volume.",
        examples=["/var/lib/pixbot/matrix-store"],
    )
    e2ee: bool = Field(default=True, description="End-to-end encryption (Tchap requires it).")
    allowed_servers: list[str] = Field(
        default_factory=list,
        description="Homeserver domains whose room invitations the bot accepts; empty: the "
        "bot's own server only.",
        examples=[["agent.dinum.tchap.gouv.fr", "agent.interieur.tchap.gouv.fr"]],
    )
    rate_limit: float = Field(
        default=1.0,
        gt=0,
        # A homeserver that exempts the bot's account (rc_message lifted) lets it go far above
        # Tchap's usual 1/s: benches and the launch fault tests run at 1000.
        le=1000,
        description="Messages per second the bot sends (its homeserver's rate limit applies "
        "above).",
    )

    senders: list[MatrixSender] = Field(
        default_factory=list,
        description="Extra sender accounts ([[matrix.senders]] tables); empty: the account "
        "above sends everything.",
    )

    @field_validator("homeserver")
    @classmethod
    def _homeserver(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+(/\S*)?", value):
            raise ValueError(_("adresse du serveur attendue, avec https:// devant"))
        return value

    @field_validator("allowed_servers")
    @classmethod
    def _servers(cls, value: list[str]) -> list[str]:
        for item in value:
            if not _SERVER_NAME.match(item.strip()):
                raise ValueError(
                    _("nom de serveur attendu (sans https://), pas {value}", value=repr(item))
                )
        return [item.strip().lower() for item in value]

    @field_validator("senders")
    @classmethod
    def _distinct_senders(cls, value: list[MatrixSender]) -> list[MatrixSender]:
        users = [sender.user_id for sender in value]
        stores = [sender.store_path for sender in value]
        for name, items in (("user_id", users), ("store_path", stores)):
            twice = sorted({item for item in items if items.count(item) > 1})
            if twice:
                raise ValueError(
                    _(
                        "{name} {value} donné à deux comptes d'envoi",
                        name=name,
                        value=repr(twice[0]),
                    )
                )
        return value

    @model_validator(mode="after")
    def _senders_apart(self) -> MatrixSection:
        for index, sender in enumerate(self.senders, start=1):
            if sender.user_id == self.user_id:
                raise ValueError(
                    _(
                        "matrix.senders n°{index} : user_id {value} est déjà le compte principal "
                        "(matrix.user_id) ; donnez un autre compte",
                        index=index,
                        value=repr(sender.user_id),
                    )
                )
            if sender.store_path == self.store_path:
                raise ValueError(
                    _(
                        "matrix.senders n°{index} : store_path {value} est celui du compte "
                        "principal ; chaque compte a son propre stockage",
                        index=index,
                        value=repr(sender.store_path),
                    )
                )
        return self


class SlackSection(_Section):
    bot_token: SecretStr = Field(
        default=SecretStr(""), description="Bot token xoxb-…; secret (PIXBOT_SLACK__BOT_TOKEN)."
    )
    app_token: SecretStr = Field(
        default=SecretStr(""),
        description="App-level token xapp-…: Socket Mode when set, else HTTP events; secret.",
    )
    signing_secret: SecretStr = Field(
        default=SecretStr(""), description="Checks HTTP events' signatures; secret."
    )
    rate_limit: float = Field(
        default=1.0, gt=0, le=1000, description="Messages per second the bot sends."
    )
    # HTTP Events API mode (no app_token): where Slack's requests arrive (behind a proxy).
    http_host: str = Field(
        default="127.0.0.1", description="HTTP events mode: the address to listen on."
    )
    http_port: int = Field(
        default=3000, ge=1, le=65535, description="HTTP events mode: the port to listen on."
    )
    spool_path: str = Field(
        default="",
        description="Where received events wait on disk until handled; empty: next to the "
        "SQLite file (pixbot.db → pixbot.slack-spool.jsonl), or ./slack-spool.jsonl with "
        "PostgreSQL.",
        examples=["/var/lib/pixbot/slack-spool.jsonl"],
    )

    @field_validator("bot_token", "app_token")
    @classmethod
    def _token(cls, value: SecretStr, info: Any) -> SecretStr:
        text = value.get_secret_value().strip()
        prefix = "xoxb-" if info.field_name == "bot_token" else "xapp-"
        if text and not text.startswith(prefix):
            raise ValueError(
                _("un jeton {name} commence par {prefix}", name=info.field_name, prefix=prefix)
            )
        return value

    @field_validator("http_host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not value.strip() or " " in value.strip():
            raise ValueError(_("adresse d'écoute attendue"))
        return value.strip()


class PixSection(_Section):
    """Pix's organisation API (MaDDo, README § Pix API): where it is, who we are to it, how
    often participations are fetched."""

    api_url: str = Field(
        default="",
        description="The organisation API's base URL (routes under /api); empty: no sync.",
        examples=["https://api.maddo.pix.fr"],
    )
    client_id: str = Field(
        default="", description="The client id Pix gave the ministry.", examples=["ministere-x"]
    )
    client_secret: SecretStr = Field(
        default=SecretStr(""), description="Its secret (PIXBOT_PIX__CLIENT_SECRET); secret."
    )
    sync_minutes: int = Field(
        default=30,
        ge=5,
        le=1440,
        description="Minutes between two syncs, during working hours; the CLI syncs at any time.",
    )
    overlap_minutes: int = Field(
        default=60,
        ge=0,
        le=10_080,
        description="Participations are fetched again from this many minutes before the last "
        "successful sync (clock skew, a page that moved while it was read).",
    )
    timeout: float = Field(default=30.0, gt=0, le=600, description="Seconds one request may take.")

    @field_validator("api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not re.fullmatch(r"https?://[^\s/?#@]+", value):
            raise ValueError(_('adresse attendue : https://hôte, sans chemin, ou "" pour aucune'))
        return value

    @model_validator(mode="after")
    def _credentials(self) -> PixSection:
        if self.api_url and not (self.client_id.strip() and self.client_secret.get_secret_value()):
            raise ValueError(
                _(
                    "pix.client_id et pix.client_secret (PIXBOT_PIX__CLIENT_SECRET) sont requis "
                    "quand pix.api_url est donné"
                )
            )
        return self
