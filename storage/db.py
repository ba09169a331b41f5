"""Opening and closing the database: SQLite (WAL) by default, PostgreSQL by URL.

tortoise-orm 1.x keeps its state in a context (a contextvar). `Database.open` enters one
in the calling task, so every task the app starts afterwards inherits it; nothing global.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from urllib.parse import urlparse

from tortoise.context import TortoiseContext

from storage.models import ALL_MODELS

log = logging.getLogger(__name__)

MODELS_MODULE = "storage.models"


def describe_url(url: str) -> str:
    """The URL without its password, for logs."""
    parsed = urlparse(url)
    if parsed.password:
        netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@")
        return parsed._replace(netloc=netloc).geturl()
    return url


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self._ctx: TortoiseContext | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    async def open(self) -> None:
        if self.is_sqlite and ":memory:" not in self.url:
            path = Path(self.url.removeprefix("sqlite://"))
            path.parent.mkdir(parents=True, exist_ok=True)
        url = self.url
        if self.is_sqlite and "synchronous=" not in url:
            # WAL with synchronous=NORMAL survives a crash of the process (only a power cut
            # can lose the last commits) and is several times faster than FULL.
            url += ("&" if "?" in url else "?") + "synchronous=NORMAL"
        ctx = TortoiseContext()
        ctx.__enter__()
        # The connection is named after the backend: tortoise caches compiled INSERTs per
        # connection name, so SQLite and PostgreSQL in one process (the contract tests)
        # must not share a name.
        name = "sqlite" if self.is_sqlite else "postgres"
        await ctx.init(
            config={
                "connections": {name: url},
                "apps": {"models": {"models": [MODELS_MODULE], "default_connection": name}},
                "use_tz": True,
            }
        )
        # safe=True: create what is missing, keep what exists (first start creates the schema).
        await ctx.generate_schemas(safe=True)
        await add_missing_columns()
        self._ctx = ctx
        log.info("database ready: %s", describe_url(self.url))

    async def close(self) -> None:
        if self._ctx is not None:
            await self._ctx.close_connections()
            # Closed from another task than the one that opened: nothing to restore.
            with contextlib.suppress(ValueError):
                self._ctx.__exit__(None, None, None)
            self._ctx = None

    async def truncate_all(self) -> None:
        """Delete every row (tests only)."""
        for model in ALL_MODELS:
            await model.all().delete()


async def add_missing_columns() -> list[str]:
    """Add the columns a newer version's models have and an existing table lacks.

    generate_schemas(safe=True) creates missing tables but never alters existing ones. New
    columns are nullable or have a plain default, so adding them is safe; anything else
    stops the start with a clear error (it needs a hand-written migration). Indexes and
    unique constraints on added columns are not created. Returns what was added.
    """
    added: list[str] = []
    for model in ALL_MODELS:
        client = model._meta.db
        dialect = client.capabilities.dialect
        table = model._meta.db_table
        if dialect == "postgres":
            rows = await client.execute_query_dict(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = $1 AND table_schema = current_schema()",
                [table],
            )
            existing = {r["column_name"] for r in rows}
        else:
            rows = await client.execute_query_dict(f'PRAGMA table_info("{table}")')
            existing = {r["name"] for r in rows}
        for name, column in model._meta.fields_db_projection.items():
            if column in existing:
                continue
            field = model._meta.fields_map[name]
            sql_type = field.get_for_dialect(dialect, "SQL_TYPE")
            if field.null:
                tail = "NULL"
            elif isinstance(field.default, bool):
                tail = f"NOT NULL DEFAULT {'TRUE' if field.default else 'FALSE'}"
            elif isinstance(field.default, int | float):
                tail = f"NOT NULL DEFAULT {field.default}"
            elif isinstance(field.default, str):
                quoted = field.default.replace("'", "''")
                tail = f"NOT NULL DEFAULT '{quoted}'"
            elif field.default in (dict, list):
                tail = f"NOT NULL DEFAULT '{'{}' if field.default is dict else '[]'}'"
            else:
                raise RuntimeError(
                    f"the database lacks column {table}.{column}, which has no default: "
                    "it needs a hand-written migration before this version can start"
                )
            await client.execute_script(
                f'ALTER TABLE "{table}" ADD COLUMN "{column}" {sql_type} {tail}'
            )
            added.append(f"{table}.{column}")
            log.warning("database upgraded: added column %s.%s", table, column)
    return added
