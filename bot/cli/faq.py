"""``pixbot faq ask|unanswered``."""

from __future__ import annotations

import json
import sys
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from bot.cli.common import settings
from bot.cli.database import open_store
from bot.translation import gettext as _

faq_app = typer.Typer(help="La FAQ.", no_args_is_help=True, rich_markup_mode=None)


@faq_app.command("ask")
def faq_ask(
    question: Annotated[str, typer.Argument(help="La question, ou - pour lire stdin.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Sortie JSON (pour les scripts).")
    ] = False,
    service: Annotated[
        str | None,
        typer.Option("--service", help="Le service de qui demande (réponses propres au service)."),
    ] = None,
) -> None:
    """Répondre à une question depuis la FAQ (une par ligne avec -)."""
    from bot.handlers.faq import knowledge_base

    cfg = settings()
    base = knowledge_base(cfg.bot.locale, cfg.bot.faq_overrides)
    questions = sys.stdin.read().splitlines() if question == "-" else [question]
    for line in questions:
        if question == "-" and not line.strip():
            continue
        match = base.match(line, service=service)
        if as_json:
            payload = {"topic": match.topic, "score": round(match.score, 4), "answer": match.answer}
            typer.echo(json.dumps(payload, ensure_ascii=False))
        else:
            typer.echo(match.answer)


@faq_app.command("unanswered")
def faq_unanswered(
    as_json: Annotated[
        bool, typer.Option("--json", help="Sortie JSON (pour les scripts).")
    ] = False,
) -> None:
    """Les questions restées sans réponse (texte, date, service ; jamais qui les a posées)."""
    cfg = settings()
    store = open_store(cfg)
    with store.transaction() as uow:
        questions = uow.questions.unanswered()
    tz = ZoneInfo(cfg.bot.timezone)
    if as_json:
        payload = [
            {"text": q.text, "date": q.asked_at.astimezone(tz).isoformat(), "service": q.service}
            for q in questions
        ]
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    if not questions:
        typer.echo(_("Aucune question sans réponse."))
    for q in questions:
        when = q.asked_at.astimezone(tz).strftime("%d/%m/%Y %H:%M")
        typer.echo(f"{when}\t{q.service or '-'}\t{q.text}")
