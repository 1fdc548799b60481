"""Slack adapter: :mod:`.codec` (the wire format, sans I/O), :mod:`.transport` (HTTP events
server, Socket Mode) and :mod:`.platform` (:class:`SlackPlatform`, the Web API calls)."""

from bot.platforms.slack.codec import (
    build_message,
    decode_mrkdwn,
    escape_mrkdwn,
    normalise_reaction,
    strip_mention,
    unescape_mrkdwn,
)
from bot.platforms.slack.platform import SlackPlatform

__all__ = [
    "SlackPlatform",
    "build_message",
    "decode_mrkdwn",
    "escape_mrkdwn",
    "normalise_reaction",
    "strip_mention",
    "unescape_mrkdwn",
]
