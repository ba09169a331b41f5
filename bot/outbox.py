"""Every outgoing action goes through here: persisted, paced per account, retried, idempotent.

Life of a send:
1. A handler calls `say` (or kick, accept_friend, invite) with a dedupe key derived from the
   event it handles. The row is buffered and written in a batch (group commit) before the
   channel ever sees it; a repeated dedupe key is ignored by the unique index.
2. `pump(now)` sends due rows account by account, as fast as that account's pacer allows.
   The pacer's state (the gap since the last send, the sends of the last hour) lives in
   the key-value store, so with Redis several instances together keep one account's rate.
3. A row is claimed with a conditional update (pending -> sending) that also writes a
   lease (this instance, until when), so two instances never both send it.
4. Success marks it sent and reports it to the observers. A retryable failure puts it back
   with exponential backoff; the last attempt, or a permanent failure, marks it failed.
5. A send whose outcome is unknown (the request reached the gateway and the answer was
   lost: a dropped connection, a deadline) is neither retried nor given up. It stays
   'sending' under this instance's lease for a grace period (`echo_grace`), waiting for the
   platform's echo of the account's own message (same chat, same text): the echo marks it
   sent; without one by the end of the grace it is sent again.
6. A row left in 'sending' whose lease has expired (its instance crashed mid-send) is
   settled by whichever instance sees it first: at start and then every little while. The
   channel is asked whether the action happened (`already_done`, then `echoed`); a channel
   that sees echoes gets the same grace for one to arrive. When the channel cannot tell,
   the row is sent again: a duplicate is better than a lost answer to a mother, and it is
   logged. A row whose lease still runs belongs to a live instance and is never touched,
   so an instance starting up does not resend another one's sends in flight.

Rows are written in batches; a batch the database refuses is written row by row, and a row
it refuses (one no cleaning foresaw) is set aside in dead_letter with its error, so it never
holds back the others. While the database does not answer at all, rows stay in memory and
the loop backs off, logging the outage once when it starts and once when it ends.

Log lines name a row by its id and a masked form of its key (`mask_key`): keys are built
from contact ids, some of which are self-chosen words no filter can recognise.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import traceback
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import Q

from bot.channels.base import Channel, ChannelError, OutcomeUnknown
from bot.clock import Clock, sleep_or_wake
from bot.config import OutboxSection, PacingSection
from bot.privacy import mask_ids_in, mask_key
from bot.text import storable
from storage import care, privacy, sql
from storage.dead_letter import DatabaseAway, database_answers, insert_each
from storage.kv import KV, MemoryKV
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

ActionObserver = Callable[[dict[str, Any]], None]

FETCH_BATCH = 200
# The two statements run for every send, in plain SQL (see storage/sql.py). The claim is
# conditional, so two instances never both send a row.
_TABLE = OutboxMessage._meta.db_table
CLAIM_SQL = (
    f'UPDATE "{_TABLE}" SET "status" = \'sending\', "attempts" = "attempts" + 1, '
    '"lease_owner" = ?, "lease_until" = ? WHERE "id" = ? AND "status" = \'pending\''
)
# Only while this instance still holds the send: one that outlived its lease may have
# been settled by another instance meanwhile, and must not overwrite what that one did.
SENT_SQL = (
    f'UPDATE "{_TABLE}" SET "status" = \'sent\', "sent_at" = ?, "lease_owner" = NULL, '
    '"lease_until" = NULL WHERE "id" = ? AND "status" = \'sending\' AND "lease_owner" = ?'
)
# A row at a time, when a batch was refused: a repeated key is ignored, as in the batch.
INSERT_COLUMNS = (
    "dedupe_key",
    "account_id",
    "action",
    "payload",
    "status",
    "attempts",
    "due_at",
    "created_at",
)
_QUOTED = ", ".join(f'"{c}"' for c in INSERT_COLUMNS)
_MARKS = ", ".join("?" for _ in INSERT_COLUMNS)
INSERT_SQL = (
    f'INSERT INTO "{_TABLE}" ({_QUOTED}) VALUES ({_MARKS}) ON CONFLICT ("dedupe_key") DO NOTHING'
)
HOUR = 3600.0
# While the database does not answer, the loop tries again after 1 s, 2 s, 4 s ... 60 s.
OUTAGE_FIRST_WAIT = 1.0
OUTAGE_MAX_WAIT = 60.0
# After a failure that is not an outage (a bug), the loop tries again after this long.
FAILURE_WAIT = timedelta(seconds=5)
# At the hourly cap, look again after this long (the window does not say when its oldest
# send slides out, and a minute late is harmless where an hour's cap is concerned).
CAP_RECHECK = timedelta(seconds=60)
# How often a running instance looks for sends a crashed instance left mid-flight.
SETTLE_EVERY = timedelta(seconds=30)
MIN_WAIT = timedelta(milliseconds=1)


class Pacer:
    """When an account may next act: a minimum gap with jitter, and an hourly cap.

    Both live in the key-value store: the gap is a key that exists until the next send is
    allowed (taking it is the reservation, so of two instances only one gets a slot), and
    the hour is a sliding window of sends. With Redis this holds across instances."""

    def __init__(
        self, account_id: str, cfg: PacingSection | None, rng: random.Random, kv: KV
    ) -> None:
        self.account_id = account_id
        self.cfg = cfg
        self.rng = rng
        self.kv = kv
        self.gap_key = f"pace:{account_id}:gap"
        self.hour_key = f"pace:{account_id}:hour"
        self._seq = 0

    async def reserve(self, now: datetime) -> datetime | None:
        """Take a send slot now (None), or say when to ask again (always later than now)."""
        if self.cfg is None:
            return None
        if await self.kv.window_count(self.hour_key, HOUR) >= self.cfg.max_per_hour:
            return now + CAP_RECHECK
        gap = self.cfg.min_interval_seconds + self.rng.uniform(0, self.cfg.jitter_seconds)
        if gap <= 0 or await self.kv.set_if_absent(self.gap_key, "1", ttl=gap):
            self._seq += 1
            await self.kv.window_hit(self.hour_key, HOUR, member=f"{id(self)}:{self._seq}")
            return None
        return max(await self.next_slot(now), now + MIN_WAIT)

    async def refund(self) -> None:
        """Give back a gap just reserved and not used (the hour's count keeps the hit:
        stricter, never looser)."""
        if self.cfg is not None:
            await self.kv.delete(self.gap_key)

    async def next_slot(self, now: datetime) -> datetime:
        """When a slot may be free, without taking one."""
        if self.cfg is None:
            return now
        if await self.kv.window_count(self.hour_key, HOUR) >= self.cfg.max_per_hour:
            return now + CAP_RECHECK
        left = await self.kv.ttl(self.gap_key)
        # Rounded up to the millisecond: float seconds would otherwise wake a hair early.
        return now + timedelta(milliseconds=math.ceil(left * 1000)) if left else now

    async def seed(self, sent: list[datetime], now: datetime) -> None:
        """After a restart on the in-process store (which starts empty): the sends of the
        last hour count again, from now (stricter than their real times, never looser),
        and the gap after the last one holds."""
        if self.cfg is None or not sent:
            return
        for at in sent:
            self._seq += 1
            await self.kv.window_hit(self.hour_key, HOUR, member=f"seed:{at.isoformat()}")
        left = (sent[-1] + timedelta(seconds=self.cfg.min_interval_seconds) - now).total_seconds()
        if left > 0:
            await self.kv.set_if_absent(self.gap_key, "1", ttl=left)


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


def _ids_of(row: OutboxMessage) -> list[str | None]:
    """The ids a row's payload names (room, contact, mentions): masked wherever logged."""
    p = row.payload if isinstance(row.payload, dict) else {}
    ids = [p.get("room"), p.get("to"), p.get("contact")]
    mentions = p.get("mentions")
    if isinstance(mentions, list):
        ids.extend(m for m in mentions if isinstance(m, str))
    return [i if isinstance(i, str) else None for i in ids]


