"""``pixbot matrix status``: the bot's Matrix account, device, token, cross-signing and recovery
key, one French line per check (no secret); exit code 1 when something needs a person."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli.common import ConfigOption, fail, settings
from bot.translation import gettext as _
from bot.translation import translate

matrix_app = typer.Typer(
    help="Le compte Matrix (Tchap) du bot.", no_args_is_help=True, rich_markup_mode=None
)


def token_words() -> dict[str, str]:
    return {
        "accepted": _("accepté par le serveur"),
        "expired": _("expiré (le bot le renouvelle à son démarrage)"),
        "refused": _("refusé : appareil supprimé ou déconnecté"),
        "unchecked": _("non vérifié (serveur injoignable)"),
    }


def key_words() -> dict[str, str]:
    return {
        "opens_storage": _(
            "oui (stockage secret ouvert, clé de signature identique à celle publiée)"
        ),
        "wrong_key": _("non : c'est une autre clé"),
        "no_secret_storage": _("non : pas de stockage secret sur le serveur"),
        "storage_mismatch": _("non : le stockage secret contient une autre clé de signature"),
        "unchecked": _("non vérifiée (jeton du bot refusé ou serveur injoignable)"),
    }


@matrix_app.command("status")
def matrix_status(
    as_json: Annotated[
        bool, typer.Option("--json", help="Sortie JSON (pour les scripts).")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Utilisateur, appareil, jeton, signature croisée, stockage, clé de récupération ; code de
    sortie 1 quand quelque chose demande une personne (avec ce qu'il faut faire)."""
    # Imported here: matrix-nio takes a second to load, which no other command needs.
    from bot.platforms.matrix.status import matrix_status as describe

    cfg = settings(config)
    m = cfg.matrix
    store_path = Path(m.store_path)
    if cfg.bot.platform != "matrix" and not store_path.exists():
        raise fail(
            _(
                "Pas de compte Matrix ici : bot.platform = {platform} et pas de magasin {store} ; "
                "indiquez la configuration du bot (--config FICHIER ou PIXBOT_CONFIG) et lancez "
                "la commande avec l'utilisateur du service.",
                platform=repr(cfg.bot.platform),
                store=store_path.absolute(),
            ),
            2,
        )
    accounts = [
        (m.user_id, store_path, m.recovery_key.get_secret_value()),
        *((s.user_id, Path(s.store_path), s.recovery_key.get_secret_value()) for s in m.senders),
    ]
    infos = []
    for _user, path, recovery_key in accounts:
        try:
            infos.append(asyncio.run(describe(path, m.homeserver, recovery_key, m.e2ee)))
        except PermissionError as error:
            raise fail(
                _(
                    "Magasin Matrix illisible : {path} ; lancez la commande avec l'utilisateur "
                    "du service (sudo -u pixbot).",
                    path=error.filename or path,
                ),
                2,
            ) from None
    info, senders = infos[0], infos[1:]
    needs_a_person = any(item["needs_a_person"] for item in infos)
    if as_json:
        if senders:
            info = {**info, "senders": senders}
        typer.echo(json.dumps(info, ensure_ascii=False, indent=2))
        if needs_a_person:
            raise typer.Exit(1)
        return
    if senders:
        typer.echo(
            _(
                "Comptes : {n} (le principal et {senders} d'envoi)",
                n=len(infos),
                senders=len(senders),
            )
        )
    for index, item in enumerate(infos):
        if senders:
            typer.echo(
                "\n"
                + (
                    _("— Compte principal : {user}", user=accounts[index][0])
                    if index == 0
                    else _("— Compte d'envoi n°{n} : {user}", n=index, user=accounts[index][0])
                )
            )
        for line in lines(item):
            typer.echo(line)
        if item["needs_a_person"]:
            typer.echo(_("À faire : {todo}", todo=item["todo"]))
    if needs_a_person:
        raise typer.Exit(1)
    typer.echo(
        _("Rien à faire : les agents joignent le bot et la clé de récupération est en place.")
    )


def state_words(message: str) -> str:
    """The bot's last word about its identity, in the operator's language: one of the identity's
    or the device's sentences, after the identity reset's when there was one."""
    from bot.platforms.matrix.identity_state import RESET_FR

    if message.startswith(RESET_FR + " "):
        return f"{translate(RESET_FR)} {translate(message[len(RESET_FR) + 1 :])}"
    return translate(message)


def lines(info: dict[str, Any]) -> list[str]:
    """One French line per check (never a secret)."""
    yes_no = {True: _("oui"), False: _("non"), None: _("inconnu")}
    store = info["store"]
    result = [
        _("Utilisateur : {value}", value=info["user_id"] or "-"),
        _("Appareil : {value}", value=info["device_id"] or "-"),
    ]
    if info.get("token"):
        token = info["token"]
        shown = token_words().get(token)
        result.append(
            _("Jeton d'accès : {value}", value=shown)
            if shown
            else _("Jeton d'accès : refusé ({code})", code=token)
        )
    result += [
        _(
            "Signé par son identité (signature croisée) : {value}",
            value=yes_no[info["cross_signed"]],
        ),
        _("Empreinte de la clé maîtresse : {value}", value=info["master_fingerprint"] or "-"),
        _("Stockage : {path} ({mode})", path=store["path"], mode=store["mode"] or _("absent")),
        _("  session.json : {mode}", mode=store["session.json"] or _("absent")),
        _("  recovery-key.txt : {mode}", mode=store["recovery-key.txt"] or _("absent")),
    ]
    if info["message"]:
        result.append(_("État : {message}", message=state_words(info["message"])))
    if info.get("one_time_keys") is not None:
        result.append(_("Clés à usage unique sur le serveur : {n}", n=info["one_time_keys"]))
    if info.get("replaced_device"):
        result.append(
            _(
                "Nouvel appareil démarré par le bot le {when} (remplace {device} : {reason})",
                when=info["healed_at"],
                device=info["replaced_device"],
                reason=info["healed_reason"],
            )
        )
    result.append(_("Les agents peuvent joindre le bot : {value}", value=yes_no[info["reachable"]]))
    key = info.get("recovery_key")
    if key is None:
        result.append(_("Clé de récupération : sans objet (chiffrement désactivé)"))
        return result
    result.append(
        _(
            "Clé de récupération dans les secrets (PIXBOT_MATRIX__RECOVERY_KEY) : {value}",
            value=yes_no[key["configured"]],
        )
    )
    if key["configured"]:
        result.append(
            _(
                "Clé de récupération bien formée (base58, espaces facultatifs) : {value}",
                value=_("non : {why}", why=translate(key["decode_error"]))
                if key["decode_error"]
                else _("oui"),
            )
        )
    if key["server"] is not None:
        result.append(
            _(
                "Clé de récupération reconnue par le serveur : {value}",
                value=key_words()[key["server"]],
            )
        )
    return result
