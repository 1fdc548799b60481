"""The ``pixbot`` command line: one module per area, assembled here."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from bot import logs
from bot.cli.campaigns import campaign_app
from bot.cli.common import ConfigOption, state
from bot.cli.faq import faq_app
from bot.cli.matrix import matrix_app
from bot.cli.people import admin_app, agents_app, ambassador_app, forget
from bot.cli.pix import pix_app
from bot.cli.run import db_app, purge, run

app = typer.Typer(
    help="pixbot : le bot des campagnes Pix (Tchap, Slack, console).",
    no_args_is_help=True,
    add_completion=False,
)
app.command()(run)
app.command()(forget)
app.command()(purge)
app.add_typer(db_app, name="db")
app.add_typer(ambassador_app, name="ambassador")
app.add_typer(admin_app, name="admin")
app.add_typer(agents_app, name="agents")
app.add_typer(campaign_app, name="campaign")
app.add_typer(faq_app, name="faq")
app.add_typer(matrix_app, name="matrix")
app.add_typer(pix_app, name="pix")


@app.callback()
def root(
    config: ConfigOption = None,
    verbose: bool = False,
    log_format: Annotated[
        str | None, typer.Option("--log-format", help="text | json (défaut : configuration)")
    ] = None,
) -> None:
    """pixbot : le bot des campagnes Pix."""
    if log_format not in {None, "text", "json"}:
        raise typer.BadParameter("text ou json.", param_hint="--log-format")
    state.config = config
    state.verbose = verbose
    state.log_format = log_format
    logs.configure(logging.INFO if verbose else logging.WARNING, log_format or "text")


def main() -> None:
    app()
