"""Matrix (Tchap) platform on matrix-nio, with end-to-end encryption.

``codec`` is pure (content, ids, mentions, errors); ``store`` keeps the session and sync token
on disk; ``connection`` holds the state every part shares; ``rooms`` finds and opens rooms;
``inbound`` turns sync events into :class:`bot.core.Incoming`; ``gaps`` fetches what a limited
sync timeline left out; ``device`` logs in and keeps the device's E2EE keys on the server
(a new device when the store and the server disagree), ``readiness`` says whether agents can
reach the bot and ``status`` asks the server for ``pixbot matrix status``; ``identity`` signs
the device (cross-signing); ``platform`` runs the sync loop and sends.
"""

from bot.platforms.matrix.codec import (
    MatrixAuthError,
    build_content,
    delivery_error,
    invite_allowed,
    mentions_user,
    transaction_id,
)
from bot.platforms.matrix.platform import MatrixPlatform

__all__ = [
    "MatrixAuthError",
    "MatrixPlatform",
    "build_content",
    "delivery_error",
    "invite_allowed",
    "mentions_user",
    "transaction_id",
]
