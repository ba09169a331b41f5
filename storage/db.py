"""Opening and closing the database: SQLite (WAL) by default, PostgreSQL by URL.

tortoise-orm 1.x keeps its state in a context (a contextvar). `Database.open` enters one
in the calling task, so every task the app starts afterwards inherits it; nothing global.

The schema comes from migrations (storage/migrate.py). `open` applies pending ones when the
database may migrate itself (`auto_migrate`, the default: tests, the simulator, replay);
otherwise it only checks and raises `DatabaseBehind`, which names `mamabot migrate`.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from urllib.parse import urlparse

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.context import TortoiseContext

from storage import migrate as migrations
from storage import sql
from storage.migrate import DatabaseBehind, MigrationReport
from storage.models import ALL_MODELS

__all__ = ["Database", "DatabaseBehind", "MigrationReport", "add_missing_columns"]

log = logging.getLogger(__name__)

MODELS_MODULE = migrations.MODELS_MODULE


def describe_url(url: str) -> str:
    """The URL without its password, for logs."""
    parsed = urlparse(url)
    if parsed.password:
        netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@")
        return parsed._replace(netloc=netloc).geturl()
    return url


class Database:
    def __init__(self, url: str, *, auto_migrate: bool = True) -> None:
        self.url = url
        # True: open() applies pending migrations. False: open() refuses a database that is
        # behind (production `mamabot run`: migrating is the operator's `mamabot migrate`).
        self.auto_migrate = auto_migrate
        self.migrated: MigrationReport | None = None  # what open() applied, if it migrated
        self._ctx: TortoiseContext | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @property
    def client(self) -> BaseDBAsyncClient:
        assert self._ctx is not None, "the database is not open"
        return self._ctx.db()

    async def open(self) -> None:
        """Connect, then migrate (auto_migrate) or check; raises DatabaseBehind."""
        await self.connect()
        try:
            if self.auto_migrate:
                self.migrated = await self.migrate()
            else:
                pending = await self.pending()
                if pending:
                    raise DatabaseBehind(pending)
        except BaseException:
            await self.close()
            raise
        log.info("database ready: %s", describe_url(self.url))

    async def connect(self) -> None:
        """Connect without touching the schema (`mamabot migrate` migrates afterwards)."""
        if self.is_sqlite and ":memory:" not in self.url:
            path = Path(self.url.removeprefix("sqlite://").split("?", 1)[0])
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
        try:
            await ctx.init(
                config={
                    "connections": {name: url},
                    "apps": migrations.apps_config(name),
                    "use_tz": True,
                }
            )
        except BaseException:
            with contextlib.suppress(ValueError):
                ctx.__exit__(None, None, None)
            raise
        if self.is_sqlite:
            sql.sqlite_utc_datetimes()
        self._ctx = ctx

    async def migrate(self, progress: migrations.Progress | None = None) -> MigrationReport:
        """Apply pending migrations (under a lock shared by every instance)."""
        return await migrations.migrate(self.client, progress)

    async def pending(self) -> list[str]:
        """The migrations this database lacks, in order."""
        return await migrations.pending_migrations(self.client)

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
    """Add the columns the models have and the existing tables lack (see migrate.py)."""
    return await migrations.add_missing_columns(ALL_MODELS)
