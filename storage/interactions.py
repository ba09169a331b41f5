"""Every incoming event is an interaction row, written behind in batches.

Rows arrive as plain data (the core builds an event's row: `bot.dispatcher.interaction_row`)
and are only appended to a buffer, so recording costs no I/O on the hot path. A flush writes
the buffer with batched inserts; a failed flush keeps the rows for the next try, and
shutdown flushes. After a flush, the groups seen for the first time in this process are
handed to `on_new_rooms` (the app records them in the room table), so a group's first
message costs nothing either.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import NamedTuple

from storage import sql
from storage.models import Interaction

log = logging.getLogger(__name__)

# Column limits: a row's text and event id are cut to these by whoever builds the row.
MAX_TEXT = 2000
MAX_EVENT_ID = 191
# Past this many unwritten rows (database down for long) the oldest are dropped, loudly,
# rather than the bot running out of memory.
MAX_BUFFER = 200_000


class InteractionRow(NamedTuple):
    """One row of the interaction table; `kind` is message, join, leave, friend_request or
    friend_added."""

    at: datetime
    account_id: str
    event_id: str
    kind: str
    room_id: str | None
    contact_id: str
    msg_type: str | None
    text: str | None


COLUMNS = InteractionRow._fields


# A plain multi-row insert: building a tortoise Model per row cost more than the rest of
# the pipeline together (see bench/pipeline.py).
INSERT_SQL = (
    f'INSERT INTO "{Interaction._meta.db_table}" ('
    + ", ".join(f'"{c}"' for c in COLUMNS)
    + ") VALUES ("
    + ", ".join("?" for _ in COLUMNS)
    + ")"
)


class InteractionWriter:
    def __init__(self, batch_size: int = 500) -> None:
        self.batch_size = batch_size
        self._buffer: list[InteractionRow] = []
        self._lock = asyncio.Lock()
        self.written = 0
        # Given the groups first seen, returns those it recorded (the rest are offered again).
        self.on_new_rooms: (
            Callable[[list[tuple[str, str]]], Awaitable[list[tuple[str, str]]]] | None
        ) = None
        self._rooms_seen: set[tuple[str, str]] = set()
        self._rooms_pending: set[tuple[str, str]] = set()  # seen, not yet recorded

    def record(self, row: InteractionRow) -> None:
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
        done = await self._write()
        await self._new_rooms()  # outside the write lock: it asks the channel
        return done

    async def _write(self) -> int:
        async with self._lock:
            if not self._buffer:
                return 0
            batch, self._buffer = self._buffer, []
            done = 0
            try:
                while done < len(batch):
                    chunk = batch[done : done + self.batch_size]
                    await sql.execute_many(Interaction, INSERT_SQL, [list(row) for row in chunk])
                    done += len(chunk)  # each chunk commits on its own
            except Exception:
                # Keep the unwritten rows for the next flush: nothing is lost to a blip.
                self._buffer[:0] = batch[done:]
                log.exception("writing %d interactions failed; will retry", len(batch) - done)
            except BaseException:
                # Cancelled (a shutdown stopping the periodic flush): the rows go back for
                # the final flush. The chunk in flight may be written twice; never lost.
                self._buffer[:0] = batch[done:]
                raise
            self.written += done
            for row in batch[:done]:
                if row.room_id and (row.account_id, row.room_id) not in self._rooms_seen:
                    self._rooms_pending.add((row.account_id, row.room_id))
            return done

    async def _new_rooms(self) -> None:
        if self.on_new_rooms is None or not self._rooms_pending:
            return
        new = sorted(self._rooms_pending)
        try:
            recorded = await self.on_new_rooms(new)
        except Exception:
            log.exception("recording %d new rooms failed; will retry", len(new))
            return
        self._rooms_seen.update(recorded)
        self._rooms_pending.difference_update(recorded)
