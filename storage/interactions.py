"""Every incoming event is an interaction row, written behind in batches.

The dispatcher only appends to a buffer (no I/O on the hot path). A flush writes the buffer
in one bulk insert; a failed flush keeps the rows for the next try, and shutdown flushes.
"""

from __future__ import annotations

import asyncio
import logging

from bot.events import (
    Event,
    FriendAdded,
    FriendRequest,
    MemberJoined,
    MemberLeft,
    MessageReceived,
)
from storage.models import Interaction

log = logging.getLogger(__name__)

MAX_TEXT = 2000
# Past this many unwritten rows (database down for long) the oldest are dropped, loudly,
# rather than the bot running out of memory.
MAX_BUFFER = 200_000


def interaction_for(event: Event) -> Interaction | None:
    kind: str
    text: str | None = None
    msg_type: str | None = None
    if isinstance(event, MessageReceived):
        kind, text, msg_type = "message", event.text[:MAX_TEXT], event.type.value
    elif isinstance(event, MemberJoined):
        kind = "join"
    elif isinstance(event, MemberLeft):
        kind = "leave"
    elif isinstance(event, FriendRequest):
        kind, text = "friend_request", event.hello[:MAX_TEXT]
    elif isinstance(event, FriendAdded):
        kind = "friend_added"
    else:
        return None
    return Interaction(
        at=event.at,
        account_id=event.account_id,
        event_id=event.event_id[:191],
        kind=kind,
        room_id=event.room_id,
        contact_id=event.contact_id,
        msg_type=msg_type,
        text=text,
    )


class InteractionWriter:
    def __init__(self, batch_size: int = 500) -> None:
        self.batch_size = batch_size
        self._buffer: list[Interaction] = []
        self._lock = asyncio.Lock()
        self.written = 0

    def record(self, event: Event) -> None:
        row = interaction_for(event)
        if row is None:
            return
        self._buffer.append(row)
        if len(self._buffer) > MAX_BUFFER:
            dropped = len(self._buffer) - MAX_BUFFER
            del self._buffer[:dropped]
            log.error("interaction buffer full: dropped %d oldest rows", dropped)

    @property
    def pending(self) -> int:
        return len(self._buffer)

    @property
    def wants_flush(self) -> bool:
        return len(self._buffer) >= self.batch_size

    async def flush(self) -> int:
        async with self._lock:
            if not self._buffer:
                return 0
            batch, self._buffer = self._buffer, []
            try:
                await Interaction.bulk_create(batch, batch_size=self.batch_size)
            except Exception:
                # Keep them for the next flush: nothing recorded is lost to a blip.
                self._buffer[:0] = batch
                log.exception("writing %d interactions failed; will retry", len(batch))
                return 0
            self.written += len(batch)
            return len(batch)
