"""``pixbot matrix status``: the bot's Matrix account, device and cross-signing (no secret)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli.common import ConfigOption, fail, settings

matrix_app = typer.Typer(
    help="Le compte Matrix (Tchap) du bot.", no_args_is_help=True, rich_markup_mode=None
)


@matrix_app.command("status")
def matrix_status(
    as_json: Annotated[
        bool, typer.Option("--json", help="Sortie JSON (pour les scripts).")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Utilisateur, appareil, clés, signature croisée, stockage ; code de sortie 1 quand les
    agents ne peuvent pas joindre le bot (avec ce qu'il faut faire)."""
    # Imported here: matrix-nio takes a second to load, which no other command needs.
    from bot.platforms.matrix.status import matrix_status as describe

    cfg = settings(config)
    m = cfg.matrix
    store_path = Path(m.store_path)
    if cfg.bot.platform != "matrix" and not store_path.exists():
        raise fail(
            f"Pas de compte Matrix ici : bot.platform = {cfg.bot.platform!r} et pas de magasin "
            f"{store_path.absolute()} ; indiquez la configuration du bot (--config FICHIER ou "
            "PIXBOT_CONFIG) et lancez la commande avec l'utilisateur du service.",
            2,
        )
    accounts = [(m.user_id, store_path), *((s.user_id, Path(s.store_path)) for s in m.senders)]
    infos = []
    for _user, path in accounts:
        try:
            infos.append(asyncio.run(describe(path, m.homeserver)))
        except PermissionError as error:
            raise fail(
                f"Magasin Matrix illisible : {error.filename or path} ; lancez la commande avec "
                "l'utilisateur du service (sudo -u pixbot).",
                2,
            ) from None
    info, senders = infos[0], infos[1:]
    reachable = all(item["reachable"] for item in infos)
    if as_json:
        if senders:
            info = {**info, "senders": senders}
        typer.echo(json.dumps(info, ensure_ascii=False, indent=2))
        if not reachable:
            raise typer.Exit(1)
        return
    if senders:
        typer.echo(f"Comptes : {len(infos)} (le principal et {len(senders)} d'envoi)")
    for index, item in enumerate(infos):
        if senders:
            role = "principal" if index == 0 else f"d'envoi n°{index}"
            typer.echo(f"\n— Compte {role} : {accounts[index][0]}")
        _print_account(item)
    if not reachable:
        raise typer.Exit(1)


def _print_account(info: dict[str, Any]) -> None:
    yes_no = {True: "oui", False: "non", None: "inconnu"}
    store = info["store"]
    typer.echo(f"Utilisateur : {info['user_id'] or '-'}")
    typer.echo(f"Appareil : {info['device_id'] or '-'}")
    typer.echo(f"Signé par son identité (signature croisée) : {yes_no[info['cross_signed']]}")
    typer.echo(f"Empreinte de la clé maîtresse : {info['master_fingerprint'] or '-'}")
    typer.echo(f"Stockage : {store['path']} ({store['mode'] or 'absent'})")
    for name in ("session.json", "recovery-key.txt"):
        typer.echo(f"  {name} : {store[name] or 'absent'}")
    if info["message"]:
        typer.echo(f"État : {info['message']}")
    if info.get("one_time_keys") is not None:
        typer.echo(f"Clés à usage unique sur le serveur : {info['one_time_keys']}")
    if info.get("replaced_device"):
        typer.echo(
            f"Nouvel appareil démarré par le bot le {info['healed_at']} "
            f"(remplace {info['replaced_device']} : {info['healed_reason']})"
        )
    if not info["reachable"]:
        typer.echo(f"Les agents ne peuvent pas joindre le bot. À faire : {info['todo']}")
    else:
        typer.echo("Les agents peuvent joindre le bot (clés publiées, appareil signé).")
