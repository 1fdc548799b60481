"""Build the configured platform and application, and run them."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from sqlalchemy.engine import make_url

from bot import logs
from bot.app import App
from bot.config import Settings
from bot.core import Clock, InvitePolicy, Platform, PlatformAuthError, PlatformNeedsOperator
from bot.dbwork import DatabaseWorker
from bot.exitcodes import BAD_SETTINGS, LOGIN_REFUSED, NEEDS_OPERATOR
from bot.invites import StoreInvitePolicy
from bot.logs import tell_operator
from storage.health import DatabaseHealth, is_transient
from storage.uow import Store

log = logging.getLogger(__name__)

# Exit codes a restart cannot fix (bot/exitcodes.py; deploy/pixbot.service:
# RestartPreventExitStatus=2 4 78): the platform refused the bot's credentials; the Matrix
# device needs a person to heal.
EXIT_CREDENTIALS_REFUSED = LOGIN_REFUSED
EXIT_NEEDS_OPERATOR = NEEDS_OPERATOR


def beside_database(database_url: str, suffix: str, fallback: str) -> Path:
    """Next to a SQLite database file (``pixbot.db`` → ``pixbot{suffix}``); else ``fallback``
    in the working directory."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).with_suffix(suffix)
    return Path(fallback)


def store_for(settings: Settings) -> Store:
    """The database, with the keyed-hash secret where the configuration puts it (outside)."""
    return Store.from_url(
        settings.bot.database_url,
        key_file=settings.privacy.key_file or None,
        key=settings.privacy.key.get_secret_value() or None,
    )


def console_journal_path(database_url: str) -> Path | None:
    """Next to a SQLite database file: ``pixbot.db`` → ``pixbot.console.jsonl``."""
    return beside_database(database_url, ".console.jsonl", "pixbot.console.jsonl")


def slack_spool_path(settings: Settings) -> Path:
    """``[slack] spool_path``, or next to the SQLite database file."""
    if settings.slack.spool_path:
        return Path(settings.slack.spool_path)
    return beside_database(settings.bot.database_url, ".slack-spool.jsonl", "slack-spool.jsonl")


