"""Reaching the real PostgreSQL and Redis the contract suites run against.

The URLs come from MAMABOT_TEST_DATABASE_URL and MAMABOT_TEST_REDIS_URL, never from the
production DATABASE_URL / REDIS_URL, and a database whose name lacks "test" is refused:
the tests truncate every table. Nothing is assumed: without the variable, a test that needs
the service is not run against whatever happens to listen on localhost. Without
MAMABOT_REQUIRE_SERVICES=1 (a newcomer's laptop) a test whose service is not configured or
not reachable skips with the reason; with it (CI) the same test fails.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import pytest

if TYPE_CHECKING:
    from tests.fakes.tcp_proxy import TcpProxy

# What .ci/run sets (and a newcomer can export to run these tests locally).
EXAMPLE_POSTGRES = "postgres://postgres@127.0.0.1:5432/test"
EXAMPLE_REDIS = "redis://127.0.0.1:6379/15"


def services_required() -> bool:
    return os.environ.get("MAMABOT_REQUIRE_SERVICES", "") not in ("", "0", "false", "no")


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 1
        ):
            return True
    except OSError:
        return False


def _unset(name: str, env: str, example: str) -> None:
    reason = f"{name} tests need {env} (e.g. {env}={example}); it is not set"
    if services_required():
        pytest.fail(f"MAMABOT_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


def _need(name: str, url: str, default_port: int, env: str) -> str:
    if _reachable(url, default_port):
        return url
    reason = f"{name} is not reachable at {url} (set {env}, or start it)"
    if services_required():
        pytest.fail(f"MAMABOT_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


def check_test_database(url: str) -> str:
    """Refuse a database the tests may not wipe: its name must contain "test"."""
    name = urlparse(url).path.lstrip("/")
    if "test" not in name.lower():
        raise RuntimeError(
            f"refusing database {name!r}: the tests truncate tables, so its name must "
            "contain 'test' (set MAMABOT_TEST_DATABASE_URL)"
        )
    return url


def postgres_url() -> str:
    url = os.environ.get("MAMABOT_TEST_DATABASE_URL", "")
    if not url:
        _unset("PostgreSQL", "MAMABOT_TEST_DATABASE_URL", EXAMPLE_POSTGRES)
    if not url.startswith("postgres"):
        raise RuntimeError(f"MAMABOT_TEST_DATABASE_URL must be a postgres:// URL, not {url!r}")
    check_test_database(url)
    return _need("PostgreSQL", url, 5432, "MAMABOT_TEST_DATABASE_URL")


def redis_url() -> str:
    url = os.environ.get("MAMABOT_TEST_REDIS_URL", "")
    if not url:
        _unset("Redis", "MAMABOT_TEST_REDIS_URL", EXAMPLE_REDIS)
    return _need("Redis", url, 6379, "MAMABOT_TEST_REDIS_URL")


@contextlib.asynccontextmanager
async def postgres_behind_proxy() -> AsyncIterator[tuple[TcpProxy, str]]:
    """The test PostgreSQL, emptied, reached through a TcpProxy a test can cut: yields the
    proxy and the URL through it; the proxy is closed afterwards."""
    from storage.db import Database
    from tests.fakes.tcp_proxy import TcpProxy

    target = urlparse(postgres_url())
    proxy = await TcpProxy(target.hostname or "127.0.0.1", target.port or 5432).start()
    url = proxy.url(f"postgres@{target.username or 'postgres'}", target.path.lstrip("/"))
    db = Database(postgres_url())
    await db.open()
    await db.truncate_all()
    await db.close()
    try:
        yield proxy, url
    finally:
        await proxy.close()
