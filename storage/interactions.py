"""Every incoming event is an interaction row, written behind in batches.

Rows arrive as plain data (the core builds an event's row: `bot.dispatcher.interaction_row`)
and are only appended to a buffer, so recording costs no I/O on the hot path. A flush writes
the buffer with batched inserts, and shutdown flushes. After a flush, the groups seen for
the first time in this process are handed to `on_new_rooms` (the app records them in the
room table), so a group's first message costs nothing either.

A chunk the database refuses is written again row by row (`storage.dead_letter`): a row it
refuses is set aside in dead_letter with the error, the others go in. When the database
does not answer at all, the unwritten rows are kept for a later flush, tried after a
backoff on the clock; the outage is logged once when it starts and once, with its
duration, when the rows go in again (never a traceback per try).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

from storage import sql
from storage.dead_letter import DatabaseAway, database_answers, insert_each
from storage.models import Interaction

if TYPE_CHECKING:
    from storage.clock import Clock

log = logging.getLogger(__name__)

# Column limits: a row's text and event id are cut to these by whoever builds the row.
MAX_TEXT = 2000
MAX_EVENT_ID = 191
# Past this many unwritten rows (database down for long) the oldest are dropped, loudly,
# rather than the bot running out of memory.
MAX_BUFFER = 200_000
# While the database is away, flushes wait this long after a failure, doubling up to the max.
RETRY_BASE_SECONDS = 1.0
RETRY_MAX_SECONDS = 60.0


class InteractionRow(NamedTuple):
    """One row of the interaction table; `kind` is message, join, leave, friend_request,
    friend_added, friend_lost (she deleted the bot) or friend_removed (the account removed
    her)."""

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
    def __init__(self, batch_size: int = 500, clock: Clock | None = None) -> None:
        self.batch_size = batch_size
        # Without a clock (unit tests) every flush tries at once.
        self.clock = clock
        self._away_since: datetime | None = None  # the database stopped answering then
        self._failures = 0
        self._retry_at: datetime | None = None
        self.set_aside = 0
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

    async def flush(self, force: bool = False) -> int:
        """Write the buffer; the rows written. While the database is away, a flush before
        the backoff has passed does nothing (`force`: try anyway, as at shutdown)."""
        if not force and self._waiting():
            return 0
        done = await self._write()
        await self._new_rooms()  # outside the write lock: it asks the channel
        return done

    def _waiting(self) -> bool:
        return (
            self._retry_at is not None
            and self.clock is not None
            and self.clock.now() < self._retry_at
        )

    async def _write(self) -> int:
        async with self._lock:
            if not self._buffer:
                return 0
            batch, self._buffer = self._buffer, []
            done = 0
            try:
                while done < len(batch):
                    chunk = batch[done : done + self.batch_size]
                    done += await self._write_chunk(chunk)  # each chunk commits on its own
            except DatabaseAway as away:
                done += away.handled
                # Keep the unwritten rows for the next flush: nothing is lost to an outage.
                self._buffer[:0] = batch[done:]
                self._outage(away, len(batch) - done)
            except Exception:
                self._buffer[:0] = batch[done:]
                log.exception("writing %d interactions failed; will retry", len(batch) - done)
            except BaseException:
                # Cancelled (a shutdown stopping the periodic flush): the rows go back for
                # the final flush. The chunk in flight may be written twice; never lost.
                self._buffer[:0] = batch[done:]
                raise
            else:
                self._back(done)
            self.written += done
            for row in batch[:done]:
                if row.room_id and (row.account_id, row.room_id) not in self._rooms_seen:
                    self._rooms_pending.add((row.account_id, row.room_id))
            return done

    async def _write_chunk(self, chunk: list[InteractionRow]) -> int:
        """Write one chunk; rows it handled (written or set aside). Raises DatabaseAway."""
        rows = [list(row) for row in chunk]
        try:
            await sql.execute_many(Interaction, INSERT_SQL, rows)
            return len(chunk)
        except Exception as exc:
            # A dropped connection says nothing of the rows: keep them for a later try.
            dropped = isinstance(exc, ConnectionError | TimeoutError)
            if dropped or not await database_answers(Interaction):
                raise DatabaseAway(0) from exc
            log.warning(
                "the database refused %d interactions (%s: %s); writing them one by one",
                len(chunk),
                type(exc).__name__,
                exc,
            )
        at = self.clock.now() if self.clock is not None else chunk[-1].at
        written, aside = await insert_each(
            Interaction, INSERT_SQL, rows, kind="interaction", at=at, columns=COLUMNS
        )
        self.set_aside += aside
        return written + aside

    def _outage(self, away: DatabaseAway, kept: int) -> None:
        self._failures += 1
        if self.clock is None:
            log.warning("writing interactions: %s; keeping %d rows", away, kept)
            return
        now = self.clock.now()
        if self._away_since is None:
            self._away_since = now
            cause = away.__cause__
            log.warning(
                "the database is not answering (%s): keeping %d interactions until it is back",
                f"{type(cause).__name__}: {cause}" if cause else away,
                kept,
            )
        delay = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** (self._failures - 1))
        self._retry_at = now + timedelta(seconds=delay)

    def _back(self, written: int) -> None:
        if self._away_since is not None and self.clock is not None:
            seconds = (self.clock.now() - self._away_since).total_seconds()
            log.warning(
                "the database is back after %.1f s: %d kept interactions written",
                seconds,
                written,
            )
        self._away_since = None
        self._failures = 0
        self._retry_at = None

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
