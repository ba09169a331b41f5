"""The durable work queue's table (`work`): schedule, claim with a lease, finish, retry.

Everything that must happen at a time is a row here: a dialog reminder, a welcome batch,
the daily stage job, later a scheduled post or a nurture step. The queries live in this
module only; the loop that runs the rows is bot/work.py.

- `schedule` inserts a row under a unique key; scheduling the same key again (a second
  instance, a restart, a re-handled event) changes nothing, so a fire happens once.
- `claim` takes due rows atomically: pending rows whose time has come, and running rows
  whose lease has expired (the instance that took them died). A lease that still runs is
  never taken. PostgreSQL does it in one `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE
  SKIP LOCKED) RETURNING`; SQLite, which has one writer at a time, with a conditional
  update per candidate.
- `finish`, `retry` and `fail` act only while the caller still holds the lease, so an
  instance whose lease expired cannot overwrite what the new holder did.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q

from storage import sql
from storage.models import WorkItem

KEY_MAX = 191

_TABLE = WorkItem._meta.db_table
# PostgreSQL: one statement claims a batch; SKIP LOCKED lets two instances claim
# different rows at the same moment instead of waiting on each other.
_CLAIM_PG = (
    f'UPDATE "{_TABLE}" SET "status" = \'running\', "lease_owner" = ?, "lease_until" = ?, '
    '"attempts" = "attempts" + 1 WHERE "id" IN ('
    f'SELECT "id" FROM "{_TABLE}" WHERE "kind" = ANY(?) AND ('
    '("status" = \'pending\' AND "due_at" <= ?) OR '
    '("status" = \'running\' AND "lease_until" < ?)) '
    'ORDER BY "due_at", "id" LIMIT ? FOR UPDATE SKIP LOCKED) RETURNING "id"'
)


@dataclass(frozen=True)
class Work:
    """A claimed row, as a runner sees it."""

    id: int
    kind: str
    key: str
    due_at: datetime
    payload: dict[str, Any]
    account_id: str | None
    contact_id: str | None
    attempts: int


def _work(row: WorkItem) -> Work:
    return Work(
        id=row.id,
        kind=row.kind,
        key=row.key,
        due_at=row.due_at,
        payload=dict(row.payload or {}),
        account_id=row.account_id,
        contact_id=row.contact_id,
        attempts=row.attempts,
    )


async def schedule(
    kind: str,
    key: str,
    due_at: datetime,
    now: datetime,
    *,
    payload: dict[str, Any] | None = None,
    account_id: str | None = None,
    contact_id: str | None = None,
) -> bool:
    """Add a row unless one with this key exists. True if this call added it."""
    if len(key) > KEY_MAX:
        raise ValueError(f"work key longer than {KEY_MAX} characters: {key[:40]}...")
    try:
        await WorkItem.create(
            kind=kind,
            key=key,
            due_at=due_at,
            payload=payload or {},
            account_id=account_id,
            contact_id=contact_id,
            status="pending",
            created_at=now,
        )
    except IntegrityError:
        return False
    return True


def _claimable(kinds: Sequence[str], now: datetime) -> Q:
    return Q(kind__in=list(kinds)) & (
        Q(status="pending", due_at__lte=now) | Q(status="running", lease_until__lt=now)
    )


async def claim(
    kinds: Sequence[str], owner: str, now: datetime, lease_until: datetime, limit: int
) -> list[Work]:
    """Take up to `limit` due rows of these kinds for `owner` until `lease_until`."""
    if not kinds:
        return []
    if sql.dialect_of(WorkItem) == "postgres":
        rows = await sql.fetch(
            WorkItem, _CLAIM_PG, [owner, lease_until, list(kinds), now, now, limit]
        )
        ids = [r["id"] for r in rows]
    else:
        ids = []
        tried: set[int] = set()
        while len(ids) < limit:
            candidates = (
                await WorkItem.filter(_claimable(kinds, now))
                .exclude(id__in=list(tried) or [0])
                .order_by("due_at", "id")
                .limit(limit - len(ids))
                .values_list("id", flat=True)
            )
            if not candidates:
                break
            for row_id in candidates:
                assert isinstance(row_id, int)
                tried.add(row_id)
                # The same condition again, on this one row: whoever updates it first has
                # it; one that lost a row looks further instead of coming back empty.
                taken = await WorkItem.filter(_claimable(kinds, now), id=row_id).update(
                    status="running",
                    lease_owner=owner,
                    lease_until=lease_until,
                    attempts=F("attempts") + 1,
                )
                if taken:
                    ids.append(row_id)
    if not ids:
        return []
    claimed = await WorkItem.filter(id__in=ids).order_by("due_at", "id")
    return [_work(row) for row in claimed]


async def finish(item: Work, owner: str, now: datetime) -> bool:
    """Mark it done, if `owner` still holds it."""
    changed = await WorkItem.filter(id=item.id, status="running", lease_owner=owner).update(
        status="done", finished_at=now, lease_owner=None, lease_until=None, last_error=None
    )
    return bool(changed)


async def retry(item: Work, owner: str, due_at: datetime, error: str | None) -> bool:
    """Put it back for `due_at`, if `owner` still holds it."""
    changed = await WorkItem.filter(id=item.id, status="running", lease_owner=owner).update(
        status="pending", due_at=due_at, lease_owner=None, lease_until=None, last_error=error
    )
    return bool(changed)


async def defer(item: Work, owner: str, due_at: datetime) -> bool:
    """Put it back for `due_at` without counting this run as an attempt."""
    changed = await WorkItem.filter(id=item.id, status="running", lease_owner=owner).update(
        status="pending",
        due_at=due_at,
        lease_owner=None,
        lease_until=None,
        attempts=F("attempts") - 1,
    )
    return bool(changed)


async def fail(item: Work, owner: str, error: str, now: datetime) -> bool:
    """Give up on it (kept with its error for ops to read), if `owner` still holds it."""
    changed = await WorkItem.filter(id=item.id, status="running", lease_owner=owner).update(
        status="failed", finished_at=now, lease_owner=None, lease_until=None, last_error=error
    )
    return bool(changed)


async def next_due(kinds: Sequence[str]) -> datetime | None:
    """When the next row of these kinds becomes claimable: the earliest pending due time,
    or the earliest lease of a running row to expire."""
    if not kinds:
        return None
    pending = (
        await WorkItem.filter(kind__in=list(kinds), status="pending")
        .order_by("due_at")
        .limit(1)
        .values_list("due_at", flat=True)
    )
    leased = (
        await WorkItem.filter(kind__in=list(kinds), status="running", lease_until__isnull=False)
        .order_by("lease_until")
        .limit(1)
        .values_list("lease_until", flat=True)
    )
    times: list[Any] = [*pending, *leased]
    present: list[datetime] = [t for t in times if isinstance(t, datetime)]
    return min(present) if present else None


async def get(key: str) -> WorkItem | None:
    return await WorkItem.get_or_none(key=key)


async def rows(kind: str | None = None, status: str | None = None) -> list[WorkItem]:
    """Rows for inspection (ops, tests), oldest due first."""
    query = WorkItem.all()
    if kind is not None:
        query = query.filter(kind=kind)
    if status is not None:
        query = query.filter(status=status)
    return list(await query.order_by("due_at", "id"))


async def cancel(keys: Iterable[str]) -> int:
    """Drop pending rows by key (a paused post, a dialog that ended)."""
    keys = list(keys)
    if not keys:
        return 0
    return int(await WorkItem.filter(key__in=keys, status="pending").delete())


async def forget_contact(contact_id: str) -> int:
    """Her pending and past work rows: they may carry what she said."""
    return int(await WorkItem.filter(contact_id=contact_id).delete())
