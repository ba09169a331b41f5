"""The durable work queue's loop: a registry of kinds, a claim with a lease, retries.

A feature registers a runner for each kind of work it schedules (`register`), and
schedules rows with `schedule(kind, key, due_at, ...)`. The rows live in the `work` table
(storage/work.py), so nothing due is held only in memory: a restart, or a second instance,
finds it there.

- `run_due()` claims what is due (pending and due, or running with an expired lease),
  runs each row's runner and marks it done. A runner that raises is retried with
  exponential backoff, and after `max_attempts` the row is kept as failed with its error.
  A runner may raise `Defer(at)` to run again later without it counting as a failure.
- Live mode (`run_forever`) claims, then sleeps until the next due time, waking early
  when this instance schedules something sooner and at least every `poll_seconds` for
  what other instances scheduled.
- Driven mode (tests, simulator, replay) asks `next_due()` — `MIN(due_at)` — and moves
  the fake clock there.

Recurring work (the daily stage job, later scheduled posts) is one row per fire, keyed by
the fire time; `CronSchedule` computes the fire times with APScheduler's cron trigger in
the bot's timezone.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import secrets
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock, sleep_or_wake
from bot.config import WorkSection
from bot.cron import CronSchedule, crontab_weekdays
from bot.privacy import mask_key
from storage import work as store
from storage.work import Work

log = logging.getLogger(__name__)

Runner = Callable[[Work], Awaitable[None]]

__all__ = [
    "CronSchedule",
    "Defer",
    "Runner",
    "Work",
    "WorkQueue",
    "crontab_weekdays",
    "instance_id",
    "work_key",
]

KEY_MAX = 191
PRUNE = "work_prune"


def work_key(*parts: object) -> str:
    """A row key from its parts, joined by ':'; a key too long for the column keeps its
    head and ends in a digest of the whole, so it stays unique."""
    key = ":".join(str(p) for p in parts)
    if len(key) <= KEY_MAX:
        return key
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    return f"{key[: KEY_MAX - 17]}~{digest}"


class Defer(Exception):
    """Raised by a runner: not yet, run this row again at `at` (no attempt is counted)."""

    def __init__(self, at: datetime) -> None:
        super().__init__(f"deferred to {at.isoformat()}")
        self.at = at


def instance_id() -> str:
    """Who holds a lease: this host and process, plus a random part so a restarted process
    never mistakes its predecessor's leases for its own."""
    host = socket.gethostname()[:24]
    return f"{host}:{secrets.token_hex(4)}"


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None or a <= b else b


