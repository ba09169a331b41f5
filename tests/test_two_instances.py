"""Two mamabot instances over one PostgreSQL and one Redis: due work runs once, a send in
flight at one is not resent by the other, a dead instance's work is finished once by the
survivor, and together they keep one account's pacing.

Both App instances run in this test process against the same database and key-value
store, with one fake clock and one simulated WeChat world (each has its own channel
object for the account, as two processes would).
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.app import App, AppSettings
from bot.channels.sim import SimChannel, SimWorld
from bot.clock import FakeClock
from flows.dialog import DIALOG_DUE
from storage import work as store
from storage.kv_redis import RedisKV
from storage.models import OutboxMessage
from tests import services
from tests.fakes.puppet_service import FakePuppetService
from tests.harness import REPO, START
from tests.wechaty_harness import WechatyBot


class Pair:
    def __init__(self, pg: str, redis: str) -> None:
        self.pg, self.redis = pg, redis
        self.prefix = f"mamabot-test-{uuid.uuid4().hex[:8]}:"
        self.clock = FakeClock(START)
        self.world = SimWorld()
        self.world.add_room("R1", "孕妈交流群", "owner1", ["owner1", "m0"])
        self.actions: list[tuple[str, dict[str, Any]]] = []
        self.apps: list[App] = []  # in the order they were built; stopped in reverse
        self.dead: list[App] = []  # "killed": they run no more, but are closed at the end

    def build(self, name: str, pace: bool = False) -> App:
        app = App.build(
            AppSettings(
                base_dir=REPO,
                database_url=self.pg,
                redis_url=self.redis,
                kv_prefix=self.prefix,
                clock=self.clock,
                seed=len(self.apps),
                pace_sim=pace,
            ),
            world=self.world,
        )
        app.action_observers.append(lambda record: self.actions.append((name, record)))
        self.apps.append(app)
        return app

    @staticmethod
    def channel(app: App) -> SimChannel:
        return app.sim_channels()[0]

    def said(self, contains: str) -> list[str]:
        return [
            who
            for who, r in self.actions
            if r["action"] == "say" and contains in (r.get("text") or "")
        ]

    async def both_until(self, target: datetime) -> None:
        """Both instances run side by side, the clock stopping at every due time."""
        while True:
            live = [app for app in self.apps if app not in self.dead]
            dues = [await app.next_due(after=self.clock.now()) for app in live]
            due = min((d for d in dues if d is not None), default=None)
            if due is None or due > target:
                break
            self.clock.set(due)
            await asyncio.gather(*(app.settle() for app in live))
        self.clock.set(target)
        await asyncio.gather(*(app.settle() for app in self.apps if app not in self.dead))

    async def stop(self) -> None:
        for app in reversed(self.apps):
            await app.stop(timeout=1)
        kv = RedisKV(self.redis, self.clock, prefix=self.prefix)
        await kv.flush_prefix()
        await kv.close()


@asynccontextmanager
async def two_instances() -> AsyncIterator[Pair]:
    """Stopped in the test's own task: the database context lives there."""
    p = Pair(services.postgres_url(), services.redis_url())
    first = p.build("a")
    await first.db.open()
    await first.db.truncate_all()
    await first.db.close()
    try:
        yield p
    finally:
        await p.stop()


async def test_a_reminder_a_welcome_batch_and_the_daily_job_each_run_once() -> None:
    async with two_instances() as pair:
        a = pair.apps[0]
        await a.open()
        stage_runs: list[str] = []
        ch = pair.channel(a)
        ch.push(ch.friend_request("c1", "小红", ""))
        ch.push(ch.join("R1", "m1", "小美"))
        await a.settle()
        b = pair.build("b")
        await b.open()  # starts next to a running instance: plans nothing twice
        for app, name in ((a, "a"), (b, "b")):
            original = app.stages.run

            async def counted(now: datetime, original: Any = original, name: str = name) -> None:
                stage_runs.append(f"{name}:{now.date()}")
                await original(now)

            app.stages.run = counted  # type: ignore[method-assign]
        await pair.both_until(START + timedelta(hours=49))
        assert len(pair.said("@小美")) == 1  # the welcome batch
        reminders = pair.said("有空再回复")
        assert len(reminders) == 1, reminders  # the dialog's one reminder after silence
        days = sorted(run.split(":")[1] for run in stage_runs)
        assert days == ["2026-11-25", "2026-11-26", "2026-11-27"], stage_runs
        daily = await store.rows("stage_daily")
        assert [r.key for r in daily] == [
            "stage_daily:2026-11-25",
            "stage_daily:2026-11-26",
            "stage_daily:2026-11-27",
            "stage_daily:2026-11-28",
        ]
        assert [r.status for r in daily] == ["done", "done", "done", "pending"]


