"""The key-value store: short-lived state that does not belong in the database.

This module owns the `KV` interface (values with expiry, fixed-window counters, sliding
windows, JSON state, locks) and the in-process `MemoryKV` backend. `storage.kv_redis.RedisKV`
is the shared backend, and `storage.kv_backend.make_kv` picks one from configuration.

Every expiry is measured on the injected clock, never on the wall clock, so a `FakeClock`
moved three days ahead expires keys exactly as three real days would.

A key holds one kind of state: a value (`set`/`incr`/`set_json`/locks) or a sliding window
(`window_hit`/`window_count`). Mixing the two on one key is an error in both backends, and
a key should always be used with the same window length, because a hit is forgotten as soon
as it slides out of the window it was last trimmed with.
"""

from __future__ import annotations

import heapq
import itertools
import json
import secrets
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storage.clock import Clock

# Upper bound of expired entries dropped per write, so a clock jump that expires a million
# keys at once spreads the work over many writes instead of stalling one message.
_PURGE_BATCH = 64


def check_ttl(ttl: float | None) -> None:
    """Reject a zero or negative ttl: it is always a caller's bug, and Redis refuses it too."""
    if ttl is not None and not ttl > 0:
        raise ValueError(f"ttl must be a positive number of seconds, not {ttl!r}")


def check_window(window: float) -> None:
    if not window > 0:
        raise ValueError(f"window must be a positive number of seconds, not {window!r}")


class KV(ABC):
    """Async key-value store. `ttl` and `window` are seconds; `ttl=None` means no expiry."""

    @abstractmethod
    async def get(self, key: str) -> str | None:
        """The value, or None when the key is missing or expired."""

    @abstractmethod
    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        """Store the value, replacing any earlier value and its expiry."""

    @abstractmethod
    async def set_if_absent(self, key: str, value: str, ttl: float | None = None) -> bool:
        """Store the value only if the key is missing or expired; True if it was stored."""

    @abstractmethod
    async def delete(self, key: str) -> bool:
        """Remove the key; True if a live value was removed."""

    @abstractmethod
    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        """Add `amount` to a counter and return the new count.

        `ttl` applies only when the counter is created, which makes it a fixed-window
        counter; once it expires the next `incr` starts again from 0.
        """

    @abstractmethod
    async def ttl(self, key: str) -> float | None:
        """Seconds until the key expires; None if it is missing or never expires."""

    @abstractmethod
    async def window_hit(self, key: str, window: float, member: str | None = None) -> int:
        """Record a hit now and return the hits within the last `window` seconds, this one
        included. A repeated `member` moves that hit to now instead of adding another."""

    @abstractmethod
    async def window_count(self, key: str, window: float) -> int:
        """The hits within the last `window` seconds, without recording one."""

    @abstractmethod
    async def release_lock(self, key: str, token: str) -> bool:
        """Release a lock if `token` still holds it; True if it did."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections. The store is unusable afterwards."""

    def describe(self) -> str:
        """Where the state lives, for logs and start-up errors (never a password)."""
        return "in-process"

    async def ping(self) -> bool:
        """Whether the store answers right now (an in-process one always does). Never
        raises: a caller asks this after a failure, to tell an outage from a bug."""
        return True

    @abstractmethod
    async def delete_naming(self, value: str) -> int:
        """Delete every key that has `value` as one of its ":"-separated parts (her id in
        a cooldown, a refusal mark, an event's dedupe key); the number deleted. For
        forgetting a contact: it walks the whole store, so never on a hot path."""

    async def get_json(self, key: str) -> Any | None:
        raw = await self.get(key)
        return None if raw is None else json.loads(raw)

    async def set_json(self, key: str, value: Any, ttl: float | None = None) -> None:
        # Chinese text stays readable in redis-cli and takes a third of the bytes.
        await self.set(key, json.dumps(value, ensure_ascii=False, separators=(",", ":")), ttl)

    async def acquire_lock(self, key: str, ttl: float) -> str | None:
        """Take the lock for `ttl` seconds; the token to release it with, or None if held.

        The ttl is mandatory so a holder that crashes cannot keep the lock forever.
        """
        if ttl is None:
            raise ValueError("a lock needs a ttl")
        token = secrets.token_hex(16)
        return token if await self.set_if_absent(key, token, ttl) else None


def names(key: str, value: str) -> bool:
    """Whether `value` is one of the ":"-separated parts of `key` that can hold an id:
    not its leading words (the kind, "g:joined", "kw:cd"), unless the key is only a kind
    and an id ("dialog:<id>"). A contact whose id is "joined" must not take everyone's
    newcomer marks with her."""
    parts = key.split(":")
    return value in (parts[1:] if len(parts) <= 2 else parts[2:])


class _Hits(dict[str, float]):
    """A sliding window: member -> timestamp, kept in timestamp order so trimming only
    looks at the oldest end."""

    __slots__ = ()