class WorkQueue:
    def __init__(
        self,
        clock: Clock,
        cfg: WorkSection,
        owner: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.clock = clock
        self.cfg = cfg
        self.owner = owner or instance_id()
        self.rng = rng or random.Random()
        self.runners: dict[str, Runner] = {PRUNE: self._prune}
        self._prune_schedule = CronSchedule(cfg.prune_at, clock.tz)
        self._wake = asyncio.Event()
        self._stopping = False
        self._run_lock = asyncio.Lock()
        # The earliest time a row may be claimable, as far as this instance knows: from
        # the table at the last look, lowered by what it scheduled since. Until then
        # run_due() asks the database nothing (it runs after every batch of events).
        # Rows other instances schedule are seen at the next look: next_due(), which
        # driven mode asks before every step and the live loop after every round.
        self._hint: datetime | None = None
        self._hint_known = False
        self._scheduled_since_look: datetime | None = None
        self.done = 0
        self.failed = 0

    # ------------------------------------------------------------------ registry

    def register(self, kind: str, runner: Runner) -> None:
        if kind in self.runners:
            raise ValueError(f"work kind {kind!r} is registered twice")
        self.runners[kind] = runner

    @property
    def kinds(self) -> list[str]:
        return sorted(self.runners)

    # ------------------------------------------------------------------ scheduling

    async def schedule(
        self,
        kind: str,
        key: str,
        due_at: datetime,
        *,
        payload: dict[str, Any] | None = None,
        account_id: str | None = None,
        contact_id: str | None = None,
    ) -> bool:
        """Add a row unless its key exists; True if added. The key makes it happen once."""
        if kind not in self.runners:
            raise ValueError(f"no runner for work kind {kind!r}")
        added = await store.schedule(
            kind,
            key,
            due_at,
            self.clock.now(),
            payload=payload,
            account_id=account_id,
            contact_id=contact_id,
        )
        if added:
            self._hint = _earliest(self._hint, due_at) if self._hint_known else None
            self._scheduled_since_look = _earliest(self._scheduled_since_look, due_at)
            self._wake.set()
        return added

    async def cancel(self, keys: list[str]) -> int:
        """Drop rows still pending under these keys (their work was done another way)."""
        return await store.cancel(keys)

    async def plan(self) -> None:
        """The queue's own housekeeping: today's prune of finished rows (one per day)."""
        await self._plan_prune(self._prune_schedule.first_today(self.clock.now()))

    async def _plan_prune(self, fire: datetime) -> None:
        await self.schedule(PRUNE, work_key(PRUNE, fire.date().isoformat()), fire)

    async def _prune(self, item: Work) -> None:
        await self._plan_prune(self._prune_schedule.next_after(item.due_at))
        now = self.clock.now()
        dropped = await store.prune(
            now - timedelta(days=self.cfg.keep_done_days),
            now - timedelta(days=self.cfg.keep_failed_days),
        )
        log.info("work queue: pruned %d finished rows", dropped)

    # ------------------------------------------------------------------ running

    async def run_due(self) -> int:
        """Claim and run everything due now. Returns how many rows ran."""
        ran = 0
        async with self._run_lock:
            if self._hint_known and (self._hint is None or self.clock.now() < self._hint):
                return 0
            while True:
                now = self.clock.now()
                lease_until = now + timedelta(seconds=self.cfg.lease_seconds)
                batch = await store.claim(
                    self.kinds, self.owner, now, lease_until, self.cfg.claim_batch
                )
                if not batch:
                    await self.next_due()  # look again: when is the next one?
                    return ran
                for item in batch:
                    await self._run(item)
                    ran += 1

    async def _run(self, item: Work) -> None:
        # The batch was leased when it was claimed; rows late in it may have waited. Each
        # row's lease is renewed before it runs (skipped if another instance took it
        # meanwhile) and kept alive while its runner runs, however long that is.
        if not await store.renew(item, self.owner, self._lease_until()):
            log.info("work %s: taken over by another instance before it ran", mask_key(item.key))
            return
        if item.attempts > self.cfg.max_attempts:
            # Claimed again after each expired lease: its runs keep dying with their
            # instance (a crash, a kill). Stop before it takes another one down.
            error = f"its lease expired {item.attempts - 1} times without an end"
            await store.fail(item, self.owner, error, self.clock.now())
            self.failed += 1
            log.error("work %s gave up: %s", mask_key(item.key), error)
            return
        runner = self.runners[item.kind]
        heartbeat = asyncio.create_task(self._keep_lease(item), name=f"lease:{mask_key(item.key)}")
        try:
            await runner(item)
        except Defer as later:
            # Never "again now": that would claim the same row in a loop.
            floor = self.clock.now() + timedelta(seconds=1)
            await store.defer(item, self.owner, max(later.at, floor))
            return
        except Exception as exc:
            await self._failed(item, exc)
            return
        finally:
            heartbeat.cancel()
        if await store.finish(item, self.owner, self.clock.now()):
            self.done += 1
        else:
            log.warning("work %s finished after its lease was taken over", mask_key(item.key))

    def _lease_until(self) -> datetime:
        return self.clock.now() + timedelta(seconds=self.cfg.lease_seconds)

    async def _keep_lease(self, item: Work) -> None:
        """Renew the lease every third of it, in real time, while the runner runs (a
        runner in tests ends long before the first renewal)."""
        while True:
            await asyncio.sleep(self.cfg.lease_seconds / 3)
            try:
                if not await store.renew(item, self.owner, self._lease_until()):
                    log.warning("work %s: lease lost while running", mask_key(item.key))
                    return
            except Exception:
                log.exception("work %s: renewing its lease failed", mask_key(item.key))

    async def _failed(self, item: Work, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if item.attempts < self.cfg.max_attempts:
            delay = min(
                self.cfg.retry_max_seconds, self.cfg.retry_base_seconds * 2 ** (item.attempts - 1)
            )
            delay *= 1 + self.rng.uniform(0, 0.2)
            due = self.clock.now() + timedelta(seconds=delay)
            await store.retry(item, self.owner, due, error)
            log.warning(
                "work %s failed (attempt %d), retry in %.0fs",
                mask_key(item.key),
                item.attempts,
                delay,
                exc_info=exc,
            )
        else:
            await store.fail(item, self.owner, error, self.clock.now())
            self.failed += 1
            log.error(
                "work %s gave up after %d attempts", mask_key(item.key), item.attempts, exc_info=exc
            )

    async def next_due(self) -> datetime | None:
        """MIN(due_at) of what this instance can run, from the table."""
        # A row scheduled while the query runs may be missing from its answer: it is
        # remembered apart and counted in.
        self._scheduled_since_look = None
        due = await store.next_due(self.kinds)
        self._hint = _earliest(due, self._scheduled_since_look)
        self._hint_known = True
        return due

    # ------------------------------------------------------------------ live loop

    def request_stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run_forever(self) -> None:
        """Run due work, then wait for the next due time, a local schedule, or the poll."""
        self._stopping = False
        away_since: datetime | None = None
        while not self._stopping:
            self._wake.clear()
            try:
                await self.run_due()
                due = await self.next_due()
            except Exception as exc:
                # One line when the database goes away, one when it is back: never a
                # traceback every poll for the length of an outage.
                if away_since is None:
                    away_since = self.clock.now()
                    log.warning("work queue: the database is not answering (%s); waiting", exc)
                due = None
            else:
                if away_since is not None:
                    gone = (self.clock.now() - away_since).total_seconds()
                    log.warning("work queue: the database is back after %.0f s", gone)
                    away_since = None
            if self._stopping:
                return
            poll = self.clock.now() + timedelta(seconds=self.cfg.poll_seconds)
            wake_at = poll if due is None else min(due, poll)
            await sleep_or_wake(self.clock, wake_at, self._wake)
