"""The durable work queue's contract, on SQLite and real PostgreSQL alike.

A key makes a fire happen once; a claim is atomic (two owners never both get a row); an
expired lease is claimed again and an unexpired one never is; a failing runner is retried
with backoff and then kept as failed; only the lease holder may end a row.
"""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta

import pytest

from bot.clock import FakeClock
from bot.config import WorkSection
from bot.work import CronSchedule, Defer, Work, WorkQueue, crontab_weekdays, work_key
from storage import work as store
from storage.db import Database

AT = datetime.fromisoformat("2026-11-25T09:00:00+08:00")
LEASE = 300.0


def queue(clock: FakeClock, owner: str, **cfg: float) -> WorkQueue:
    settings = WorkSection(lease_seconds=LEASE, retry_base_seconds=30, **cfg)  # type: ignore[arg-type]
    return WorkQueue(clock, settings, owner, random.Random(1))


class Recorder:
    def __init__(self) -> None:
        self.ran: list[str] = []

    async def __call__(self, item: Work) -> None:
        self.ran.append(item.key)


async def test_a_key_is_scheduled_once_and_runs_once(db: Database) -> None:
    clock = FakeClock(AT)
    q = queue(clock, "a")
    rec = Recorder()
    q.register("ping", rec)
    assert await q.schedule("ping", "ping:1", AT + timedelta(minutes=5), payload={"n": 1})
    assert not await q.schedule("ping", "ping:1", AT + timedelta(minutes=1))  # same key
    assert await q.run_due() == 0  # not due yet
    assert await q.next_due() == AT + timedelta(minutes=5)
    clock.advance(timedelta(minutes=5))
    assert await q.run_due() == 1
    assert await q.run_due() == 0
    assert rec.ran == ["ping:1"]
    (row,) = await store.rows("ping")
    assert row.status == "done" and row.attempts == 1 and row.payload == {"n": 1}
    assert await q.next_due() is None


async def test_two_owners_claiming_at_once_never_share_a_row(db: Database) -> None:
    clock = FakeClock(AT)
    for i in range(40):
        await store.schedule("ping", f"ping:{i}", AT, AT)
    later = AT + timedelta(seconds=LEASE)
    a, b = await asyncio.gather(
        store.claim(["ping"], "a", AT, later, 25),
        store.claim(["ping"], "b", AT, later, 25),
    )
    keys_a, keys_b = {w.key for w in a}, {w.key for w in b}
    assert not keys_a & keys_b
    assert len(keys_a | keys_b) == 40
    assert len(a) <= 25 and len(b) <= 25
    assert clock.now() == AT


async def test_an_unexpired_lease_is_never_taken_an_expired_one_is(db: Database) -> None:
    await store.schedule("ping", "ping:1", AT, AT)
    (mine,) = await store.claim(["ping"], "a", AT, AT + timedelta(seconds=LEASE), 10)
    # "a" dies holding it. Until its lease runs out nobody else gets the row.
    almost = AT + timedelta(seconds=LEASE - 1)
    assert await store.claim(["ping"], "b", almost, almost + timedelta(seconds=LEASE), 10) == []
    assert await store.next_due(["ping"]) == AT + timedelta(seconds=LEASE)
    after = AT + timedelta(seconds=LEASE + 1)
    (taken,) = await store.claim(["ping"], "b", after, after + timedelta(seconds=LEASE), 10)
    assert taken.id == mine.id and taken.attempts == 2
    # The late "a" can no longer end it; "b" can.
    assert not await store.finish(mine, "a", after)
    assert not await store.retry(mine, "a", after, "late")
    assert await store.finish(taken, "b", after)
    (row,) = await store.rows("ping")
    assert row.status == "done" and row.lease_owner is None


async def test_a_failing_runner_is_retried_with_backoff_then_kept_as_failed(db: Database) -> None:
    clock = FakeClock(AT)
    q = queue(clock, "a", max_attempts=3)
    calls: list[datetime] = []

    async def broken(item: Work) -> None:
        calls.append(clock.now())
        raise RuntimeError("store down")

    q.register("flaky", broken)
    await q.schedule("flaky", "flaky:1", AT)
    assert await q.run_due() == 1
    first_retry = await q.next_due()
    assert first_retry is not None and 30 <= (first_retry - AT).total_seconds() <= 36
    clock.set(first_retry)
    await q.run_due()
    second_retry = await q.next_due()
    assert second_retry is not None
    assert 60 <= (second_retry - clock.now()).total_seconds() <= 72  # doubled
    clock.set(second_retry)
    await q.run_due()
    assert len(calls) == 3 and await q.next_due() is None
    (row,) = await store.rows("flaky")
    assert row.status == "failed" and "store down" in (row.last_error or "")
    assert q.failed == 1