def _named(row: OutboxMessage) -> str:
    """A row as its log lines name it: id, action, masked key."""
    return f"#{row.id} {row.action} {mask_key(row.dedupe_key)}"


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, list | tuple):
        return [_storable(v) for v in value]
    if isinstance(value, dict):
        return {k: _storable(v) for k, v in value.items()}
    return value


class Outbox:
    def __init__(
        self,
        clock: Clock,
        cfg: OutboxSection,
        rng: random.Random | None = None,
        kv: KV | None = None,
        owner: str = "local",
    ) -> None:
        self.clock = clock
        self.cfg = cfg
        self.rng = rng or random.Random()
        self.kv = kv if kv is not None else MemoryKV(clock)
        self.owner = owner  # who holds the leases this instance takes
        self._next_settle: datetime | None = None
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
        self._stop_signal = asyncio.Event()
        self.echo_grace = timedelta(seconds=cfg.echo_grace_seconds)
        # Unsure sends this instance waits on: row id -> (row, echoes count from, until).
        self._awaiting: dict[int, tuple[OutboxMessage, datetime, datetime]] = {}
        # The database outage in progress: since when, and how many tries failed.
        self._away_since: datetime | None = None
        self._away_tries = 0
        self.set_aside = 0  # rows the database refused, kept in dead_letter

    # ------------------------------------------------------------------ setup

    def add_channel(self, channel: Channel, pacing: PacingSection | None) -> None:
        self.channels[channel.account_id] = channel
        self.pacers[channel.account_id] = Pacer(channel.account_id, pacing, self.rng, self.kv)
        channel.watch_echoes(self._wake.set)

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
        marketing: bool = False,
    ) -> None:
        """`marketing`: a nurture message to her, looked at again when it is due: after
        退订 or a care stop meanwhile it is withheld, during a care pause it waits."""
        if not room_id and not contact_id:
            raise ValueError("say needs a room or a contact")
        payload: dict[str, Any] = {
            "room": room_id,
            "to": None if room_id else contact_id,
            "text": text,
            "mentions": list(mentions) if room_id else [],
        }
        if marketing and not room_id:
            payload["marketing"] = True
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
        # Checked here, where a bad action costs only the handler that made it: a row the
        # database refuses would hold back the whole batch it is written in.
        payload = _storable(payload)
        try:
            json.dumps(payload)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"outbox {action} {mask_key(key)}: payload is not JSON: {exc}"
            ) from exc
        now = self.clock.now()
        self._buffer.append(
            OutboxMessage(
                dedupe_key=storable(key)[:191],
                account_id=account_id,
                action=action,
                payload=payload,
                status="pending",
                due_at=now,
                created_at=now,
            )
        )
        self._wake.set()

    @property
    def unpersisted(self) -> int:
        """Actions still only in memory (their write has not succeeded yet)."""
        return len(self._buffer)

    async def stored(self) -> None:
        """Write buffered actions and raise while any is still only in memory: work that
        hands the outbox a send (a post, a nurture step) is done only once its send is in
        the table, so a crash right after cannot lose it."""
        await self.persist()
        if self._buffer:
            raise RuntimeError(f"{len(self._buffer)} outbox rows not stored yet")

    async def persist(self) -> int:
        """Write buffered actions; nothing reaches a channel before this. Returns how many
        were written. A row the database refuses is set aside in dead_letter; while the
        database does not answer, the rows stay buffered for the next try."""
        async with self._persist_lock:
            if not self._buffer:
                return 0
            batch, self._buffer = self._buffer, []
            try:
                await OutboxMessage.bulk_create(batch, ignore_conflicts=True)
            except Exception as exc:
                log.debug("outbox batch of %d refused (%s); writing row by row", len(batch), exc)
            else:
                return len(batch)
            # A repeated key is ignored, so rows of the batch already written are harmless.
            try:
                written, aside = await insert_each(
                    OutboxMessage,
                    INSERT_SQL,
                    [self._values(row) for row in batch],
                    kind="outbox",
                    at=self.clock.now(),
                    columns=INSERT_COLUMNS,
                )
            except DatabaseAway as away:
                self._buffer[:0] = batch[away.handled :]
                log.debug("outbox: database away; %d rows kept", len(batch) - away.handled)
                return 0
            except Exception:
                self._buffer[:0] = batch
                log.exception("persisting %d outbox rows failed; will retry", len(batch))
                return 0
            self.set_aside += aside
            return written

    @staticmethod
    def _values(row: OutboxMessage) -> list[Any]:
        payload = OutboxMessage._meta.fields_map["payload"].to_db_value(row.payload, row)
        return [
            row.dedupe_key,
            row.account_id,
            row.action,
            payload,
            row.status,
            row.attempts,
            row.due_at,
            row.created_at,
        ]

    # ------------------------------------------------------------------ send

    async def resume(self) -> None:
        """At start: settle sends a crashed instance left in flight, and pace from the sends
        of the last hour when the pacing store starts empty (the in-process one)."""
        await self.settle_expired()
        if isinstance(self.kv, MemoryKV):
            now = self.clock.now()
            recent = (
                await OutboxMessage.filter(status="sent", sent_at__gte=now - timedelta(hours=1))
                .order_by("sent_at")
                .values_list("account_id", "sent_at")
            )
            by_account: dict[str, list[datetime]] = {}
            for account_id, sent_at in recent:
                by_account.setdefault(account_id, []).append(sent_at)
            for account_id, times in by_account.items():
                pacer = self.pacers.get(account_id)
                if pacer is not None:
                    await pacer.seed(times, now)

    async def settle_expired(self) -> int:
        """Rows left in 'sending' whose lease has expired (or that carry none, from before
        leases): take each with a fresh lease, then ask its channel whether it happened.
        A channel that sees echoes gets the grace period for the echo to come. Returns how
        many were settled (resolved, or waiting for an echo)."""
        now = self.clock.now()
        self._next_settle = now + SETTLE_EVERY
        stuck = await OutboxMessage.filter(
            Q(lease_until__isnull=True) | Q(lease_until__lte=now),
            status="sending",
            account_id__in=list(self.channels),
        ).order_by("id")
        settled = 0
        for row in stuck:
            channel = self.channels[row.account_id]
            waited = self._awaiting.pop(row.id, None)
            since = waited[1] if waited else self._sent_off(row)
            until = now + self.echo_grace
            # Conditional on the row as read: of two instances settling, one takes it.
            taken = await OutboxMessage.filter(
                id=row.id, status="sending", lease_owner=row.lease_owner
            ).update(lease_owner=self.owner, lease_until=until)
            if not taken:
                continue
            settled += 1
            done = await channel.already_done(row.dedupe_key)
            if done is None:
                done = await self._echo_seen(channel, row, since)
                if done is False and waited is None:
                    self._awaiting[row.id] = (row, since, until)
                    log.info(
                        "outbox: %s was in flight when its instance stopped; waiting up to "
                        "%.0fs for its echo",
                        _named(row),
                        self.echo_grace.total_seconds(),
                    )
                    continue
                if done is False:
                    log.warning(
                        "outbox: no echo of %s within %.0fs; sending it again",
                        _named(row),
                        self.echo_grace.total_seconds(),
                    )
                elif done is None:
                    log.warning(
                        "outbox: cannot tell whether %s was sent before its instance stopped; "
                        "resending",
                        _named(row),
                    )
            if done:
                await self._mark_sent(row, "it had gone out (echo or channel record)")
            else:
                await OutboxMessage.filter(id=row.id, lease_owner=self.owner).update(
                    status="pending", lease_owner=None, lease_until=None
                )
        return settled

    def _sent_off(self, row: OutboxMessage) -> datetime:
        """When a stuck row was (at the earliest) handed to the channel: echoes before
        that belong to other sends. Its lease started lease_seconds before it ends, or
        later; a grace lease taken by a settling instance is shorter, hence the margin."""
        if row.lease_until is None:
            return row.created_at
        lease = timedelta(seconds=self.cfg.lease_seconds) + self.echo_grace
        return max(row.created_at, row.lease_until - lease)

    async def _echo_seen(
        self, channel: Channel, row: OutboxMessage, since: datetime
    ) -> bool | None:
        """Whether the channel saw the echo of this send since `since` (None: it cannot)."""
        if row.action != "say":
            return None
        p = row.payload
        try:
            return await channel.echoed(
                room_id=p.get("room"),
                contact_id=p.get("to"),
                text=p["text"],
                mentions=p.get("mentions", []),
                since=since,
            )
        except ChannelError as exc:
            log.info("outbox: looking for the echo of %s failed: %s", _named(row), exc)
            return False

    async def _mark_sent(self, row: OutboxMessage, how: str) -> None:
        """A send found to have happened: sent, counted and reported, once."""
        now = self.clock.now()
        changed = await OutboxMessage.filter(
            id=row.id, status="sending", lease_owner=self.owner
        ).update(status="sent", sent_at=now, lease_owner=None, lease_until=None)
        if not changed:
            return
        log.info("outbox: %s marked sent: %s", _named(row), how)
        self._report(row, now)

    def _report(self, row: OutboxMessage, at: datetime) -> None:
        self.sent += 1
        record = action_record(row, at)
        for observer in self.observers:
            try:
                observer(record)
            except Exception:
                log.exception("outbox observer failed")

    async def _confirm_echoes(self) -> None:
        """Unsure sends whose echo has come are sent; those past their grace are settled."""
        now = self.clock.now()
        for row_id, (row, since, until) in list(self._awaiting.items()):
            channel = self.channels.get(row.account_id)
            if channel is None:
                continue
            if await self._echo_seen(channel, row, since):
                del self._awaiting[row_id]
                await self._mark_sent(row, "its echo came")
            elif until <= now:
                self._next_settle = now  # the grace is over: settle it this round

    async def pump(self) -> datetime | None:
        """Send everything due now that pacing allows. Returns when to call again."""
        async with self._pump_lock:
            await self.persist()
            await self._confirm_echoes()
            if self._next_settle is None or self.clock.now() >= self._next_settle:
                await self.settle_expired()
            wake: datetime | None = min((u for _, _, u in self._awaiting.values()), default=None)
            for account_id in self.channels:
                next_at = await self._pump_account(account_id)
                if next_at is not None and (wake is None or next_at < wake):
                    wake = next_at
            return wake

    async def _pump_account(self, account_id: str) -> datetime | None:
        pacer = self.pacers[account_id]
        if not self.channels[account_id].can_send():
            return None  # logged out: its sends wait, attempts unspent (wake() at login)
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
                wait_until = await pacer.reserve(now)
                if wait_until is not None:
                    return wait_until
                if not await self._send(row):
                    await pacer.refund()  # another instance had it: the slot is unused

    async def _send(self, row: OutboxMessage) -> bool:
        """Claim the row and perform it. False when another instance had claimed it."""
        now = self.clock.now()
        lease_until = now + timedelta(seconds=self.cfg.lease_seconds)
        claimed = await sql.execute(OutboxMessage, CLAIM_SQL, [self.owner, lease_until, row.id])
        if not claimed:
            return False
        if await self._withheld(row, now):
            return True
        row.attempts += 1
        channel = self.channels[row.account_id]
        try:
            await self._perform(channel, row)
        except OutcomeUnknown as exc:
            if row.action == "say":
                await self._await_echo(row, exc, since=now)
            else:  # a kick, an accept or an invite done twice does no harm: retried
                await self._failed(row, exc, retryable=True)
            return True
        except Exception as exc:
            retryable = not isinstance(exc, ChannelError) or exc.retryable
            await self._failed(row, exc, retryable)
            return True
        if not await sql.execute(OutboxMessage, SENT_SQL, [now, row.id, self.owner]):
            log.warning("outbox: %s was sent after its lease was taken over", _named(row))
        self._report(row, now)
        return True

    async def _withheld(self, row: OutboxMessage, now: datetime) -> bool:
        """A marketing message that may no longer go now: withheld for good after 退订 or
        a care stop, or put back until a care pause or a takeover ends."""
        payload = row.payload if isinstance(row.payload, dict) else {}
        contact = payload.get("to")
        if not payload.get("marketing") or not isinstance(contact, str):
            return False
        hold = await care.marketing_hold(contact, now)
        if (hold is not None and hold.stopped) or not await privacy.can_market(contact):
            await OutboxMessage.filter(id=row.id, status="sending", lease_owner=self.owner).update(
                status="withheld", last_error="marketing stopped", lease_owner=None
            )
            log.info("outbox: %s withheld: marketing to her stopped", _named(row))
            return True
        if hold is not None and hold.until is not None and hold.until > now:
            # Looked at again hourly: staff may end the hold early.
            due = min(hold.until, now + timedelta(hours=1))
            await OutboxMessage.filter(id=row.id, status="sending", lease_owner=self.owner).update(
                status="pending", due_at=due, lease_owner=None, lease_until=None
            )
            return True
        return False

    async def _await_echo(self, row: OutboxMessage, exc: Exception, since: datetime) -> None:
        """An unsure send: kept 'sending' under this instance's lease for the grace period,
        waiting for its echo; the settling after the lease resends it if none came."""
        until = self.clock.now() + self.echo_grace
        error = f"{type(exc).__name__}: {exc}"
        await OutboxMessage.filter(id=row.id, status="sending", lease_owner=self.owner).update(
            lease_until=until, last_error=f"{error}; waiting for its echo"
        )
        self._awaiting[row.id] = (row, since, until)
        log.warning(
            "outbox: %s outcome unknown (%s); waiting up to %.0fs for its echo",
            _named(row),
            mask_ids_in(error, _ids_of(row)),
            self.echo_grace.total_seconds(),
        )

    async def _failed(self, row: OutboxMessage, exc: Exception, retryable: bool) -> None:
        error = f"{type(exc).__name__}: {exc}"
        shown = mask_ids_in(error, _ids_of(row))
        if not isinstance(exc, ChannelError):  # ours: a stack trace, with her ids masked
            trace = "".join(traceback.format_exception(exc))
            log.error("outbox: %s raised:\n%s", _named(row), mask_ids_in(trace, _ids_of(row)))
        if retryable and row.attempts < self.cfg.max_attempts:
            delay = min(
                self.cfg.retry_max_seconds, self.cfg.retry_base_seconds * 2 ** (row.attempts - 1)
            )
            delay *= 1 + self.rng.uniform(0, 0.2)
            due = self.clock.now() + timedelta(seconds=delay)
            await OutboxMessage.filter(id=row.id, status="sending", lease_owner=self.owner).update(
                status="pending", due_at=due, last_error=error, lease_owner=None, lease_until=None
            )
            log.warning(
                "outbox: %s failed (attempt %d), retry in %.0fs: %s",
                _named(row),
                row.attempts,
                delay,
                shown,
            )
        else:
            await OutboxMessage.filter(id=row.id, status="sending", lease_owner=self.owner).update(
                status="failed", last_error=error, lease_owner=None, lease_until=None
            )
            self.failed += 1
            log.error("outbox: %s gave up: %s", _named(row), shown)

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

    def wake(self) -> None:
        """Pump now (an account logged in again: its waiting sends can go)."""
        self._wake.set()

    def request_stop(self) -> None:
        """Make run_forever return after the pump in hand; drain() still works after."""
        self._stopping = True
        self._stop_signal.set()
        self._wake.set()

    async def run_forever(self) -> None:
        """Production loop: pump, then wait for new work or the next due time. While the
        database is away, wait out the backoff: new work cannot be written anyway."""
        self._stopping = False
        self._stop_signal.clear()
        while not self._stopping:
            when = await self.step()
            self._wake.clear()
            if self._stopping:
                return
            if self._away_since is not None:
                await sleep_or_wake(self.clock, when, self._stop_signal)
                continue
            if self._buffer:
                continue
            await sleep_or_wake(self.clock, when, self._wake)

    async def step(self) -> datetime:
        """One round of the loop: pump, and say when the next round is due. A database
        outage is logged when it starts and when it ends, never once per try."""
        try:
            wake = await self.pump()
        except Exception as exc:
            if await database_answers(OutboxMessage):
                self._outage_over()
                log.exception("outbox pump failed; retrying shortly")
                return self.clock.now() + FAILURE_WAIT
            return self._outage(exc)
        self._outage_over()
        return wake or self.clock.now() + timedelta(seconds=30)

    def _outage(self, exc: Exception) -> datetime:
        now = self.clock.now()
        if self._away_since is None:
            self._away_since, self._away_tries = now, 0
            log.warning(
                "outbox: the database is not answering (%s); sends wait, retrying with backoff",
                type(exc).__name__,
            )
        self._away_tries += 1
        wait = min(OUTAGE_MAX_WAIT, OUTAGE_FIRST_WAIT * 2 ** (self._away_tries - 1))
        return now + timedelta(seconds=wait)

    def _outage_over(self) -> None:
        if self._away_since is None:
            return
        lasted = (self.clock.now() - self._away_since).total_seconds()
        log.warning(
            "outbox: the database answers again after %.1fs away (%d tries)",
            lasted,
            self._away_tries,
        )
        self._away_since, self._away_tries = None, 0

    @property
    def database_away(self) -> bool:
        return self._away_since is not None

    async def next_due(self) -> datetime | None:
        """When something queued can next be sent, pacing included, or when a send another
        instance left in flight may be settled."""
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
            at = max(row.due_at, await pacer.next_slot(now))
            if best is None or at < best:
                best = at
        stuck = (
            await OutboxMessage.filter(
                status="sending", lease_until__isnull=False, account_id__in=list(self.channels)
            )
            .order_by("lease_until")
            .limit(1)
            .values_list("lease_until", flat=True)
        )
        for expires in stuck:
            if isinstance(expires, datetime) and (best is None or expires < best):
                best = expires
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
