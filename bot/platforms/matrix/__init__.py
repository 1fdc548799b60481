"""Matrix (Tchap) platform on matrix-nio, with end-to-end encryption.

``codec`` is pure (content, ids, mentions, errors); ``store`` keeps the session on disk.
:class:`MatrixPlatform` (``platform``: the sync loop and sending) is composed of parts, each
given the parts it uses when it is built: ``connection`` (the account, the client in use, the
lifecycle every part shares), ``login``, ``device`` (the device's E2EE keys on the server and
readiness), ``healing`` (a new device when the store and the server disagree), ``rooms`` (direct
rooms, found, opened and recorded), ``invitations``, ``inbound`` (sync events into
:class:`bot.core.Incoming`), ``gaps`` (what a limited sync timeline left out), ``sync`` (the
sync requests and token) and ``outbound`` (a message into a room). ``identity`` signs the
device (cross-signing); ``readiness`` says whether agents can reach the bot and ``status``
asks the server for ``pixbot matrix status``; ``pool`` sends from several accounts, each a
whole platform.
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
