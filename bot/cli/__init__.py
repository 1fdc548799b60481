"""The ``pixbot`` command line: one module per area, assembled here."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from bot import logs
from bot.cli import i18n
from bot.cli.campaigns import campaign_app
from bot.cli.common import ConfigOption, fail, state
from bot.cli.faq import faq_app
from bot.cli.matrix import matrix_app
from bot.cli.people import admin_app, agents_app, ambassador_app, forget
from bot.cli.pix import pix_app
from bot.cli.run import db_app, purge, run
from bot.translation import gettext as _

app = typer.Typer(
    help="pixbot : le bot des campagnes Pix (Tchap, Slack, console).",
    no_args_is_help=True,
    add_completion=False,
    # Plain text help and errors (no Rich panels): they read well in a terminal, a journal and
    # a test, "[privacy]" in a help text stays as written, and i18n can translate them.
    rich_markup_mode=None,
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
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Journal détaillé (niveau INFO).")
    ] = False,
    log_format: Annotated[
        str | None,
        typer.Option(
            "--log-format", help="Format du journal : text ou json (défaut : [log] format)."
        ),
    ] = None,
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            help="Langue des messages de la ligne de commande : fr ou en (défaut : la locale).",
        ),
    ] = None,
    env_file: Annotated[
        Path | None,
        typer.Option(
            "--env-file",
            help="Fichier de secrets du service (VARIABLE=valeur par ligne, comme "
            "EnvironmentFile= de systemd), lu avant la configuration ; l'environnement l'emporte.",
        ),
    ] = None,
) -> None:
    """pixbot : le bot des campagnes Pix."""
    if env_file is not None:
        load_env_file(env_file)
    if lang not in {None, *i18n.LANGUAGES}:
        raise typer.BadParameter(_("fr ou en."), param_hint="--lang")
    if lang is not None:
        i18n.install(lang)
    if log_format not in {None, "text", "json"}:
        raise typer.BadParameter(_("text ou json."), param_hint="--log-format")
    state.config = config
    state.verbose = verbose
    state.log_format = log_format
    logs.configure(logging.INFO if verbose else logging.WARNING, log_format or "text")


def load_env_file(path: Path) -> None:
    """The service's secrets, as systemd's ``EnvironmentFile=`` gives them to ``pixbot run``
    (``KEY=value``, ``#`` comments, optional quotes), so that an operator's command sees what
    the service sees; a variable already in the environment is kept."""
    from dotenv import dotenv_values

    try:
        with path.open(encoding="utf-8") as handle:
            values = dotenv_values(stream=handle)
    except OSError as error:
        raise fail(
            _(
                "Fichier de secrets illisible : {path} ({error}) ; lancez la commande avec "
                "l'utilisateur du service, qui doit pouvoir le lire (groupe pixbot, mode 0640).",
                path=path.absolute(),
                error=error.strerror or error,
            ),
            2,
        ) from None
    for name, value in values.items():
        if value is not None and name not in os.environ:
            os.environ[name] = value


i18n.install(i18n.choose_language([], os.environ))


def main() -> None:
    i18n.install(i18n.choose_language(sys.argv[1:], os.environ))
    app()
