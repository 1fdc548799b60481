"""How events reach the adapter: the signed HTTP events server or a Socket Mode connection.

Both only hand raw requests to slack-bolt's ``AsyncApp``, whose listeners (registered by
:class:`bot.platforms.slack.platform.SlackPlatform`) translate them. Also here: what an
unreachable Slack looks like, and the stop-aware wait between two attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.core import PlatformAuthError
from bot.platforms.slack.codec import AUTH_ERRORS, error_code

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
MAX_BACKOFF = 30.0
NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)


async def sleep_or_stop(stopping: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds`` unless ``stopping`` is set first; True when it is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
    return stopping.is_set()


# -- HTTP events (signed requests) ---------------------------------------------------------------


async def events_runner(app: AsyncApp) -> web.AppRunner:
    """The set-up aiohttp runner whose ``POST /slack/events`` is dispatched to ``app``."""

    async def handle(request: web.Request) -> web.Response:
        # Bolt checks the signature (signing secret, 5-minute window) before any listener;
        # a timestamp that is not a number would make it raise (500 and a traceback).
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            logger.warning("Slack : requête refusée (X-Slack-Request-Timestamp invalide)")
            return web.Response(status=401, text="invalid request")
        bolt_response = await app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    web_app = web.Application()
    web_app.router.add_post(EVENTS_PATH, handle)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    return runner


async def listen(runner: web.AppRunner, host: str, port: int) -> int:
    """Serve ``runner`` on ``host:port``; the port actually bound (``port`` may be 0)."""
    site = web.TCPSite(runner, host, port)
    await site.start()
    addresses = runner.addresses
    return addresses[0][1] if addresses else port


# -- Socket Mode ---------------------------------------------------------------------------------


async def connect_socket_mode(
    handler: AsyncSocketModeHandler,
    stopping: asyncio.Event,
    refused: Callable[[str], PlatformAuthError],
) -> bool:
    """Connect ``handler``; False when ``stopping`` was set first.

    A refused app token raises ``refused(detail)``; an unreachable Slack is retried.
    """
    # The SDK retries a refused connection forever: ask for the WebSocket URL ourselves
    # first, so that a revoked app token stops the bot with a clear message.
    backoff = 0.5
    while handler.client.wss_uri is None:
        try:
            handler.client.wss_uri = await handler.client.issue_new_wss_url()
        except SlackApiError as error:
            code = error_code(error)
            if code in AUTH_ERRORS:
                raise refused(f"apps.connections.open: {code}") from error
            failure: BaseException = error
        except NETWORK_ERRORS as error:
            failure = error
        else:
            break
        logger.warning(
            "Slack (mode Socket) injoignable (%s) ; nouvel essai dans %.1f s",
            failure,
            backoff,
        )
        if await sleep_or_stop(stopping, backoff):
            return False
        backoff = min(backoff * 2, MAX_BACKOFF)
    connect = asyncio.ensure_future(handler.connect_async())
    stopped = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({connect, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if not connect.done():  # stopped while connecting: close_async() ends the attempts
        connect.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await connect
        return False
    connect.result()
    return True