async def test_one_failing_row_does_not_stop_the_others(db: Database) -> None:
    clock = FakeClock(AT)
    q = queue(clock, "a")
    rec = Recorder()

    async def broken(item: Work) -> None:
        raise ValueError("bad row")

    q.register("bad", broken)
    q.register("good", rec)
    await q.schedule("bad", "bad:1", AT)
    await q.schedule("good", "good:1", AT + timedelta(seconds=1))
    clock.advance(timedelta(seconds=1))
    assert await q.run_due() == 2
    assert rec.ran == ["good:1"]


async def test_defer_runs_again_later_without_counting_an_attempt(db: Database) -> None:
    clock = FakeClock(AT)
    q = queue(clock, "a")
    seen: list[int] = []

    async def not_yet(item: Work) -> None:
        seen.append(item.attempts)
        if len(seen) == 1:
            raise Defer(clock.now())  # "again now" must not loop: it is pushed later

    q.register("wait", not_yet)
    await q.schedule("wait", "wait:1", AT)
    assert await q.run_due() == 1
    due = await q.next_due()
    assert due is not None and due > AT
    clock.set(due)
    await q.run_due()
    assert seen == [1, 1]
    (row,) = await store.rows("wait")
    assert row.status == "done"


async def test_only_registered_kinds_are_claimed(db: Database) -> None:
    clock = FakeClock(AT)
    q = queue(clock, "a")
    q.register("mine", Recorder())
    await store.schedule("theirs", "theirs:1", AT, AT)  # a kind only a newer version knows
    assert await q.run_due() == 0
    assert await q.next_due() is None
    (row,) = await store.rows("theirs")
    assert row.status == "pending"
    with pytest.raises(ValueError):
        await q.schedule("theirs", "theirs:2", AT)


async def test_cancel_and_forget(db: Database) -> None:
    await store.schedule("remind", "remind:1", AT, AT, contact_id="c1")
    await store.schedule("remind", "remind:2", AT, AT, contact_id="c2")
    assert await store.cancel(["remind:2"]) == 1
    assert await store.forget_contact("c1") == 1
    assert await store.rows() == []


def test_keys_stay_unique_within_the_column() -> None:
    short = work_key("welcome", "acc", "room", "evt")
    assert short == "welcome:acc:room:evt"
    a = work_key("welcome", "x" * 300, "1")
    b = work_key("welcome", "x" * 300, "2")
    assert len(a) <= 191 and len(b) <= 191 and a != b


def test_cron_fire_times_in_the_bot_timezone() -> None:
    clock = FakeClock(AT)
    daily = CronSchedule("09:30", clock.tz)
    assert daily.first_from(AT) == AT.replace(minute=30)
    assert daily.next_after(AT.replace(minute=30)) == AT.replace(minute=30) + timedelta(days=1)
    weekdays = CronSchedule("0 8 * * 1-5", clock.tz)  # 2026-11-27 is a Friday
    friday = datetime.fromisoformat("2026-11-27T08:00:00+08:00")
    assert weekdays.next_after(friday) == friday + timedelta(days=3)
    sundays = CronSchedule("0 8 * * 0", clock.tz)
    assert sundays.next_after(friday) == friday + timedelta(days=2)
    assert crontab_weekdays("7") == "sun" and crontab_weekdays("fri-mon") == "sun,mon,fri,sat"
    assert crontab_weekdays("*/2") == "sun,tue,thu,sat"
    with pytest.raises(ValueError):
        CronSchedule("0 8 * *", clock.tz)


async def test_finished_rows_are_pruned_daily_failed_ones_kept_longer(db: Database) -> None:
    clock = FakeClock(AT)
    q = queue(clock, "a", max_attempts=1)
    q.register("ping", Recorder())

    async def broken(item: Work) -> None:
        raise RuntimeError("bad")

    q.register("bad", broken)
    await q.schedule("ping", "ping:old", AT)
    await q.schedule("bad", "bad:old", AT)
    await q.schedule("ping", "ping:later", AT + timedelta(days=20))
    await q.run_due()
    await q.plan()
    await q.plan()  # a second instance starting: still one prune row for the day
    prunes = await store.rows("work_prune")
    assert [r.key for r in prunes] == ["work_prune:2026-11-25"]  # today's, due at once
    clock.set(AT + timedelta(days=8))
    await q.run_due()
    assert {r.key for r in await store.rows("ping")} == {"ping:later"}  # done, 8 days: gone
    assert [r.key for r in await store.rows("bad")] == ["bad:old"]  # failed: kept 30 days
    clock.set(AT + timedelta(days=31))
    await q.run_due()
    assert await store.rows("bad") == []
    assert [r.key for r in await store.rows("ping")] == ["ping:later"]  # still pending


