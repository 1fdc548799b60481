"""Slack adapter."""

from bot.platforms.slack.platform import (
    SlackPlatform,
    build_message,
    decode_mrkdwn,
    escape_mrkdwn,
    normalise_reaction,
    strip_mention,
    unescape_mrkdwn,
)

__all__ = [
    "SlackPlatform",
    "build_message",
    "decode_mrkdwn",
    "escape_mrkdwn",
    "normalise_reaction",
    "strip_mention",
    "unescape_mrkdwn",
]
