"""The dispatcher: dedupe, recording, handler order, failures, per-chat ordering."""

from __future__ import annotations

import asyncio
from datetime import datetime

from bot.clock import FakeClock
from bot.dispatcher import Dispatcher
from bot.events import Event, MessageReceived
from bot.handler import Context, Flow
from storage.interactions import InteractionWriter
from storage.kv import MemoryKV

AT = datetime.fromisoformat("2026-11-25T09:00:00+08:00")


def msg(event_id: str, sender: str, text: str, room: str | None = None) -> MessageReceived:
    return MessageReceived(
        event_id=event_id, account_id="acc", at=AT, sender_id=sender, text=text, room=room
    )


class Services:
    """Just what the dispatcher touches."""

    def __init__(self) -> None:
        self.kv = MemoryKV(FakeClock(AT))


class Recorder:
    def __init__(
        self, name: str, stop_on: str = "", fail_on: str = "", gate: asyncio.Event | None = None
    ) -> None:
        self.name = name
        self.seen: list[str] = []
        self.stop_on = stop_on
        self.fail_on = fail_on
        self.gate = gate

    async def handle(self, event: Event, ctx: Context) -> Flow | None:
        assert isinstance(event, MessageReceived)
        if self.gate is not None and event.text == "wait":
            await self.gate.wait()
        self.seen.append(event.text)
        if event.text == self.fail_on:
            raise RuntimeError("boom")
        return Flow.STOP if event.text == self.stop_on else None


def make(
    *handlers: Recorder, self_ids: set[str] | None = None
) -> tuple[Dispatcher, InteractionWriter]:
    writer = InteractionWriter()
    d = Dispatcher(Services(), handlers, writer, self_ids=self_ids or {"me"}, max_text_chars=100)  # type: ignore[arg-type]
    return d, writer


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
