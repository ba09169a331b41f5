"""The open API against its own OpenAPI document (/api/openapi.json), with schemathesis:
generated requests, valid and invalid, to every operation of the live server over
loopback; each answer must have a documented status, content type and body schema.

schemathesis calls synchronously (requests), so the bot and its web server run on their
own event loop in a thread. Generation is deterministic (a fixed seed, derandomized) and
small, so the test is the same on every run.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    positive_data_acceptance,
)

from handlers.api import access
from handlers.api.openapi import document
from storage import people
from storage.models import Interaction
from tests.harness import START, BotUnderTest
from tests.test_api import ERP, project

TOKEN_ENV = {"MAMABOT_TEST_API_ERP": ERP}
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20261125,
        "generation": {"max-examples": 12, "deterministic": True, "database": "none"},
    }
)
# Requests the schema calls valid that the API still refuses, by design:
# - a date range is two dates, and "from after to" or "over 366 days" cannot be said in
#   OpenAPI, so a valid-looking pair can be a 400;
# - a cursor is opaque: any base64url text is well formed, but only one the API handed out
#   names a position, so an invented cursor is a 400;
# - POST /api/orders takes every well-formed body and reports each bad order in its 200
#   answer (the good ones are stored), rather than refusing the whole batch.
RANGED = {"/api/metrics/overview", "/api/interactions.jsonl", "/api/interactions.csv"}


class LiveBot:
    """A bot with its web server on a free loopback port, on an event loop of its own."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = 0
        self.api_paths: set[str] = set()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="api-schema-bot", daemon=True)

    def __enter__(self) -> LiveBot:
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError("the bot did not start")
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with BotUnderTest(
            self.base, database_url=f"sqlite://{self.base}/schema.sqlite3"
        ) as bot:
            await seed(bot)
            port = await bot.app.start_web(port=0)
            assert port
            self.port = port
            assert bot.app.web is not None
            self.api_paths = {
                resource.canonical
                for resource in bot.app.web.app.router.resources()
                if resource.canonical.startswith("/api/") and "{tail" not in resource.canonical
            }
            self._ready.set()
            await self._stop.wait()


async def seed(bot: BotUnderTest) -> None:
    """A little of everything, so generated requests find rows to describe."""
    for i in range(3):
        await people.upsert_contact(f"wx-{i}", START, name=f"妈妈{i}", channel="qr-1")
        await bot.app.tags.add(f"wx-{i}", "城市:上海", source="dialog")
        await Interaction.create(
            at=START - timedelta(days=i),
            account_id="acc1",
            event_id=f"seed-{i}",
            kind="message",
            room_id="R1",
            contact_id=f"wx-{i}",
            msg_type="text",
            text="=1+1" if i == 0 else "你好",
        )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBot]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in TOKEN_ENV.items():
            patch.setenv(name, value)
        # schemathesis checks every operation refuses a request without the token; the
        # bot's clock stands still, so the limit on those would soon answer 429 instead.
        patch.setattr(access, "FAILURES_PER_MINUTE", 10**6)
        with LiveBot(project(tmp_path_factory.mktemp("api-schema"))) as bot:
            yield bot


# The document the server serves (a test below checks they are the same), loaded from the
# handlers' own copy: schemathesis builds one test per operation at collection, before any
# server runs. The requests then go to the live server.
schema = schemathesis.openapi.from_dict(document(), config=CONFIG)


@schema.parametrize()
def test_every_answer_is_what_the_document_says(case: Any, live: LiveBot) -> None:
    excluded = []
    if case.path in RANGED or (case.query or {}).get("cursor"):
        excluded.append(positive_data_acceptance)
    if case.path == "/api/orders":
        excluded.append(negative_data_rejection)
    case.call_and_validate(
        base_url=f"http://127.0.0.1:{live.port}",
        headers={"Authorization": f"Bearer {ERP}"},
        excluded_checks=excluded,
    )


def test_the_document_describes_every_route_the_api_serves(live: LiveBot) -> None:
    import requests

    doc = requests.get(f"http://127.0.0.1:{live.port}/api/openapi.json", timeout=10).json()
    assert doc == document()
    assert live.api_paths == set(doc["paths"])
