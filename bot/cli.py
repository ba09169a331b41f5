"""The `mamabot` command: run, sim, replay, migrate, check, contacts, forget."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import ConfigError, load_config, load_content

if TYPE_CHECKING:
    from bot.app import App
    from bot.replay import Step
    from storage.db import Database


# mamabot's own packages log at --log-level. Everything else (hpack prints every HTTP/2
# header at DEBUG, the gateway token among them) stays at WARNING unless named with
# `mamabot run --debug-logger NAME`.
OWN_LOGGERS = ("bot", "handlers", "flows", "storage", "mamabot", "__main__")
QUIET_LOGGERS = (
    "tortoise",
    "aiosqlite",
    "asyncpg",
    "apscheduler",
    "jieba",
    "watchfiles",
    "hpack",
    "h2",
    "grpclib",
    "grpc",
    "redis",
    "asyncio",
    "urllib3",
    "httpx",
    "httpcore",
    "aiohttp",
    "multipart",
)


def _named(name: str, prefixes: Sequence[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


class _ThirdPartyFilter(logging.Filter):
    """Below WARNING, only our own loggers and those asked for by name get through: the
    levels set on QUIET_LOGGERS spare their cost, this catches the loggers nobody listed."""

    def __init__(self, asked: Sequence[str]) -> None:
        super().__init__()
        self.allowed = (*OWN_LOGGERS, *asked)

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or _named(record.name, self.allowed)


def _setup_logging(level: str, debug_loggers: Sequence[str] = ()) -> None:
    from bot.privacy import MaskingFilter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_ThirdPartyFilter(debug_loggers))
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in QUIET_LOGGERS:
        if not _named(noisy, debug_loggers):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    for name in debug_loggers:
        logging.getLogger(name).setLevel(level.upper())
    logging.getLogger("mamabot").debug(
        "third-party loggers log warnings only, except: %s (mamabot run --debug-logger NAME)",
        ", ".join(debug_loggers) or "none",
    )


def cmd_check(args: argparse.Namespace) -> int:
    from bot.checkup import check_project
    from handlers.keywords import KeywordIndex

    base = Path(args.dir)
    config_path = Path(args.config) if args.config else None
    findings = check_project(base, config_path, keyword_index=KeywordIndex)
    errors = [f for f in findings if f.level == "error"]
    warnings = [f for f in findings if f.level == "warning"]
    if errors:
        for finding in errors + warnings:
            print(finding)
        print(f"{len(errors)} error(s)" + (f", {len(warnings)} warning(s)" if warnings else ""))
        return 1
    config = load_config(config_path or base / "config.toml")
    content_dir = base / config.bot.content_dir
    content = load_content(content_dir)
    print(
        f"ok: {config_path or base / 'config.toml'} and {content_dir}/ "
        f"({len(content.keywords.rules)} keyword rules, "
        f"{len(content.channels.codes)} channel codes, "
        f"{len(content.posts.posts)} scheduled posts, "
        f"{len(content.sequences.sequences)} nurture sequences)"
    )
    for finding in warnings:
        print(finding)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from bot.replay import ReplayError, parse_script

    try:
        with open(args.script, encoding="utf-8") as fh:
            steps = parse_script(fh)
    except OSError as exc:
        print(f"replay: cannot read {args.script}: {exc.strerror}", file=sys.stderr)
        return 1
    except ReplayError as exc:
        print(f"replay: {args.script}: {exc}", file=sys.stderr)
        return 1
    except UnicodeDecodeError:
        print(f"replay: {args.script} is not UTF-8 text", file=sys.stderr)
        return 1
    return asyncio.run(_replay(args, steps))


async def _replay(args: argparse.Namespace, steps: list[Step]) -> int:
    from bot.app import App, AppSettings
    from bot.clock import FakeClock
    from bot.replay import ReplayError, run_script, to_json_line

    base = Path(args.config).parent if args.config else Path.cwd()
    first_at = next((s.at for s in steps if s.at is not None), None)
    clock = FakeClock(first_at) if first_at else FakeClock()
    try:
        app = App.build(
            AppSettings(
                base_dir=base,
                config_path=Path(args.config) if args.config else None,
                database_url=args.db or "sqlite://:memory:",
                redis_url="",
                clock=clock,
                seed=args.seed,
            )
        )
    except ConfigError as exc:
        for issue in exc.issues:
            print(f"replay: config error: {issue}", file=sys.stderr)
        return 1
    await app.open()
    try:
        await run_script(app, steps, lambda record: print(to_json_line(record), flush=True))
    except ReplayError as exc:
        logging.getLogger("mamabot.replay").debug("replay stopped", exc_info=exc.__cause__)
        print(f"replay: {args.script}: {exc} (--log-level DEBUG shows where)", file=sys.stderr)
        return 1
    finally:
        await app.stop(timeout=5)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from bot.app import App, AppSettings
    from storage.db import DatabaseBehind

    if args.debug_logger:
        _setup_logging(args.log_level, args.debug_logger)
    base = Path(args.dir)
    try:
        config = load_config(base / "config.toml")
    except ConfigError as exc:
        for issue in exc.issues:
            print(f"error: {issue}", file=sys.stderr)
        return 1
    if not any(account.enabled for account in config.accounts):
        return _simulate(base, None, "mamabot: no WeChat account configured in config.toml — ")
    try:
        app = App.build(AppSettings(base_dir=base))
    except ConfigError as exc:
        for issue in exc.issues:
            print(f"error: {issue}", file=sys.stderr)
        return 1
    # SQLite (one instance on its own file) migrates itself at start, a copy of the file
    # kept aside first. PostgreSQL is shared by several instances, and old ones may still
    # run: it is migrated on purpose, with `mamabot migrate`; a database that is behind
    # stops the start.
    app.db.auto_migrate = app.db.is_sqlite
    try:
        return asyncio.run(_run_live(app))
    except DatabaseBehind as exc:
        print(f"mamabot: {exc}", file=sys.stderr)
        return 1


def _simulate(base: Path, db: str | None, why: str = "mamabot: ") -> int:
    """The simulator, for `mamabot sim` and for `mamabot run` without an account alike: a
    clock /tick moves, the content watcher, the in-process key-value store, and its own
    database (data/sim.sqlite3, which /reset empties; never the bot's), unless --db."""
    from zoneinfo import ZoneInfo

    from bot.app import App, AppSettings
    from bot.clock import OffsetClock
    from bot.config import sim_database_path
    from bot.simrepl import run_repl
    from storage.db import describe_url

    try:
        config = load_config(base / "config.toml")
    except ConfigError as exc:
        for issue in exc.issues:
            print(f"error: {issue}", file=sys.stderr)
        return 1
    path = sim_database_path(config, base)
    url = db or f"sqlite://{path}"

    def build() -> App:
        clock = OffsetClock(ZoneInfo(config.bot.timezone))
        return App.build(AppSettings(base_dir=base, database_url=url, redis_url="", clock=clock))

    def fresh() -> App:
        for leftover in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))):
            leftover.unlink(missing_ok=True)
        return build()

    try:
        app = build()
    except ConfigError as exc:
        for issue in exc.issues:
            print(f"error: {issue}", file=sys.stderr)
        return 1
    where = f"its own database {path} (/reset empties it)" if db is None else describe_url(url)
    print(
        f"{why}starting the simulator: {where}, the in-process key-value store. Type /help.",
        flush=True,
    )
    return asyncio.run(run_repl(app, rebuild=fresh if db is None else None))


