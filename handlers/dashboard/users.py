"""Dashboard users: their passwords (Argon2id) and `mamabot users add|list|disable`.

A name is added once. Running `users add NAME --password-stdin --replace` gives an
existing user a new password (and enables her again, logged out everywhere); without
--replace an existing name is refused, so a typo cannot overwrite a colleague's login.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot.clock import SystemClock
from bot.config import AppConfig, ConfigError, database_url, load_config
from storage import dashboard as store
from storage.db import Database, DatabaseBehind, describe_url

log = logging.getLogger(__name__)

MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # hashing a megabyte on every login attempt is a denial of service
MAX_NAME = 64

_hasher = PasswordHasher()
# Verified against when the name is unknown, so an unknown name costs as long as a wrong
# password and the two cannot be told apart by timing.
_DUMMY_HASH = _hasher.hash("not a password anyone has")


def password_problem(password: str) -> str | None:
    """Why this password is refused (in Chinese, for whoever types it), or None."""
    if len(password) < MIN_PASSWORD:
        return f"密码太短：至少 {MIN_PASSWORD} 个字符 (password too short: at least {MIN_PASSWORD})"
    if len(password) > MAX_PASSWORD:
        return f"密码太长：最多 {MAX_PASSWORD} 个字符 (password too long)"
    if password.strip() != password:
        return "密码首尾不能有空格 (no spaces at either end of the password)"
    return None


def name_problem(name: str) -> str | None:
    if not name:
        return "需要用户名 (a user name is required)"
    if len(name) > MAX_NAME:
        return f"用户名太长：最多 {MAX_NAME} 个字符 (name too long)"
    if any(ch.isspace() or not ch.isprintable() for ch in name):
        return "用户名不能有空格或控制字符 (no spaces or control characters in the name)"
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """(the password is right, a new hash to store when the parameters changed). A None
    hash (unknown or disabled user) is checked against a dummy and always fails."""
    if len(password) > MAX_PASSWORD:
        return False, None
    try:
        _hasher.verify(password_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False, None
    if password_hash is None:
        return False, None
    return True, hash_password(password) if _hasher.check_needs_rehash(password_hash) else None


def _read_password(args: argparse.Namespace) -> str | None:
    if not args.password_stdin:
        print(
            "mamabot users add: give the password on standard input with --password-stdin "
            "(never on the command line, where other users can see it), e.g.\n"
            "  printf '%s' \"$PASSWORD\" | mamabot users add NAME --password-stdin",
            file=sys.stderr,
        )
        return None
    # One line: a trailing newline from echo or a here-string is not part of it.
    return sys.stdin.readline().rstrip("\r\n")


def cli_users(args: argparse.Namespace) -> int:
    """`mamabot users add|list|disable [NAME]`; returns the exit code."""
    base = Path(args.dir)
    try:
        config = load_config(base / "config.toml")
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    config = config or AppConfig()
    name = (args.name or "").strip()
    if args.action in ("add", "disable") and (problem := name_problem(name)):
        print(f"mamabot users {args.action}: {problem}", file=sys.stderr)
        return 2
    password_hash = ""
    if args.action == "add":
        password = _read_password(args)
        if password is None:
            return 2
        if problem := password_problem(password):
            print(f"mamabot users add: {problem}", file=sys.stderr)
            return 2
        password_hash = hash_password(password)
    url = args.db or database_url(config, base)
    clock = SystemClock(ZoneInfo(config.bot.timezone))
    replace = bool(getattr(args, "replace", False))

    async def run() -> int:
        db = Database(url, auto_migrate=False)
        try:
            await db.open()
        except DatabaseBehind as exc:
            print(f"mamabot users: {exc}", file=sys.stderr)
            return 1
        except Exception as exc:
            print(
                f"mamabot users: the database is unreachable ({describe_url(url)}): "
                f"{type(exc).__name__}: {exc}",
                file=sys.stderr,
            )
            return 1
        try:
            return await _act(args.action, name, password_hash, replace, clock.now())
        finally:
            with contextlib.suppress(Exception):
                await db.close()

    return asyncio.run(run())


async def _act(action: str, name: str, password_hash: str, replace: bool, now: datetime) -> int:
    if action == "list":
        users = await store.list_users()
        if not users:
            print("no dashboard users yet: mamabot users add NAME --password-stdin")
        for user in users:
            last = user.last_login_at.isoformat(timespec="minutes") if user.last_login_at else "-"
            state = "disabled" if user.disabled else "active"
            print(f"{user.name}\t{state}\tlast login {last}")
        return 0
    if action == "disable":
        if not await store.disable_user(name):
            print(f"mamabot users disable: no user {name!r}", file=sys.stderr)
            return 1
        print(f"disabled {name} (logged out everywhere)")
        return 0
    if await store.add_user(name, password_hash, now):
        print(f"added {name}")
        return 0
    if not replace:
        print(
            f"mamabot users add: {name!r} exists already. To give it a new password (and "
            "enable it again), run: mamabot users add NAME --password-stdin --replace",
            file=sys.stderr,
        )
        return 1
    await store.set_password(name, password_hash)
    print(f"new password for {name} (enabled, logged out everywhere)")
    return 0
