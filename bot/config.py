"""Configuration: ``pixbot.toml`` plus ``PIXBOT_*`` environment overrides.

The keys are exactly those of COMMANDS.md § Configuration (plus a few optional ones documented in
the README). Secrets are ``SecretStr`` so that they never show up in logs or reprs.
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
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bot.text import is_canonical_timezone

DEFAULT_CONFIG_FILE = "pixbot.toml"
_OFFSET = re.compile(r"^[JjDd]-\d{1,3}$")


class ConfigError(Exception):
    """The configuration is invalid; the message names the bad key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BotSection(_Section):
    platform: Literal["console", "matrix", "slack"] = "console"
    database_url: str = "sqlite:///pixbot.db"
    locale: Literal["fr", "en"] = "fr"
    timezone: str = "Europe/Paris"
    admins: list[str] = Field(default_factory=list)
    # Deployment wording for the FAQ answers marked (ministère); optional YAML file.
    faq_overrides: str | None = None
    # Unanswered FAQ questions are kept this many days for `pixbot faq unanswered`.
    faq_retention_days: int = Field(default=90, ge=1, le=3650)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        if not is_canonical_timezone(value):
            raise ValueError(f"unknown time zone {value!r}")
        return value


class MatrixSection(_Section):
    homeserver: str = "https://matrix.example.gouv.fr"
    user_id: str = "@pixbot:example.gouv.fr"
    password: SecretStr = SecretStr("")
    access_token: SecretStr = SecretStr("")
    # Opens the secret storage of the bot's cross-signing identity (docs/tchap.md).
    recovery_key: SecretStr = SecretStr("")
    device_id: str = "PIXBOT"
    store_path: str = "matrix-store"
    e2ee: bool = True
    # Homeserver domains whose invitations the bot accepts (empty: the bot's own server).
    allowed_servers: list[str] = Field(default_factory=list)
    rate_limit: float = Field(default=1.0, gt=0)


class SlackSection(_Section):
    bot_token: SecretStr = SecretStr("")
    app_token: SecretStr = SecretStr("")
    signing_secret: SecretStr = SecretStr("")
    rate_limit: float = Field(default=1.0, gt=0)
    # HTTP Events API mode (no app_token): where Slack's requests arrive (behind a proxy).
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=3000, ge=1, le=65535)
    # Where received events wait on disk until handled (a journal file, independent of the
    # database). Empty: next to the SQLite database file (pixbot.db → pixbot.slack-spool.jsonl),
    # or slack-spool.jsonl in the working directory with PostgreSQL.
    spool_path: str = ""


class ScheduleSection(_Section):
    working_hours: str = "09:30-17:00"
    working_days: str = "mon-fri"
    holidays: str = "FR"
    reminders: list[str] = Field(default_factory=lambda: ["J-7", "J-2", "J-0"])
    event_launch: str = "J-15"
    event_reminders: list[str] = Field(default_factory=lambda: ["J-7", "J-1"])
    snooze_working_days: int = Field(default=2, ge=1, le=30)
    thank_completers: bool = True
    # Weekly digest to ambassadors: e.g. "mon 09:30"; empty = off.
    digest: str = ""

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        match = re.fullmatch(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})", value.strip())
        if not match:
            raise ValueError("expected HH:MM-HH:MM, e.g. 09:30-17:00")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if not (0 <= h1 < 24 and 0 <= h2 < 24 and m1 < 60 and m2 < 60) or (h1, m1) >= (h2, m2):
            raise ValueError("the start must be before the end, both within the day")
        return value.strip()

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str) -> str:
        value = value.strip().lower()
        if value and not re.fullmatch(
            r"(mon|tue|wed|thu|fri|sat|sun) ([01]?\d|2[0-3]):[0-5]\d", value
        ):
            raise ValueError('expected a weekday and a time, e.g. "mon 09:30", or "" for none')
        return value

    @field_validator("event_launch")
    @classmethod
    def _offset(cls, value: str) -> str:
        if not _OFFSET.match(value.strip()):
            raise ValueError("expected an offset like J-15")
        return value.strip()

    @field_validator("reminders", "event_reminders")
    @classmethod
    def _offsets(cls, value: list[str]) -> list[str]:
        for item in value:
            if not _OFFSET.match(item.strip()):
                raise ValueError(f"expected offsets like J-7, got {item!r}")
        return [item.strip() for item in value]


class StatsSection(_Section):
    min_group: int = Field(default=5, ge=1, le=1000)
    # What ambassadors see of agents' declarations: a snapshot taken at midnight ("daily"), or
    # the current state ("live": one agent's "fait" shows minutes later; see docs/privacy.md).
    refresh: Literal["daily", "live"] = "daily"