async def _open_or_say(db: Database, command: str, after: str = "") -> bool:
    """Open the database; False, with what is wrong on stderr, when it is behind or does
    not answer. `after` ends the message (what that means for this command)."""
    from storage.db import DatabaseBehind, describe_url

    tail = f"; {after}" if after else ""
    try:
        await db.open()
    except DatabaseBehind as exc:
        print(f"mamabot {command}: {exc}{tail}", file=sys.stderr)
        return False
    except Exception as exc:
        print(
            f"mamabot {command}: the database is unreachable ({describe_url(db.url)}): "
            f"{type(exc).__name__}: {exc}{tail}",
            file=sys.stderr,
        )
        return False
    return True


async def _services_answer(app: App, *, open_db: bool = True) -> bool:
    """Check the stores before anything starts; False (and which one, on stderr) when one
    does not answer. `open_db`: open the database too (it stays open)."""
    from storage.db import DatabaseBehind, describe_url

    if not await app.kv.ping():
        print(
            f"mamabot: the key-value store is unreachable ({app.kv.describe()}): check "
            "REDIS_URL and that Redis is running",
            file=sys.stderr,
        )
        await app.kv.close()
        return False
    if not open_db:
        return True
    try:
        await app.open()
    except DatabaseBehind:
        await app.kv.close()
        raise
    except Exception as exc:
        if await app.database_answers():
            raise  # the database is there: a bug, with its traceback
        print(
            f"mamabot: the database is unreachable ({describe_url(app.db.url)}): "
            f"{type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        await app.kv.close()
        return False
    return True


async def _run_live(app: App) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if not await _services_answer(app):
        return 1
    await app.start_live()
    logging.getLogger("mamabot").info("running with accounts: %s", ", ".join(app.channels))
    await stop.wait()
    logging.getLogger("mamabot").info("shutting down: draining the outbox")
    await app.stop(timeout=15)
    return 0


def cmd_sim(args: argparse.Namespace) -> int:
    return _simulate(Path(args.dir), args.db)


def cmd_spam_check(args: argparse.Namespace) -> int:
    import json

    from bot.config import AppConfig, ConfigError, load_config, load_content
    from handlers.guard.judge import Judge

    base = Path(args.dir)
    try:
        config = load_config(base / "config.toml") if (base / "config.toml").exists() else None
        content_dir = base / (config.bot.content_dir if config else AppConfig().bot.content_dir)
        content = load_content(content_dir)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    judge = Judge.from_examples(content_dir / "guard_examples.tsv")
    rules = content.guard.guard  # a regular member's text message in a group, no history
    texts = args.text if args.text else (line.rstrip("\n") for line in sys.stdin)
    for text in texts:
        verdict = judge.judge(text, rules, newcomer=args.newcomer)
        print(json.dumps(verdict.to_json(), ensure_ascii=False), flush=True)
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    from bot.app import App, AppSettings
    from bot.config import ConfigError

    base = Path(args.dir)
    try:
        # Every feature's forget hook runs, as when she asks in a chat. A shared store
        # (REDIS_URL) keeps her dialog state and warnings; an in-process one died with the
        # bot that held it.
        app = App.build(AppSettings(base_dir=base, database_url=args.db, offline=True))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1

    app.db.auto_migrate = app.db.is_sqlite  # as `run`: PostgreSQL is migrated on purpose
    return asyncio.run(_forget(app, args.contact_id))


async def _forget(app: App, contact_id: str) -> int:
    """All or nothing: both stores must answer before anything is deleted, and an id no
    table knows is refused (a typo would otherwise report zeros and exit 0)."""
    from storage.db import describe_url
    from storage.privacy import is_known

    nothing = "nothing was deleted"
    try:
        if not await app.kv.ping():
            print(
                f"mamabot forget: the key-value store is unreachable ({app.kv.describe()}), "
                f"{nothing}: start Redis or correct REDIS_URL, then run this again",
                file=sys.stderr,
            )
            return 1
        if not await _open_or_say(app.db, "forget", nothing):
            return 1
        if not await is_known(contact_id):
            print(
                f"mamabot forget: no contact with id {contact_id!r} in the database "
                f"({describe_url(app.db.url)}), {nothing}. Ids are case-sensitive; "
                "`mamabot contacts NAME` finds one by name",
                file=sys.stderr,
            )
            return 1
        try:
            done = await app.forget(contact_id)
        except Exception as exc:
            # The hooks (key-value store) run first and the tables in one transaction: a
            # store that fails now leaves the tables as they were.
            logging.getLogger("mamabot.forget").debug("forget failed", exc_info=True)
            print(
                f"mamabot forget: stopped, a store failed ({type(exc).__name__}: {exc}); "
                "her rows in the database are unchanged: run this again once it answers",
                file=sys.stderr,
            )
            return 1
    finally:
        with contextlib.suppress(Exception):
            await app.kv.close()
        with contextlib.suppress(Exception):
            await app.db.close()
    summary = ", ".join(f"{k}={v}" for k, v in done.items())
    print(f"forgot {contact_id}: {summary}")
    return 0


def cmd_contacts(args: argparse.Namespace) -> int:
    from bot.config import AppConfig, database_url
    from storage.contact_directory import find_contacts
    from storage.db import Database, describe_url

    base = Path(args.dir)
    try:
        config = load_config(base / "config.toml")
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    url = args.db or database_url(config or AppConfig(), base)

    async def run() -> int:
        db = Database(url, auto_migrate=False)
        if not await _open_or_say(db, "contacts"):
            return 1
        try:
            cards = await find_contacts(args.name, limit=args.limit)
        finally:
            await db.close()
        if not cards:
            who = f"named {args.name!r} " if args.name else ""
            print(
                f"mamabot contacts: no contact {who}in {describe_url(url)} (the bot records "
                "her once she has written, joined a group or added it)",
                file=sys.stderr,
            )
            return 1
        for card in cards:
            print(
                f"{card.contact_id}\t{card.name or '-'}\t"
                f"群: {'、'.join(card.groups) or '-'}\t标签: {'、'.join(card.tags) or '-'}"
            )
        return 0

    return asyncio.run(run())


def cmd_migrate(args: argparse.Namespace) -> int:
    from bot.config import AppConfig, database_url
    from storage.db import Database, describe_url

    base = Path(args.dir)
    try:
        config = load_config(base / "config.toml") if (base / "config.toml").exists() else None
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    url = args.db or database_url(config or AppConfig(), base)

    async def run() -> int:
        db = Database(url, auto_migrate=False)
        await db.connect()
        try:
            pending = await db.pending()
            if args.check:
                for name in pending:
                    print(f"pending {name}")
                print(f"{len(pending)} migration(s) pending" if pending else "up to date")
                return 1 if pending else 0
            report = await db.migrate(progress=lambda line: print(line, flush=True))
            if not report.applied and not report.adopted:
                print("database is up to date")
            return 0
        finally:
            await db.close()

    print(f"database {describe_url(url)}", flush=True)
    try:
        return asyncio.run(run())
    except Exception as exc:
        print(f"mamabot migrate: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def cmd_parse_stage(args: argparse.Namespace) -> int:
    import json
    from datetime import date
    from zoneinfo import ZoneInfo

    from bot.clock import SystemClock
    from bot.config import AppConfig, ConfigError, load_config
    from flows.stage import parse_stage

    config_path = Path(args.dir) / "config.toml"
    try:
        config = load_config(config_path) if config_path.exists() else AppConfig()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.today:
        try:
            today = date.fromisoformat(args.today)
        except ValueError:
            print(f"mamabot: --today must be YYYY-MM-DD, got {args.today!r}", file=sys.stderr)
            return 2
        # The years the lunar calendar covers (农历八月十五 is read around today); past
        # them, date arithmetic near the calendar's ends would overflow.
        if not 1900 <= today.year <= 2099:
            print(
                f"mamabot: --today must be in the years 1900-2099, got {args.today!r}",
                file=sys.stderr,
            )
            return 2
    else:
        today = SystemClock(ZoneInfo(config.bot.timezone)).now().date()
    bounds = config.stage.boundaries()
    texts = args.text if args.text else (line.rstrip("\n") for line in sys.stdin)
    for text in texts:
        result = parse_stage(text, today, args.expect, bounds)
        print(json.dumps(result.to_json(), ensure_ascii=False), flush=True)
    return 0


def cmd_import_orders(args: argparse.Namespace) -> int:
    from bot.app import App, AppSettings
    from flows.orders import cli_import

    def build() -> App:
        return App.build(AppSettings(base_dir=Path(args.dir), database_url=args.db, offline=True))

    return cli_import(args, build)


def cmd_users(args: argparse.Namespace) -> int:
    from handlers.dashboard.users import cli_users

    return cli_users(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mamabot", description="Private-domain bot for maternal brands"
    )
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the bot (the simulator when no account is configured)")
    run.add_argument("--dir", default=".", help="folder with config.toml and content/")
    run.add_argument(
        "--debug-logger",
        action="append",
        default=[],
        metavar="NAME",
        help="also log this third-party library (e.g. grpclib, hpack, redis) at --log-level; "
        "they stay at WARNING otherwise, since some print secrets (hpack: the gateway "
        "token). Repeat for several",
    )
    run.set_defaults(func=cmd_run)

    sim = sub.add_parser("sim", help="terminal simulator: type as mothers, see what the bot does")
    sim.add_argument("--dir", default=".")
    sim.add_argument(
        "--db",
        help="database URL (default: data/sim.sqlite3, the simulator's own; "
        "sqlite://:memory: for one that ends with the simulator)",
    )
    sim.set_defaults(func=cmd_sim)

    replay = sub.add_parser(
        "replay", help="run a JSONL conversation script, print actions as JSONL"
    )
    replay.add_argument("script")
    replay.add_argument("--config", help="config.toml to use (default: ./config.toml)")
    replay.add_argument("--db", help="database URL (default: a fresh in-memory one)")
    replay.add_argument("--seed", type=int, default=0, help="seed for reply variants")
    replay.set_defaults(func=cmd_replay)

    stage = sub.add_parser(
        "parse-stage",
        help="read a due date or a baby's age from answers; one JSON line per answer",
    )
    stage.add_argument("text", nargs="*", help="answers; none: one per line from stdin")
    stage.add_argument("--today", help="YYYY-MM-DD (default: today on the bot's clock)")
    stage.add_argument(
        "--expect", choices=["due", "birth"], help="what was asked: a due date or a birthday"
    )
    stage.add_argument("--dir", default=".", help="folder with config.toml (stage boundaries)")
    stage.set_defaults(func=cmd_parse_stage)

    spam = sub.add_parser("spam-check", help="the guard's verdict on texts, one JSON line each")
    spam.add_argument("text", nargs="*", help="messages; none: one per line from stdin")
    spam.add_argument("--dir", default=".", help="folder with content/")
    spam.add_argument(
        "--newcomer", action="store_true", help="as one of a newcomer's first messages"
    )
    spam.set_defaults(func=cmd_spam_check)

    forget = sub.add_parser("forget", help="delete a contact's data and anonymise her interactions")
    forget.add_argument("contact_id")
    forget.add_argument("--dir", default=".", help="folder with config.toml")
    forget.add_argument("--db", help="database URL (default: from config / DATABASE_URL)")
    forget.set_defaults(func=cmd_forget)

    contacts = sub.add_parser(
        "contacts",
        help="find contact ids by name (for super_admins, admins, guard_allow): "
        "id, name, groups, tags, tab-separated",
    )
    contacts.add_argument("name", nargs="?", default="", help="part of her name, or her id")
    contacts.add_argument("--dir", default=".", help="folder with config.toml")
    contacts.add_argument("--db", help="database URL (default: from config / DATABASE_URL)")
    contacts.add_argument("--limit", type=int, default=50, help="at most this many (50)")
    contacts.set_defaults(func=cmd_contacts)

    migrate = sub.add_parser("migrate", help="apply pending database migrations")
    migrate.add_argument("--dir", default=".", help="folder with config.toml")
    migrate.add_argument("--db", help="database URL (default: from config / DATABASE_URL)")
    migrate.add_argument(
        "--check", action="store_true", help="only list pending migrations; exit 1 if any"
    )
    migrate.set_defaults(func=cmd_migrate)

    orders = sub.add_parser(
        "import-orders",
        help="import orders from a CSV export (columns mapped in config.toml [orders]); "
        "idempotent on order id",
    )
    orders.add_argument("file", help="the CSV file")
    orders.add_argument("--dir", default=".", help="folder with config.toml")
    orders.add_argument("--db", help="database URL (default: from config / DATABASE_URL)")
    orders.set_defaults(func=cmd_import_orders)

    users = sub.add_parser("users", help="dashboard users: add, list, disable")
    users.add_argument("action", choices=["add", "list", "disable"])
    users.add_argument("name", nargs="?", default="")
    users.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    users.add_argument(
        "--replace",
        action="store_true",
        help="add: give an existing user a new password (enables her, ends her sessions)",
    )
    users.add_argument("--dir", default=".", help="folder with config.toml")
    users.add_argument("--db", help="database URL (default: from config / DATABASE_URL)")
    users.set_defaults(func=cmd_users)

    check = sub.add_parser("check", help="validate config.toml and content/")
    check.add_argument("--dir", default=".")
    check.add_argument("--config")
    check.set_defaults(func=cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet = args.command in (
        "replay",
        "check",
        "parse-stage",
        "forget",
        "spam-check",
        "migrate",
        "contacts",
        "import-orders",
        "users",
    )
    _setup_logging("WARNING" if quiet and args.log_level == "INFO" else args.log_level)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
