"""Configuration: ``pixbot.toml`` plus ``PIXBOT_*`` environment overrides.

The keys are those of the chat and command-line contract (COMMANDS.md § Configuration, kept
outside this repository) plus a few optional ones; docs/settings.md lists every one of them and
is generated from this model (``python -m bot.settings_reference``). Every value is checked here,
when the configuration loads, so that a bad one is one French line naming the key, the value
and an example (:mod:`bot.config_errors`), never a traceback later. Secrets are ``SecretStr`` so
that they never show up in logs, reprs or error messages.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bot.config_errors import describe
from bot.config_platforms import MatrixSection, PixSection, SlackSection
from bot.config_schedule import ScheduleSection
from bot.text import is_canonical_timezone
from bot.translation import gettext as _

DEFAULT_CONFIG_FILE = "pixbot.toml"
_DATABASE_SCHEMES = ("sqlite", "sqlite+pysqlite", "postgresql", "postgres", "postgresql+psycopg")
_PLATFORM_ID = re.compile(r"^\S{1,255}$")


__all__ = [
    "ConfigError",
    "MatrixSection",
    "PixSection",
    "Settings",
    "SlackSection",
    "load_settings",
]


class ConfigError(Exception):
    """The configuration is invalid; the message names the bad key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BotSection(_Section):
    platform: Literal["console", "matrix", "slack"] = Field(
        default="console", description="Where the bot talks: console, matrix (Tchap) or slack."
    )
    database_url: str = Field(
        default="sqlite:///pixbot.db",
        description="SQLite file or PostgreSQL server; relative SQLite paths are relative to the "
        "working directory.",
        examples=["sqlite:////var/lib/pixbot/pixbot.db", "postgresql://pixbot@localhost/pixbot"],
    )
    locale: Literal["fr", "en"] = Field(default="fr", description="Language of the bot's messages.")
    timezone: str = Field(
        default="Europe/Paris",
        description="Default time zone of agents (each agent may have their own).",
        examples=["Indian/Reunion"],
    )
    admins: list[str] = Field(
        default_factory=list,
        description="Administrators' platform ids (in addition to `pixbot admin add`).",
        examples=[["@ops:example.gouv.fr"]],
    )
    faq_overrides: str | None = Field(
        default=None,
        description="YAML file with the deployment's wording for the FAQ answers marked "
        "(ministère).",
        examples=["/etc/pixbot/faq-overrides.yaml"],
    )
    faq_retention_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="Days unanswered FAQ questions are kept for `pixbot faq unanswered`.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        if not is_canonical_timezone(value):
            raise ValueError(_("fuseau horaire inconnu (nom IANA, comme Europe/Paris)"))
        return value

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        scheme, separator, _path = value.strip().partition("://")
        if not separator:
            raise ValueError(_("adresse de base de données attendue"))
        if scheme.lower() not in _DATABASE_SCHEMES:
            raise ValueError(
                _(
                    "{scheme} n'est pas pris en charge : SQLite ou PostgreSQL seulement",
                    scheme=scheme,
                )
            )
        return value.strip()

    @field_validator("admins")
    @classmethod
    def _admins(cls, value: list[str]) -> list[str]:
        for item in value:
            if not _PLATFORM_ID.match(item.strip()):
                raise ValueError(
                    _("identifiant de plateforme invalide : {value}", value=repr(item))
                )
        return [item.strip() for item in value]

    @field_validator("faq_overrides")
    @classmethod
    def _overrides(cls, value: str | None) -> str | None:
        if value is not None and value.strip() and not Path(value).is_file():
            raise ValueError(_("fichier introuvable"))
        return value or None


class StatsSection(_Section):
    min_group: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="Confidentiality threshold: a figure is exact only when it and its "
        "complement are at least this large (docs/privacy.md).",
    )
    refresh: Literal["daily", "live"] = Field(
        default="daily",
        description="What ambassadors see: the snapshot taken at midnight (daily), or the "
        "current state (live: one agent's « fait » shows minutes later; see docs/privacy.md).",
    )


