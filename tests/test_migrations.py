"""Schema migrations (storage/migrate.py) on SQLite and real PostgreSQL.

Tests that create, adopt or refuse a schema use a database of their own: a SQLite file in
tmp_path, or a PostgreSQL database `test_migrations_<random>` created and dropped here, so
the shared test database keeps its (fully migrated) tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import asyncpg
import pytest
from tortoise.migrations.executor import MigrationTarget

from bot.cli import main
from storage import migrate
from storage.db import Database, DatabaseBehind
from storage.models import ALL_MODELS, Contact, Order, OutboxMessage, WorkItem
from tests import services

AT = datetime.fromisoformat("2026-11-25T09:00:00+08:00")
REPO = Path(__file__).resolve().parent.parent
ALL_MIGRATIONS = sorted(p.stem for p in (REPO / "storage" / "migrations").glob("[0-9]*.py"))


def _admin_url(url: str) -> str:
    return urlparse(url)._replace(query="").geturl()


@contextlib.asynccontextmanager
async def _own_postgres_database() -> AsyncIterator[str]:
    base = services.postgres_url()
    name = f"test_migrations_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(_admin_url(base))
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlparse(base)._replace(path=f"/{name}").geturl()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def fresh_postgres() -> AsyncIterator[str]:
    """A PostgreSQL database of this test's own, dropped afterwards."""
    async with _own_postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
async def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of this test's own, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path}/data/mamabot.sqlite3"
        return
    async with _own_postgres_database() as url:
        yield url


async def _tables(db: Database) -> set[str]:
    return await migrate._existing_tables(db.client)


async def _recorded(db: Database) -> list[str]:
    rows = await db.client.execute_query_dict(
        'SELECT "name" FROM "tortoise_migrations" WHERE "app" = \'models\' ORDER BY "name"'
    )
    return [r["name"] for r in rows]


async def test_a_fresh_database_is_migrated_once(fresh_url: str) -> None:
    db = Database(fresh_url)
    await db.open()
    try:
        assert db.migrated is not None and db.migrated.applied == ALL_MIGRATIONS
        assert await _tables(db) == {m._meta.db_table for m in ALL_MODELS}
        assert await _recorded(db) == ALL_MIGRATIONS
        assert await db.pending() == []
    finally:
        await db.close()
    again = Database(fresh_url, auto_migrate=False)  # production check: nothing pending
    await again.open()
    try:
        assert await again.migrate() == migrate.MigrationReport()
    finally:
        await again.close()


async def test_a_database_that_is_behind_is_refused_untouched(fresh_url: str) -> None:
    db = Database(fresh_url, auto_migrate=False)
    with pytest.raises(DatabaseBehind) as caught:
        await db.open()
    n = len(ALL_MIGRATIONS)
    assert str(caught.value).startswith(
        f"database is behind ({n} migration{'s' if n > 1 else ''} pending: 0001_initial"
    )
    assert str(caught.value).endswith("run `mamabot migrate`")
    await db.connect()
    try:
        assert await _tables(db) == set()  # the check created nothing
    finally:
        await db.close()


LATER_TABLES = (
    "tracked_link", "marketing_send", "enrollment", "post_state", "escalation", "care_state",
    "shop_order", "rfm_score", "dashboard_user", "web_session", "metric_day", "metric_activity",
    "metric_event", "metric_summary", "metric_last", "metric_word", "bot_identity",
    "metric_friend",
)  # fmt: skip
# Indexes later migrations add to tables that existed then (0007: the metrics' time columns).
LATER_INDEXES = (
    ("room_membership", "joined_at"), ("room_membership", "left_at"),
    ("enrollment", "enrolled_at"), ("tracked_link", "created_at"),
)  # fmt: skip
# Columns later migrations add to tables that existed then (0005: her ids elsewhere; 0008:
# when she deleted the bot).
LATER_COLUMNS = (
    ("contact", "external_id"), ("contact", "unionid"), ("contact", "phone"),
    ("contact", "unfriended_at"),
)  # fmt: skip


