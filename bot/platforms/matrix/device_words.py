"""What the bot says when its Matrix device cannot serve any more: why (a short reason), and
the one line saying what a person must do. French message ids, shown in the operator's language
(bot/translation.py)."""

from __future__ import annotations

from bot.translation import N_, gettext, translate

REASONS_FR = {
    "store_mismatch": N_("clés publiées différentes de celles du stockage, stockage perdu ?"),
    "device_recreated": N_("appareil supprimé sur le serveur puis recréé sans clés"),
    "keys_rejected": N_("clés à usage unique refusées par le serveur"),
    "logged_out": N_("appareil supprimé ou déconnecté sur le serveur"),
}


def why_lost(reason: str) -> str:
    """The reason a device was left, in words (a key of :data:`REASONS_FR`)."""
    return translate(REASONS_FR.get(reason, reason))


def new_device_refused(device_id: str, reason: str) -> str:
    return gettext(
        "Le serveur refuse aussi les clés du nouvel appareil Matrix {device} du bot ({why}) : "
        "vérifiez le serveur d'accueil et le compte du bot, puis relancez pixbot.",
        device=device_id,
        why=why_lost(reason),
    )


def needs_password(device_id: str, reason: str) -> str:
    return gettext(
        "L'appareil Matrix {device} du bot n'est plus utilisable ({why}) et seul un jeton "
        "d'accès est configuré : renseignez [matrix] password (PIXBOT_MATRIX__PASSWORD) ou un "
        "nouveau jeton, puis relancez pixbot.",
        device=device_id,
        why=why_lost(reason),
    )


def needs_recovery_key(device_id: str, reason: str) -> str:
    return gettext(
        "L'appareil Matrix {device} du bot n'est plus utilisable ({why}) et aucune clé de "
        "récupération ne peut signer un nouvel appareil : renseignez [matrix] recovery_key "
        "(PIXBOT_MATRIX__RECOVERY_KEY) puis relancez pixbot.",
        device=device_id,
        why=why_lost(reason),
    )
