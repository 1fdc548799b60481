"""The Slack Web API calls of the adapter: posting (idempotent by the key in the message
metadata), pictures, direct conversations, channel names and members.

:class:`SlackWebApi` is one part :class:`~bot.platforms.slack.platform.SlackPlatform` is composed
of (the other parts: the spool and its inbox, the transport); it holds the caches those calls
fill. Every Slack failure becomes one :class:`bot.core.DeliveryError` here, and a refused token
is reported to the lifecycle (``on_auth_error``), which stops the platform.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core import DeliveryError, Member, Outgoing, SendResult
from bot.platforms.slack.codec import (
    AUTH_ERRORS,
    PLATFORM,
    as_mapping,
    build_message,
    delivery_error,
    delivery_key,
    next_cursor,
    unreachable,
)
from bot.platforms.slack.files import file_marker, shared_files, upload_arguments
from bot.platforms.slack.transport import NETWORK_ERRORS

logger = logging.getLogger("bot.platforms.slack.platform")

# How many recent messages of a conversation are searched for an already-delivered key.
HISTORY_WINDOW = 20
PAGE_SIZE = 200
_KEYS_KEPT = 50_000

# History errors after which posting can still work: the key is then not looked up.
_HISTORY_UNREADABLE = frozenset({"missing_scope", "not_in_channel"})
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")

T = TypeVar("T")


class SlackWebApi:
    def __init__(
        self,
        client: AsyncWebClient,
        *,
        ready: Callable[[], Awaitable[None]],
        on_auth_error: Callable[[str], object],
        bot_id: Callable[[], str],
    ) -> None:
        self.client = client
        # Start the platform lazily (one attempt) for callers that send before ``run``.
        self._ready = ready
        self._on_auth_error = on_auth_error
        self._bot_id = bot_id
        self._direct_cache: dict[str, str] = {}
        self._channel_names: dict[str, str] = {}
        self._users: dict[str, Member] = {}
        self._delivered: OrderedDict[str, SendResult] = OrderedDict()
        self._scanned: set[str] = set()
        self._conversation_locks: dict[str, asyncio.Lock] = {}

    # -- Web API calls ------------------------------------------------------------------------

    async def _call(self, method: Callable[..., Awaitable[T]], **arguments: Any) -> T:
        """One Web API call; every failure becomes a :class:`DeliveryError`."""
        try:
            return await method(**arguments)
        except SlackApiError as error:
            failure = delivery_error(error)
            if failure.code in AUTH_ERRORS:
                self._on_auth_error(failure.code)
            raise failure from error
        except (*NETWORK_ERRORS, SlackClientError) as error:
            raise unreachable(error) from error

    # -- sending ------------------------------------------------------------------------------

    async def send(self, message: Outgoing) -> SendResult:
        await self._ready()
        known = self._delivered.get(message.key)
        if known is not None:
            return known
        if message.person_id is not None:
            channel = self._hinted(message.person_id, message.direct_hint)
            if channel is None:
                channel = await self.open_direct(message.person_id)
        else:
            assert message.conversation_id is not None
            channel = await self._resolve_channel(message.conversation_id)
        lock = self._conversation_locks.setdefault(channel, asyncio.Lock())
        async with lock:
            known = self._delivered.get(message.key)
            if known is not None:
                return known
            # Only a message that may have gone out before (read to be sent by an earlier
            # attempt) needs the history: a first attempt costs no Tier-3 call.
            if message.resend and channel not in self._scanned:
                await self._scan_history(channel)
                known = self._delivered.get(message.key)
                if known is not None:
                    logger.info("Slack : %s déjà envoyé (trouvé dans l'historique)", message.key)
                    return known
            if message.image is not None:
                result = await self._upload(channel, message)
            else:
                arguments = build_message(message)
                response = await self._call(
                    self.client.chat_postMessage, channel=channel, **arguments
                )
                result = SendResult(
                    remote_id=str(response["ts"]), conversation_id=str(response["channel"])
                )
            self._remember(message.key, result)
            return result

    async def _upload(self, channel: str, message: Outgoing) -> SendResult:
        """A picture: ``files_upload_v2`` into the conversation, unless already shared there."""
        arguments = upload_arguments(message, channel)
        marker = file_marker(arguments["filename"])
        known = self._delivered.get(marker)
        if known is not None:
            logger.info("Slack : image %s déjà partagée (trouvée dans l'historique)", message.key)
            return known
        response = await self._call(self.client.files_upload_v2, **arguments)
        file = as_mapping(response.get("file"))
        result = SendResult(remote_id=str(file.get("id") or ""), conversation_id=channel)
        self._remember(marker, result)
        return result

    async def _scan_history(self, channel: str) -> None:
        """Remember the keys of the bot's recent messages in ``channel`` (once per process).

        After that, every key this process delivers there is remembered as it is sent, so one
        look per conversation finds what a previous process sent just before it stopped.
        """
        try:
            response = await self._call(
                self.client.conversations_history,
                channel=channel,
                limit=HISTORY_WINDOW,
                include_all_metadata=True,
            )
        except DeliveryError as error:
            if error.code not in _HISTORY_UNREADABLE:
                raise
            # Without the history scope (or in a public channel the bot posts to without being
            # a member), a crash between post and record could repeat one message.
            logger.warning("Slack : historique de %s illisible (%s) ; non vérifié", channel, error)
            self._scanned.add(channel)
            return
        for item in response.get("messages") or []:
            if isinstance(item, Mapping):
                key = delivery_key(item)
                if key is not None and key not in self._delivered:
                    self._remember(key, SendResult(str(item.get("ts")), channel))
                for marker, file_id in shared_files(item):
                    self._remember(marker, SendResult(file_id, channel))
        self._scanned.add(channel)

    def _remember(self, key: str, result: SendResult) -> None:
        self._delivered[key] = result
        self._delivered.move_to_end(key)
        while len(self._delivered) > _KEYS_KEPT:
            self._delivered.popitem(last=False)

    def _hinted(self, person_id: str, hint: str | None) -> str | None:
        """The DM channel the outbox remembered (persisted), trusted like the cache."""
        cached = self._direct_cache.get(person_id)
        if cached is not None:
            return cached
        if hint is not None and _CHANNEL_ID.match(hint):
            self._direct_cache[person_id] = hint
            return hint
        return None

    async def open_direct(self, person_id: str) -> str:
        """The direct conversation with ``person_id`` (``conversations.open``, cached)."""
        cached = self._direct_cache.get(person_id)
        if cached is not None:
            return cached
        await self._ready()
        response = await self._call(self.client.conversations_open, users=person_id)
        channel = response.get("channel")
        channel_id = channel.get("id") if isinstance(channel, Mapping) else None
        if not isinstance(channel_id, str):
            raise DeliveryError(PLATFORM, "no_channel", f"conversations.open for {person_id}")
        self._direct_cache[person_id] = channel_id
        return channel_id

    async def _resolve_channel(self, conversation_id: str) -> str:
        """``C0123``, ``#C0123`` or ``#general`` → the channel id."""
        name = conversation_id.strip().removeprefix("#")
        if not conversation_id.startswith("#") or _CHANNEL_ID.match(name):
            return name
        cached = self._channel_names.get(name.lower())
        if cached is not None:
            return cached
        cursor: str | None = None
        while True:
            response = await self._call(
                self.client.conversations_list,
                types="public_channel,private_channel",
                exclude_archived=True,
                limit=PAGE_SIZE,
                cursor=cursor,
            )
            for channel in response.get("channels") or []:
                if isinstance(channel, Mapping) and isinstance(channel.get("name"), str):
                    self._channel_names[channel["name"].lower()] = str(channel["id"])
            if name.lower() in self._channel_names:
                return self._channel_names[name.lower()]
            cursor = next_cursor(response)
            if not cursor:
                raise DeliveryError(PLATFORM, "channel_not_found", conversation_id, permanent=True)

    # -- rooms --------------------------------------------------------------------------------

    async def room_members(self, conversation_id: str) -> Sequence[Member]:
        """The channel's members other than the bot; bots are flagged (``users.info``)."""
        await self._ready()
        channel = await self._resolve_channel(conversation_id)
        member_ids: list[str] = []
        cursor: str | None = None
        while True:
            try:
                response = await self._call(
                    self.client.conversations_members,
                    channel=channel,
                    limit=PAGE_SIZE,
                    cursor=cursor,
                )
            except DeliveryError as error:
                # Like an unknown room; only an outage, a rate limit or the token may pass.
                transient = error.code == "unreachable" or error.retry_after is not None
                if not transient and error.code not in AUTH_ERRORS:
                    error.permanent = True
                raise
            member_ids.extend(str(member) for member in response.get("members") or [])
            cursor = next_cursor(response)
            if not cursor:
                break
        members = []
        for user_id in dict.fromkeys(member_ids):
            if user_id == self._bot_id():
                continue
            member = await self._user(user_id)
            if member is not None:
                members.append(member)
        return members

    async def _user(self, user_id: str) -> Member | None:
        """Who a member is (cached); None for a deactivated account."""
        cached = self._users.get(user_id)
        if cached is not None:
            return cached
        response = await self._call(self.client.users_info, user=user_id)
        user = response.get("user")
        if not isinstance(user, Mapping):
            return Member(platform_id=user_id)
        if user.get("deleted"):
            return None
        profile = as_mapping(user.get("profile"))
        name = profile.get("display_name") or profile.get("real_name") or user.get("real_name")
        member = Member(
            platform_id=user_id,
            display_name=str(name) if name else None,
            is_bot=bool(user.get("is_bot")) or user_id == "USLACKBOT",
        )
        self._users[user_id] = member
        return member