async def _upgrade_when_reachable(store: Store, database: DatabaseWorker) -> None:
    """Migrate the schema, waiting (one log line) while the database does not answer."""
    health = DatabaseHealth()
    delay = 0.5
    while True:
        try:
            await database.run(store.upgrade)
        except Exception as error:
            if not is_transient(error):
                raise
            health.failed(error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
            continue
        health.succeeded()
        return


def _privacy_key(store: Store) -> bytes:
    with store.transaction() as uow:
        return uow.privacy.key()


def _stop_soon(app: App) -> None:
    task = asyncio.ensure_future(app.request_stop())
    _STOPPING.add(task)
    task.add_done_callback(_STOPPING.discard)


_STOPPING: set[asyncio.Future[None]] = set()


def build_platform(settings: Settings, invite_policy: InvitePolicy | None = None) -> Platform:
    """The configured platform; ``invite_policy`` (who may bring the bot into a room) goes to
    the platforms that are invited into rooms (Matrix: every account of a pool)."""
    choice = settings.bot.platform
    if choice == "console":
        from bot.platforms.console import ConsolePlatform

        return ConsolePlatform(journal_path=console_journal_path(settings.bot.database_url))
    if choice == "matrix":
        from bot.platforms.matrix import MatrixPlatform

        m = settings.matrix
        main = MatrixPlatform(
            homeserver=m.homeserver,
            user_id=m.user_id,
            password=m.password.get_secret_value(),
            access_token=m.access_token.get_secret_value(),
            device_id=m.device_id,
            store_path=Path(m.store_path),
            e2ee=m.e2ee,
            allowed_servers=m.allowed_servers,
            rate_limit=m.rate_limit,
            recovery_key=m.recovery_key.get_secret_value(),
            invite_policy=invite_policy,
        )
        if not m.senders:
            return main
        from bot.platforms.matrix.pool import MatrixPool

        senders = [
            MatrixPlatform(
                homeserver=m.homeserver,
                user_id=sender.user_id,
                password=sender.password.get_secret_value(),
                access_token=sender.access_token.get_secret_value(),
                device_id=sender.device_id,
                store_path=Path(sender.store_path),
                e2ee=m.e2ee,
                allowed_servers=m.allowed_servers,
                rate_limit=sender.rate_limit or m.rate_limit,
                recovery_key=sender.recovery_key.get_secret_value(),
                direct_only=True,
                invite_policy=invite_policy,
            )
            for sender in m.senders
        ]
        return MatrixPool([main, *senders])
    if choice == "slack":
        from bot.platforms.slack import SlackPlatform

        sl = settings.slack
        if not sl.bot_token.get_secret_value():
            raise SystemExit("slack.bot_token est vide (PIXBOT_SLACK__BOT_TOKEN).")
        return SlackPlatform(
            bot_token=sl.bot_token.get_secret_value(),
            app_token=sl.app_token.get_secret_value(),
            signing_secret=sl.signing_secret.get_secret_value(),
            rate_limit=sl.rate_limit,
            http_host=sl.http_host,
            http_port=sl.http_port,
            spool_path=slack_spool_path(settings),
        )
    raise SystemExit(f"Plateforme inconnue : {choice}")


async def run_bot(
    settings: Settings, platform: Platform | None = None, clock: Clock | None = None
) -> int:
    store = store_for(settings)
    # Start-up's database work leaves the event loop the same way as everything else.
    database = DatabaseWorker.for_dialect(store.database.dialect)
    await _upgrade_when_reachable(store, database)
    logs.set_key(await database.run(_privacy_key, store))  # pseudonyms stable across restarts
    if store.key.in_database:
        log.warning(
            "[privacy] key ou key_file n'est pas réglé : la clé des pierres tombales reste dans "
            "la base, et une sauvegarde de la base seule permet de les ré-identifier "
            "(docs/privacy.md)"
        )
    # The platform is built with the policy it asks before joining a room (whose reads go
    # through the same database worker as the application's).
    platform = platform or build_platform(
        settings,
        StoreInvitePolicy(store, database, settings.bot.admins, settings.limits.max_room_members),
    )
    app = App(
        settings,
        store,
        platform,
        clock=clock,
        drain_after_message=platform.name == "console",
        database=database,
    )
    ops = None
    if settings.http.listen:
        from bot.dashboard.wiring import attach
        from bot.ops_http import OpsServer

        ops = OpsServer(
            settings.http.listen,
            app.checks,
            app.metrics,
            token=settings.http.metrics_token.get_secret_value(),
        )
        await attach(app, ops)
        try:
            await ops.start()  # before the lock: a standby answers /healthz too
        except OSError as error:
            tell_operator(
                f"[http] listen = {settings.http.listen} : {error}. Un autre pixbot écoute-t-il "
                "déjà ce port (une instance de secours sur le même hôte a besoin d'un autre "
                "port : PIXBOT_HTTP__LISTEN) ?"
            )
            store.close()
            return BAD_SETTINGS
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        # A service manager's stop: finish the message in flight, drain, close cleanly.
        loop.add_signal_handler(signum, lambda: _stop_soon(app))
    log.info("démarrage de pixbot : plateforme %s, base %s", platform.name, store.database.dialect)
    code = 1
    try:
        code = await app.run()
        return code
    except PlatformNeedsOperator as error:
        # Healing needs a person (docs/tchap.md § 8): the unit does not restart this code.
        tell_operator(str(error))
        return EXIT_NEEDS_OPERATOR
    except PlatformAuthError as error:
        tell_operator(
            f"Connexion refusée par la plateforme {platform.name} : {error}. Vérifiez le compte "
            "du bot (mot de passe, jeton, compte expiré) puis relancez pixbot (code de sortie 4)."
        )
        return LOGIN_REFUSED
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        if ops is not None:
            await ops.stop()
        store.close()
        log.info("arrêt de pixbot (code de sortie %s)", code)
