"""The real mamabot app on a wechaty channel, talking gRPC over loopback to the fake service.

async with FakePuppetService().start() as ..., WechatyBot(tmp_path, fake) as bot:
    fake.message("b", "宝宝湿疹怎么办", room="R1")
    await bot.deliver()          # the event crosses gRPC, is dispatched, the answer is sent
    assert fake.sent[-1]["mentions"] == ["b"]

Nothing waits on real time: the watchdog ticks only when the test fires `bot.ticker`,
reconnects wait zero seconds, and the clock is a FakeClock the test moves.

The fake echoes every text the bot sends back as a message event, as a gateway does; the
channel notes those echoes as they are read. `next_event` and `deliver` pass over them (a
test about something else need not count them); `echoes=True` hands them out too.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.app import App, AppSettings
from bot.channels.wechaty import WechatyChannel, WechatyOptions
from bot.clock import Clock, FakeClock, parse_duration
from bot.events import Event, MessageReceived
from tests.fakes.puppet_service import FakePuppetService
from tests.harness import REPO, START, copy_project

TOKEN_ENV = "MAMABOT_TEST_PUPPET_TOKEN"


class ManualTicker:
    """Stands in for the watchdog's interval sleep: a tick happens when the test says."""

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    async def __call__(self, _seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        await future

    async def fire(self) -> None:
        """Wake the watchdog once and let it run up to its next wait."""
        for _ in range(200):
            if self._waiters:
                break
            await asyncio.sleep(0)
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)
        for _ in range(50):
            await asyncio.sleep(0)


async def spawn_run(
    base: Path,
    fake: FakePuppetService,
    *,
    before: Sequence[str] = (),
    after: Sequence[str] = (),
    output: bool = True,
) -> asyncio.subprocess.Process:
    """`python -m bot [before] run --dir base [after]` as a real process against the fake
    gateway (its token in the account's variable); stdout and stderr piped unless
    `output` is False."""
    pipe = asyncio.subprocess.PIPE if output else asyncio.subprocess.DEVNULL
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *before,
        "run",
        "--dir",
        str(base),
        *after,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=pipe,
        stderr=pipe,
        cwd=REPO,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), TOKEN_ENV: fake.token},
    )


def account_config(base: Path, endpoint: str, *, admins: list[str] | None = None) -> None:
    """config.toml with one wechaty account and no pacing (pacing has its own tests)."""
    text = (base / "config.toml").read_text(encoding="utf-8")
    text = text.replace("min_interval_seconds = 2.0", "min_interval_seconds = 0")
    text = text.replace("jitter_seconds = 1.0", "jitter_seconds = 0")
    text = text.replace("super_admins = []", f"super_admins = {admins or []!r}")
    text += (
        "\n[[accounts]]\n"
        'id = "brand"\n'
        'kind = "wechaty"\n'
        f'endpoint = "{endpoint}"\n'
        f'token_env = "{TOKEN_ENV}"\n'
        "tls = false\n"
    )
    (base / "config.toml").write_text(text, encoding="utf-8")


def is_echo(event: Event) -> bool:
    """The fake's echo of a text the bot sent (its ids start with "sent-")."""
    return isinstance(event, MessageReceived) and event.event_id.startswith("msg:sent-")


class WechatyBot:
    def __init__(
        self,
        tmp_path: Path,
        fake: FakePuppetService,
        *,
        admins: list[str] | None = None,
        clock: Clock | None = None,
        cooldowns: bool = True,
        database_url: str | None = None,
        redis_url: str = "",
        kv_prefix: str = "mamabot:",
    ) -> None:
        self.fake = fake
        base = copy_project(tmp_path)
        account_config(base, fake.endpoint, admins=admins)
        if not cooldowns:  # every matching question is answered: repeats become visible
            keywords = base / "content" / "keywords.toml"
            text = re.sub(
                r"cooldown_seconds = \d+", "cooldown_seconds = 0", keywords.read_text("utf-8")
            )
            keywords.write_text(text, encoding="utf-8")
        self.clock = clock or FakeClock(START)
        self.ticker = ManualTicker()
        self.qr = io.StringIO()
        self.options = WechatyOptions(
            reconnect_base_seconds=0,
            fetch_retry_seconds=0,
            ding_interval_seconds=15,
            watchdog_misses=2,
            tick=self.ticker,
            qr_out=self.qr,
        )
        self._old_token = os.environ.get(TOKEN_ENV)
        os.environ[TOKEN_ENV] = fake.token
        self.app = App.build(
            AppSettings(
                base_dir=base,
                database_url=database_url or f"sqlite://{tmp_path}/bot.sqlite3",
                redis_url=redis_url,
                kv_prefix=kv_prefix,
                clock=self.clock,
                seed=0,
                wechaty_options=self.options,
            )
        )
        channel = self.app.channels["brand"]
        assert isinstance(channel, WechatyChannel)
        self.channel = channel
        self.actions: list[dict[str, Any]] = []
        self.app.action_observers.append(self.actions.append)
        self._events: AsyncIterator[Event] | None = None

    async def __aenter__(self) -> WechatyBot:
        await self.app.open()
        await self.channel.start()
        self._events = aiter(self.channel.events())
        await self.fake.wait_for_streams(self.fake.streams_opened + 1)
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.app.stop(timeout=5)
        finally:
            self.restore_env()
        if not exc[0] and self.app.dispatcher.errors:  # see tests/harness.py
            errors = self.app.dispatcher.errors
            raise AssertionError(f"{errors} handler error(s) while the test ran: see the log")

    def restore_env(self) -> None:
        if self._old_token is None:
            os.environ.pop(TOKEN_ENV, None)
        else:
            os.environ[TOKEN_ENV] = self._old_token

    async def next_event(self, timeout: float = 10.0, *, echoes: bool = False) -> Event:
        assert self._events is not None
        while True:
            event = await asyncio.wait_for(anext(self._events), timeout)
            if echoes or not is_echo(event):
                return event

    async def deliver(self, count: int = 1, *, echoes: bool = False) -> list[Event]:
        """Take `count` events off the channel, dispatch them, and send what follows."""
        events = []
        for _ in range(count):
            event = await self.next_event(echoes=echoes)
            events.append(event)
            await self.app.receive(event)
        await self.app.settle()
        return events

    async def tick(self, duration: str) -> None:
        assert isinstance(self.clock, FakeClock)
        await self.app.advance_to(self.clock.now() + parse_duration(duration))

    def at(self) -> datetime:
        return self.clock.now()

    def later(self, seconds: float) -> datetime:
        return self.clock.now() + timedelta(seconds=seconds)