class PrivacySection(_Section):
    # Closed campaigns' participation is kept this many days (pixbot purge).
    retention_days: int = Field(default=365, ge=1, le=3650)
    # The secret of tombstones and pseudonyms, kept OUT of the database (storage/keys.py,
    # docs/privacy.md): 64 hex digits here or in PIXBOT_PRIVACY__KEY, or a key file (default:
    # beside a SQLite database, "pixbot.db.key"; PostgreSQL: set one of the two).
    key: SecretStr = SecretStr("")
    key_file: str = ""

    @field_validator("key")
    @classmethod
    def _key(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value().strip()
        if raw and not re.fullmatch(r"[0-9a-fA-F]{64}", raw):
            raise ValueError("expected 64 hexadecimal digits")
        return value


class LimitsSection(_Section):
    """What one person can ask of the bot (COMMANDS.md § Configuration, ``[limits]``), and how
    the outbox sends."""

    # Conversations sent to at once by the outbox. Empty: the platform's own default (Slack
    # limits each channel, so 8; Matrix and the console 1, as the account limit rules there).
    send_concurrency: int | None = Field(default=None, ge=1, le=64)
    messages_per_minute: int = Field(default=20, ge=1, le=10_000)
    handoffs_per_day: int = Field(default=5, ge=0, le=1000)
    max_room_members: int = Field(default=200, ge=2, le=100_000)
    deadline_horizon_days: int = Field(default=730, ge=1, le=3650)
    # Unanswered questions kept per person and day (bounded storage per sender).
    questions_per_day: int = Field(default=20, ge=0, le=1000)
    # The imports (`pixbot agents import`, `pixbot campaign import-orga`) write this many rows
    # per transaction, and pause this long (seconds) after each, while a running bot shares
    # their SQLite database: SQLite has one writer at a time and lets a waiting writer in only
    # during a gap. On PostgreSQL, or when no bot holds the instance lock, they write in bulk
    # batches without a pause (see ``bot.cli.csvio.import_pacing``).
    import_batch: int = Field(default=500, ge=1, le=100_000)
    import_pause: float = Field(default=0.2, ge=0, le=10)


class HttpSection(_Section):
    # "127.0.0.1:8080": GET /healthz and /metrics; empty = off.
    listen: str = ""
    # /metrics needs "Authorization: Bearer <token>"; empty: /metrics only on a loopback listener.
    metrics_token: SecretStr = SecretStr("")
    # Where people's browsers reach the dashboard (/tableau), e.g. "https://pixbot.example.gouv.fr"
    # behind a reverse proxy (the session cookie is then "Secure"); empty: http://<listen>.
    public_url: str = ""

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not re.fullmatch(r"https?://[^\s/?#@]+", value):
            raise ValueError(
                'expected "https://host[:port]", e.g. "https://pixbot.example.gouv.fr"'
            )
        return value

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[\w.\-]+):\d{1,5}", value):
            raise ValueError('expected "host:port", e.g. "127.0.0.1:8080", or "" for none')
        return value


class PixSection(_Section):
    """Pix's organisation API (MaDDo, README § Pix API): where it is, who we are to it, how
    often participations are fetched."""

    # The API's base URL, e.g. "https://api.maddo.pix.fr" (routes are under /api); empty: off.
    api_url: str = ""
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")  # PIXBOT_PIX__CLIENT_SECRET
    # Minutes between two syncs, during working hours ([schedule]); the CLI syncs at any time.
    sync_minutes: int = Field(default=30, ge=5, le=1440)
    # Participations are fetched again from this many minutes before the last successful sync
    # (clock skew between Pix and us, a page that moved while it was read).
    overlap_minutes: int = Field(default=60, ge=0, le=10_080)
    # Seconds one request may take before it counts as failed.
    timeout: float = Field(default=30.0, gt=0, le=600)

    @field_validator("api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not re.fullmatch(r"https?://[^\s/?#@]+", value):
            raise ValueError('expected an http(s) URL, e.g. "https://api.pix.fr", or ""')
        return value

    @model_validator(mode="after")
    def _credentials(self) -> PixSection:
        if self.api_url and not (self.client_id.strip() and self.client_secret.get_secret_value()):
            raise ValueError(
                "client_id and client_secret (PIXBOT_PIX__CLIENT_SECRET) are required when"
                " api_url is set"
            )
        return self


class LogSection(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    format: Literal["text", "json"] = "text"


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
    """Load the settings; raise :class:`ConfigError` naming the first bad key.

    ``config_file`` (or ``PIXBOT_CONFIG``) must exist when given explicitly; the default
    ``pixbot.toml`` is optional.
    """
    global _CONFIG_PATH_OVERRIDE
    path = config_file or os.environ.get("PIXBOT_CONFIG")
    if path is not None and not Path(path).is_file():
        raise ConfigError(f"configuration file not found: {path}")
    _CONFIG_PATH_OVERRIDE = str(path) if path else None
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    except ValueError as exc:  # TOML syntax errors
        raise ConfigError(f"invalid configuration file: {exc}") from None
    finally:
        _CONFIG_PATH_OVERRIDE = None


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        # Never echo the rejected value: it may be a secret.
        lines.append(f"invalid configuration key {key!r}: {error['msg']}")
    return "\n".join(lines)
