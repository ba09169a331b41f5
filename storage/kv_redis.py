"""The Redis backend of `storage.kv.KV`, shared by every bot process.

This module owns how KV state is laid out in Redis and the Lua scripts that change it.

Expiry follows the injected clock, not Redis's: a value is a hash {v: value, e: logical
expiry timestamp}, and every script receives "now" from the clock and treats a key whose
`e` has passed as missing. That keeps a `FakeClock` moved three days ahead (tests, the
simulator) in step with `MemoryKV`. Redis's own PEXPIRE is only garbage collection: it is
set to the ttl plus a generous margin so it can never remove a key that is still live on
a clock that runs at real speed.

Sliding windows are sorted sets of members scored by clock timestamps, trimmed in Lua.
"""

from __future__ import annotations

import math
import re
import uuid
from typing import TYPE_CHECKING, Any, cast

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from storage.kv import KV, check_ttl, check_window, names

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

    from storage.clock import Clock

# Seconds before a Redis that does not answer counts as away (a black-holed host, not one
# that refuses the connection, which fails at once).
CONNECT_TIMEOUT = 2.0
COMMAND_TIMEOUT = 5.0

# Real expiry = logical ttl + this. Generous, so a process whose clock runs slightly behind
# Redis's (or a paused simulator) still finds its live keys.
GC_MARGIN = 3600.0

# Shared by the scripts: the value of a live value key, or false. An expired key is deleted
# on the spot so the write that follows starts from a clean hash.
_LIVE = """
local function live(key, now)
  local ve = redis.call('HMGET', key, 'v', 'e')
  if not ve[1] then return false end
  if ve[2] and tonumber(ve[2]) <= now then
    redis.call('DEL', key)
    return false
  end
  return ve[1]
end
"""

# KEYS[1]; ARGV: value, expiry ('' = none), gc ms. DEL first so an old expiry cannot
# survive a rewrite without one.
_SET = """
redis.call('DEL', KEYS[1])
if ARGV[2] == '' then
  redis.call('HSET', KEYS[1], 'v', ARGV[1])
else
  redis.call('HSET', KEYS[1], 'v', ARGV[1], 'e', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1
"""

# KEYS[1]; ARGV: value, expiry ('' = none), gc ms, now.
_SET_IF_ABSENT = (
    _LIVE
    + """
if live(KEYS[1], tonumber(ARGV[4])) then return 0 end
if ARGV[2] == '' then
  redis.call('HSET', KEYS[1], 'v', ARGV[1])
else
  redis.call('HSET', KEYS[1], 'v', ARGV[1], 'e', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1
"""
)

# KEYS[1]; ARGV: amount, expiry ('' = none), gc ms, now. The expiry is only set when the
# counter is created: that is what makes it a fixed window.
_INCR = (
    _LIVE
    + """
local fresh = not live(KEYS[1], tonumber(ARGV[4]))
local n = redis.call('HINCRBY', KEYS[1], 'v', ARGV[1])
if fresh and ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], 'e', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return n
"""
)

# KEYS[1]; ARGV: now. Window keys (sorted sets) carry no logical expiry of their own.
_DELETE = (
    _LIVE
    + """
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return redis.call('DEL', KEYS[1]) end
if not live(KEYS[1], tonumber(ARGV[1])) then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""
)

# KEYS[1]; ARGV: token, now. Compare and delete in one step, so a holder whose lock expired
# and was taken over cannot release the new holder's lock.
_RELEASE = (
    _LIVE
    + """
if live(KEYS[1], tonumber(ARGV[2])) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""
)