async def test_a_send_in_flight_at_one_is_not_resent_by_the_other_starting() -> None:
    async with two_instances() as pair:
        a = pair.apps[0]
        await a.open()
        ch = pair.channel(a)
        entered, release = asyncio.Event(), asyncio.Event()
        real_say = ch.say

        async def slow_say(**kwargs: Any) -> None:
            entered.set()
            await release.wait()  # the worst moment: the platform has it, we have not heard
            await real_say(**kwargs)

        ch.say = slow_say  # type: ignore[method-assign]
        await a.outbox.say(
            account_id=ch.account_id, room_id="R1", contact_id=None, text="早安", dedupe_key="k1"
        )
        pumping = asyncio.create_task(a.outbox.pump())
        await entered.wait()
        b = pair.build("b")
        await b.open()  # its start settles stuck sends: this one's lease still runs
        await b.outbox.pump()
        row = await OutboxMessage.get(dedupe_key="k1")
        assert row.status == "sending" and row.lease_owner == a.instance
        assert pair.said("早安") == []
        release.set()
        await pumping
        assert pair.said("早安") == ["a"]
        await pair.both_until(START + timedelta(hours=1))
        assert pair.said("早安") == ["a"]


async def test_a_dead_instances_work_is_finished_once_by_the_other() -> None:
    async with two_instances() as pair:
        a = pair.apps[0]
        await a.open()
        ch = pair.channel(a)
        ch.push(ch.friend_request("c1", "小红", ""))
        await a.settle()
        b = pair.build("b")
        await b.open()
        due = await store.next_due([DIALOG_DUE])
        assert due is not None
        pair.clock.set(due)
        # a claims the reminder and a send, then dies before finishing either.
        lease = timedelta(seconds=a.config.work.lease_seconds)
        (claimed,) = await store.claim([DIALOG_DUE], a.instance, due, due + lease, 10)
        await a.outbox.say(
            account_id=ch.account_id, room_id=None, contact_id="c1", text="在吗", dedupe_key="k2"
        )
        entered = asyncio.Event()

        async def dies_mid_send(**kwargs: Any) -> None:
            entered.set()
            await asyncio.Event().wait()

        ch.say = dies_mid_send  # type: ignore[method-assign]
        pumping = asyncio.create_task(a.outbox.pump())
        await entered.wait()
        pumping.cancel()
        pair.dead.append(a)  # a is gone: only b runs from here
        await b.settle()
        assert pair.said("有空再回复") == [] and pair.said("在吗") == []  # leases still run
        await pair.both_until(due + lease + timedelta(minutes=5))
        assert pair.said("有空再回复") == ["b"]
        assert pair.said("在吗") == ["b"]
        row = await store.get(claimed.key)
        assert row is not None and row.status == "done" and row.attempts == 2


async def test_two_instances_together_keep_one_accounts_pacing() -> None:
    async with two_instances() as pair:
        pair.apps.clear()  # the unopened default "a" is replaced by paced ones
        a = pair.build("a", pace=True)
        b = pair.build("b", pace=True)
        await a.open()
        await b.open()
        for i in range(6):
            for app in (a, b):
                await app.outbox.say(
                    account_id=pair.channel(app).account_id,
                    room_id="R1",
                    contact_id=None,
                    text=f"消息{i}",
                    dedupe_key=f"{id(app)}:{i}",
                )
        await asyncio.gather(a.outbox.persist(), b.outbox.persist())
        for round_ in range(200):
            # Whoever pumps first takes the slot: take turns, so both instances send.
            first, second = (a, b) if round_ % 2 == 0 else (b, a)
            wakes = [await first.outbox.pump(), await second.outbox.pump()]
            present = [w for w in wakes if w is not None]
            if not present:
                break
            pair.clock.set(min(present))
        times = sorted(
            datetime.fromisoformat(r["at"]) for _, r in pair.actions if r["action"] == "say"
        )
        assert len(times) == 12
        assert {who for who, _ in pair.actions} == {"a", "b"}  # both sent
        gaps = [(y - x).total_seconds() for x, y in itertools.pairwise(times)]
        assert min(gaps) >= a.config.outbox.pacing.min_interval_seconds, gaps


async def test_over_grpc_a_held_send_is_not_resent_by_an_instance_starting(tmp_path: Path) -> None:
    """The same, with both instances on the real wechaty channel against the fake puppet
    service: the gateway holds the first instance's send mid-call."""
    pg, redis = services.postgres_url(), services.redis_url()
    prefix = f"mamabot-test-{uuid.uuid4().hex[:8]}:"
    clock = FakeClock(START)
    shared: dict[str, Any] = {"clock": clock, "database_url": pg, "redis_url": redis}
    async with FakePuppetService() as fake:
        fake.room("R1", "孕妈交流群", "owner1", ["owner1", "a"])
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        first = WechatyBot(tmp_path / "a", fake, kv_prefix=prefix, **shared)
        async with first:
            await first.app.db.truncate_all()
            gate = fake.hold("MessageSendText")
            await first.app.outbox.say(
                account_id="brand", room_id="R1", contact_id=None, text="早安", dedupe_key="k1"
            )
            pumping = asyncio.create_task(first.app.outbox.pump())
            await fake.wait_for_call("MessageSendText")
            second = WechatyBot(tmp_path / "b", fake, kv_prefix=prefix, **shared)
            async with second:
                await second.app.outbox.pump()
                sends = [c for c, _ in fake.calls if c == "MessageSendText"]
                assert len(sends) == 1  # only the held one: the starting instance left it
                gate.set()
                await pumping
                clock.set(START + timedelta(minutes=10))
                await second.app.outbox.pump()
                await first.app.outbox.pump()
                assert [s["text"] for s in fake.sent] == ["早安"]
        kv = RedisKV(redis, clock, prefix=prefix)
        await kv.flush_prefix()
        await kv.close()
