"""The console platform: a terminal chat where you can speak as anyone.

``/as ID`` switches the speaker, ``/salon ID`` (``/room``) speaks in a room (joining it),
``/dm`` goes back to the direct conversation, ``/quit`` leaves. Every message the bot sends is
printed with its recipient. With piped input every line is handled and the run ends at the end
of input.

Delivered messages are journaled (JSON lines) so that the idempotency key holds across
restarts, like a homeserver's transaction ids: the same key is never shown twice.

A picture (the participation chart) is written as a file in ``files_dir`` (next to the
database) and its path is printed under its description.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import sys
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO, cast

from bot.core import (
    Capabilities,
    DeliveryError,
    ErasedPerson,
    ErasureStep,
    Image,
    Incoming,
    Member,
    MessageHandler,
    Outgoing,
    SendResult,
)
from bot.text import is_clean_id

BOT_ID = "@pixbot:console"
# The journal is rotated when it is loaded with more than this many messages.
JOURNAL_ROTATE_AT = 20_000
JOURNAL_KEEP = 10_000
DEFAULT_SPEAKER = "@vous:console"
HELP = (
    "Console pixbot : tapez un message pour le bot. /as ID change d'interlocuteur "
    "(ex. /as @alice:console), /salon ID parle dans un salon, /dm revient en message direct, "
    "/quit quitte."
)


@dataclass
class ConsoleJournal:
    """What the console "server" delivered, persisted so that keys stay unique after a restart."""

    path: Path | None
    keys: dict[str, str] = field(default_factory=dict)
    rooms: dict[str, set[str]] = field(default_factory=dict)
    messages: list[dict[str, str]] = field(default_factory=list)
    last_number: int = 0
    # Opened once: reopening the file for every message was most of a launch's cost.
    _handle: TextIO | None = field(default=None, repr=False)

    def load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line after a crash
            self._apply(entry)
        if len(self.messages) > JOURNAL_ROTATE_AT:
            self.rotate()

    def rotate(self) -> None:
        """Keep the rooms and the last :data:`JOURNAL_KEEP` messages: the journal does not grow
        without bound (older keys belong to deliveries long marked as sent)."""
        if self.path is None:
            return
        self.close()  # the file is rewritten below; the next append reopens it
        kept = self.messages[-JOURNAL_KEEP:]
        joins = [
            {"type": "join", "room": room, "member": member}
            for room, members in sorted(self.rooms.items())
            for member in sorted(members)
        ]
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        with private_file(temporary, "w") as handle:
            for entry in [*joins, *kept]:
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
        temporary.replace(self.path)
        self.messages = list(kept)
        self.keys = {entry["key"]: entry["id"] for entry in kept}

    def _apply(self, entry: dict[str, str]) -> None:
        if entry.get("type") == "join":
            self.rooms.setdefault(entry["room"], set()).add(entry["member"])
        elif entry.get("type") == "message":
            self.keys[entry["key"]] = entry["id"]
            self.messages.append(entry)
            number = entry["id"].rpartition("-")[2]
            if number.isdigit():  # ids stay unique after a rotation
                self.last_number = max(self.last_number, int(number))

    def forget(self, platform_id: str, *also: str) -> int:
        """Drop every entry that names the person (their conversation, messages to or about
        them, room memberships; ``also``: their name or email in a text) and rewrite the file;
        returns how many entries went."""
        conversation = direct_conversation(platform_id)
        needles = [platform_id, *(n for n in also if n)]

        def names(entry: dict[str, str]) -> bool:
            return (
                platform_id in (entry.get("to"), entry.get("member"))
                or entry.get("conversation") == conversation
                or any(n in entry.get("text", "") for n in needles)
            )

        for members in self.rooms.values():
            members.discard(platform_id)
        self.close()  # the file is rewritten below; the next append reopens it
        if self.path is None or not self.path.exists():
            return 0
        entries: list[dict[str, str]] = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        # What this process already showed on screen stays on screen; the file (what
        # outlives the process) keeps nothing that names the person.
        kept = [entry for entry in entries if not names(entry)]
        tmp = self.path.with_suffix(".tmp")
        with private_file(tmp, "w") as handle:
            for entry in kept:
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
        tmp.replace(self.path)
        return len(entries) - len(kept)

    def append(self, entry: dict[str, str]) -> None:
        self._apply(entry)
        if self.path is not None:
            if self._handle is None or self._handle.closed:
                self._handle = private_file(self.path, "a")
            # Flushed to the OS at once: a key is known again after a crash of the process.
            self._handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
            self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class ConsolePlatform:
    name = "console"
    bot_id = BOT_ID

    def __init__(
        self,
        *,
        input_stream: TextIO | None = None,
        output: TextIO | None = None,
        journal_path: Path | None = None,
        interactive: bool | None = None,
        speaker: str = DEFAULT_SPEAKER,
        rate_limit: float = math.inf,
        files_dir: Path | None = None,
    ) -> None:
        self.input = input_stream or sys.stdin
        self.output = output or sys.stdout
        self.interactive = self.input.isatty() if interactive is None else interactive
        self.speaker = speaker
        self.room: str | None = None
        # No server to protect: unpaced by default. A limit of 1000/s cost a launch about a
        # millisecond per message (each sub-millisecond wait is a timer of the event loop).
        self.capabilities = Capabilities(rate_limit)
        self.journal = ConsoleJournal(journal_path)
        self.files_dir = files_dir or (journal_path.parent if journal_path else None)
        self._stopping = False
        self._lines: asyncio.Queue[str | None] | None = None

    async def start(self) -> None:
        self.journal.load()
        if self.interactive:
            self._print(HELP)

    async def stop(self) -> None:
        self._stopping = True
        self.journal.close()
        if self._lines is not None:
            self._lines.put_nowait(None)  # wake run() even while it waits for a line

    def _read_lines(
        self, loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]
    ) -> None:
        """Blocking reads in a daemon thread, so a stop never waits for the user's Enter."""
        for line in iter(self.input.readline, ""):
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, None)

    async def run(self, on_message: MessageHandler) -> None:
        loop = asyncio.get_running_loop()
        self._lines = asyncio.Queue()
        threading.Thread(
            target=self._read_lines, args=(loop, self._lines), name="console-input", daemon=True
        ).start()
        while not self._stopping:
            if self.interactive:
                self.output.write(f"{self.speaker}{' @ ' + self.room if self.room else ''}> ")
                self.output.flush()
            line = await self._lines.get()
            if line is None or self._stopping:  # end of input, or stopped
                return
            line = line.rstrip("\n")
            if not line.strip():
                continue
            if line.startswith("/"):
                if self._command(line.strip()):
                    return
                continue
            await on_message(self.incoming(line))

    def incoming(self, text: str) -> Incoming:
        conversation = self.room or direct_conversation(self.speaker)
        return Incoming(
            platform=self.name,
            event_id=f"console-{uuid.uuid4()}",
            sender_id=self.speaker,
            text=text,
            conversation_id=conversation,
            is_direct=self.room is None,
            timestamp=datetime.now(UTC),
            mentions_bot=BOT_ID in text,
        )

    def _command(self, line: str) -> bool:
        """Handle a console command; True means quit."""
        verb, _, argument = line.partition(" ")
        argument = argument.strip()
        if verb in {"/quit", "/exit", "/q"}:
            return True
        if verb == "/as" and argument:
            if not is_clean_id(argument):
                self._print(f"Identifiant invalide : {argument!r} (ex. /as @alice:console).")
                return False
            self.speaker = argument
            self.room = None
        elif verb in {"/salon", "/room"} and argument:
            if not is_clean_id(argument):
                self._print(f"Salon invalide : {argument!r} (ex. /salon #equipe:console).")
                return False
            self.room = argument
            if self.speaker not in self.journal.rooms.get(argument, set()):
                self.journal.append({"type": "join", "room": argument, "member": self.speaker})
        elif verb == "/dm":
            self.room = None
        else:
            self._print(HELP)
        return False

    async def send(self, message: Outgoing) -> SendResult:
        conversation = message.conversation_id or await self.open_direct(message.person_id or "")
        existing = self.journal.keys.get(message.key)
        if existing is not None:  # same key, already delivered: de-duplicate like a server
            return SendResult(existing, conversation)
        if not conversation:
            raise DeliveryError(self.name, "no_recipient", permanent=True)
        remote_id = f"$console-{self.journal.last_number + 1}"
        recipient = message.person_id or person_of(conversation) or conversation
        text = message.text
        entry = {
            "type": "message",
            "key": message.key,
            "id": remote_id,
            "to": recipient,
            "conversation": conversation,
        }
        if message.image is not None:
            path = self._write_image(message.key, message.image)
            entry["image"] = str(path) if path else ""
            text += f"\n[{path or message.image.filename}]"
        elif message.buttons:
            text += "\n[" + "] [".join(button.label for button in message.buttons) + "]"
        self.journal.append({**entry, "text": text})
        self._print(f"→ {recipient}\n" + "\n".join(f"  {line}" for line in text.splitlines()))
        return SendResult(remote_id, conversation)

    def _write_image(self, key: str, image: Image) -> Path | None:
        """The picture as a file, named after its key (a repeat overwrites the same file)."""
        if self.files_dir is None:
            return None
        stem = Path(image.filename).stem or "pixbot"
        suffix = Path(image.filename).suffix or ".png"
        digest = hashlib.sha256(key.encode()).hexdigest()[:8]
        path = (self.files_dir / f"{stem}-{digest}{suffix}").resolve()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(image.data)
        except OSError as error:
            raise DeliveryError(self.name, "file_write", str(error)) from error
        return path

    def opens_conversation(self, person_id: str) -> bool:
        return False  # a direct conversation is a name, nothing is created

    def erasure_steps(self) -> list[ErasureStep]:
        """Erasure reaches the journal file (bot/erasure.py)."""
        return [JournalErasure(self.journal)]

    async def open_direct(self, person_id: str) -> str:
        return direct_conversation(person_id)

    async def room_members(self, conversation_id: str) -> Sequence[Member]:
        members = self.journal.rooms.get(conversation_id)
        if members is None:
            raise DeliveryError(self.name, "unknown_room", conversation_id, permanent=True)
        return [Member(member) for member in sorted(members) if member != self.bot_id]

    def echo(self, text: str) -> None:
        """Show a line that is not the bot's (e.g. a simulated person's message)."""
        self._print(text)

    def _print(self, text: str) -> None:
        print(text, file=self.output, flush=True)


def private_file(path: Path, mode: str) -> TextIO:
    """Open a file holding personal data: created 0600, in a 0700 directory when new."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    descriptor = os.open(path, flags, 0o600)
    os.chmod(path, 0o600)
    return cast(TextIO, os.fdopen(descriptor, mode, encoding="utf-8"))


def direct_conversation(person_id: str) -> str:
    return f"dm:{person_id}"


def person_of(conversation_id: str) -> str | None:
    return conversation_id[3:] if conversation_id.startswith("dm:") else None


class JournalErasure:
    name = "console journal"
    anonymous = False

    def __init__(self, journal: ConsoleJournal) -> None:
        self.journal = journal

    async def erase(self, person: ErasedPerson) -> None:
        self.journal.forget(person.platform_id, *person.needles()[1:])
