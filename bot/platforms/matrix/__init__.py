"""Matrix (Tchap) platform on matrix-nio, with end-to-end encryption."""

from bot.platforms.matrix.platform import (
    MatrixAuthError,
    MatrixPlatform,
    build_content,
    delivery_error,
    invite_allowed,
    mentions_user,
    transaction_id,
)

__all__ = [
    "MatrixAuthError",
    "MatrixPlatform",
    "build_content",
    "delivery_error",
    "invite_allowed",
    "mentions_user",
    "transaction_id",
]