class MemoryKV(KV):
    """In-process store for a single bot process, tests and the simulator.

    It sits on the per-message hot path (dedupe keys, cooldowns), so it is plain dicts:
    expiry is checked lazily on read, and every write also drops a bounded number of
    entries whose expiry has passed, found through a heap of expiry times. Without that
    purge, dedupe keys that are written once and never read again would pile up forever.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._values: dict[str, str | _Hits] = {}
        self._expires: dict[str, float] = {}  # only keys that expire
        # (expiry, key) for every expiry ever set; stale entries (key rewritten since) are
        # recognised by not matching `_expires` and skipped.
        self._heap: list[tuple[float, str]] = []
        self._members = itertools.count()

    def __len__(self) -> int:
        """Entries physically held, expired-but-not-yet-purged ones included."""
        return len(self._values)

    # ------------------------------------------------------------------ internals

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _live(self, key: str, now: float) -> str | _Hits | None:
        exp = self._expires.get(key)
        if exp is not None and exp <= now:
            del self._expires[key]
            self._values.pop(key, None)
            return None
        return self._values.get(key)

    def _live_value(self, key: str, now: float) -> str | None:
        value = self._live(key, now)
        if isinstance(value, _Hits):
            raise TypeError(f"key {key!r} holds a sliding window, not a value")
        return value

    def _expire_at(self, key: str, exp: float | None) -> None:
        if exp is None:
            self._expires.pop(key, None)
        else:
            self._expires[key] = exp
            heapq.heappush(self._heap, (exp, key))

    def _purge(self, now: float) -> None:
        heap = self._heap
        for _ in range(_PURGE_BATCH):
            if not heap or heap[0][0] > now:
                return
            exp, key = heapq.heappop(heap)
            if self._expires.get(key) == exp:
                del self._expires[key]
                self._values.pop(key, None)

    def _store(self, key: str, value: str, ttl: float | None, now: float) -> None:
        self._values[key] = value
        self._expire_at(key, None if ttl is None else now + ttl)
        self._purge(now)

    # ------------------------------------------------------------------ values

    async def get(self, key: str) -> str | None:
        return self._live_value(key, self._now())

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        check_ttl(ttl)
        self._store(key, value, ttl, self._now())

    async def set_if_absent(self, key: str, value: str, ttl: float | None = None) -> bool:
        check_ttl(ttl)
        now = self._now()
        if self._live(key, now) is not None:
            return False
        self._store(key, value, ttl, now)
        return True

    async def delete(self, key: str) -> bool:
        if self._live(key, self._now()) is None:
            return False
        del self._values[key]
        self._expires.pop(key, None)
        return True

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        check_ttl(ttl)
        now = self._now()
        current = self._live_value(key, now)
        if current is None:
            count = amount
            self._store(key, str(count), ttl, now)
        else:
            count = int(current) + amount
            self._values[key] = str(count)  # the window keeps the expiry it started with
        return count

    async def ttl(self, key: str) -> float | None:
        now = self._now()
        if self._live(key, now) is None:
            return None
        exp = self._expires.get(key)
        return None if exp is None else exp - now

    async def release_lock(self, key: str, token: str) -> bool:
        now = self._now()
        if self._live(key, now) != token:
            return False
        del self._values[key]
        self._expires.pop(key, None)
        return True

    # ------------------------------------------------------------------ sliding windows

    def _hits(self, key: str, now: float) -> _Hits | None:
        hits = self._live(key, now)
        if hits is None or isinstance(hits, _Hits):
            return hits
        raise TypeError(f"key {key!r} holds a value, not a sliding window")

    async def window_hit(self, key: str, window: float, member: str | None = None) -> int:
        check_window(window)
        now = self._now()
        hits = self._hits(key, now)
        if hits is None:
            hits = self._values[key] = _Hits()
        cutoff = now - window
        while hits:
            oldest = next(iter(hits))
            if hits[oldest] > cutoff:
                break
            del hits[oldest]
        if member is None:
            # NUL cannot come from a WeChat id, so it cannot collide with a caller's member.
            member = f"\0{next(self._members)}"
        else:
            hits.pop(member, None)  # re-inserting moves it to the newest end
        if hits and now < next(reversed(hits.values())):
            # The clock stepped back (a system clock resync); restore timestamp order.
            hits[member] = now
            ordered = sorted(hits.items(), key=lambda item: item[1])
            hits.clear()
            hits.update(ordered)
        else:
            hits[member] = now
        # Once the newest hit has slid out, the whole window is garbage.
        self._expire_at(key, next(reversed(hits.values())) + window)
        self._purge(now)
        return len(hits)

    async def window_count(self, key: str, window: float) -> int:
        check_window(window)
        now = self._now()
        hits = self._hits(key, now)
        if not hits:
            return 0
        cutoff = now - window
        count = 0
        for at in reversed(hits.values()):
            if at <= cutoff:
                break
            count += 1
        return count

    async def delete_naming(self, value: str) -> int:
        doomed = [key for key in self._values if names(key, value)]
        for key in doomed:
            self._values.pop(key, None)
            self._expires.pop(key, None)
        return len(doomed)

    async def close(self) -> None:
        self._values.clear()
        self._expires.clear()
        self._heap.clear()
