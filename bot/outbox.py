"""Every outgoing action goes through here: persisted, paced per account, retried, idempotent.

Life of a send:
1. A handler calls `say` (or kick, accept_friend, invite) with a dedupe key derived from the
   event it handles. The row is buffered and written in a batch (group commit) before the
   channel ever sees it; a repeated dedupe key is ignored by the unique index.
2. `pump(now)` sends due rows account by account, as fast as that account's pacer allows.
   A row is claimed with a conditional update (pending -> sending), so two instances never
   both send it.
3. Success marks it sent and reports it to the observers. A retryable failure puts it back
   with exponential backoff; the last attempt, or a permanent failure, marks it failed.
4. On start, rows a crash left in 'sending' are resolved by asking the channel whether the
   action happened (`already_done`). When the channel cannot tell, the row is sent again:
   a duplicate is better than a lost answer to a mother, and it is logged.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.channels.base import Channel, ChannelError
from bot.clock import Clock
from bot.config import OutboxSection, PacingSection
from storage import sql
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

ActionObserver = Callable[[dict[str, Any]], None]

FETCH_BATCH = 200
# The two statements run for every send, in plain SQL (see storage/sql.py). The claim is
# conditional, so two instances never both send a row.
CLAIM_SQL = (
    f'UPDATE "{OutboxMessage._meta.db_table}" SET "status" = \'sending\', '
    '"attempts" = "attempts" + 1 WHERE "id" = ? AND "status" = \'pending\''
)
SENT_SQL = (
    f'UPDATE "{OutboxMessage._meta.db_table}" SET "status" = \'sent\', "sent_at" = ? WHERE "id" = ?'
)


class Pacer:
    """When an account may next act: a minimum gap with jitter, and an hourly cap."""

    def __init__(self, cfg: PacingSection | None, rng: random.Random) -> None:
        self.cfg = cfg
        self.rng = rng
        self._next: datetime | None = None
        self._hour: deque[datetime] = deque()

    def next_slot(self, now: datetime) -> datetime:
        if self.cfg is None:
            return now
        slot = self._next or now
        hour_ago = now - timedelta(hours=1)
        while self._hour and self._hour[0] <= hour_ago:
            self._hour.popleft()
        if len(self._hour) >= self.cfg.max_per_hour:
            slot = max(slot, self._hour[0] + timedelta(hours=1))
        return slot

    def record(self, at: datetime) -> None:
        if self.cfg is None:
            return
        gap = self.cfg.min_interval_seconds + self.rng.uniform(0, self.cfg.jitter_seconds)
        self._next = at + timedelta(seconds=gap)
        self._hour.append(at)


def action_record(row: OutboxMessage, at: datetime) -> dict[str, Any]:
    """The replay contract's view of a performed action."""
    p = row.payload
    record: dict[str, Any]
    if row.action == "say":
        record = {
            "action": "say",
            "room": p.get("room"),
            "to": p.get("to"),
            "text": p["text"],
            "mentions": p.get("mentions", []),
        }
    elif row.action == "kick":
        record = {
            "action": "kick",
            "room": p["room"],
            "contact": p["contact"],
            "reason": p.get("reason", ""),
        }
    elif row.action == "accept_friend":
        record = {"action": "accept_friend", "contact": p["contact"]}
    elif row.action == "invite":
        record = {"action": "invite", "room": p["room"], "contact": p["contact"]}
    else:
        record = {"action": row.action, **p}
    record["at"] = at.isoformat()
    return record


