"""Outages: Redis or PostgreSQL away for a while. Events that arrive meanwhile are held in
their chat's order and handled once the store is back, from the step that met the outage;
none is dropped and none gets the fallback instead of its answer.

The stores are real (the test Redis and PostgreSQL), reached through a loopback proxy the
test cuts and restores. Backoff waits on a clock the test moves: nothing sleeps."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from urllib.parse import urlparse

import pytest

from bot.clock import FakeClock
from bot.dispatcher import Dispatcher
from bot.events import Event, MessageReceived
from bot.handler import Context, Flow
from storage.db import Database
from storage.interactions import InteractionRow, InteractionWriter
from storage.kv_redis import RedisKV
from storage.models import DeadLetter, Interaction
from tests import services
from tests.fakes.tcp_proxy import TcpProxy
from tests.harness import BotUnderTest

AT = datetime.fromisoformat("2026-11-25T09:00:00+08:00")


class SteppedClock(FakeClock):
    """A fake clock whose sleeps last until the test moves it past their end."""

    def __init__(self) -> None:
        super().__init__(AT)
        self.sleepers: list[tuple[datetime, asyncio.Future[None]]] = []

    async def sleep_until(self, when: datetime) -> None:
        if when <= self.now():
            await asyncio.sleep(0)
            return
        entry = (when, asyncio.get_running_loop().create_future())
        self.sleepers.append(entry)
        try:
            await entry[1]
        finally:
            self.sleepers.remove(entry)

    def waits(self) -> list[float]:
        return sorted((when - self.now()).total_seconds() for when, _ in self.sleepers)

    def advance(self, delta: timedelta | float) -> datetime:
        now = super().advance(delta)
        for when, future in self.sleepers:
            if when <= now and not future.done():
                future.set_result(None)
        return now


async def until(condition: Callable[[], bool], rounds: int = 20_000) -> None:
    """Let the loop run (real loopback I/O included) until `condition` holds."""
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


def msg(event_id: str, text: str, room: str | None = "R1") -> MessageReceived:
    return MessageReceived(
        event_id=event_id, account_id="acc", at=AT, sender_id="b", text=text, room=room
    )


class Services:
    def __init__(self, kv: RedisKV, clock: FakeClock) -> None:
        self.kv, self.clock = kv, clock


class Recorder:
    def __init__(self, name: str, on_text: dict[str, Callable[[], object]] | None = None) -> None:
        self.name = name
        self.seen: list[str] = []
        self.on_text = on_text or {}

    async def handle(self, event: Event, ctx: Context) -> Flow | None:
        assert isinstance(event, MessageReceived)
        self.seen.append(event.text)
        action = self.on_text.pop(event.text, None)
        if action is not None:
            result = action()
            if asyncio.iscoroutine(result):
                await result
        return None


class Counter:
    """Answers from the key-value store (as keywords and dialogs do), then ends the chain."""

    name = "counter"

    def __init__(self) -> None:
        self.answered: list[tuple[str, int]] = []

    async def handle(self, event: Event, ctx: Context) -> Flow | None:
        assert isinstance(event, MessageReceived)
        count = await ctx.kv.incr(f"count:{event.room_id}")
        self.answered.append((event.text, count))
        return Flow.STOP


@pytest.fixture
async def redis_proxy() -> AsyncIterator[TcpProxy]:
    target = urlparse(services.redis_url())
    proxy = await TcpProxy(target.hostname or "127.0.0.1", target.port or 6379).start()
    try:
        yield proxy
    finally:
        await proxy.close()


@pytest.fixture
async def kv(redis_proxy: TcpProxy) -> AsyncIterator[RedisKV]:
    clock = SteppedClock()
    db = urlparse(services.redis_url()).path.lstrip("/") or "0"
    store = RedisKV(redis_proxy.url("redis", db), clock, prefix=f"test-outage:{uuid.uuid4().hex}:")
    assert await store.ping()
    try:
        yield store
    finally:
        await redis_proxy.restore()
        await store.flush_prefix()
        await store.close()


async def test_events_arriving_while_redis_is_away_are_handled_in_order_once_it_is_back(
    kv: RedisKV, redis_proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    clock = kv._clock
    assert isinstance(clock, SteppedClock)
    first, counter = Recorder("first"), Counter()
    d = Dispatcher(Services(kv, clock), [first, counter], InteractionWriter())  # type: ignore[arg-type]
    await redis_proxy.cut()
    for event_id, text in (("e1", "一"), ("e2", "二"), ("e3", "三")):
        d.feed(msg(event_id, text))
    d.feed(msg("e4", "四", room="R2"))  # another chat, held on its own
    await until(lambda: len(clock.sleepers) == 2)
    assert first.seen == [] and clock.waits() == [0.5, 0.5]
    clock.advance(0.5)  # still away: the next try waits twice as long
    await until(lambda: clock.waits() == [1.0, 1.0])
    assert first.seen == [] and d.held == 2
    await redis_proxy.restore()
    clock.advance(1.0)
    await d.join()
    assert [t for t in first.seen if t != "四"] == ["一", "二", "三"]  # in the chat's order
    assert [a for a in counter.answered if a[0] != "四"] == [("一", 1), ("二", 2), ("三", 3)]
    assert ("四", 1) in counter.answered
    assert d.errors == 0 and d.handled == 4 and d.outages == 1
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.dispatcher"]
    assert [line for line in lines if "not answering" in line] == [
        "key-value store is not answering: holding events until it is back"
    ]
    (back,) = [line for line in lines if " is back " in line]
    assert back.startswith("key-value store is back after 1.5 s")
    assert not [r for r in caplog.records if r.exc_info]  # no traceback per try
    # Done: a re-delivery is a duplicate, not a second answer.
    d.feed(msg("e1", "一"))
    await d.join()
    assert d.duplicates == 1 and len(counter.answered) == 4


async def test_redis_away_mid_chain_resumes_at_the_handler_that_failed(
    kv: RedisKV, redis_proxy: TcpProxy
) -> None:
    clock = kv._clock
    assert isinstance(clock, SteppedClock)
    first = Recorder("first", on_text={"一": redis_proxy.cut})  # Redis goes away right here
    counter, fallback = Counter(), Recorder("fallback")
    d = Dispatcher(Services(kv, clock), [first, counter, fallback], InteractionWriter())  # type: ignore[arg-type]
    d.feed(msg("e1", "一"))
    d.feed(msg("e2", "二"))
    await until(lambda: len(clock.sleepers) == 1)
    assert first.seen == ["一"] and counter.answered == [] and fallback.seen == []
    await redis_proxy.restore()
    clock.advance(0.5)
    await d.join()
    # The handler before the outage ran once; the one that met it answered after it; the
    # fallback never answered in its place.
    assert first.seen == ["一", "二"]
    assert counter.answered == [("一", 1), ("二", 2)]
    assert fallback.seen == [] and d.errors == 0


async def test_shutdown_while_redis_is_away_says_how_many_events_were_not_handled(
    kv: RedisKV, redis_proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    clock = kv._clock
    assert isinstance(clock, SteppedClock)
    h = Recorder("h")
    d = Dispatcher(Services(kv, clock), [h], InteractionWriter())  # type: ignore[arg-type]
    await redis_proxy.cut()
    d.feed(msg("e1", "一"))
    d.feed(msg("e2", "二"))
    await until(lambda: len(clock.sleepers) == 1)
    assert await d.close() == 2
    assert "2 events were not handled before shutdown (key-value store)" in caplog.text


# ---------------------------------------------------------------- PostgreSQL away


class CutOnce:
    """Cuts the database's connection when it sees `text` (the database goes away while
    the chain runs), once."""

    name = "cutter"

    def __init__(self, proxy: TcpProxy, text: str) -> None:
        self.proxy, self.text = proxy, text

    async def handle(self, event: Event, ctx: Context) -> Flow | None:
        if isinstance(event, MessageReceived) and event.text == self.text and not self.proxy.cuts:
            await self.proxy.cut()
        return None


async def test_a_question_asked_while_postgres_is_away_gets_its_answer_not_the_fallback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with services.postgres_behind_proxy() as (proxy, url):
        async with BotUnderTest(database_url=url) as bot:
            bot.app.dispatcher.handlers.insert(0, CutOnce(proxy, "宝宝湿疹怎么办"))
            bot.channel.push(bot.channel.message("b", "宝宝湿疹怎么办"))
            settle = asyncio.create_task(bot.app.settle())
            await until(lambda: bot.app.dispatcher.held == 1)
            assert bot.said_to("b") == []
            await proxy.restore()
            await settle
            (answer,) = [a["text"] for a in bot.said_to("b")]
            assert "湿疹" in answer
            assert bot.app.dispatcher.errors == 0 and bot.app.dispatcher.outages == 1
            await bot.app.interactions.flush()
            assert await Interaction.filter(kind="message").count() == 1
        outage = [r.getMessage() for r in caplog.records if "database is" in r.getMessage()]
        assert outage[0] == "database is not answering: holding events until it is back"
        assert outage[1].startswith("database is back after ")


# ---------------------------------------------------------------- mamabot run at start


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_run_with_an_unreachable_redis_says_so_and_stops(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    from bot.app import App, AppSettings
    from bot.cli import _run_live
    from tests.harness import copy_project

    url = f"redis://:s3cret@127.0.0.1:{closed_port()}/4"
    app = App.build(
        AppSettings(
            base_dir=copy_project(tmp_path),
            database_url=f"sqlite://{tmp_path}/bot.sqlite3",
            redis_url=url,
        )
    )
    assert await _run_live(app) == 1
    err = capsys.readouterr().err
    assert "the key-value store is unreachable (Redis at redis://:***@127.0.0.1:" in err
    assert "s3cret" not in err


async def test_run_with_an_unreachable_database_says_so_and_stops(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    from bot.app import App, AppSettings
    from bot.cli import _run_live
    from tests.harness import copy_project

    app = App.build(
        AppSettings(
            base_dir=copy_project(tmp_path),
            database_url=f"postgres://postgres:s3cret@127.0.0.1:{closed_port()}/test",
            redis_url="",
        )
    )
    assert await _run_live(app) == 1
    err = capsys.readouterr().err
    assert "the database is unreachable (postgres://postgres:***@127.0.0.1:" in err
    assert "s3cret" not in err


# ---------------------------------------------------------------- the interaction log


def interaction(event_id: str, text: str) -> InteractionRow:
    # Built by hand: the dispatcher's cleaning (bot.text.storable) is bypassed on purpose.
    return InteractionRow(AT, "acc", event_id, "message", "R1", "b", "text", text)


async def test_a_refused_interaction_is_set_aside_and_the_rest_of_its_batch_written(
    db: Database,
) -> None:
    writer = InteractionWriter(batch_size=3, clock=FakeClock(AT))
    for i in range(8):
        writer.record(interaction(f"e{i}", f"第{i}条"))
    writer.record(interaction("bad-text", "坏\ud800行"))  # refused by both databases
    writer.record(interaction("x" * 400, "id too long"))  # refused by PostgreSQL (191 chars)
    writer.record(interaction("e8", "第8条"))
    await writer.flush()
    assert writer.pending == 0
    texts = {r.text for r in await Interaction.all()}
    assert {f"第{i}条" for i in range(9)} <= texts and "坏\ud800行" not in texts
    letters = await DeadLetter.all()
    assert all(letter.kind == "interaction" for letter in letters)
    refused = {json.loads(letter.payload)["event_id"][:8] for letter in letters}
    assert refused == ({"bad-text", "x" * 8} if not db.is_sqlite else {"bad-text"})
    assert writer.set_aside == len(letters)


async def test_the_interaction_log_waits_out_a_database_outage_with_one_line_each_way(
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = urlparse(services.postgres_url())
    proxy = await TcpProxy(target.hostname or "127.0.0.1", target.port or 5432).start()
    url = proxy.url(f"postgres@{target.username or 'postgres'}", target.path.lstrip("/"))
    db = Database(url)
    await db.open()
    await db.truncate_all()
    clock = FakeClock(AT)
    writer = InteractionWriter(batch_size=2, clock=clock)
    try:
        for i in range(5):
            writer.record(interaction(f"e{i}", f"第{i}条"))
        await proxy.cut()
        assert await writer.flush() == 0 and writer.pending == 5
        assert await writer.flush() == 0  # within the backoff: not even tried
        clock.advance(1)
        assert await writer.flush() == 0  # tried again, still away: waits 2 s now
        clock.advance(1)
        await proxy.restore()
        assert await writer.flush() == 0  # the backoff has not passed yet
        clock.advance(1)
        writer.record(interaction("e5", "第5条"))
        assert await writer.flush() == 6 and writer.pending == 0
        assert await Interaction.all().count() == 6
        lines = [r.getMessage() for r in caplog.records if r.name == "storage.interactions"]
        assert len(lines) == 2, lines
        assert lines[0].startswith("the database is not answering (")
        assert lines[0].endswith("keeping 5 interactions until it is back")
        assert lines[1] == "the database is back after 3.0 s: 6 kept interactions written"
        assert not [r for r in caplog.records if r.exc_info and r.name.startswith("storage")]
    finally:
        await proxy.restore()  # if the test stopped while it was cut
        await db.truncate_all()
        await db.close()
        await proxy.close()
