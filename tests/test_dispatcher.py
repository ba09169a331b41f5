"""The dispatcher: dedupe, recording, handler order, failures, per-chat ordering, and
handling an event at least once while acting on it at most once."""

from __future__ import annotations

import asyncio
from datetime import datetime

from tortoise.exceptions import OperationalError

from bot.clock import FakeClock
from bot.dispatcher import HANDLING, Dispatcher
from bot.events import Event, MessageReceived
from bot.handler import Context, Flow
from storage.interactions import InteractionWriter
from storage.kv import KV, MemoryKV
from tests.harness import BotUnderTest

AT = datetime.fromisoformat("2026-11-25T09:00:00+08:00")


def msg(event_id: str, sender: str, text: str, room: str | None = None) -> MessageReceived:
    return MessageReceived(
        event_id=event_id, account_id="acc", at=AT, sender_id=sender, text=text, room=room
    )


class Services:
    """Just what the dispatcher touches. Two dispatchers given one store are two instances."""

    def __init__(self, kv: KV | None = None, clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock(AT)
        self.kv = kv if kv is not None else MemoryKV(self.clock)


class Recorder:
    def __init__(
        self,
        name: str,
        stop_on: str = "",
        fail_on: str = "",
        gate: asyncio.Event | None = None,
        failures: int | None = None,  # how many times fail_on fails; None: every time
    ) -> None:
        self.name = name
        self.seen: list[str] = []
        self.stop_on = stop_on
        self.fail_on = fail_on
        self.gate = gate
        self.failures = failures

    async def handle(self, event: Event, ctx: Context) -> Flow | None:
        assert isinstance(event, MessageReceived)
        if self.gate is not None and event.text == "wait":
            await self.gate.wait()
        self.seen.append(event.text)
        if event.text == self.fail_on and self.failures != 0:
            if self.failures is not None:
                self.failures -= 1
            raise RuntimeError("boom")
        return Flow.STOP if event.text == self.stop_on else None


def make(
    *handlers: Recorder, self_ids: set[str] | None = None, kv: KV | None = None
) -> tuple[Dispatcher, InteractionWriter]:
    writer = InteractionWriter()
    d = Dispatcher(Services(kv), handlers, writer, self_ids=self_ids or {"me"}, max_text_chars=100)  # type: ignore[arg-type]
    return d, writer


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_handlers_run_in_order_and_stop_ends_the_chain() -> None:
    first, second = Recorder("first", stop_on="stop"), Recorder("second")
    d, _ = make(first, second)
    d.feed(msg("1", "a", "hello"))
    d.feed(msg("2", "a", "stop"))
    await d.join()
    assert first.seen == ["hello", "stop"]
    assert second.seen == ["hello"]


async def test_duplicate_event_ids_are_handled_once_but_recorded_once() -> None:
    h = Recorder("h")
    d, writer = make(h)
    for _ in range(3):
        d.feed(msg("same", "a", "hi"))
    await d.join()
    assert h.seen == ["hi"]
    assert writer.pending == 1 and d.duplicates == 2


async def test_a_failing_handler_is_logged_and_the_bot_goes_on(caplog) -> None:  # type: ignore[no-untyped-def]
    bad, after = Recorder("bad", fail_on="boom"), Recorder("after")
    d, _ = make(bad, after)
    d.feed(msg("1", "wxid_secret123", "boom", room="R1"))
    d.feed(msg("2", "b", "next", room="R1"))
    await d.join()
    assert after.seen == ["boom", "next"]
    assert d.errors == 1
    record = next(r for r in caplog.records if "handler bad failed" in r.getMessage())
    assert "R1" in record.getMessage() and "wxid_secret123" not in record.getMessage()


async def test_own_messages_are_recorded_but_not_answered() -> None:
    h = Recorder("h")
    d, writer = make(h)
    d.feed(msg("1", "me", "我是机器人"))
    await d.join()
    assert h.seen == [] and writer.pending == 1


async def test_huge_messages_are_truncated() -> None:
    h = Recorder("h")
    d, _ = make(h)
    d.feed(msg("1", "a", "啊" * 10_000))
    await d.join()
    assert len(h.seen[0]) == 100


async def test_one_room_in_order_while_other_rooms_run_concurrently() -> None:
    gate = asyncio.Event()
    h = Recorder("h", gate=gate)
    d, _ = make(h)
    d.feed(msg("1", "a", "wait", room="R1"))  # blocks room R1
    d.feed(msg("2", "b", "after-wait", room="R1"))
    d.feed(msg("3", "c", "other-room", room="R2"))
    for _ in range(10):
        await asyncio.sleep(0)
    assert h.seen == ["other-room"]  # R2 was not held up by R1
    gate.set()
    await d.join()
    assert h.seen == ["other-room", "wait", "after-wait"]


# ---------------------------------------------------------------- at least once, at most once


async def test_a_done_event_delivered_again_is_skipped() -> None:
    h = Recorder("h")
    d, writer = make(h)
    d.feed(msg("1", "a", "hi"))
    await d.join()
    d.feed(msg("1", "a", "hi"))  # a reconnect re-delivers it
    await d.join()
    assert h.seen == ["hi"] and d.duplicates == 1 and writer.pending == 1


async def test_an_event_whose_chain_failed_is_handled_again_and_recorded_once() -> None:
    flaky, after = Recorder("flaky", fail_on="boom", failures=1), Recorder("after")
    d, writer = make(flaky, after)
    d.feed(msg("1", "a", "boom"))
    await d.join()
    assert (flaky.seen, after.seen, d.errors) == (["boom"], ["boom"], 1)
    d.feed(msg("1", "a", "boom"))  # re-delivered: not done, so the whole chain runs again
    await d.join()
    assert (flaky.seen, after.seen, d.retries) == (["boom", "boom"], ["boom", "boom"], 1)
    d.feed(msg("1", "a", "boom"))  # done now
    await d.join()
    assert len(flaky.seen) == 2 and d.duplicates == 1
    assert writer.pending == 1  # one interaction row however often it was handled


async def test_a_retry_that_fails_again_leaves_the_event_for_the_next_delivery() -> None:
    flaky = Recorder("flaky", fail_on="boom", failures=2)
    d, _ = make(flaky)
    for _ in range(4):
        d.feed(msg("1", "a", "boom"))
        await d.join()
    assert flaky.seen == ["boom"] * 3 and d.errors == 2 and d.duplicates == 1


async def test_an_event_held_by_one_instance_is_skipped_by_another() -> None:
    kv = MemoryKV(FakeClock(AT))
    gate = asyncio.Event()
    slow, other = Recorder("h", gate=gate), Recorder("h")
    first, _ = make(slow, kv=kv)
    second, _ = make(other, kv=kv)
    first.feed(msg("1", "a", "wait"))
    await settle()  # the first instance holds it, waiting
    second.feed(msg("1", "a", "wait"))
    await second.join()
    assert other.seen == [] and second.duplicates == 1
    gate.set()
    await first.join()
    assert slow.seen == ["wait"]
    second.feed(msg("1", "a", "wait"))
    await second.join()
    assert other.seen == [] and second.duplicates == 2


async def test_a_failed_event_is_retried_by_one_instance_at_a_time() -> None:
    kv = MemoryKV(FakeClock(AT))
    gate = asyncio.Event()
    flaky = Recorder("h", fail_on="wait", failures=1, gate=gate)
    other = Recorder("h")
    first, _ = make(flaky, kv=kv)
    second, _ = make(other, kv=kv)
    gate.set()
    first.feed(msg("1", "a", "wait"))
    await first.join()  # failed
    gate.clear()
    first.feed(msg("1", "a", "wait"))
    await settle()  # the first instance retries it, waiting
    second.feed(msg("1", "a", "wait"))
    await second.join()
    assert other.seen == [] and second.duplicates == 1
    gate.set()
    await first.join()
    assert flaky.seen == ["wait", "wait"] and first.retries == 1


async def test_a_claim_left_by_an_instance_that_died_expires() -> None:
    clock = FakeClock(AT)
    kv = MemoryKV(clock)
    h = Recorder("h")
    d, _ = make(h, kv=kv)
    # Another instance took the event and died before finishing it.
    await kv.set("evt:acc:1", HANDLING, ttl=d.claim_ttl)
    d.feed(msg("1", "a", "hi"))
    await d.join()
    assert h.seen == [] and d.duplicates == 1
    clock.advance(d.claim_ttl + 1)
    d.feed(msg("1", "a", "hi"))
    await d.join()
    assert h.seen == ["hi"]


class Echo:
    """Answers every DM, with no cooldown: only the outbox's dedupe keys stop a repeat."""

    name = "echo"

    async def handle(self, event: Event, ctx: Context) -> Flow | None:
        if isinstance(event, MessageReceived) and event.is_dm:
            await ctx.reply(f"echo: {event.text}")
        return None


class DatabaseFailsOnce:
    name = "flaky"

    def __init__(self) -> None:
        self.calls = 0

    async def handle(self, event: Event, ctx: Context) -> Flow | None:
        self.calls += 1
        if self.calls == 1:
            raise OperationalError("database is locked")
        return None


async def test_a_re_delivered_event_after_a_database_error_answers_exactly_once() -> None:
    async with BotUnderTest(handler_errors=True) as bot:
        flaky = DatabaseFailsOnce()
        bot.app.dispatcher.handlers[:0] = [Echo(), flaky]
        event = bot.channel.message("b", "在吗")
        bot.channel.push(event)
        await bot.app.settle()
        assert bot.app.dispatcher.errors == 1
        bot.channel.push(event)  # the platform delivers it again: handled again
        await bot.app.settle()
        assert flaky.calls == 2 and bot.app.dispatcher.retries == 1
        bot.channel.push(event)  # done: skipped
        await bot.app.settle()
        assert flaky.calls == 2
        echoes = [a for a in bot.said_to("b") if a["text"].startswith("echo:")]
        assert [a["text"] for a in echoes] == ["echo: 在吗"]


class FlakyKV(MemoryKV):
    """Refuses the dedupe claim of some events with a connection error while it answers
    pings: not an outage, a connection that drops for these calls only."""

    def __init__(self) -> None:
        super().__init__(FakeClock(AT))
        self.down_for: dict[str, int | None] = {}  # event id -> failures left (None: always)

    async def set_if_absent(self, key: str, value: str, ttl: float | None = None) -> bool:
        for event_id, left in self.down_for.items():
            if key.endswith(event_id) and left != 0:
                if left is not None:
                    self.down_for[event_id] = left - 1
                raise ConnectionError("store down")
        return await super().set_if_absent(key, value, ttl)


async def test_a_dropped_connection_is_tried_again_and_the_event_handled() -> None:
    kv = FlakyKV()
    kv.down_for = {"e1": 2}
    h = Recorder("h")
    d, _ = make(h, kv=kv)
    for event_id, text in (("e1", "一"), ("e2", "二")):
        d.feed(msg(event_id, "a", text, room="R1"))
    await d.join()
    assert h.seen == ["一", "二"] and d.errors == 0 and d.outages == 0


async def test_a_store_error_on_one_event_only_costs_that_event_not_the_rest_of_its_room() -> None:
    kv = FlakyKV()
    kv.down_for = {"e1": None}  # the store answers, but never for this event: give up on it
    h = Recorder("h")
    d, _ = make(h, kv=kv)
    for event_id, text in (("e1", "一"), ("e2", "二"), ("e3", "三")):
        d.feed(msg(event_id, "a", text, room="R1"))
    await d.join()
    assert h.seen == ["二", "三"] and d.errors == 1
