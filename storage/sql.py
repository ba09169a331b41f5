"""Plain SQL for the few hot statements where the ORM's query building dominated the cost.

Statements are written once with `?` placeholders and converted to `$1, $2...` for
PostgreSQL. Only static SQL goes through here: values are always parameters, never
formatted into the text, so a `?` can only be a placeholder.
"""

from __future__ import annotations

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


async def execute(model: type[Model], sql: str, params: list[Any]) -> int:
    """Run one statement on the model's connection; returns the rows it changed."""
    client = model._meta.db
    changed, _rows = await client.execute_query(
        dialect_sql(client.capabilities.dialect, sql), params
    )
    return int(changed)


async def execute_many(model: type[Model], sql: str, rows: list[list[Any]]) -> None:
    """Run one statement for each row, in one transaction."""
    client = model._meta.db
    await client.execute_many(dialect_sql(client.capabilities.dialect, sql), rows)
