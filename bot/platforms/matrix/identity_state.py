"""What the bot's cross-signing identity can be (:class:`IdentityState`), what each state
tells the operator (French message ids, translated where they are shown: bot/translation.py),
and the status a health check or ``pixbot matrix status`` shows (:class:`IdentityStatus`,
also written to ``identity-status.json`` in the store)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from bot.platforms.matrix.crypto_identity import fingerprint
from bot.translation import N_

STATUS_FILE = "identity-status.json"


class IdentityState(StrEnum):
    VERIFIED = "verified"
    NO_RECOVERY_KEY = "no_recovery_key"
    WRONG_RECOVERY_KEY = "wrong_recovery_key"
    NO_SECRET_STORAGE = "no_secret_storage"
    STORAGE_MISMATCH = "storage_mismatch"
    BOOTSTRAP_FAILED = "bootstrap_failed"
    NO_E2EE = "no_e2ee"
    ERROR = "error"
    UNKNOWN = "unknown"


# What the operator reads (log, `pixbot matrix status`, health check).
MESSAGES_FR: dict[IdentityState, str] = {
    IdentityState.VERIFIED: N_(
        "Appareil du bot vérifié : il est signé par l'identité de signature "
        "croisée du compte ; les agents ne voient aucun avertissement."
    ),
    IdentityState.NO_RECOVERY_KEY: N_(
        "Le compte du bot a une identité de signature croisée mais "
        "cet appareil n'est pas vérifié et aucune clé de récupération n'est disponible : "
        "renseignez [matrix] recovery_key (PIXBOT_MATRIX__RECOVERY_KEY) puis redémarrez le bot. "
        "En attendant, les agents voient ses messages « chiffrés par un appareil non vérifié »."
    ),
    IdentityState.WRONG_RECOVERY_KEY: N_(
        "La clé de récupération fournie n'ouvre pas le stockage "
        "sécurisé du compte du bot : corrigez [matrix] recovery_key (PIXBOT_MATRIX__RECOVERY_KEY) "
        "(la clé affichée à la création de l'identité) puis redémarrez le bot. Cet appareil "
        "reste non vérifié."
    ),
    IdentityState.NO_SECRET_STORAGE: N_(
        "Le compte du bot a une identité de signature croisée "
        "mais pas de stockage sécurisé lisible : réinitialisez l'identité (connectez-vous à Tchap "
        "avec le compte du bot, « Réinitialiser l'identité ») ou supprimez-la, puis redémarrez."
    ),
    IdentityState.STORAGE_MISMATCH: N_(
        "Le stockage sécurisé ne contient pas la clé "
        "d'auto-signature publiée (identité réinitialisée sans mise à jour du stockage) : "
        "réinitialisez l'identité du compte du bot puis redémarrez le bot."
    ),
    IdentityState.BOOTSTRAP_FAILED: N_(
        "Impossible de créer l'identité de signature croisée du "
        "bot : le serveur demande le mot de passe du compte ; renseignez [matrix] password "
        "(PIXBOT_MATRIX__PASSWORD) puis redémarrez le bot."
    ),
    IdentityState.NO_E2EE: N_("Chiffrement de bout en bout désactivé : pas de signature croisée."),
    IdentityState.ERROR: N_(
        "Vérification de l'identité du bot impossible pour le moment "
        "(serveur Matrix) ; nouvel essai aux synchronisations suivantes."
    ),
    IdentityState.UNKNOWN: N_("Identité du bot pas encore vérifiée."),
}
RESET_FR = N_(
    "L'identité de signature croisée du compte du bot a été réinitialisée depuis un autre "
    "appareil (clé maîtresse changée)."
)


@dataclass
class IdentityStatus:
    """What a health check or ``pixbot matrix status`` shows; never any secret."""

    user_id: str
    device_id: str
    state: IdentityState = IdentityState.UNKNOWN
    cross_signed: bool = False
    master_key: str | None = None
    reset_detected: bool = False
    previous_master_key: str | None = None
    detail: str = ""
    checked_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def message(self) -> str:
        text = MESSAGES_FR[self.state]
        return f"{RESET_FR} {text}" if self.reset_detected else text

    @property
    def master_fingerprint(self) -> str:
        return fingerprint(self.master_key)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        data["message"] = self.message
        data["master_fingerprint"] = self.master_fingerprint
        return data