async def _old_schema(url: str) -> None:
    """What the code before migrations left: generate_schemas of older models (no `work`
    table, no lease columns on the outbox, no opt-out column), with rows, no history."""
    from tortoise.utils import generate_schema_for_client

    db = Database(url)
    await db.connect()
    try:
        client = db.client
        await generate_schema_for_client(client, safe=True)
        # Tables later migrations create (0002, 0003) did not exist then either.
        for table in ("work", "dead_letter", *LATER_TABLES):
            await client.execute_script(f'DROP TABLE "{table}"')
        for table, column in LATER_INDEXES:
            await _drop_indexes_on(client, table, column)
        for table, column in [
            ("outbox_message", "lease_owner"),
            ("outbox_message", "lease_until"),
            ("contact", "opted_out_at"),
            *LATER_COLUMNS,
        ]:
            if client.capabilities.dialect == "sqlite":  # it refuses to drop an indexed column
                await _drop_indexes_on(client, table, column)
            await client.execute_script(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
        await client.execute_insert(
            'INSERT INTO "contact" ("contact_id", "name", "is_friend", "first_seen_at", '
            '"updated_at") VALUES (' + ", ".join(_marks(client, 5)) + ")",
            ["c1", "小美", True, AT, AT],
        )
        await client.execute_insert(
            'INSERT INTO "outbox_message" ("dedupe_key", "account_id", "action", "payload", '
            '"status", "attempts", "due_at", "created_at") VALUES ('
            + ", ".join(_marks(client, 8))
            + ")",
            ["k1", "acc", "say", '{"text": "你好"}', "pending", 0, AT, AT],
        )
    finally:
        await db.close()


async def _drop_indexes_on(client: Any, table: str, column: str) -> None:
    """Drop the (single-column) indexes on table.column, as a schema from before had none."""
    if client.capabilities.dialect == "sqlite":
        query = (
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql LIKE ?"
        )
        _, rows = await client.execute_query(query, [table, f'%("{column}")%'])
    else:
        query = "SELECT indexname AS name FROM pg_indexes WHERE tablename = $1 AND indexdef LIKE $2"
        _, rows = await client.execute_query(query, [table, f"%({column})%"])
    for row in rows:
        await client.execute_script(f'DROP INDEX "{row["name"]}"')


def _marks(client: object, n: int) -> list[str]:
    dialect = client.capabilities.dialect  # type: ignore[attr-defined]
    return [f"${i}" if dialect == "postgres" else "?" for i in range(1, n + 1)]


async def test_a_schema_from_before_migrations_is_adopted_with_its_rows(fresh_url: str) -> None:
    await _old_schema(fresh_url)
    behind = Database(fresh_url, auto_migrate=False)
    with pytest.raises(DatabaseBehind):
        await behind.open()

    db = Database(fresh_url)
    await db.open()
    try:
        report = db.migrated
        assert report is not None and report.adopted == "0001_initial"
        assert sorted(report.added) == [
            "contact.opted_out_at",
            "outbox_message.lease_owner",
            "outbox_message.lease_until",
            "work",
        ]
        assert report.applied == ALL_MIGRATIONS[1:]
        assert await _recorded(db) == ALL_MIGRATIONS
        contact = await Contact.get(contact_id="c1")  # rows kept, new columns readable
        assert (contact.name, contact.is_friend, contact.opted_out_at) == ("小美", True, None)
        sent = await OutboxMessage.get(dedupe_key="k1")
        assert sent.payload == {"text": "你好"} and sent.lease_owner is None
        await WorkItem.create(kind="k", key="once", due_at=AT, created_at=AT)
        assert await WorkItem.filter(key="once").count() == 1
    finally:
        await db.close()

    again = Database(fresh_url, auto_migrate=False)
    await again.open()  # nothing pending: adoption is recorded
    await again.close()


async def test_0008_moves_the_order_marks_out_of_source_into_columns(fresh_url: str) -> None:
    """Before 0008, ":waiting" on shop_order.source meant "never announced" and the source
    "forgotten" a forgotten mother's order: 0008 turns them into `announced`/`forgotten`."""
    db = Database(fresh_url, auto_migrate=False)
    await db.connect()
    try:
        target = MigrationTarget("models", "0007_metrics_fixes")
        await migrate._executor(db.client).migrate([target], direction="forward")
        for order_id, source in [
            ("o-wait-csv", "csv:waiting"),
            ("o-wait-api", "api:waiting"),
            ("o-told", "api"),
            ("o-gone", "forgotten"),
        ]:
            await db.client.execute_insert(
                'INSERT INTO "shop_order" ("order_id", "amount_cents", "currency", "status", '
                '"product", "placed_at", "source", "created_at", "updated_at") VALUES ('
                + ", ".join(_marks(db.client, 9))
                + ")",
                [order_id, 100, "CNY", "paid", "", AT, source, AT, AT],
            )
    finally:
        await db.close()
    db = Database(fresh_url)
    await db.open()
    try:
        assert db.migrated is not None and db.migrated.applied[-1] == ALL_MIGRATIONS[-1]
        rows = {o.order_id: (o.source, o.announced, o.forgotten) for o in await Order.all()}
        assert rows == {
            "o-wait-csv": ("csv", False, False),
            "o-wait-api": ("api", False, False),
            "o-told": ("api", True, False),
            "o-gone": ("csv", True, True),
        }
    finally:
        await db.close()


async def test_an_sqlite_file_is_copied_aside_before_its_schema_changes(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/mamabot.sqlite3"
    await _old_schema(url)
    db = Database(url)
    await db.open()
    await db.close()
    backup = tmp_path / "mamabot.sqlite3.before-0001_initial"
    assert backup.exists()
    old = Database(f"sqlite://{backup}")
    await old.connect()
    try:
        assert "work" not in await _tables(old)
        rows = await old.client.execute_query_dict('SELECT "contact_id" FROM "contact"')
        assert rows == [{"contact_id": "c1"}]
    finally:
        await old.close()


async def test_two_instances_starting_at_once_migrate_once(fresh_url: str) -> None:
    first, second = Database(fresh_url), Database(fresh_url)
    try:
        await asyncio.gather(first.open(), second.open())
        reports = sorted(
            [first.migrated.applied, second.migrated.applied]  # type: ignore[union-attr]
        )
        assert reports == [[], ALL_MIGRATIONS]
        assert await _recorded(first) == ALL_MIGRATIONS
    finally:
        await first.close()
        await second.close()


class _Seen(logging.Handler):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.event = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()


async def test_a_migration_waits_for_the_instance_already_migrating(fresh_postgres: str) -> None:
    holder = await asyncpg.connect(_admin_url(fresh_postgres))
    await holder.execute("SELECT pg_advisory_lock($1)", migrate.PG_LOCK_KEY)
    seen = _Seen("waiting for it")
    logging.getLogger("storage.migrate").addHandler(seen)
    db = Database(fresh_postgres)
    try:
        opening = asyncio.create_task(db.open())
        await asyncio.wait_for(seen.event.wait(), 30)
        assert not opening.done()
        assert (
            await holder.fetchval(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
            )
            == 0
        )  # nothing done while the other instance holds the lock
        await holder.execute("SELECT pg_advisory_unlock($1)", migrate.PG_LOCK_KEY)
        await asyncio.wait_for(opening, 30)
        assert db.migrated is not None and db.migrated.applied == ALL_MIGRATIONS
    finally:
        logging.getLogger("storage.migrate").removeHandler(seen)
        await db.close()
        await holder.close()


async def test_a_fresh_sqlite_gets_exactly_the_schema_the_migrations_make(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fresh SQLite databases after the first replay its schema (much faster): the same."""
    monkeypatch.setattr(migrate, "_sqlite_schemas", {})
    schemas = []
    for name in ("migrated", "replayed"):
        db = Database(f"sqlite://{tmp_path}/{name}.sqlite3")
        await db.open()
        try:
            schemas.append(
                await db.client.execute_query_dict(
                    "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name"
                )
            )
            assert await _recorded(db) == ALL_MIGRATIONS
        finally:
            await db.close()
        assert migrate._sqlite_schemas  # remembered after the first
    assert schemas[0] == schemas[1]


def test_mamabot_migrate_applies_and_reports(
    fresh_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "--db", fresh_url, "--check"]) == 1
    assert "pending 0001_initial" in capsys.readouterr().out
    assert main(["migrate", "--db", fresh_url]) == 0
    out = capsys.readouterr().out
    assert [f"applied {name}" for name in ALL_MIGRATIONS] == [
        line for line in out.splitlines() if line.startswith("applied")
    ]
    assert main(["migrate", "--db", fresh_url]) == 0
    assert "database is up to date" in capsys.readouterr().out
    assert main(["migrate", "--db", fresh_url, "--check"]) == 0


def test_mamabot_run_refuses_a_postgres_database_that_is_behind(
    fresh_postgres: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = (REPO / "config.toml").read_text(encoding="utf-8")
    local = 'database_url = "sqlite://{data_dir}/mamabot.sqlite3"'
    assert local in config
    # An account (a simulated one): without any, `run` is the simulator, on its own database.
    config = config.replace(local, f'database_url = "{fresh_postgres}"')
    config += '\n[[accounts]]\nid = "a1"\nkind = "sim"\n'
    (tmp_path / "config.toml").write_text(config, encoding="utf-8")
    shutil.copytree(REPO / "content", tmp_path / "content")
    assert main(["run", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "database is behind" in err and "run `mamabot migrate`" in err


async def test_the_migrations_describe_the_models() -> None:
    changed = await migrate._changes()
    assert changed == [], (
        "storage/models.py has changes no migration describes: run "
        "`.venv/bin/python -m storage.migrate makemigrations` (or, before 0001_initial "
        "ships, `.venv/bin/python -m storage.migrate initial`)"
    )
