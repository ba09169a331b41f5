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

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from storage import sql
from storage.models import WorkItem

KEY_MAX = 191

_TABLE = WorkItem._meta.db_table
_RETURNING = '"id", "kind", "key", "due_at", "payload", "account_id", "contact_id", "attempts"'
# One statement claims a batch and returns it. On PostgreSQL, SKIP LOCKED lets two
# instances claim different rows at the same moment instead of waiting on each other;
# SQLite has one writer at a time, so the statement is atomic as it stands.
_CLAIM = (
    f'UPDATE "{_TABLE}" SET "status" = \'running\', "lease_owner" = ?, "lease_until" = ?, '
    '"attempts" = "attempts" + 1 WHERE "id" IN ('
    f'SELECT "id" FROM "{_TABLE}" WHERE "kind" {{kinds}} AND ('
    '("status" = \'pending\' AND "due_at" <= ?) OR '
    '("status" = \'running\' AND "lease_until" < ?)) '
    f'ORDER BY "due_at", "id" LIMIT ?{{lock}}) RETURNING {_RETURNING}'
)
_NEXT_DUE = (
    'SELECT MIN("at") AS "at" FROM ('
    f'SELECT MIN("due_at") AS "at" FROM "{_TABLE}" WHERE "status" = \'pending\' '
    'AND "kind" {kinds} UNION ALL '
    f'SELECT MIN("lease_until") AS "at" FROM "{_TABLE}" WHERE "status" = \'running\' '
    'AND "kind" {kinds}) AS "due"'
)


def _kinds_sql(dialect: str, count: int) -> str:
    return "= ANY(?)" if dialect == "postgres" else "IN (" + ",".join("?" * count) + ")"


def _kinds_params(dialect: str, kinds: Sequence[str]) -> list[Any]:
    return [list(kinds)] if dialect == "postgres" else list(kinds)


def _as_datetime(value: Any) -> datetime:
    # PostgreSQL hands back datetimes; SQLite the UTC text tortoise wrote.
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


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


async def claim(
    kinds: Sequence[str], owner: str, now: datetime, lease_until: datetime, limit: int
) -> list[Work]:
    """Take up to `limit` due rows of these kinds for `owner` until `lease_until`."""
    if not kinds:
        return []
    dialect = sql.dialect_of(WorkItem)
    statement = _CLAIM.format(
        kinds=_kinds_sql(dialect, len(kinds)),
        lock=" FOR UPDATE SKIP LOCKED" if dialect == "postgres" else "",
    )
    params = [owner, lease_until, *_kinds_params(dialect, kinds), now, now, limit]
    rows = await sql.fetch(WorkItem, statement, params)
    claimed = [
        Work(
            id=int(r["id"]),
            kind=str(r["kind"]),
            key=str(r["key"]),
            due_at=_as_datetime(r["due_at"]),
            payload=dict(
                json.loads(r["payload"])
                if isinstance(r["payload"], str | bytes)
                else r["payload"] or {}
            ),
            account_id=r["account_id"],
            contact_id=r["contact_id"],
            attempts=int(r["attempts"]),
        )
        for r in rows
    ]
    return sorted(claimed, key=lambda w: (w.due_at, w.id))


async def renew(item: Work, owner: str, lease_until: datetime) -> bool:
    """Extend the lease, if `owner` still holds it (False: another instance took it)."""
    changed = await WorkItem.filter(id=item.id, status="running", lease_owner=owner).update(
        lease_until=lease_until
    )
    return bool(changed)


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
    or the earliest lease of a running row to expire. One statement."""
    if not kinds:
        return None
    dialect = sql.dialect_of(WorkItem)
    kinds_sql = _kinds_sql(dialect, len(kinds))
    params = _kinds_params(dialect, kinds) * 2
    rows = await sql.fetch(WorkItem, _NEXT_DUE.format(kinds=kinds_sql), params)
    at = rows[0]["at"] if rows else None
    return None if at is None else _as_datetime(at)


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


async def cancel_prefixed(kind: str, prefix: str) -> int:
    """Drop pending rows of a kind whose key starts with `prefix` (an enrolment's step,
    whichever position and step it was keyed by)."""
    rows = WorkItem.filter(kind=kind, key__startswith=prefix, status="pending")
    return int(await rows.delete())


async def prune(done_before: datetime, failed_before: datetime) -> int:
    """Delete finished rows: done ones before `done_before`, failed ones (kept longer, for
    ops to read their errors) before `failed_before`. Pending and running rows stay."""
    done = await WorkItem.filter(status="done", finished_at__lt=done_before).delete()
    failed = await WorkItem.filter(status="failed", finished_at__lt=failed_before).delete()
    return int(done) + int(failed)


async def forget_contact(contact_id: str) -> int:
    """Her pending and past work rows: they may carry what she said."""
    return int(await WorkItem.filter(contact_id=contact_id).delete())