class Outbox:
    def __init__(
        self,
        clock: Clock,
        cfg: OutboxSection,
        rng: random.Random | None = None,
    ) -> None:
        self.clock = clock
        self.cfg = cfg
        self.rng = rng or random.Random()
        self.channels: dict[str, Channel] = {}
        self.pacers: dict[str, Pacer] = {}
        self.observers: list[ActionObserver] = []
        self._buffer: list[OutboxMessage] = []
        self._persist_lock = asyncio.Lock()
        self._pump_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self.sent = 0
        self.failed = 0
        self._stopping = False

    # ------------------------------------------------------------------ setup

    def add_channel(self, channel: Channel, pacing: PacingSection | None) -> None:
        self.channels[channel.account_id] = channel
        self.pacers[channel.account_id] = Pacer(pacing, self.rng)

    # ------------------------------------------------------------------ enqueue

    async def say(
        self,
        *,
        account_id: str,
        room_id: str | None,
        contact_id: str | None,
        text: str,
        mentions: Sequence[str] = (),
        dedupe_key: str,
    ) -> None:
        if not room_id and not contact_id:
            raise ValueError("say needs a room or a contact")
        payload = {"room": room_id, "to": None if room_id else contact_id, "text": text}
        payload["mentions"] = list(mentions) if room_id else []  # type: ignore[assignment]
        self._enqueue(account_id, "say", payload, dedupe_key)

    async def kick(
        self, *, account_id: str, room_id: str, contact_id: str, reason: str, dedupe_key: str
    ) -> None:
        payload = {"room": room_id, "contact": contact_id, "reason": reason}
        self._enqueue(account_id, "kick", payload, dedupe_key)

    async def accept_friend(
        self, *, account_id: str, contact_id: str, request_id: str, dedupe_key: str
    ) -> None:
        payload = {"contact": contact_id, "request_id": request_id}
        self._enqueue(account_id, "accept_friend", payload, dedupe_key)

    async def invite(
        self, *, account_id: str, room_id: str, contact_id: str, dedupe_key: str
    ) -> None:
        payload = {"room": room_id, "contact": contact_id}
        self._enqueue(account_id, "invite", payload, dedupe_key)

    def _enqueue(self, account_id: str, action: str, payload: dict[str, Any], key: str) -> None:
        now = self.clock.now()
        self._buffer.append(
            OutboxMessage(
                dedupe_key=key[:191],
                account_id=account_id,
                action=action,
                payload=payload,
                status="pending",
                due_at=now,
                created_at=now,
            )
        )
        self._wake.set()

    async def persist(self) -> int:
        """Write buffered actions; nothing reaches a channel before this."""
        async with self._persist_lock:
            if not self._buffer:
                return 0
            batch, self._buffer = self._buffer, []
            try:
                await OutboxMessage.bulk_create(batch, ignore_conflicts=True)
            except Exception:
                self._buffer[:0] = batch
                log.exception("persisting %d outbox rows failed; will retry", len(batch))
                return 0
            return len(batch)

    # ------------------------------------------------------------------ send

    async def resume(self) -> None:
        """Settle rows a crash left in 'sending', before sending anything new."""
        stuck = await OutboxMessage.filter(status="sending").order_by("id")
        for row in stuck:
            channel = self.channels.get(row.account_id)
            if channel is None:
                continue
            done = await channel.already_done(row.dedupe_key)
            if done:
                await OutboxMessage.filter(id=row.id).update(
                    status="sent", sent_at=self.clock.now()
                )
                log.info("outbox: %s was already done before the restart", row.dedupe_key)
            else:
                if done is None:
                    log.warning(
                        "outbox: cannot tell whether %s was sent before the restart; resending",
                        row.dedupe_key,
                    )
                await OutboxMessage.filter(id=row.id).update(status="pending")
        # Pace from what was sent in the last hour, so a restart does not reset the limits.
        now = self.clock.now()
        recent = await OutboxMessage.filter(
            status="sent", sent_at__gte=now - timedelta(hours=1)
        ).order_by("sent_at")
        for row in recent:
            pacer = self.pacers.get(row.account_id)
            if pacer is not None and row.sent_at is not None:
                pacer.record(row.sent_at)

    async def pump(self) -> datetime | None:
        """Send everything due now that pacing allows. Returns when to call again."""
        async with self._pump_lock:
            await self.persist()
            wake: datetime | None = None
            for account_id in self.channels:
                next_at = await self._pump_account(account_id)
                if next_at is not None and (wake is None or next_at < wake):
                    wake = next_at
            return wake

    async def _pump_account(self, account_id: str) -> datetime | None:
        pacer = self.pacers[account_id]
        while True:
            now = self.clock.now()
            rows = (
                await OutboxMessage.filter(account_id=account_id, status="pending", due_at__lte=now)
                .order_by("id")
                .limit(FETCH_BATCH)
            )
            if not rows:
                later = (
                    await OutboxMessage.filter(account_id=account_id, status="pending")
                    .order_by("due_at")
                    .first()
                )
                return later.due_at if later else None
            for row in rows:
                now = self.clock.now()
                slot = pacer.next_slot(now)
                if slot > now:
                    return slot
                await self._send(row, pacer)

    async def _send(self, row: OutboxMessage, pacer: Pacer) -> None:
        claimed = await sql.execute(OutboxMessage, CLAIM_SQL, [row.id])
        if not claimed:
            return  # another instance has it
        row.attempts += 1
        channel = self.channels[row.account_id]
        now = self.clock.now()
        try:
            await self._perform(channel, row)
        except Exception as exc:
            retryable = not isinstance(exc, ChannelError) or exc.retryable
            await self._failed(row, exc, retryable)
            return
        pacer.record(now)
        await sql.execute(OutboxMessage, SENT_SQL, [now, row.id])
        self.sent += 1
        record = action_record(row, now)
        for observer in self.observers:
            try:
                observer(record)
            except Exception:
                log.exception("outbox observer failed")

    async def _failed(self, row: OutboxMessage, exc: Exception, retryable: bool) -> None:
        error = f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, ChannelError):
            log.exception("outbox: %s %s raised", row.action, row.dedupe_key)
        if retryable and row.attempts < self.cfg.max_attempts:
            delay = min(
                self.cfg.retry_max_seconds, self.cfg.retry_base_seconds * 2 ** (row.attempts - 1)
            )
            delay *= 1 + self.rng.uniform(0, 0.2)
            due = self.clock.now() + timedelta(seconds=delay)
            await OutboxMessage.filter(id=row.id).update(
                status="pending", due_at=due, last_error=error
            )
            log.warning(
                "outbox: %s %s failed (attempt %d), retry in %.0fs: %s",
                row.action,
                row.dedupe_key,
                row.attempts,
                delay,
                error,
            )
        else:
            await OutboxMessage.filter(id=row.id).update(status="failed", last_error=error)
            self.failed += 1
            log.error("outbox: %s %s gave up: %s", row.action, row.dedupe_key, error)

    @staticmethod
    async def _perform(channel: Channel, row: OutboxMessage) -> None:
        p = row.payload
        key = row.dedupe_key
        if row.action == "say":
            await channel.say(
                room_id=p.get("room"),
                contact_id=p.get("to"),
                text=p["text"],
                mentions=p.get("mentions", []),
                dedupe_key=key,
            )
        elif row.action == "kick":
            await channel.kick(room_id=p["room"], contact_id=p["contact"], dedupe_key=key)
        elif row.action == "accept_friend":
            await channel.accept_friend(
                contact_id=p["contact"], request_id=p.get("request_id", ""), dedupe_key=key
            )
        elif row.action == "invite":
            await channel.invite(room_id=p["room"], contact_id=p["contact"], dedupe_key=key)
        else:
            raise ChannelError(f"unknown outbox action {row.action!r}", retryable=False)

    # ------------------------------------------------------------------ loops

    def request_stop(self) -> None:
        """Make run_forever return after the pump in hand; drain() still works after."""
        self._stopping = True
        self._wake.set()

    async def run_forever(self) -> None:
        """Production loop: pump, then wait for new work or the next due time."""
        self._stopping = False
        while not self._stopping:
            try:
                wake = await self.pump()
            except Exception:
                log.exception("outbox pump failed; retrying shortly")
                wake = self.clock.now() + timedelta(seconds=5)
            self._wake.clear()
            if self._stopping:
                return
            if self._buffer:
                continue
            sleep = asyncio.ensure_future(
                self.clock.sleep_until(wake or self.clock.now() + timedelta(seconds=30))
            )
            woken = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({sleep, woken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleep.cancel()
                woken.cancel()

    async def next_due(self) -> datetime | None:
        """When something queued can next be sent, pacing included."""
        now = self.clock.now()
        best: datetime | None = None
        for account_id, pacer in self.pacers.items():
            row = (
                await OutboxMessage.filter(account_id=account_id, status="pending")
                .order_by("due_at")
                .first()
            )
            if row is None:
                continue
            at = max(row.due_at, pacer.next_slot(now))
            if best is None or at < best:
                best = at
        return best

    async def pending_count(self) -> int:
        return (
            len(self._buffer)
            + await OutboxMessage.filter(status__in=["pending", "sending"]).count()
        )

    async def drain(self, deadline: datetime) -> int:
        """Send what is pending, pacing included, until done or the deadline. Returns left."""
        while True:
            wake = await self.pump()
            left = await self.pending_count()
            if not left or wake is None or wake > deadline:
                return left
            before = self.clock.now()
            await self.clock.sleep_until(wake)
            now = self.clock.now()
            if now >= deadline or (wake > before and now <= before):
                # Past the deadline, or a clock that does not move by itself (tests).
                return await self.pending_count()
