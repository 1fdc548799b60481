"""Wire the dashboard into a running application and its HTTP server."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.app import App
    from bot.ops_http import OpsServer


async def signing_key(app: App) -> bytes:
    """The links' and cookies' HMAC key, derived from the privacy key (kept outside the
    database, storage/keys.py): the active process and its standby agree, a restart keeps the
    links valid, and it never equals a pseudonym's key."""

    def read() -> bytes:
        with app.store.transaction() as uow:
            return uow.privacy.key()

    secret = await app.database.run(read)
    return hmac.new(secret, b"pixbot dashboard links and sessions", hashlib.sha256).digest()


async def attach(app: App, ops: OpsServer) -> None:
    """Serve the dashboard on ``ops`` (call before ``ops.start()``)."""
    from bot.dashboard.pages import WebRenderer
    from bot.dashboard.server import Dashboard, Reader
    from bot.dashboard.tokens import DashboardLinks
    from bot.dashboard.views import Views
    from bot.services.charts import Pictures

    settings = app.settings
    base = settings.http.public_url or f"http://{settings.http.listen}"
    links = DashboardLinks(base, await signing_key(app))
    app.deps = replace(app.deps, dashboard=links)
    min_group = settings.stats.min_group
    pictures = Pictures(
        app.store, app.renderer, min_group, settings.stats.refresh, database=app.database
    )
    views = Views(app.campaigns, app.planner, pictures, app.renderer.timezone)
    reader = Reader(
        store=app.store,
        clock=app.clock,
        views=views,
        roles_of=app.roles_of,
        locale_of=app.notifier.locale_of,
        run=app.database.run,
    )
    dashboard = Dashboard(links, reader, WebRenderer(app.renderer, min_group))
    ops.mounts.append(dashboard.mount)
