"""Plain SQL for the few hot statements where the ORM's query building dominated the cost.

Statements are written once with `?` placeholders and converted to `$1, $2...` for
PostgreSQL. Only static SQL goes through here: values are always parameters, never
formatted into the text, so a `?` can only be a placeholder.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from tortoise.models import Model


@cache
def _numbered(sql: str) -> str:
    parts = sql.split("?")
    out = [parts[0]]
    for i, part in enumerate(parts[1:], start=1):
        out.append(f"${i}{part}")
    return "".join(out)


def dialect_sql(dialect: str, sql: str) -> str:
    return _numbered(sql) if dialect == "postgres" else sql


def _param(value: Any) -> Any:
    # tortoise writes aware datetimes in UTC; SQLite compares them as text, so a raw
    # parameter must be UTC too or "<=" compares two different offsets.
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return value


async def execute(model: type[Model], sql: str, params: list[Any]) -> int:
    """Run one statement on the model's connection; returns the rows it changed."""
    client = model._meta.db
    changed, _rows = await client.execute_query(
        dialect_sql(client.capabilities.dialect, sql), [_param(p) for p in params]
    )
    return int(changed)


async def fetch(model: type[Model], sql: str, params: list[Any]) -> list[dict[str, Any]]:
    """Run one statement on the model's connection; returns its rows."""
    client = model._meta.db
    return list(
        await client.execute_query_dict(
            dialect_sql(client.capabilities.dialect, sql), [_param(p) for p in params]
        )
    )


def sqlite_utc_datetimes() -> None:
    """Make SQLite compare aware datetimes correctly: tortoise stores them in UTC text, but
    hands a filter's datetime (`due_at__lte=now`) to sqlite3 in its own offset, so a
    Shanghai "now" compared as text with a UTC row is eight hours off. sqlite3's adapter is
    per process; tortoise installs its own when its SQLite backend is imported, so this is
    called after connecting, and writes the same UTC text tortoise itself stores."""
    import sqlite3

    import tortoise.backends.sqlite.executor  # noqa: F401  (its adapter first, then ours)

    sqlite3.register_adapter(datetime, _utc_text)


def _utc_text(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.isoformat(" ")


def dialect_of(model: type[Model]) -> str:
    return str(model._meta.db.capabilities.dialect)


async def execute_many(model: type[Model], sql: str, rows: list[list[Any]]) -> None:
    """Run one statement for each row, in one transaction."""
    client = model._meta.db
    await client.execute_many(
        dialect_sql(client.capabilities.dialect, sql), [[_param(p) for p in row] for row in rows]
    )
