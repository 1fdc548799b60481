"""Logging: human-readable by default, one JSON object per line with ``--log-format json``.

Nothing logged at INFO or above carries a secret or a message body: adapters log ids and error
codes, the outbox logs delivery keys (ids, no text), the configuration never echoes values.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


_format = "text"


def configure(level: str | int = logging.WARNING, fmt: str = "text") -> None:
    global _format
    _format = fmt
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # matrix-nio tells at INFO about every room of every sync (about 8 lines per room at each
    # start: 24,000 lines for 3,000 agents, past journald's default burst limit); its warnings
    # stay, its details come with DEBUG only.
    numeric = level if isinstance(level, int) else logging.getLevelName(level)
    logging.getLogger("nio").setLevel(
        logging.DEBUG if numeric == logging.DEBUG else logging.WARNING
    )


def is_json() -> bool:
    return _format == "json"


def emit(level: int, message: str, name: str = "bot.cli") -> None:
    """Write ``message`` to the log whatever the configured level (what an operator must see:
    the database in use, why pixbot stops), one JSON object per line in ``json`` format."""
    logger = logging.getLogger(name)
    logger.handle(logger.makeRecord(name, level, "(pixbot)", 0, message, (), None))


def tell_operator(message: str, level: int = logging.ERROR) -> None:
    """A sentence for the operator on stderr: plain text, or a JSON log line in ``json``
    format (so that ``--log-format json`` leaves nothing else on stderr)."""
    if is_json():
        emit(level, message, "bot.runner")
    else:
        print(message, file=sys.stderr)