class PrivacySection(_Section):
    retention_days: int = Field(
        default=365,
        ge=1,
        le=3650,
        description="Days a closed campaign's participation is kept (`pixbot purge`).",
    )
    key: SecretStr = Field(
        default=SecretStr(""),
        description="The secret of tombstones and pseudonyms, kept out of the database "
        "(docs/privacy.md): 64 hexadecimal digits, here or in PIXBOT_PRIVACY__KEY; secret.",
    )
    key_file: str = Field(
        default="",
        description="Or a file holding that key; empty: beside a SQLite database "
        "(pixbot.db.key). PostgreSQL: set key or key_file.",
        examples=["/etc/pixbot/pixbot.key"],
    )

    @field_validator("key")
    @classmethod
    def _key(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value().strip()
        if raw and not re.fullmatch(r"[0-9a-fA-F]{64}", raw):
            raise ValueError(_("64 chiffres hexadécimaux attendus (openssl rand -hex 32)"))
        return value


class LimitsSection(_Section):
    """What one person can ask of the bot (COMMANDS.md § Configuration, ``[limits]``), and how
    the outbox sends."""

    # Conversations sent to at once by the outbox. Empty: the platform's own default (Slack
    # limits each channel, so 8; Matrix and the console 1, as the account limit rules there).
    send_concurrency: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Conversations the outbox sends to at once; empty: the platform's default.",
        examples=[4],
    )
    messages_per_minute: int = Field(
        default=20, ge=1, le=10_000, description="Messages one person may send the bot per minute."
    )
    handoffs_per_day: int = Field(
        default=5, ge=0, le=1000, description="Questions one agent can pass to ambassadors a day."
    )
    max_room_members: int = Field(
        default=200, ge=2, le=100_000, description="Largest room the bot agrees to join."
    )
    deadline_horizon_days: int = Field(
        default=730,
        ge=1,
        le=3650,
        description="Deadlines and events further away than this are refused.",
    )
    questions_per_day: int = Field(
        default=20, ge=0, le=1000, description="Unanswered questions kept per person and day."
    )
    # The imports (`pixbot agents import`, `pixbot campaign import-orga`) write this many rows
    # per transaction, and pause this long (seconds) after each, while a running bot shares
    # their SQLite database: SQLite has one writer at a time and lets a waiting writer in only
    # during a gap. On PostgreSQL, or when no bot holds the instance lock, they write in bulk
    # batches without a pause (see ``bot.cli.csvio.import_pacing``).
    import_batch: int = Field(
        default=500, ge=1, le=100_000, description="Rows the imports write per transaction."
    )
    import_pause: float = Field(
        default=0.2,
        ge=0,
        le=10,
        description="Seconds the imports pause between batches while a bot shares SQLite.",
    )


class HttpSection(_Section):
    listen: str = Field(
        default="",
        description="Address of GET /healthz and /metrics; empty: off. A standby on the same "
        "host needs another port.",
        examples=["127.0.0.1:8080"],
    )
    metrics_token: SecretStr = Field(
        default=SecretStr(""),
        description='/metrics needs "Authorization: Bearer <token>"; empty: /metrics only on '
        "a loopback listener; secret.",
    )
    public_url: str = Field(
        default="",
        description="Where people's browsers reach the dashboard (/tableau) behind a reverse "
        "proxy (the session cookie is then Secure); empty: http://<listen>.",
        examples=["https://pixbot.example.gouv.fr"],
    )

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not re.fullmatch(r"https?://[^\s/?#@]+", value):
            raise ValueError(_("adresse attendue : https://hôte[:port], sans chemin"))
        return value

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        value = value.strip()
        match = re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[\w.\-]+):(\d{1,5})", value)
        if value and (not match or int(match.group(2)) > 65535):
            raise ValueError(_('adresse:port attendu (port jusqu’à 65535), ou "" pour aucun'))
        return value


class LogSection(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="WARNING", description="Least severe log level written (--verbose: INFO)."
    )
    format: Literal["text", "json"] = Field(
        default="text", description="text, or one JSON object per line (--log-format)."
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PIXBOT_",
        env_nested_delimiter="__",
        extra="forbid",
        toml_file=DEFAULT_CONFIG_FILE,
    )

    bot: BotSection = Field(default_factory=BotSection)
    matrix: MatrixSection = Field(default_factory=MatrixSection)
    slack: SlackSection = Field(default_factory=SlackSection)
    schedule: ScheduleSection = Field(default_factory=ScheduleSection)
    stats: StatsSection = Field(default_factory=StatsSection)
    privacy: PrivacySection = Field(default_factory=PrivacySection)
    limits: LimitsSection = Field(default_factory=LimitsSection)
    http: HttpSection = Field(default_factory=HttpSection)
    pix: PixSection = Field(default_factory=PixSection)
    log: LogSection = Field(default_factory=LogSection)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = _CONFIG_PATH_OVERRIDE or os.environ.get("PIXBOT_CONFIG") or DEFAULT_CONFIG_FILE
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_path)),
        )


