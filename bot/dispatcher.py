"""The dispatcher: already done? -> record interaction -> handlers in order -> mark done.

Events with the same order key (one room, or one contact's DMs) are handled one after
another in arrival order; different keys run concurrently. A handler that raises is logged
with the event's context and the chain goes on: one bad rule never stops the bot.

An event is handled at least once and acts at most once. It is marked done only after a
chain in which no handler raised; after a failure (a bug, a row the database refused) a
re-delivery of the event runs the chain again, and the keys the context derives from the
event make the outbox drop every send the first run already queued. While one run holds an
event, another delivery of it (a second instance, a reconnect) is skipped.

A store that does not answer (Redis or the database away) is not a failure of the event:
the event is held where it is, in its chat's queue, and the step that met the outage (the
dedupe claim, the handler that raised, marking it done) is tried again after a backoff on
the injected clock, once the store answers. The handlers before it are not run again, the
ones after it do not run on a half-handled event (no fallback answer instead of the real
one), and the events queued behind it wait their turn: nothing is dropped. Each outage is
logged once when it starts and once, with its duration, when it ends.

The event's state is one key in the key-value store: absent (never seen), `handling` (a
first run holds it, for `claim_ttl`), `failed` (a run ended with a handler error; the next
delivery retries it, holding a separate retry lock) or `done` (for `dedupe_ttl`). Its
interaction is recorded by the first run only, so a retried event is one row.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from bot.clock import sleep_or_wake
from bot.events import (
    Event,
    FriendAdded,
    FriendRemoved,
    FriendRequest,
    MemberJoined,
    MemberLeft,
    MessageReceived,
    MessageType,
)
from bot.features import EVERY_EVENT, On
from bot.handler import Context, Flow, Handler, Services
from bot.privacy import mask_id
from bot.text import storable
from storage.interactions import MAX_EVENT_ID, MAX_TEXT, InteractionRow, InteractionWriter

log = logging.getLogger(__name__)

HANDLING, FAILED, DONE = "handling", "failed", "done"

T = TypeVar("T")
# Whether a store answers right now; the dispatcher asks after a step raised.
Probe = Callable[[], Awaitable[bool]]
KV_STORE = "key-value store"


def _connection_error(exc: BaseException) -> bool:
    """A network-level failure (a dropped connection, a timeout), as opposed to a store that
    answered with an error. Named by class so that no client library is imported here."""
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(
        names
        & {
            "ConnectionError",  # redis
            "TimeoutError",  # redis
            "DBConnectionError",  # tortoise
            "PostgresConnectionError",  # asyncpg
            "ConnectionDoesNotExistError",  # asyncpg
            "InterfaceError",  # asyncpg: the connection is closed
        }
    )


# The columns ids and names are stored in (storage/models.py): contact_id, room_id 128,
# names 255.
MAX_ID = 128
MAX_NAME = 255


def _id_fields(event: Event) -> list[str]:
    return [
        f.name
        for f in dataclasses.fields(event)
        if f.name not in ("event_id", "account_id")
        and (f.name.endswith("_id") or f.name in ("room", "self_id"))
    ]


def unusable(event: Event) -> str | None:
    """Why nothing can be done for this event (its contact or room id is empty, or longer
    than any column holds), or None."""
    try:
        contact = event.contact_id
    except NotImplementedError:
        contact = None
    if contact is not None and not contact.strip():
        return "empty contact id"
    for name in _id_fields(event):
        value = getattr(event, name)
        if isinstance(value, str) and len(value) > MAX_ID:
            return f"{name} longer than {MAX_ID} characters"
    room = event.room_id
    if room is not None and not room.strip():
        return "empty room id"
    return None


def fit_columns(event: Event) -> Event:
    """Names cut to their column; an optional id (inviter, remover) or a mention that no
    column could hold is dropped."""
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        if f.name.endswith("_name") and isinstance(value, str) and len(value) > MAX_NAME:
            changes[f.name] = value[:MAX_NAME]
    for name in ("inviter_id", "remover_id"):
        value = getattr(event, name, None)
        if isinstance(value, str) and (not value.strip() or len(value) > MAX_ID):
            changes[name] = None
    mentions = getattr(event, "mentions", None)
    if isinstance(mentions, tuple) and any(not m or len(m) > MAX_ID for m in mentions):
        changes["mentions"] = tuple(m for m in mentions if m and len(m) <= MAX_ID)
    return dataclasses.replace(event, **changes) if changes else event


COPY_WINDOW = 120.0  # seconds: every account's copy of a group event arrives within it


def copy_key(event: Event) -> str | None:
    """What a group event's copies at other bot accounts share (their event ids differ:
    each account's platform session numbers its own), or None when it has no safe key."""
    room = event.room_id
    if room is None:
        return None
    if isinstance(event, MemberJoined):
        return f"copy:{room}:join:{event.member_id}"
    if isinstance(event, MemberLeft):
        return f"copy:{room}:leave:{event.member_id}"
    if (
        isinstance(event, MessageReceived)
        and event.type is MessageType.TEXT
        and event.text.strip()
        and not event.mentions_self
    ):
        digest = hashlib.sha256(event.text.encode("utf-8", "surrogatepass")).hexdigest()[:24]
        return f"copy:{room}:msg:{event.sender_id}:{digest}"
    return None


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
    elif isinstance(event, FriendRemoved):
        kind = "friend_lost" if event.by_her else "friend_removed"
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
        probes: Mapping[str, Probe] | None = None,
        retry_base: float = 0.5,
        retry_max: float = 5.0,
        shared_groups: bool = False,
        group_leader: Callable[[str, str], Awaitable[str | None]] | None = None,
    ) -> None:
        self.services = services
        # Several bot accounts: a group two of them are in sends each of them its messages,
        # joins and leaves. One account answers each (see `_first_copy`).
        self.shared_groups = shared_groups
        # (receiving account, group) -> the account that answers for the group when one is
        # known (its owner among the connected accounts: only an owner can remove a
        # member); None: the first copy.
        self.group_leader = group_leader
        self.copies = 0  # copies of a group's event seen by a second account: recorded only
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
        # The stores to ask when a step raises: the key-value store always, the database
        # when the app has one. One that does not answer makes the failure an outage.
        self.probes: dict[str, Probe] = {KV_STORE: self.services.kv.ping, **(probes or {})}
        # Backoff while a store is away: retry_base seconds, doubling up to retry_max.
        self.retry_base = retry_base
        self.retry_max = retry_max
        self._away_since: dict[str, datetime] = {}  # store -> when its outage began
        self._held_in_outage: dict[str, int] = {}  # store -> events held during it
        self._wake = asyncio.Event()  # set by close(): stop waiting out an outage
        self.handled = 0
        self.duplicates = 0
        self.errors = 0
        self.retries = 0
        self.held = 0  # events waiting for a store right now
        self.refused = 0  # events with an id nothing can be stored under
        self.outages = 0

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

    @property
    def queued(self) -> int:
        """Events fed and not yet handled, the one in hand of each chat included."""
        return sum(len(q) for q in self._queues.values()) + len(self._workers)

    async def close(self) -> int:
        """Stop every chat's worker (shutdown while a store is away). Returns the events
        that were never handled; they are logged, never silently dropped."""
        left = self.queued
        self._wake.set()
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        for task in workers:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("dispatch worker %s failed while stopping", task.get_name())
        if left:
            stores = ", ".join(sorted(self._away_since)) or "no store away"
            log.error("%d events were not handled before shutdown (%s)", left, stores)
        return left

    # ------------------------------------------------------------------ one event

    async def process(self, event: Event) -> None:
        problem = unusable(event)
        if problem is not None:
            # Nothing can be stored or answered for it: it costs this event only.
            self.refused += 1
            log.warning("ignoring %s %s: %s", type(event).__name__, event.event_id[:64], problem)
            return
        event = fit_columns(event)
        kv = self.services.kv
        key = f"evt:{event.account_id}:{event.event_id}"
        # Our own claim value: when the store took the claim but the answer was lost (the
        # connection dropped), the retry recognises it instead of calling it a duplicate.
        claim = f"{HANDLING}:{secrets.token_hex(8)}"

        async def take_claim() -> bool:
            return await kv.set_if_absent(key, claim, ttl=self.claim_ttl) or (
                await kv.get(key) == claim
            )

        if await self._steady(take_claim):
            await self._first_run(key, event)
            return
        if await self._steady(lambda: kv.get(key)) == FAILED:
            token = secrets.token_hex(16)

            async def take_retry() -> bool:
                lock = f"{key}:retry"
                return await kv.set_if_absent(lock, token, ttl=self.claim_ttl) or (
                    await kv.get(lock) == token
                )

            if await self._steady(take_retry):
                try:
                    await self._retry(key, event)
                finally:
                    await self._quietly(kv.release_lock(f"{key}:retry", token))
                return
        self.duplicates += 1  # done, or another run holds it right now

    async def _first_run(self, key: str, event: Event) -> None:
        kv = self.services.kv
        try:
            event = self._sanitize(event)
            row = interaction_row(event)
            if row is not None:
                self.interactions.record(row)
            self.handled += 1
            ok = await self._chain(event)
        except BaseException:
            # Also when the run was cancelled (a shutdown mid-chain): an event left held
            # would make its re-delivery after the restart look like a duplicate.
            await self._quietly(kv.set(key, FAILED, ttl=self.dedupe_ttl))
            raise
        await self._steady(lambda: kv.set(key, DONE if ok else FAILED, ttl=self.dedupe_ttl))

    async def _retry(self, key: str, event: Event) -> None:
        self.retries += 1
        log.info("handling %s %s again after a failure", type(event).__name__, event.event_id)
        if await self._chain(self._sanitize(event)):
            await self._steady(lambda: self.services.kv.set(key, DONE, ttl=self.dedupe_ttl))

    async def _chain(self, event: Event) -> bool:
        """Run the handlers; False when one of them raised. A handler that met a store
        outage is run again once the store answers, and the chain goes on from there."""
        if isinstance(event, MessageReceived) and event.sender_id in self.self_ids:
            return True  # our own messages echo back from the platform: record, never answer
        copy = self.shared_groups and not await self._steady(lambda: self._first_copy(event))
        if copy:
            self.copies += 1
        ok = True
        for entry in self.handlers:
            handler, on = entry if isinstance(entry, tuple) else (entry, EVERY_EVENT)
            if not on.accepts(event):
                continue  # the feature declared it is not for this kind of event
            if copy and not on.every_copy:
                continue  # another account has this group event: bookkeeping only here
            attempt = 0
            while True:
                # A fresh context each try: the same dedupe keys for the same sends, so
                # the outbox drops what the failed try already queued.
                ctx = Context(event=event, services=self.services, handler_name=handler.name)
                try:
                    flow = await handler.handle(event, ctx)
                except Exception as exc:
                    store = await self._outage(exc, attempt)
                    if store is not None:
                        await self._hold(store, attempt)
                        attempt += 1
                        continue
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
                    flow = None
                break
            if flow is Flow.STOP:
                break
        return ok

    async def _first_copy(self, event: Event) -> bool:
        """Whether this account answers a group event that every bot account in the group
        receives: the group's owner, when it is one of the connected accounts (it alone
        can remove a member); otherwise the account whose copy comes first claims it (for
        COPY_WINDOW). The copies that reach the other accounts are recorded but not
        answered, so a group with two of the brand's accounts gets one answer, one
        welcome, one warning. Her repeating herself through the same account is answered
        again. Copies that cannot be told apart safely are all answered: media (two
        different pictures look alike here) and a message that @-mentions this account."""
        key = copy_key(event)
        if key is None:
            return True
        if self.group_leader is not None and event.room_id is not None:
            leader = await self.group_leader(event.account_id, event.room_id)
            if leader is not None:
                return leader == event.account_id
        kv = self.services.kv
        if await kv.set_if_absent(key, event.account_id, ttl=COPY_WINDOW):
            return True
        return await kv.get(key) == event.account_id

    # ------------------------------------------------------------------ outages

    async def _steady(self, step: Callable[[], Awaitable[T]]) -> T:
        """Run a store step, waiting out an outage; any other error is the caller's."""
        attempt = 0
        while True:
            try:
                return await step()
            except Exception as exc:
                store = await self._outage(exc, attempt)
                if store is None:
                    raise
                await self._hold(store, attempt)
                attempt += 1

    async def _outage(self, exc: Exception, attempt: int) -> str | None:
        """The store `exc` came from if it is away (or the connection dropped: tried a few
        times); None when the stores answer and the error is the step's own."""
        for store, answers in self.probes.items():
            if not await self._answers(answers):
                return store
        if _connection_error(exc) and attempt < 3:
            return "connection"  # a blip that is over already: one more try
        return None

    @staticmethod
    async def _answers(probe: Probe) -> bool:
        try:
            return await probe()
        except Exception:
            return False

    async def _hold(self, store: str, attempt: int) -> None:
        """Wait a backoff on the clock, and on until `store` answers again."""
        clock = self.services.clock
        probe = self.probes.get(store)
        if probe is not None and store not in self._away_since:
            self._away_since[store] = clock.now()
            self._held_in_outage[store] = 0
            self.outages += 1
            log.warning("%s is not answering: holding events until it is back", store)
        if probe is not None:
            self._held_in_outage[store] = self._held_in_outage.get(store, 0) + 1
        self.held += 1
        try:
            while True:
                delay = min(self.retry_max, self.retry_base * 2**attempt)
                attempt += 1
                await sleep_or_wake(clock, clock.now() + timedelta(seconds=delay), self._wake)
                if self._wake.is_set():
                    raise asyncio.CancelledError  # close(): shutting down
                if probe is None or await self._answers(probe):
                    break
        finally:
            self.held -= 1
        since = self._away_since.pop(store, None)
        if since is not None:
            seconds = (clock.now() - since).total_seconds()
            held = self._held_in_outage.pop(store, 0)
            log.warning(
                "%s is back after %.1f s; %d held events go on in order", store, seconds, held
            )

    @staticmethod
    async def _quietly(step: Awaitable[object]) -> None:
        try:
            await step
        except Exception as exc:
            log.warning("could not update an event's state: %s", exc)

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
