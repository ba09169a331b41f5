"""The dispatcher: already done? -> record interaction -> handlers in order -> mark done.

Events with the same order key (one room, or one contact's DMs) are handled one after
another in arrival order; different keys run concurrently. A handler that raises is logged
with the event's context and the chain goes on: one bad rule never stops the bot.

An event is handled at least once and acts at most once. It is marked done only after a
chain in which no handler raised; after a failure (the database went away mid-chain) a
re-delivery of the event runs the chain again, and the keys the context derives from the
event make the outbox drop every send the first run already queued. While one run holds an
event, another delivery of it (a second instance, a reconnect) is skipped.

The event's state is one key in the key-value store: absent (never seen), `handling` (a
first run holds it, for `claim_ttl`), `failed` (a run ended with a handler error; the next
delivery retries it, holding a separate retry lock) or `done` (for `dedupe_ttl`). Its
interaction is recorded by the first run only, so a retried event is one row.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import deque
from collections.abc import Sequence
from typing import Any

from bot.events import (
    Event,
    FriendAdded,
    FriendRequest,
    MemberJoined,
    MemberLeft,
    MessageReceived,
)
from bot.features import EVERY_EVENT, On
from bot.handler import Context, Flow, Handler, Services
from bot.privacy import mask_id
from bot.text import storable
from storage.interactions import MAX_EVENT_ID, MAX_TEXT, InteractionRow, InteractionWriter

log = logging.getLogger(__name__)

HANDLING, FAILED, DONE = "handling", "failed", "done"


def interaction_row(event: Event) -> InteractionRow | None:
    """The interaction-log row of an event; None for kinds the log does not keep."""
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
    return InteractionRow(
        event.at,
        event.account_id,
        event.event_id[:MAX_EVENT_ID],
        kind,
        event.room_id,
        event.contact_id,
        msg_type,
        text,
    )


class Dispatcher:
    def __init__(
        self,
        services: Services,
        handlers: Sequence[Handler | tuple[Handler, On]],
        interactions: InteractionWriter,
        *,
        self_ids: set[str] | None = None,
        dedupe_ttl: float = 86400,
        max_text_chars: int = 4000,
        claim_ttl: float = 120,
    ) -> None:
        self.services = services
        # A handler with the filter its feature declared, or a bare one (every event).
        self.handlers: list[Handler | tuple[Handler, On]] = list(handlers)
        self.interactions = interactions
        self.self_ids = self_ids if self_ids is not None else set()
        self.dedupe_ttl = dedupe_ttl
        # Longer than any chain takes; short, so a run that died with its process holds the
        # event no longer than this.
        self.claim_ttl = claim_ttl
        self.max_text_chars = max_text_chars
        self._queues: dict[str, deque[Event]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self.handled = 0
        self.duplicates = 0
        self.errors = 0
        self.retries = 0

    # ------------------------------------------------------------------ intake

    def feed(self, event: Event) -> None:
        """Queue an event behind earlier ones with the same order key."""
        key = event.order_key
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
        queue.append(event)
        if key not in self._workers:
            self._idle.clear()
            self._workers[key] = asyncio.create_task(self._drain(key), name=f"dispatch:{key}")

    async def _drain(self, key: str) -> None:
        queue = self._queues[key]
        try:
            while queue:
                event = queue.popleft()
                try:
                    await self.process(event)
                except Exception:
                    # A store outage costs this event, not every later one of its room.
                    self.errors += 1
                    log.exception("dispatching %s %s failed", type(event).__name__, event.event_id)
        finally:
            del self._queues[key]
            del self._workers[key]
            if not self._workers:
                self._idle.set()

    async def join(self) -> None:
        """Wait until every queued event has been handled."""
        while self._workers:
            await self._idle.wait()

    # ------------------------------------------------------------------ one event

    async def process(self, event: Event) -> None:
        kv = self.services.kv
        key = f"evt:{event.account_id}:{event.event_id}"
        if await kv.set_if_absent(key, HANDLING, ttl=self.claim_ttl):
            await self._first_run(key, event)
            return
        if await kv.get(key) == FAILED:
            retry = await kv.acquire_lock(f"{key}:retry", ttl=self.claim_ttl)
            if retry is not None:
                try:
                    await self._retry(key, event)
                finally:
                    await kv.release_lock(f"{key}:retry", retry)
                return
        self.duplicates += 1  # done, or another run holds it right now

    async def _first_run(self, key: str, event: Event) -> None:
        kv = self.services.kv
        ok = False
        try:
            event = self._sanitize(event)
            row = interaction_row(event)
            if row is not None:
                self.interactions.record(row)
            self.handled += 1
            ok = await self._chain(event)
        finally:
            # Also when the run was cancelled (a shutdown mid-chain): an event left held
            # would make its re-delivery after the restart look like a duplicate.
            await kv.set(key, DONE if ok else FAILED, ttl=self.dedupe_ttl)

    async def _retry(self, key: str, event: Event) -> None:
        self.retries += 1
        log.info("handling %s %s again after a failure", type(event).__name__, event.event_id)
        if await self._chain(self._sanitize(event)):
            await self.services.kv.set(key, DONE, ttl=self.dedupe_ttl)

    async def _chain(self, event: Event) -> bool:
        """Run the handlers; False when one of them raised."""
        if isinstance(event, MessageReceived) and event.sender_id in self.self_ids:
            return True  # our own messages echo back from the platform: record, never answer
        ok = True
        for entry in self.handlers:
            handler, on = entry if isinstance(entry, tuple) else (entry, EVERY_EVENT)
            if not on.accepts(event):
                continue  # the feature declared it is not for this kind of event
            ctx = Context(event=event, services=self.services, handler_name=handler.name)
            try:
                flow = await handler.handle(event, ctx)
            except Exception:
                ok = False
                self.errors += 1
                log.exception(
                    "handler %s failed on %s %s (account %s, room %s, contact %s)",
                    handler.name,
                    type(event).__name__,
                    event.event_id,
                    event.account_id,
                    event.room_id,
                    mask_id(event.contact_id),
                )
                continue
            if flow is Flow.STOP:
                break
        return ok

    def _sanitize(self, event: Event) -> Event:
        changes: dict[str, Any] = {}
        # Every text the platform handed over (messages, names, topics, ids) must be
        # storable, or one odd name would make the batch it lands in refuse to write.
        for f in dataclasses.fields(event):
            value = getattr(event, f.name)
            clean: object
            if isinstance(value, str):
                clean = storable(value)
            elif isinstance(value, tuple) and value and all(isinstance(v, str) for v in value):
                clean = tuple(storable(v) for v in value)
            else:
                continue
            if clean != value:
                changes[f.name] = clean
        if changes:
            log.info("%s %s: unstorable characters replaced", type(event).__name__, event.event_id)
        text = changes.get("text", getattr(event, "text", None))
        too_long = isinstance(text, str) and len(text) > self.max_text_chars
        if isinstance(event, MessageReceived) and isinstance(text, str) and too_long:
            log.info("truncating a %d-char message %s", len(text), event.event_id)
            changes["text"] = text[: self.max_text_chars]
        return dataclasses.replace(event, **changes) if changes else event