_CONFIG_PATH_OVERRIDE: str | None = None


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Load the settings; raise :class:`ConfigError`, one French line per bad key.

    ``config_file`` (or ``PIXBOT_CONFIG``) must exist when given explicitly; the default
    ``pixbot.toml`` is optional.
    """
    global _CONFIG_PATH_OVERRIDE
    path = config_file or os.environ.get("PIXBOT_CONFIG")
    if path is not None and not Path(path).is_file():
        raise ConfigError(
            _(
                "fichier de configuration introuvable : {path} (--config ou PIXBOT_CONFIG)",
                path=Path(path).absolute(),
            )
        )
    _CONFIG_PATH_OVERRIDE = str(path) if path else None
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe(exc, Settings)) from None
    except PermissionError:
        where = config_file_in_use(config_file)
        raise ConfigError(
            _(
                "fichier de configuration illisible : {path} ; lancez pixbot avec l'utilisateur "
                "du service (sudo -u pixbot pixbot …) ou donnez-lui le droit de lecture "
                "(chown root:pixbot, chmod 640)",
                path=where,
            )
        ) from None
    except ValueError as exc:  # TOML syntax errors
        where = config_file_in_use(config_file)
        text = re.sub(r"\(at line (\d+), column (\d+)\)", r"(ligne \1, colonne \2)", str(exc))
        raise ConfigError(
            _(
                "fichier de configuration {path} : syntaxe TOML invalide : {error}",
                path=where,
                error=text,
            )
        ) from None
    finally:
        _CONFIG_PATH_OVERRIDE = None


def check_platform(settings: Settings) -> None:
    """What ``pixbot run`` needs of the chosen platform's account, checked before it starts
    (the other commands never sign in, so they do not need the secrets)."""
    platform = settings.bot.platform
    if platform == "matrix":
        m = settings.matrix
        if not (m.password.get_secret_value() or m.access_token.get_secret_value()):
            raise ConfigError(
                _(
                    'matrix.password est vide alors que bot.platform = "matrix" : donnez le mot de '
                    "passe du compte du bot (PIXBOT_MATRIX__PASSWORD=… dans l'environnement du "
                    "service) ou matrix.access_token"
                )
            )
        for index, sender in enumerate(m.senders, start=1):
            if not (sender.password.get_secret_value() or sender.access_token.get_secret_value()):
                raise ConfigError(
                    _(
                        "matrix.senders n°{index} ({user}) : password est vide : donnez le mot de "
                        "passe de ce compte d'envoi (ou access_token) dans sa table "
                        "[[matrix.senders]]",
                        index=index,
                        user=sender.user_id,
                    )
                )
    if platform == "slack":
        sl = settings.slack
        if not sl.bot_token.get_secret_value():
            raise ConfigError(
                _(
                    'slack.bot_token est vide alors que bot.platform = "slack" : donnez le jeton '
                    "xoxb-… du bot (PIXBOT_SLACK__BOT_TOKEN=… dans l'environnement du service)"
                )
            )
        if not (sl.app_token.get_secret_value() or sl.signing_secret.get_secret_value()):
            raise ConfigError(
                _(
                    "slack.app_token et slack.signing_secret sont vides : donnez app_token "
                    "(xapp-…, Socket Mode) ou signing_secret (événements HTTP) ; voir "
                    "docs/deploy-slack.md"
                )
            )


def config_file_in_use(config_file: str | Path | None = None) -> Path | None:
    """The configuration file the settings are read from (absolute), or None when none is."""
    path = config_file or os.environ.get("PIXBOT_CONFIG")
    if path is not None:
        return Path(path).absolute()
    default = Path(DEFAULT_CONFIG_FILE)
    return default.absolute() if default.is_file() else None
