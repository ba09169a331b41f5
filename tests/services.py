"""Reaching the real PostgreSQL and Redis the contract suites run against.

Without MAMABOT_REQUIRE_SERVICES=1 (a newcomer's laptop) a test that cannot reach a service
skips with the reason; with it (CI) the same test fails.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"


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


def _need(name: str, url: str, default_port: int, env: str) -> str:
    if _reachable(url, default_port):
        return url
    reason = f"{name} is not reachable at {url} (set {env}, or start it)"
    if services_required():
        pytest.fail(f"MAMABOT_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


def postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        url = DEFAULT_POSTGRES
    return _need("PostgreSQL", url, 5432, "DATABASE_URL")


def redis_url() -> str:
    return _need("Redis", os.environ.get("REDIS_URL") or DEFAULT_REDIS, 6379, "REDIS_URL")
