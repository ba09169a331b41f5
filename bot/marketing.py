"""The guard rails of every marketing send: opt-out, quiet hours, a send window and a
frequency cap per contact ([marketing] in config.toml).

A nurture step asks `reserve()` before it sends. The answer is one of: go (the send is
written in the ledger, so the cap counts it, and a retried step is not counted twice),
wait until a time (quiet hours, outside the step's window, or the cap is reached), or skip
(she opted out, or care stopped marketing to her after a loss). Care's pause after an
urgent message and a staff takeover make it wait. Replies to her own questions never
come here.

The check and the ledger entry happen under a lock per contact in the key-value store, so
two instances sending her different steps at the same moment cannot both pass a full cap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Literal

from storage import care, privacy
from storage import marketing as ledger

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import MarketingSection
    from storage.kv import KV

Window = tuple[int, int]  # minutes of the day: start, end (end may be before start)

LOCK_SECONDS = 30
HOLD_RECHECK = timedelta(hours=1)
BUSY_RETRY_SECONDS = 5


@dataclass(frozen=True, slots=True)
class Reservation:
    verdict: Literal["go", "wait", "skip"]
    at: datetime | None = None  # wait: not before then
    why: str = ""


def _minutes(text: str) -> int:
    hour, minute = text.split(":")
    return int(hour) * 60 + int(minute)


def _inside(minute: float, window: Window) -> bool:
    start, end = window
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end  # over midnight


class MarketingGate:
    def __init__(self, cfg: MarketingSection, clock: Clock, kv: KV) -> None:
        self.cfg = cfg
        self.clock = clock
        self.kv = kv
        self.quiet: Window = (_minutes(cfg.quiet_start), _minutes(cfg.quiet_end))

    # ------------------------------------------------------------------ hours

    def allowed(self, moment: datetime, window: Window | None = None) -> bool:
        local = moment.astimezone(self.clock.tz)
        minute = local.hour * 60 + local.minute + local.second / 60
        if self.quiet[0] != self.quiet[1] and _inside(minute, self.quiet):
            return False
        return window is None or _inside(minute, window)

    def next_allowed(self, moment: datetime, window: Window | None = None) -> datetime:
        """The first time at or after `moment` outside quiet hours and inside `window`."""
        if self.allowed(moment, window):
            return moment
        local = moment.astimezone(self.clock.tz)
        starts = [self.quiet[1]] + ([window[0]] if window else [])
        candidates = sorted(
            self._at(local.date() + timedelta(days=offset), start)
            for offset in range(3)
            for start in starts
        )
        for candidate in candidates:
            if candidate >= moment and self.allowed(candidate, window):
                return candidate
        # The window lies inside the quiet hours: its start, which ops must fix (check warns).
        return self._at(local.date() + timedelta(days=1), window[0] if window else self.quiet[1])

    def _at(self, day: date, minute: int) -> datetime:
        if minute >= 24 * 60:
            day, minute = day + timedelta(days=1), minute - 24 * 60
        return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.clock.tz)

    # ------------------------------------------------------------------ caps

    async def next_slot(
        self, contact_id: str, moment: datetime, window: Window | None = None
    ) -> datetime:
        """The first time at or after `moment` when a marketing send to her is allowed:
        the hours, and her daily and weekly caps counted from the ledger."""
        sends = await ledger.sends_to(contact_id, moment - timedelta(days=7))
        at = self.next_allowed(moment, window)
        for _ in range(32):
            local = at.astimezone(self.clock.tz)
            day_start = datetime.combine(local.date(), time(0), tzinfo=self.clock.tz)
            today = [s for s in sends if day_start <= s <= at]
            if self.cfg.daily_cap and len(today) >= self.cfg.daily_cap:
                at = self.next_allowed(day_start + timedelta(days=1), window)
                continue
            week = [s for s in sends if at - timedelta(days=7) < s <= at]
            if self.cfg.weekly_cap and len(week) >= self.cfg.weekly_cap:
                oldest_counted = week[len(week) - self.cfg.weekly_cap]
                at = self.next_allowed(oldest_counted + timedelta(days=7), window)
                continue
            return at
        return at

    async def reserve(
        self,
        contact_id: str,
        key: str,
        source: str,
        window: Window | None = None,
    ) -> Reservation:
        """May this marketing send (`key`: the work row's) go to her now?"""
        now = self.clock.now()
        hold = await care.marketing_hold(contact_id, now)
        if hold is not None and hold.stopped:
            return Reservation("skip", why=f"care:{hold.why}")
        if not await privacy.can_market(contact_id):
            return Reservation("skip", why="opted out")
        if hold is not None and hold.until is not None:
            # A care pause or a takeover, looked at again at least hourly: staff may end
            # it early (#交还, #恢复推送), and the step must not sleep on to the old end.
            return Reservation("wait", min(hold.until, now + HOLD_RECHECK), hold.why)
        if await ledger.recorded(key):
            return Reservation("go", why="counted before")  # a retry of a send that went
        lock = f"marketing:{contact_id}"
        token = await self.kv.acquire_lock(lock, ttl=LOCK_SECONDS)
        if not token:
            return Reservation("wait", now + timedelta(seconds=BUSY_RETRY_SECONDS), "busy")
        try:
            at = await self.next_slot(contact_id, now, window)
            if at > now:
                return Reservation("wait", at, "quiet hours, window or cap")
            await ledger.record(key, source, now, contact_id=contact_id)
            return Reservation("go")
        finally:
            await self.kv.release_lock(lock, token)
