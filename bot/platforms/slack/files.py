"""Pictures on Slack (sans I/O): the ``files_upload_v2`` arguments for an outgoing image, and
the idempotency key of a file found in a conversation's history.

A file shared with ``files.completeUploadExternal`` carries no message metadata, so the key
travels in the file name (``pixbot-<digest>.png``): before uploading, the adapter looks for a
file of that name among the bot's recent messages of the conversation, as it does for the
metadata key of a text message, and a crash between the upload and the outbox's mark does not
post the picture twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from bot.core import Outgoing
from bot.platforms.slack.codec import message_text

FILE_PREFIX = "pixbot-"
# Slack's limit for a file's alt text.
ALT_TEXT_LIMIT = 1000


def image_filename(key: str, filename: str) -> str:
    """The name the picture is uploaded under: derived from the idempotency key."""
    suffix = PurePosixPath(filename).suffix or ".png"
    return f"{FILE_PREFIX}{hashlib.sha256(key.encode()).hexdigest()[:24]}{suffix}"


def file_marker(name: str) -> str:
    """How a delivered file is remembered next to the keys of delivered messages."""
    return f"file:{name}"


def shared_files(message: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(marker, file id) of the bot's pictures in a ``conversations.history`` message."""
    found = []
    for item in message.get("files") or []:
        if not isinstance(item, Mapping):
            continue
        name, file_id = item.get("name"), item.get("id")
        if isinstance(name, str) and name.startswith(FILE_PREFIX) and isinstance(file_id, str):
            found.append((file_marker(name), file_id))
    return found


def upload_arguments(message: Outgoing, channel: str) -> dict[str, Any]:
    """``files_upload_v2`` arguments: the picture, its alt text, its description as comment."""
    image = message.image
    if image is None:
        raise ValueError("not an image message")
    arguments: dict[str, Any] = {
        "channel": channel,
        "file": image.data,
        "filename": image_filename(message.key, image.filename),
        "title": PurePosixPath(image.filename).stem,
        "alt_txt": image.alt[:ALT_TEXT_LIMIT],
        "initial_comment": message_text(message),
    }
    if message.in_reply_to:
        arguments["thread_ts"] = message.in_reply_to
    return arguments
