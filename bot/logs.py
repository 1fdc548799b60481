"""Logging: human-readable by default, one JSON object per line with ``--log-format json``.

pixbot's log sentences are French in the code; with an English locale (or ``--lang en``) each
record's message is its English entry in the operator catalogue (:mod:`bot.translation`), put
in place as the record is born, before its arguments: the JSON format's fields do not change.

Nothing logged at INFO or above carries a secret or a message body: adapters log ids and error
codes, the configuration never echoes values.

People are named in logs only by a keyed pseudonym, and no logged value encodes what someone
declared. This is one mechanism, not a rule every call site must remember: :func:`install`
puts a log-record factory in place, so every record — pixbot's, the SDKs', at every level and
whichever handler receives it (stderr, JSON, a test's capture) — is born with its message
already rewritten by :func:`redact`:

* a person's platform id (Matrix or console ``@name:server``, Slack ``U…``/``W…``) and any
  email address become ``p:`` + 12 hex digits of an HMAC-SHA-256 under the privacy key (the
  same person gives the same pseudonym, so a log can still be followed; without the key file
  it cannot be turned back into the id);
* a delivery key (``thanks:C:P``, ``rem:C:snooze1:P``…: its kind says who completed or asked
  for "plus tard") becomes an opaque ``k:`` digest.

Display names cannot be recognised by a pattern: no call site logs one (tests search the logs
of whole stories for the names used).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import sys
import threading
from datetime import UTC, datetime
from typing import Any

from bot import translation

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Kinds of delivery keys (bot/notifier.py, bot/services/campaigns.py, scheduler/): their
# first field is a kind, the rest ids; a kind may say what the recipient declared.
KEY_KINDS = (
    "inv",
    "rem",
    "thanks",
    "digest",
    "reply",
    "mydata",
    "answer",
    "handoff",
    "missed",
    "closed",
    "summary",
    "progress",
    "notice",
)
_KEY = re.compile(r"\b(?:" + "|".join(KEY_KINDS) + r")(?::[^\s,;'\"()\[\]{}<>]+)+")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
# Matrix user ids (and the console's): @localpart:server[:port].
_USER = re.compile(r"@[A-Za-z0-9._=\-/+]+:[A-Za-z0-9.\-]+(?::\d+)?")
# Slack user ids: U or W, then upper-case letters and digits (at least one digit).
_SLACK_USER = re.compile(r"\b[UW](?=[A-Z0-9]*\d)[A-Z0-9]{6,}\b")

_state = threading.local()
_key: bytes = secrets.token_bytes(32)
_installed = False


def set_key(key: bytes) -> None:
    """Pseudonyms derived from the privacy key (the key file): stable across restarts, and
    unlike any tombstone (a separate derivation). Until then, a random key of this process."""
    global _key
    _key = hmac.new(key, b"pixbot log pseudonyms", hashlib.sha256).digest()


def _digest(value: str, size: int = 12) -> str:
    return hmac.new(_key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:size]


def pseudonym(person: str) -> str:
    """How logs name a person: ``p:`` and a keyed digest of the normalised id or email."""
    return "p:" + _digest(person.strip().lower())


def opaque(key: str) -> str:
    """How logs name a delivery: a keyed digest of its key (the key's kind is a declaration)."""
    return "k:" + _digest(key)


def redact(text: str) -> str:
    """``text`` with people's ids and emails pseudonymised and delivery keys made opaque."""
    if not text:
        return text
    text = _KEY.sub(lambda m: opaque(m.group(0)), text)
    text = _EMAIL.sub(lambda m: pseudonym(m.group(0)), text)
    text = _USER.sub(lambda m: pseudonym(m.group(0)), text)
    return _SLACK_USER.sub(lambda m: pseudonym(m.group(0)), text)


def _redact_record(record: logging.LogRecord) -> None:
    if isinstance(record.msg, str):
        # The French sentence's English entry when the operator's language is English.
        record.msg = translation.translate(record.msg)
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: keep the template, drop the arguments
        message = str(record.msg)
    record.msg = redact(message)
    record.args = None


_base_factory = logging.getLogRecordFactory()


def _factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    if not getattr(_state, "busy", False):
        _state.busy = True
        try:
            _redact_record(record)
        finally:
            _state.busy = False
    return record


def install() -> None:
    """Every log record from now on is redacted at birth (idempotent)."""
    global _installed, _base_factory
    if _installed:
        return
    _base_factory = logging.getLogRecordFactory()
    logging.setLogRecordFactory(_factory)
    _installed = True


class TextFormatter(logging.Formatter):
    """The text format; a traceback's text is redacted too (exception messages may name)."""

    def formatException(self, ei: Any) -> str:
        return redact(super().formatException(ei))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


_format = "text"


class StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is when the record is emitted, not as it was when logging
    was configured: whoever replaces it later (a test runner, a daemon wrapper) gets the lines,
    and a replaced stream that was closed is never written to."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure(level: str | int = logging.WARNING, fmt: str = "text") -> None:
    install()
    global _format
    _format = fmt
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter(TEXT_FORMAT))
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
    # Alembic tells at INFO which dialect it uses and each migration step, in English, at every
    # command that opens the database: details, for DEBUG only.
    logging.getLogger("alembic").setLevel(
        logging.DEBUG if numeric == logging.DEBUG else logging.WARNING
    )
    # APScheduler's INFO lines name each job as it is added and run: a "plus tard" adds one
    # for one person. Its warnings stay; its details only at DEBUG.
    scheduler = logging.getLogger("apscheduler")
    scheduler.setLevel(logging.NOTSET if root.level <= logging.DEBUG else logging.WARNING)


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
