"""What the bot keeps on disk for Matrix: the session (device id and token, 0600) and the
sync token, written atomically."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)


def write_private(path: Path, text: str) -> None:
    """Atomically replace ``path`` with ``text``, readable by the owner only."""
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


@dataclass
class Session:
    user_id: str
    device_id: str
    access_token: str
    homeserver: str = ""
    refresh_token: str = ""
    # The ``[matrix] device_id`` this session was made for: ``device_id`` differs from it once
    # the bot started a new device by itself; a different configured id means "start anew".
    configured_device_id: str = ""

    @classmethod
    def load(cls, path: Path) -> Session | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                user_id=data["user_id"],
                device_id=data["device_id"],
                access_token=data["access_token"],
                homeserver=data.get("homeserver", ""),
                refresh_token=data.get("refresh_token", ""),
                configured_device_id=data.get("configured_device_id", ""),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            logger.warning("Fichier de session Matrix illisible ignoré : %s", path)
            return None

    def save(self, path: Path) -> None:
        data = {
            "homeserver": self.homeserver,
            "user_id": self.user_id,
            "device_id": self.device_id,
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "configured_device_id": self.configured_device_id,
        }
        write_private(path, json.dumps(data, indent=2))
