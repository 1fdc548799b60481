"""Gaps in a sync's timeline, filled from the room's history.

A sync gives at most the filter's number of events per room (Synapse: 10 by default); when more
arrived since the previous sync (a burst of questions, everything written while the bot was
down), the timeline is marked ``limited`` and starts at ``prev_batch``. The events between the
previous sync's token and ``prev_batch`` are fetched here with ``/messages`` (backwards, then
put in order) and handed over before the timeline's own, in direct and group rooms alike; the
platform's event-id de-duplication (and the core's ``processed_events``) keep it exactly once.
"""

from __future__ import annotations

import logging
from typing import Any

from nio import MessageDirection, RoomMessagesResponse

from bot.platforms.matrix.connection import Batch, MatrixConnection

logger = logging.getLogger(__name__)

# Events fetched per request, and at most per room and gap (a group room's long history after
# a long outage: the oldest beyond this are not read, and the log says so).
PAGE = 100
MAX_GAP_EVENTS = 2000


class TimelineGaps:
    """Fetching what a limited sync timeline left out."""

    def __init__(self, connection: MatrixConnection) -> None:
        self.connection = connection

    async def fill(self, batch: Batch) -> None:
        """Fetch, once per batch, the events each limited timeline of ``batch`` left out
        (oldest first, in ``batch.gaps``); network errors propagate (the batch is retried)."""
        if batch.since is None or not (batch.replay_timeline or batch.replay_after_ms):
            return
        for room_id, info in batch.response.rooms.join.items():
            timeline = info.timeline
            if not timeline.limited or not timeline.prev_batch or room_id in batch.gaps:
                continue
            batch.gaps[room_id] = await self._events_between(
                room_id, batch.since, timeline.prev_batch
            )

    async def _events_between(self, room_id: str, since: str, prev_batch: str) -> list[Any]:
        """The room's events after the sync token ``since`` and before ``prev_batch``."""
        newest_first: list[Any] = []
        start = prev_batch
        while len(newest_first) < MAX_GAP_EVENTS:
            response = await self.connection.client.room_messages(
                room_id, start=start, end=since, direction=MessageDirection.back, limit=PAGE
            )
            if not isinstance(response, RoomMessagesResponse):
                # The room left meanwhile, or history not visible: nothing more to read.
                logger.warning("Matrix : trou dans %s non comblé : %s", room_id, response)
                break
            newest_first.extend(response.chunk)
            if not response.chunk or not response.end or response.end == start:
                break
            start = response.end
        else:
            logger.warning(
                "Matrix : plus de %d événements manqués dans %s ; les plus anciens ne sont pas lus",
                MAX_GAP_EVENTS,
                room_id,
            )
        if newest_first:
            logger.info(
                "Matrix : %d événements récupérés pour combler un trou dans %s",
                len(newest_first),
                room_id,
            )
        return list(reversed(newest_first))
