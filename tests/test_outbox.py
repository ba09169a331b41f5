"""The outbox: persisted before sending, paced, retried with backoff, idempotent on restart."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import random
from datetime import datetime, timedelta
from typing import Any

import pytest

import bot.outbox as outbox_module
from bot.channels.base import ChannelError, OutcomeUnknown
from bot.channels.sim import SimChannel, SimWorld
from bot.clock import FakeClock
from bot.config import OutboxSection, PacingSection
from bot.outbox import Outbox
from storage.db import Database
from storage.models import DeadLetter, OutboxMessage

START = datetime.fromisoformat("2026-11-25T09:00:00+08:00")


class Rig:
    def __init__(
        self,
        url: str,
        pacing: PacingSection | None = None,
        cfg: OutboxSection | None = None,
        clock: FakeClock | None = None,
    ) -> None:
        self.clock = clock or FakeClock(START)
        self.world = SimWorld()
        self.world.add_room("R1", "孕妈交流群", "owner")
        self.channel = SimChannel("acc", self.world, self.clock)
        self.outbox = Outbox(self.clock, cfg or OutboxSection(), random.Random(1))
        self.outbox.add_channel(self.channel, pacing)
        self.db = Database(url)

    async def say(self, key: str, text: str = "hi") -> None:
        await self.outbox.say(
            account_id="acc", room_id="R1", contact_id=None, text=text, dedupe_key=key
        )


async def test_nothing_reaches_the_channel_before_it_is_persisted(database_url: str) -> None:
    rig = Rig(database_url)
    await rig.db.open()
    try:
        await rig.db.truncate_all()
        await rig.say("k1")
        assert await OutboxMessage.all().count() == 0 and rig.channel.actions == []
        await rig.outbox.pump()
        row = await OutboxMessage.get(dedupe_key="k1")
        assert row.status == "sent" and row.sent_at == START
        assert [a["text"] for a in rig.channel.actions] == ["hi"]
    finally:
        await rig.db.close()


async def test_repeated_dedupe_key_sends_once(database_url: str) -> None:
    rig = Rig(database_url)
    await rig.db.open()
    try:
        await rig.db.truncate_all()
        await rig.say("same")
        await rig.outbox.pump()
        await rig.say("same")  # a re-delivered event produces the same key
        await rig.outbox.pump()
        assert len(rig.channel.actions) == 1
    finally:
        await rig.db.close()


async def test_pacing_spaces_sends_and_caps_the_hour() -> None:
    pacing = PacingSection(min_interval_seconds=2, jitter_seconds=1, max_per_hour=5)
    rig = Rig("sqlite://:memory:", pacing)
    await rig.db.open()
    try:
        for i in range(8):
            await rig.say(f"k{i}", f"m{i}")
        wake = await rig.outbox.pump()
        assert len(rig.channel.actions) == 1  # one now, the rest wait their turn
        while wake is not None and wake - START < timedelta(hours=2):
            rig.clock.set(wake)
            wake = await rig.outbox.pump()
        times = [datetime.fromisoformat(a["at"]) for a in rig.channel.actions]
        assert len(times) == 8
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        assert all(g >= 2 for g in gaps)
        assert all(g <= 3 for g in gaps[:4])  # jitter stays within its bound
        # The hourly cap: the 6th send waits until an hour after the 1st.
        assert times[5] >= times[0] + timedelta(hours=1)
        assert sum(1 for t in times if t < times[0] + timedelta(hours=1)) == 5
    finally:
        await rig.db.close()


async def test_retry_with_backoff_then_success() -> None:
    rig = Rig("sqlite://:memory:", cfg=OutboxSection(retry_base_seconds=5, max_attempts=4))
    await rig.db.open()
    try:
        rig.channel.fail_next(2)
        await rig.say("k1")
        wake = await rig.outbox.pump()
        assert rig.channel.actions == [] and wake is not None
        first_delay = (wake - START).total_seconds()
        assert 5 <= first_delay <= 6
        rig.clock.set(wake)
        wake = await rig.outbox.pump()
        assert rig.channel.actions == [] and wake is not None
        assert 10 <= (wake - rig.clock.now()).total_seconds() <= 12  # doubled
        rig.clock.set(wake)
        await rig.outbox.pump()
        row = await OutboxMessage.get(dedupe_key="k1")
        assert row.status == "sent" and row.attempts == 3
        assert len(rig.channel.actions) == 1
    finally:
        await rig.db.close()


async def test_gives_up_after_max_attempts_and_on_permanent_errors() -> None:
    rig = Rig("sqlite://:memory:", cfg=OutboxSection(retry_base_seconds=1, max_attempts=2))
    await rig.db.open()
    try:
        rig.channel.fail_next(5)
        await rig.say("k1")
        wake = await rig.outbox.pump()
        assert wake is not None
        rig.clock.set(wake)
        assert await rig.outbox.pump() is None
        assert (await OutboxMessage.get(dedupe_key="k1")).status == "failed"
        rig.channel._failures.clear()
        rig.channel.fail_next(1, retryable=False)
        await rig.say("k2")
        await rig.outbox.pump()
        row = await OutboxMessage.get(dedupe_key="k2")
        assert (
            row.status == "failed" and row.attempts == 1 and "simulated" in (row.last_error or "")
        )
    finally:
        await rig.db.close()


async def test_restart_resumes_pending_and_does_not_repeat_a_send_the_channel_saw(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite://{tmp_path}/o.sqlite3"
    rig = Rig(url)
    await rig.db.open()
    await rig.say("sent-before-crash", "a")
    await rig.say("never-sent", "b")
    await rig.outbox.persist()
    # Simulate a crash between "sent" and "marked sent" for the first row...
    await rig.channel.say(room_id="R1", contact_id=None, text="a", dedupe_key="sent-before-crash")
    await OutboxMessage.filter(dedupe_key="sent-before-crash").update(status="sending")
    await rig.db.close()

    again = Rig(url)
    again.channel = rig.channel  # the same WeChat account, which remembers what it sent
    again.outbox.channels["acc"] = rig.channel
    await again.db.open()
    try:
        await again.outbox.resume()
        await again.outbox.pump()
        texts = [a["text"] for a in rig.channel.actions]
        assert texts == ["a", "b"]  # "a" not repeated, "b" not lost
        statuses = {r.dedupe_key: r.status for r in await OutboxMessage.all()}
        assert statuses == {"sent-before-crash": "sent", "never-sent": "sent"}
    finally:
        await again.db.close()


async def test_restart_resends_when_the_channel_cannot_tell(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite://{tmp_path}/o.sqlite3"
    rig = Rig(url)
    await rig.db.open()
    await rig.say("k", "a")
    await rig.outbox.persist()
    await OutboxMessage.filter(dedupe_key="k").update(status="sending")
    await rig.db.close()
    again = Rig(url)  # a fresh channel: it has no memory of "k"

    async def cannot_tell(key: str) -> bool | None:
        return None

    again.channel.already_done = cannot_tell  # type: ignore[method-assign]
    await again.db.open()
    try:
        await again.outbox.resume()
        await again.outbox.pump()
        assert [a["text"] for a in again.channel.actions] == ["a"]
    finally:
        await again.db.close()


async def test_a_send_that_outlived_its_lease_cannot_undo_the_instance_that_settled_it(
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    url = f"sqlite://{tmp_path}/o.sqlite3"
    a = Rig(url)
    b = Rig(url)
    a.outbox.owner, b.outbox.owner = "a", "b"
    b.channel = a.channel  # one WeChat account
    b.outbox.channels["acc"] = a.channel
    await a.db.open()
    try:
        entered, release = asyncio.Event(), asyncio.Event()

        async def slow_then_fail(**kwargs: Any) -> None:
            entered.set()
            await release.wait()
            raise ChannelError("timed out", retryable=True)

        a.channel.say = slow_then_fail  # type: ignore[method-assign]
        await a.say("k", "早安")
        pumping = asyncio.create_task(a.outbox.pump())
        await entered.wait()
        # a is stuck past its lease; b settles the row (the channel cannot tell) and sends it.
        b.clock.set(START + timedelta(seconds=a.outbox.cfg.lease_seconds + 1))
        a.channel.say = SimChannel.say.__get__(a.channel)  # type: ignore[method-assign]
        await b.outbox.settle_expired()
        await b.outbox.pump()
        row = await OutboxMessage.get(dedupe_key="k")
        assert row.status == "sent"
        release.set()
        await pumping  # a's late failure arrives
        row = await OutboxMessage.get(dedupe_key="k")
        assert row.status == "sent"  # not put back to pending for a third send
        assert [x["text"] for x in a.channel.actions] == ["早安"]
    finally:
        await a.db.close()


async def test_a_gap_reserved_for_a_row_another_instance_claimed_is_given_back() -> None:
    pacing = PacingSection(min_interval_seconds=2, jitter_seconds=0, max_per_hour=100)
    rig = Rig("sqlite://:memory:", pacing)
    await rig.db.open()
    try:
        await rig.say("k", "早安")
        await rig.outbox.persist()
        row = await OutboxMessage.get(dedupe_key="k")
        await OutboxMessage.filter(id=row.id).update(status="sending", lease_owner="other")
        pacer = rig.outbox.pacers["acc"]
        assert await pacer.reserve(START) is None  # the gap is taken for this row...
        assert not await rig.outbox._send(row)  # ...which the other instance had
        await pacer.refund()
        assert await pacer.next_slot(START) == START  # the next send need not wait
    finally:
        await rig.db.close()


# ---------------------------------------------------------------- refused rows and outages


async def test_a_row_the_database_refuses_is_set_aside_and_the_rest_go_through(
    db: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The edge cleaning is bypassed: this row is refused for a reason nobody foresaw (a
    # lone surrogate in its key, which neither driver can encode).
    monkeypatch.setattr(outbox_module, "storable", lambda text: text)
    rig = Rig(database_url)
    await rig.say("k1", "早安")
    await rig.say("bad\ud800key", "坏行")
    await rig.say("k3", "晚安")
    await rig.outbox.pump()
    assert [a["text"] for a in rig.channel.actions] == ["早安", "晚安"]
    assert rig.outbox.unpersisted == 0 and rig.outbox.set_aside == 1
    (letter,) = await DeadLetter.all()
    assert letter.kind == "outbox" and json.loads(letter.payload)["dedupe_key"] == "bad\ud800key"
    await rig.say("k4", "later")  # a later batch is not held back by it
    await rig.outbox.pump()
    assert [a["text"] for a in rig.channel.actions] == ["早安", "晚安", "later"]
    assert {r.dedupe_key: r.status for r in await OutboxMessage.all()} == {
        "k1": "sent",
        "k3": "sent",
        "k4": "sent",
    }


class _Refused:
    async def __aenter__(self) -> None:
        await asyncio.sleep(0)  # a connection attempt yields before it is refused
        raise ConnectionRefusedError(111, "Connect call failed")

    async def __aexit__(self, *exc: object) -> None:
        return None


class Outage:
    """The database stops answering: every connection the client asks for is refused."""

    def __init__(self) -> None:
        self.client = OutboxMessage._meta.db

    def start(self) -> None:
        self.client.acquire_connection = _Refused  # type: ignore[method-assign,assignment]
        self.client._in_transaction = _Refused  # type: ignore[method-assign,assignment]

    def end(self) -> None:
        del self.client.acquire_connection
        del self.client._in_transaction


class SteppingClock(FakeClock):
    """A fake clock the loop's waits move (no real time passes). It records each wait and
    stops at the `pause_at`-th until the test lets it go on."""

    def __init__(self) -> None:
        super().__init__(START)
        self.waits: list[float] = []
        self.pause_at = 0
        self.paused = asyncio.Event()
        self.go_on = asyncio.Event()

    async def sleep_until(self, when: datetime) -> None:
        self.waits.append((when - self.now()).total_seconds())
        self.set(when)
        if len(self.waits) == self.pause_at:
            self.paused.set()
            await self.go_on.wait()
        await asyncio.sleep(0)


async def test_a_database_outage_keeps_rows_backs_off_and_is_logged_once(
    db: Database, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = SteppingClock()
    rig = Rig(database_url, clock=clock)
    outage = Outage()
    outage.start()
    loop: asyncio.Task[None] | None = None
    try:
        caplog.set_level(logging.DEBUG, logger="bot.outbox")
        await rig.say("k1", "早安")
        assert await rig.outbox.persist() == 0 and rig.outbox.unpersisted == 1  # kept
        clock.pause_at = 10
        loop = asyncio.create_task(rig.outbox.run_forever())
        await asyncio.wait_for(clock.paused.wait(), 30)  # a bound only: no time passes here
        await rig.say("k2", "午安")  # work arriving mid-outage does not cut the backoff short
        assert clock.waits == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
        assert rig.channel.actions == [] and rig.outbox.unpersisted == 2
    finally:
        outage.end()
        clock.go_on.set()
    for _ in range(1000):
        if len(rig.channel.actions) == 2:
            break
        await asyncio.sleep(0)
    rig.outbox.request_stop()
    await asyncio.wait_for(loop, 30)
    assert [a["text"] for a in rig.channel.actions] == ["早安", "午安"]  # nothing lost
    told = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in told] == [
        "outbox: the database is not answering (ConnectionRefusedError); sends wait, "
        "retrying with backoff",
        "outbox: the database answers again after 303.0s away (10 tries)",
    ]
    assert not any(r.exc_info or r.exc_text for r in caplog.records)  # no traceback per try


# ---------------------------------------------------------------- ids in logged keys


async def test_keys_and_errors_in_log_lines_never_show_a_self_chosen_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """lily1988 looks like any word, so no log filter can catch it: every line the outbox
    writes about a send (sent, failed, retried, unsure, resent, raised) masks it."""
    rig = Rig("sqlite://:memory:", cfg=OutboxSection(retry_base_seconds=1, max_attempts=3))
    await rig.db.open()
    caplog.set_level(logging.DEBUG)
    real_say = rig.channel.say
    faults: list[Exception] = [
        ChannelError("MessageSendText: UNAVAILABLE no route to lily1988"),
        OutcomeUnknown("MessageSendText: StreamTerminatedError sending to lily1988"),
        ValueError("a bug while sending to lily1988"),
    ]

    async def flaky(**kwargs: Any) -> str | None:
        if faults:
            raise faults.pop(0)
        return await real_say(**kwargs)

    async def cannot_tell(key: str) -> bool | None:
        return None

    rig.channel.say = flaky  # type: ignore[method-assign]
    rig.channel.already_done = cannot_tell  # type: ignore[method-assign]
    try:
        for key in ("msg:lily1988:keywords:say:1", "dialog-start:intake:lily1988:7"):
            await rig.outbox.say(
                account_id="acc", room_id=None, contact_id="lily1988", text="你好", dedupe_key=key
            )
        for _ in range(10):
            wake = await rig.outbox.pump()
            rig.clock.set((wake or rig.clock.now()) + timedelta(seconds=61))
        assert len(rig.channel.actions) == 2
        text = caplog.text
        assert "failed (attempt 1)" in text and "outcome unknown" in text
        assert "cannot tell whether" in text  # the unsure one, resent after its lease
        assert "raised" in text and "Traceback" in text
        assert "lily1988" not in text
    finally:
        await rig.db.close()