async def test_a_row_late_in_a_batch_is_not_run_again_after_another_took_it(db: Database) -> None:
    """A claims two rows with one lease; the first one's run outlasts it, B takes the
    second meanwhile and runs it; A then skips it instead of running it again."""
    clock = FakeClock(AT)
    a, b = queue(clock, "a"), queue(clock, "b")
    runs: list[tuple[str, str]] = []

    async def slow_first(item: Work) -> None:
        runs.append(("a", item.key))
        if item.key == "job:1":
            clock.advance(timedelta(seconds=LEASE + 1))  # a slow first row
            await b.run_due()  # B's loop polls meanwhile

    async def on_b(item: Work) -> None:
        runs.append(("b", item.key))

    a.register("job", slow_first)
    b.register("job", on_b)
    await store.schedule("job", "job:1", AT, AT)
    await store.schedule("job", "job:2", AT, AT)
    await a.run_due()
    assert [who for who, key in runs if key == "job:2"] == ["b"], runs


async def test_a_row_whose_runs_keep_dying_is_failed_not_claimed_forever(db: Database) -> None:
    clock = FakeClock(AT)
    q = queue(clock, "survivor", max_attempts=3)
    rec = Recorder()
    q.register("job", rec)
    await store.schedule("job", "poison", AT, AT)
    for i in range(3):  # three instances each took it and died mid-run
        now = clock.now()
        assert await store.claim(["job"], f"dead{i}", now, now + timedelta(seconds=LEASE), 10)
        clock.advance(timedelta(seconds=LEASE + 1))
    await q.run_due()
    assert rec.ran == []  # not a fourth run that may take this instance down too
    (row,) = await store.rows("job")
    assert row.status == "failed" and "lease expired 3 times" in (row.last_error or "")


async def test_log_lines_never_show_the_ids_inside_a_work_key(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(AT)
    q = queue(clock, "a", max_attempts=1)

    async def broken(item: Work) -> None:
        raise RuntimeError("store down")

    q.register("dialog_due", broken)
    key = work_key("dialog_due", "lily1988", "intake")  # a self-chosen WeChat id
    await q.schedule("dialog_due", key, AT)
    caplog.set_level("INFO")
    await q.run_due()
    clock.set(AT + timedelta(hours=1))
    await q.run_due()
    logged = [r.getMessage() for r in caplog.records if "work" in r.getMessage()]
    assert logged and all("lily1988" not in line for line in logged), logged


class _StepClock(FakeClock):
    """Each wait of the loop moves the clock to its end (no real time passes)."""

    def __init__(self) -> None:
        super().__init__(AT)
        self.waits = 0

    async def sleep_until(self, when: datetime) -> None:
        self.waits += 1
        self.set(max(when, self.now()))
        await asyncio.sleep(0)


async def test_a_database_outage_is_logged_once_each_way_by_the_loop(
    db: Database, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = _StepClock()
    q = queue(clock, "a", poll_seconds=5)
    ran = Recorder()
    q.register("job", ran)
    await q.schedule("job", "job:1", AT + timedelta(seconds=60))
    real_claim = store.claim
    failing = {"left": 6}

    async def claim(*args, **kwargs):  # type: ignore[no-untyped-def]
        if failing["left"] > 0:
            failing["left"] -= 1
            raise ConnectionRefusedError("connection refused")
        return await real_claim(*args, **kwargs)

    monkeypatch.setattr(store, "claim", claim)
    caplog.set_level("INFO", logger="bot.work")
    q._hint_known = False  # ask the database each pass
    loop = asyncio.create_task(q.run_forever())
    for _ in range(10_000):
        if ran.ran:
            break
        await asyncio.sleep(0)
    q.request_stop()
    await asyncio.wait_for(loop, 30)
    assert ran.ran == ["job:1"]
    told = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert told == [
        "work queue: the database is not answering (connection refused); waiting",
        "work queue: the database is back after 30 s",
    ]
    assert not any(r.exc_info for r in caplog.records)
