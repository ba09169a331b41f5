from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator

import pytest

from bot.config import DATABASE_URL_ENV, REDIS_URL_ENV
from storage.db import Database
from tests import services

# The tests reach services only through MAMABOT_TEST_* (tests/services.py). Production URLs
# are dropped so no code path under test (config loading, App.build) can fall back on them.
for _name in (DATABASE_URL_ENV, REDIS_URL_ENV):
    os.environ.pop(_name, None)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """Both databases the storage layer must work on: embedded SQLite and real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/test.sqlite3"
    return services.postgres_url()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """An open, empty database of each kind, emptied again afterwards."""
    database = Database(database_url)
    await database.open()
    await database.truncate_all()
    try:
        yield database
    finally:
        await database.truncate_all()
        await database.close()


@pytest.fixture(autouse=True)
def _quiet_libraries() -> None:
    for name in ("tortoise", "aiosqlite", "asyncpg", "jieba"):
        logging.getLogger(name).setLevel(logging.WARNING)
