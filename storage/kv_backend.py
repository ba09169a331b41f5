"""Picking the key-value backend from configuration: Redis when a URL is set, else the
in-process store."""

from __future__ import annotations

from storage.clock import Clock
from storage.kv import KV, MemoryKV


def make_kv(clock: Clock, redis_url: str | None, prefix: str = "mamabot:") -> KV:
    """Redis when a URL is configured (several processes share state), else in-process."""
    if redis_url:
        # Imported here so a deployment without Redis never imports the client.
        from storage.kv_redis import RedisKV

        return RedisKV(redis_url, clock, prefix)
    return MemoryKV(clock)
