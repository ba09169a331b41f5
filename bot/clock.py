"""The one source of "now". Nothing else in mamabot reads the wall clock.

Production uses `SystemClock`; tests, the simulator and `mamabot replay` use `FakeClock`
and move it forward explicitly, so a week passes without sleeping.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    tz: tzinfo

    def now(self) -> datetime:
        """An aware datetime in the clock's timezone."""
        ...

    async def sleep_until(self, when: datetime) -> None:
        """Wait until `when` (production) or return at once (fake clocks)."""
        ...


class SystemClock:
    def __init__(self, tz: tzinfo = DEFAULT_TZ) -> None:
        self.tz = tz

    def now(self) -> datetime:
        return datetime.now(self.tz)

    async def sleep_until(self, when: datetime) -> None:
        delay = (when - self.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)


class FakeClock:
    """A clock that only moves when told to. `sleep_until` never waits."""

    def __init__(self, start: datetime | None = None, tz: tzinfo = DEFAULT_TZ) -> None:
        self.tz = tz
        self._now = (start or datetime(2026, 11, 25, 9, 0, tzinfo=tz)).astimezone(tz)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            when = when.replace(tzinfo=self.tz)
        when = when.astimezone(self.tz)
        if when > self._now:  # the clock only moves forward
            self._now = when

    def advance(self, delta: timedelta | float) -> datetime:
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=delta)
        if delta.total_seconds() > 0:
            self._now = self._now + delta
        return self._now

    async def sleep_until(self, when: datetime) -> None:
        # Yield once so cooperative loops make progress, but never wait on real time.
        await asyncio.sleep(0)


async def sleep_or_wake(clock: Clock, when: datetime, wake: asyncio.Event) -> None:
    """Wait until `when` on the clock, or until `wake` is set, whichever comes first."""
    sleep = asyncio.ensure_future(clock.sleep_until(when))
    woken = asyncio.ensure_future(wake.wait())
    try:
        await asyncio.wait({sleep, woken}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleep.cancel()
        woken.cancel()


def parse_duration(text: str) -> timedelta:
    """Parse '30s', '5m', '2h', '3d', '1w' or a bare number of seconds."""
    text = text.strip().lower()
    if not text:
        raise ValueError("empty duration")
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    unit = text[-1]
    if unit in units:
        number = float(text[:-1])
        return timedelta(seconds=number * units[unit])
    return timedelta(seconds=float(text))


class OffsetClock:
    """Real time plus a jump: the interactive simulator follows the wall clock, and `/tick`
    moves it ahead without waiting."""

    def __init__(self, tz: tzinfo = DEFAULT_TZ) -> None:
        self.tz = tz
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(self.tz) + self.offset

    def advance(self, delta: timedelta) -> datetime:
        if delta.total_seconds() > 0:
            self.offset += delta
        return self.now()

    def set(self, when: datetime) -> None:
        gap = when - self.now()
        if gap.total_seconds() > 0:
            self.offset += gap

    async def sleep_until(self, when: datetime) -> None:
        delay = (when - self.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