# KEYS[1]; ARGV: now, cutoff (now - window), member, gc ms.
_WINDOW_HIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return redis.call('ZCARD', KEYS[1])
"""


def _gc_ms(seconds: float) -> int:
    return max(1000, math.ceil((seconds + GC_MARGIN) * 1000))


def _stamp(value: float) -> str:
    # repr round-trips a float exactly, so Lua compares the same numbers Python computed.
    return repr(float(value))


class RedisKV(KV):
    def __init__(self, url: str, clock: Clock, prefix: str = "mamabot:") -> None:
        self._clock = clock
        self._prefix = prefix
        self._url = url
        # One immediate retry (a connection the server dropped while idle reconnects at
        # once), no more: the client's default retries ten times with real sleeps, which
        # would stall every message of a chat for seconds per call while Redis is away.
        # Waiting out an outage is the caller's, on the injected clock (bot.dispatcher).
        self._redis: aioredis.Redis = aioredis.Redis.from_url(
            url,
            decode_responses=True,
            retry=Retry(NoBackoff(), 1),
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=COMMAND_TIMEOUT,
        )
        # Registered once: later calls go by SHA (EVALSHA) and reload only after a flush.
        self._set = self._redis.register_script(_SET)
        self._set_if_absent = self._redis.register_script(_SET_IF_ABSENT)
        self._incr = self._redis.register_script(_INCR)
        self._delete = self._redis.register_script(_DELETE)
        self._release = self._redis.register_script(_RELEASE)
        self._window_hit = self._redis.register_script(_WINDOW_HIT)

    @property
    def prefix(self) -> str:
        return self._prefix

    def _key(self, key: str) -> str:
        return self._prefix + key

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _expiry_args(self, ttl: float | None, now: float) -> tuple[str, int]:
        if ttl is None:
            return "", 0
        return _stamp(now + ttl), _gc_ms(ttl)

    async def _value(self, key: str) -> tuple[str | None, float | None, float]:
        """(value, expiry, now) of a live value key; value None if missing or expired."""
        # decode_responses=True: the client hands back str, never bytes.
        fields = cast("list[str | None]", await self._redis.hmget(self._key(key), ["v", "e"]))
        value, exp = fields
        now = self._now()
        if value is None:
            return None, None, now
        if exp is None:
            return value, None, now
        expires = float(exp)
        if expires <= now:
            return None, None, now
        return value, expires, now

    # ------------------------------------------------------------------ values

    async def get(self, key: str) -> str | None:
        value, _, _ = await self._value(key)
        return value

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        check_ttl(ttl)
        exp, gc = self._expiry_args(ttl, self._now())
        await self._run(self._set, key, value, exp, gc)

    async def set_if_absent(self, key: str, value: str, ttl: float | None = None) -> bool:
        check_ttl(ttl)
        now = self._now()
        exp, gc = self._expiry_args(ttl, now)
        return bool(await self._run(self._set_if_absent, key, value, exp, gc, _stamp(now)))

    async def delete(self, key: str) -> bool:
        return bool(await self._run(self._delete, key, _stamp(self._now())))

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        check_ttl(ttl)
        now = self._now()
        exp, gc = self._expiry_args(ttl, now)
        return int(await self._run(self._incr, key, int(amount), exp, gc, _stamp(now)))

    async def ttl(self, key: str) -> float | None:
        value, expires, now = await self._value(key)
        if value is None or expires is None:
            return None
        return expires - now

    async def release_lock(self, key: str, token: str) -> bool:
        return bool(await self._run(self._release, key, token, _stamp(self._now())))

    # ------------------------------------------------------------------ sliding windows

    async def window_hit(self, key: str, window: float, member: str | None = None) -> int:
        check_window(window)
        now = self._now()
        # Unique across processes, unlike a local counter.
        member = uuid.uuid4().hex if member is None else member
        args = (_stamp(now), _stamp(now - window), member, _gc_ms(window))
        return int(await self._run(self._window_hit, key, *args))

    async def window_count(self, key: str, window: float) -> int:
        check_window(window)
        now = self._now()
        # "(" makes the bound exclusive: a hit exactly `window` ago has slid out.
        count = await self._redis.zcount(self._key(key), f"({_stamp(now - window)}", "+inf")
        return int(count)

    # ------------------------------------------------------------------ housekeeping

    async def _run(self, script: AsyncScript, key: str, *args: str | int) -> Any:
        return await script(keys=[self._key(key)], args=list(args))

    async def flush_prefix(self) -> int:
        """Delete every key under this store's prefix; the number deleted. For tests."""
        # SCAN, not KEYS: KEYS blocks a shared Redis for as long as it walks the keyspace.
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self._prefix) + "*"
        deleted = 0
        batch: list[str] = []
        async for name in self._redis.scan_iter(match=pattern, count=500):
            batch.append(name)
            if len(batch) >= 500:
                deleted += await self._redis.unlink(*batch)
                batch.clear()
        if batch:
            deleted += await self._redis.unlink(*batch)
        return int(deleted)

    async def delete_naming(self, value: str) -> int:
        # SCAN with a glob that finds the candidates; the exact part test decides.
        glob = self._escape(self._prefix) + "*" + self._escape(value) + "*"
        deleted = 0
        async for name in self._redis.scan_iter(match=glob, count=500):
            key = name.decode() if isinstance(name, bytes) else str(name)
            if names(key[len(self._prefix) :], value):
                deleted += await self._redis.unlink(name)
        return int(deleted)

    @staticmethod
    def _escape(text: str) -> str:
        return re.sub(r"([*?\[\]\\])", r"\\\1", text)

    def describe(self) -> str:
        from storage.db import describe_url

        return f"Redis at {describe_url(self._url)}"

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except Exception:
            return False

    async def close(self) -> None:
        await self._redis.aclose()
