"""Who may call the open API, and how often: bearer tokens with scopes, and a per-token
rate limit.

A token is configured under [[api_tokens]] in config.toml; its value comes from the
environment variable the block names, so it never sits in a file. A block whose variable
is unset or empty is off. The presented token is compared with every configured one in
constant time (hmac.compare_digest), and never logged: only the token's name is.

The rate limit is a fixed one-minute window per token name in the key-value store, on the
bot's clock: `requests_per_minute` requests per clock minute, then 429 until the minute
ends. The store is shared by every instance (Redis), so the limit holds across them.

Guessing tokens is limited too: an address (the peer of the connection, so behind a
reverse proxy all callers share the proxy's) that presents FAILURES_PER_MINUTE missing or
wrong tokens in a clock minute is refused, 429 whatever it presents, until the minute
ends. The refusal comes before the token is looked at, so a blocked guesser learns nothing
from a right guess.

When the store does not answer, requests are let through (fail open) and the outage is
logged once: the callers are the brand's own systems holding valid tokens, and an ERP
that cannot push orders while Redis restarts costs more than a minute without a limit.
"""

from __future__ import annotations

import hmac
import logging
import math
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from bot.config import ApiToken
from storage.clock import Clock
from storage.kv import KV

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60
# Missing or wrong tokens an address may present per window. The brand's systems hold
# valid tokens; a few failures a minute are a misconfiguration, thirty are guessing.
FAILURES_PER_MINUTE = 30
_KEY = "api:rate"
_FAILED_KEY = "api:unauthorized"
T = TypeVar("T")


@dataclass(frozen=True)
class Caller:
    name: str
    scopes: frozenset[str]
    requests_per_minute: int


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, None for anything else."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def identify(tokens: Sequence[ApiToken], presented: str | None) -> Caller | None:
    """The configured token the caller presented, None for no or an unknown token. Every
    configured token is compared, so the time taken says nothing about which matched."""
    if presented is None:
        return None
    given = presented.encode("utf-8", "surrogatepass")
    found: ApiToken | None = None
    for token in tokens:
        value = token.token()
        if value is not None and hmac.compare_digest(value.encode("utf-8"), given):
            found = found or token
    if found is None:
        return None
    return Caller(found.name, frozenset(found.scopes), found.requests_per_minute)


class RateLimit:
    """Fixed one-minute windows in the key-value store: requests per token, failed token
    checks per address."""

    def __init__(self, kv: KV, clock: Clock) -> None:
        self.kv = kv
        self.clock = clock
        self._store_down = False

    async def retry_after(self, caller: Caller) -> int | None:
        """Count this request; None when it may go on, else the seconds until the caller
        may try again (the end of the current window)."""
        window, now = self._window()
        count = await self._answer(
            # Kept a window longer than it counts, so a slow clock edge never resets it.
            self.kv.incr(f"{_KEY}:{caller.name}:{window}", ttl=2 * WINDOW_SECONDS)
        )
        if count is None or count <= caller.requests_per_minute:
            return None
        return _until_next(window, now)

    async def address_blocked(self, address: str) -> int | None:
        """None when the address may present a token, else the seconds until it may (it
        failed FAILURES_PER_MINUTE token checks this window). Counts nothing."""
        window, now = self._window()
        stored = await self._answer(self.kv.get(_failed_key(address, window)), counts=False)
        if stored is None or not stored.isdigit() or int(stored) < FAILURES_PER_MINUTE:
            return None
        return _until_next(window, now)

    async def failed(self, address: str) -> bool:
        """Count a missing or wrong token presented from the address; True when this one
        used up the address's failures for the window (once per window)."""
        window, _ = self._window()
        key = _failed_key(address, window)
        count = await self._answer(self.kv.incr(key, ttl=2 * WINDOW_SECONDS))
        return count == FAILURES_PER_MINUTE

    def _window(self) -> tuple[int, float]:
        now = self.clock.now().timestamp()
        return math.floor(now / WINDOW_SECONDS), now

    async def _answer(self, call: Awaitable[T], *, counts: bool = True) -> T | None:
        """The store's answer; None (and the outage logged once) when it does not answer.
        Only an answer that `counts` (a write) ends an outage: a store that reads but
        cannot count is still one the limits are off in."""
        try:
            answer = await call
        except Exception as exc:
            if not self._store_down:
                log.warning(
                    "api: rate limit off, the key-value store does not answer (%s); "
                    "requests go through unlimited until it does",
                    type(exc).__name__,
                )
                self._store_down = True
            return None
        if self._store_down and counts:
            log.info("api: the key-value store answers again; the rate limit is back on")
            self._store_down = False
        return answer


def _failed_key(address: str, window: int) -> str:
    return f"{_FAILED_KEY}:{address}:{window}"


def _until_next(window: int, now: float) -> int:
    return max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
