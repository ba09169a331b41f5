"""The dispatcher: dedupe -> record interaction -> handlers in an explicit order.

Events with the same order key (one room, or one contact's DMs) are handled one after
another in arrival order; different keys run concurrently. A handler that raises is logged
with the event's context and the chain goes on: one bad rule never stops the bot.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import deque
from collections.abc import Sequence

from bot.events import Event, MessageReceived
from bot.handler import Context, Flow, Handler, Services
from bot.privacy import mask_id
from storage.interactions import InteractionWriter

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(
        self,
        services: Services,
        handlers: Sequence[Handler],
        interactions: InteractionWriter,
        *,
        self_ids: set[str] | None = None,
        dedupe_ttl: float = 86400,
        max_text_chars: int = 4000,
    ) -> None:
        self.services = services
        self.handlers = list(handlers)
        self.interactions = interactions
        self.self_ids = self_ids if self_ids is not None else set()
        self.dedupe_ttl = dedupe_ttl
        self.max_text_chars = max_text_chars
        self._queues: dict[str, deque[Event]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self.handled = 0
        self.duplicates = 0
        self.errors = 0

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
                await self.process(queue.popleft())
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
        if not await kv.set_if_absent(
            f"evt:{event.account_id}:{event.event_id}", "1", ttl=self.dedupe_ttl
        ):
            self.duplicates += 1
            return
        event = self._sanitize(event)
        self.interactions.record(event)
        self.handled += 1
        if isinstance(event, MessageReceived) and event.sender_id in self.self_ids:
            return  # our own messages echo back from the platform: record, never answer
        for handler in self.handlers:
            ctx = Context(event=event, services=self.services, handler_name=handler.name)
            try:
                flow = await handler.handle(event, ctx)
            except Exception:
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

    def _sanitize(self, event: Event) -> Event:
        if isinstance(event, MessageReceived) and len(event.text) > self.max_text_chars:
            log.info("truncating a %d-char message %s", len(event.text), event.event_id)
            return dataclasses.replace(event, text=event.text[: self.max_text_chars])
        return event
