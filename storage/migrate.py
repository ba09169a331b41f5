"""Schema migrations: tortoise-orm's built-in migrations (`tortoise.migrations`).

The migration files live in `storage/migrations/` (the package `storage.migrations`); they
are operations (CreateModel, AddField ...), not SQL, so one set serves SQLite and
PostgreSQL. The database records what it has applied in the table `tortoise_migrations`.

Commands (run from the repository root):

    .venv/bin/python -m storage.migrate makemigrations [--name add_x]
        after a change to storage/models.py: writes the next migration file.
    .venv/bin/python -m storage.migrate initial
        regenerates 0001_initial from storage/models.py as they are now (only while
        0001_initial is the sole migration and has not shipped: a database that recorded
        it would never see the difference; for a development or test database that did,
        `DELETE FROM tortoise_migrations` makes the next start adopt it again, which adds
        the missing tables and columns).
    .venv/bin/python -m storage.migrate check
        exits 1 when storage/models.py has changes no migration describes.
    mamabot migrate
        applies pending migrations to the configured database.

Who migrates: `Database.open` applies pending migrations itself unless made with
auto_migrate=False; `mamabot run` does that on PostgreSQL (shared by several instances,
old ones perhaps still running), so a database that is behind stops the start with
`DatabaseBehind` naming `mamabot migrate`. On SQLite (the simulator, or one instance on its
own file) the start migrates, after copying an existing file to `<file>.before-<first
migration applied>`.

Migrating takes a lock first (PostgreSQL: an advisory lock; SQLite: a lock file next to
the database), so two instances starting at once do not both migrate: the second waits,
then finds nothing left to do.

A database created before migrations existed (tables made by generate_schemas, no
`tortoise_migrations` rows) is adopted: the tables and columns it lacks from the first
migration are added, rows kept, and the first migration is recorded as applied; later
migrations then run as usual.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.context import TortoiseContext
from tortoise.migrations.autodetector import MigrationAutodetector
from tortoise.migrations.executor import MigrationExecutor
from tortoise.migrations.graph import MigrationKey
from tortoise.migrations.migration import Migration
from tortoise.migrations.recorder import MigrationRecorder
from tortoise.migrations.schema_generator.state import State
from tortoise.migrations.schema_generator.state_apps import StateApps
from tortoise.models import Model
from tortoise.transactions import in_transaction

log = logging.getLogger(__name__)

APP = "models"
MODELS_MODULE = "storage.models"
MIGRATIONS_MODULE = "storage.migrations"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
Progress = Callable[[str], object]  # told each step as it is done, e.g. print
# pg_advisory_lock key: b"mamabot\x01" as a signed 64-bit integer. Per database.
PG_LOCK_KEY = int.from_bytes(b"mamabot\x01", "big")


def apps_config(connection_name: str) -> dict[str, dict[str, Any]]:
    return {
        APP: {
            "models": [MODELS_MODULE],
            "default_connection": connection_name,
            "migrations": MIGRATIONS_MODULE,
        }
    }


class DatabaseBehind(RuntimeError):
    """The database lacks migrations this version needs; `mamabot migrate` applies them."""

    def __init__(self, pending: list[str]) -> None:
        self.pending = pending
        n = len(pending)
        super().__init__(
            f"database is behind ({n} migration{'s' if n != 1 else ''} pending: "
            f"{', '.join(pending)}): run `mamabot migrate`"
        )


@dataclass
class MigrationReport:
    applied: list[str] = field(default_factory=list)  # migrations run, in order
    # A database from before migrations: what was added to reach the first migration,
    # which was then recorded as applied.
    adopted: str | None = None
    added: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = []
        if self.adopted:
            what = ", ".join(self.added) if self.added else "nothing to add"
            out.append(f"adopted an existing schema as {self.adopted} ({what})")
        out.extend(f"applied {name}" for name in self.applied)
        return out or ["database is up to date"]


def _executor(client: BaseDBAsyncClient) -> MigrationExecutor:
    return MigrationExecutor(client, apps_config(client.connection_name))


async def pending_migrations(client: BaseDBAsyncClient) -> list[str]:
    """Names of the migrations the database has not applied, in order."""
    executor = _executor(client)
    steps = await executor.plan()
    unknown = sorted(
        k.name
        for k in executor.loader.applied_migrations
        if k.app_label == APP and k not in executor.loader.graph.nodes
    )
    if unknown:
        log.warning(
            "the database has migrations this version does not know (a newer version "
            "migrated it?): %s",
            ", ".join(unknown),
        )
    return [s.migration.name for s in steps if not s.backward]


async def migrate(client: BaseDBAsyncClient, progress: Progress | None = None) -> MigrationReport:
    """Apply pending migrations, under a lock; adopt a database from before migrations."""
    report = MigrationReport()

    def tell(line: str) -> None:
        log.info("database migrated: %s", line)
        if progress:
            progress(line)

    async with migration_lock(client):
        executor = _executor(client)
        steps = await executor.plan()  # read under the lock: another instance may have won
        names = [s.migration.name for s in steps if not s.backward]
        applied = {k for k in executor.loader.applied_migrations if k.app_label == APP}
        tables = await _existing_tables(client)
        if not names:
            return report
        sqlite = client.capabilities.dialect == "sqlite"
        if sqlite and tables:
            await _backup_sqlite(client, names[0])
        if not applied and tables:
            report.adopted, report.added = await _adopt(executor, client)
            tell(report.lines()[0])
        elif sqlite and not applied and not tables and tuple(names) in _sqlite_schemas:
            await _replay_sqlite_schema(client, names)
            report.applied = names
            for name in names:
                tell(f"applied {name}")
            return report

        def on_progress(event: str, app_label: str, name: str) -> None:
            if event == "apply_done":
                report.applied.append(name)
                tell(f"applied {name}")

        await executor.migrate(progress=on_progress, direction="forward")
        if sqlite and not applied and not tables:
            await _remember_sqlite_schema(client, names)
    return report


# A fresh SQLite database (every test, simulator and replay run opens one) gets the schema
# the same migrations produced for the first fresh one in this process, read back from
# sqlite_master: the same SQL, without deriving it again (some 100 ms a database).
_sqlite_schemas: dict[tuple[str, ...], list[str]] = {}


async def _remember_sqlite_schema(client: BaseDBAsyncClient, names: list[str]) -> None:
    rows = await client.execute_query_dict(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
        "ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END, rowid"
    )
    _sqlite_schemas[tuple(names)] = [r["sql"] for r in rows]


async def _replay_sqlite_schema(client: BaseDBAsyncClient, names: list[str]) -> None:
    async with in_transaction(client.connection_name) as txn:
        for sql in _sqlite_schemas[tuple(names)]:
            await txn.execute_query(sql)
        recorder = MigrationRecorder(txn)
        for name in names:
            await recorder.record_applied(APP, name)


async def _backup_sqlite(client: BaseDBAsyncClient, first: str) -> None:
    """Copy an existing SQLite file aside before changing its schema."""
    path = sqlite_path(client)
    if path is None:
        return
    backup = path.with_name(f"{path.name}.before-{first}")
    if backup.exists():  # an earlier attempt failed: keep the copy from before it
        return
    quoted = str(backup).replace("'", "''")
    await client.execute_script(f"VACUUM INTO '{quoted}'")
    log.warning("database copied to %s before migrating it", backup)


@contextlib.asynccontextmanager
async def migration_lock(client: BaseDBAsyncClient) -> AsyncIterator[None]:
    """Only one migrator per database at a time, across processes and hosts."""
    dialect = client.capabilities.dialect
    if dialect == "postgres":
        # A session lock, held on one pooled connection while the migration runs on others;
        # released on exit, or by PostgreSQL when the session dies with its process.
        async with client.acquire_connection() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", PG_LOCK_KEY):
                log.warning("another instance is migrating the database: waiting for it")
                await conn.execute("SELECT pg_advisory_lock($1)", PG_LOCK_KEY)
            try:
                yield
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", PG_LOCK_KEY)
    elif dialect == "sqlite" and (path := sqlite_path(client)) is not None:
        async with _file_lock(path.with_name(path.name + ".migrate-lock")):
            yield
    else:  # an in-memory SQLite belongs to this process alone
        yield


def sqlite_path(client: BaseDBAsyncClient) -> Path | None:
    filename = str(getattr(client, "filename", ":memory:"))
    if not filename or ":memory:" in filename or filename.startswith("file:"):
        return None
    return Path(filename)


@contextlib.asynccontextmanager
async def _file_lock(path: Path) -> AsyncIterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX: no cross-process lock, one instance is assumed
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("another process is migrating %s: waiting for it", path.stem)
            await asyncio.to_thread(fcntl.flock, fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


async def _existing_tables(client: BaseDBAsyncClient) -> set[str]:
    if client.capabilities.dialect == "postgres":
        rows = await client.execute_query_dict(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
        tables = {r["table_name"] for r in rows}
    else:
        rows = await client.execute_query_dict(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
        tables = {r["name"] for r in rows}
    return tables - {MigrationRecorder(None).table_name}


async def _adopt(executor: MigrationExecutor, client: BaseDBAsyncClient) -> tuple[str, list[str]]:
    """Bring a schema made by generate_schemas (no history) to the first migration."""
    roots = executor.loader.graph.root_nodes(APP)
    if not roots:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_MODULE}")
    key: MigrationKey = roots[0]
    baseline = executor.loader.graph.nodes[key]
    assert isinstance(baseline, Migration)
    state = State(models={}, apps=StateApps(default_connections={APP: client.connection_name}))
    await baseline.apply(state, dry_run=True)
    models = [state.apps.get_model(f"{app}.{name}") for app, name in state.models]
    # The bookkeeping table first, outside the transaction (CREATE TABLE IF NOT EXISTS).
    await executor.recorder.ensure_schema(executor._schema_editor(atomic=False))
    existing = await _existing_tables(client)
    added: list[str] = []
    async with in_transaction(client.connection_name) as txn:
        editor = executor._schema_editor(atomic=True)
        editor.client = txn
        for model in models:
            table = model._meta.db_table
            if table not in existing:
                await editor.create_model(model)
                added.append(table)
                log.warning("database adopted: created table %s", table)
        added += await add_missing_columns([m for m in models if m._meta.db_table in existing], txn)
        await MigrationRecorder(txn).record_applied(APP, key.name)
    log.warning("database adopted as %s (added: %s)", key.name, ", ".join(added) or "nothing")
    return key.name, added


async def add_missing_columns(
    models: Iterable[type[Model]], client: BaseDBAsyncClient | None = None
) -> list[str]:
    """Add the columns the models have and their existing tables lack. Returns them.

    Only for columns that are nullable or have a plain default, so existing rows get a
    value; anything else stops with a clear error. Indexes and unique constraints on
    added columns are not created (as before migrations).
    """
    added: list[str] = []
    for model in models:
        db = client or model._meta.db
        dialect = db.capabilities.dialect
        table = model._meta.db_table
        if dialect == "postgres":
            rows = await db.execute_query_dict(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = $1 AND table_schema = current_schema()",
                [table],
            )
            existing = {r["column_name"] for r in rows}
        else:
            rows = await db.execute_query_dict(f'PRAGMA table_info("{table}")')
            existing = {r["name"] for r in rows}
        for name, column in model._meta.fields_db_projection.items():
            if column in existing:
                continue
            f = model._meta.fields_map[name]
            sql_type = f.get_for_dialect(dialect, "SQL_TYPE")
            if f.null:
                tail = "NULL"
            elif isinstance(f.default, bool):
                tail = f"NOT NULL DEFAULT {'TRUE' if f.default else 'FALSE'}"
            elif isinstance(f.default, int | float):
                tail = f"NOT NULL DEFAULT {f.default}"
            elif isinstance(f.default, str):
                quoted = f.default.replace("'", "''")
                tail = f"NOT NULL DEFAULT '{quoted}'"
            elif f.default in (dict, list):
                tail = f"NOT NULL DEFAULT '{'{}' if f.default is dict else '[]'}'"
            else:
                raise RuntimeError(
                    f"the database lacks column {table}.{column}, which has no default: "
                    "it needs a hand-written migration"
                )
            # execute_query, not execute_script: on SQLite a script commits the transaction.
            await db.execute_query(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {sql_type} {tail}')
            added.append(f"{table}.{column}")
            log.warning("database upgraded: added column %s.%s", table, column)
    return added


# --- writing migration files -------------------------------------------------------------

HEADER = (
    "# Written by `python -m storage.migrate` from storage/models.py (see storage/migrate.py).\n"
    "# ruff: noqa: E501, RUF012\n"
)


@contextlib.asynccontextmanager
async def _autodetector() -> AsyncIterator[MigrationAutodetector]:
    """Compares storage/models.py with the migrations on disk; touches no database."""
    async with TortoiseContext() as ctx:
        await ctx.init(
            config={
                "connections": {"default": "sqlite://:memory:"},
                "apps": apps_config("default"),
            },
            init_connections=False,
        )
        assert ctx.apps is not None
        yield _Autodetector(ctx.apps, apps_config("default"))


class _Autodetector(MigrationAutodetector):
    """Leaves table comments out: tortoise takes them from the first line of a model's
    docstring, and editing a docstring is not a schema change."""

    def _current_state(self) -> State:
        return _without_comments(super()._current_state())

    async def _project_state(self) -> State:
        return _without_comments(await super()._project_state())


def _without_comments(state: State) -> State:
    for model_state in state.models.values():
        model_state.options.pop("table_description", None)
        model_state.description = ""
    return state


async def make_migrations(name: str | None = None) -> list[Path]:
    """Write the migration(s) describing model changes since the last one; [] if none."""
    async with _autodetector() as detector:
        writers = await detector.changes()
    paths = []
    for writer in writers:
        if name:
            number = writer.name.split("_", 1)[0]
            writer.name = f"{number}_{name}"
        path = writer.write()
        path.write_text(HEADER + path.read_text(encoding="utf-8"), encoding="utf-8")
        paths.append(path)
    _format(paths)
    return paths


def _format(paths: list[Path]) -> None:
    """ruff-format the written files (the lint covers storage/), when ruff is installed."""
    if not paths:
        return
    files = [str(p) for p in paths]
    for cmd in (["format", "--quiet"], ["check", "--fix", "--quiet"]):
        with contextlib.suppress(OSError):
            subprocess.run([sys.executable, "-m", "ruff", *cmd, *files], check=False)


def _migration_files() -> list[Path]:
    return sorted(
        p for p in MIGRATIONS_DIR.glob("[0-9]*.py") if p.is_file() and p.stem[:4].isdigit()
    )


async def regenerate_initial() -> Path:
    files = _migration_files()
    if [p.stem for p in files] not in ([], ["0001_initial"]):
        raise SystemExit(
            "refusing: there are migrations after 0001_initial; write a new one with "
            "`python -m storage.migrate makemigrations` instead"
        )
    for path in files:
        path.unlink()
    paths = await make_migrations()
    assert paths, "the models produced no migration"
    return paths[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m storage.migrate")
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("makemigrations", help="write a migration for model changes")
    make.add_argument("--name", help="suffix of the file name (default: auto_<timestamp>)")
    sub.add_parser("initial", help="regenerate 0001_initial from storage/models.py")
    sub.add_parser("check", help="exit 1 if the models have changes no migration describes")
    args = parser.parse_args(argv)
    if args.command == "initial":
        print(f"wrote {asyncio.run(regenerate_initial())}")
        return 0
    if args.command == "check":
        detector_changes = asyncio.run(_changes())
        if detector_changes:
            print(
                "storage/models.py has changes no migration describes: run "
                "`python -m storage.migrate makemigrations`"
            )
            return 1
        print("migrations match the models")
        return 0
    paths = asyncio.run(make_migrations(args.name))
    for path in paths:
        print(f"wrote {path}")
    if not paths:
        print("no changes")
    return 0


async def _changes() -> list[str]:
    async with _autodetector() as detector:
        return [w.name for w in await detector.changes()]


if __name__ == "__main__":
    sys.exit(main())
