"""Throughput and latency of the full pipeline: SimChannel -> dispatcher -> handlers -> outbox -> SQLite.

Generates a synthetic stream (20,000 messages from 2,000 contacts in 200 rooms, 2,000
keyword rules loaded), runs it through the real app, then through a dispatcher with no
handlers in the same process. The last line is the contract:

    pipeline: <N> msgs/s p50 <X> ms p99 <Y> ms; bare: <M> msgs/s
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import App, AppSettings
from bot.channels.sim import SimWorld
from bot.clock import FakeClock
from bot.dispatcher import Dispatcher
from bot.events import Event, MessageReceived
from storage.interactions import InteractionWriter

REPO = Path(__file__).resolve().parent.parent
STREAM_SECONDS = 2 * 3600
SYLLABLES = "宝妈孕期奶粉辅食睡觉湿疹黄疸疫苗尿布发烧咳嗽便秘腹泻吐奶出牙早教绘本玩具推车安全座椅月子产检胎动"
CHATTER = [
    "今天宝宝好乖",
    "有没有姐妹一起遛娃",
    "哈哈哈哈",
    "早上好呀",
    "谢谢姐妹",
    "收到",
    "我家也是这样",
    "晚上又醒了三次😭",
    "有人在吗",
    "好的好的",
    "太可爱了吧",
    "周末去哪玩",
    "[捂脸]",
    "同问",
]


def keyword_toml(n_rules: int, rng: random.Random) -> tuple[str, list[str]]:
    lines, keywords = [], []
    for i in range(n_rules):
        kw = "".join(rng.choice(SYLLABLES) for _ in range(3)) + str(i)
        keywords.append(kw)
        mode = "word" if i % 10 == 0 else "contains"
        lines.append(
            f'[[rules]]\nid = "r{i}"\nmode = "{mode}"\nkeywords = ["{kw}"]\n'
            f'replies = ["关于{kw}：建议先观察，有问题及时就医哦", "{kw}的问题可以私聊顾问～"]\n'
            f"cooldown_seconds = 60\n"
        )
    return "\n".join(lines), keywords


def make_stream(
    app: App, n_msgs: int, n_contacts: int, n_rooms: int, keywords: list[str], rng: random.Random
) -> list[Event]:
    channel = app.sim_channels()[0]
    rooms = [f"R{i}" for i in range(n_rooms)]
    contacts = [f"wxid_{i:05d}" for i in range(n_contacts)]
    for i, room in enumerate(rooms):
        members = contacts[i * (n_contacts // n_rooms) : (i + 1) * (n_contacts // n_rooms)]
        channel.world.add_room(room, f"宝妈群{i}", members[0], members)
    events: list[Event] = []
    for _ in range(n_msgs):
        room_index = rng.randrange(n_rooms)
        per_room = n_contacts // n_rooms
        sender = contacts[room_index * per_room + rng.randrange(per_room)]
        if rng.random() < 0.1:
            text = f"请问{rng.choice(keywords)}怎么办"
        else:
            text = rng.choice(CHATTER) + rng.choice(CHATTER)
        events.append(channel.message(sender, text, room_id=rooms[room_index]))
    return events


def guard_cost(app: App, events: list[Event]) -> tuple[float, float]:
    """Microseconds per message for the guard's judgement alone (no I/O): on the stream's
    texts, and on texts it has never seen (the corpus, each once, with the feature cache
    emptied), so the cache of repeated chat cannot flatter the figure."""
    from handlers.guard.classifier import _features
    from handlers.guard.judge import Judge, read_examples

    judge = Judge.for_content(app.content.content_dir)
    rules = app.content.current.guard.guard
    texts = [e.text for e in events if isinstance(e, MessageReceived)]
    judge.judge(texts[0], rules)  # warm: jieba's dictionary
    start = time.perf_counter()
    for text in texts:
        judge.judge(text, rules)
    stream = (time.perf_counter() - start) * 1e6 / len(texts)
    unseen = [text for _, text in read_examples(app.content.content_dir / "guard_examples.tsv")]
    _features.cache_clear()
    start = time.perf_counter()
    for text in unseen:
        judge.judge(text, rules)
    return stream, (time.perf_counter() - start) * 1e6 / max(1, len(unseen))


async def run_full(app: App, events: list[Event], batch: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    original = app.dispatcher.process

    async def timed(event: Event) -> None:
        start = time.perf_counter()
        await original(event)
        latencies.append((time.perf_counter() - start) * 1000)

    app.dispatcher.process = timed  # type: ignore[method-assign]
    start = time.perf_counter()
    for i in range(0, len(events), batch):
        # The stream spans two simulated hours, so per-member rates (the guard's flood
        # check) look like a busy day, not like every message at the same instant.
        app.clock.advance(STREAM_SECONDS * batch / len(events))  # type: ignore[attr-defined]
        for event in events[i : i + batch]:
            app.feed(event)
        await app.dispatcher.join()
        await app.outbox.pump()
        if app.interactions.wants_flush:
            await app.interactions.flush()
    await app.interactions.flush()
    await app.outbox.pump()
    return time.perf_counter() - start, latencies


async def run_bare(app: App, events: list[Event], batch: int) -> float:
    bare = Dispatcher(
        app.services, [], InteractionWriter(app.config.storage.interaction_batch_size)
    )
    # Fresh ids so dedupe does not swallow the replayed stream.
    renamed = [
        type(e)(
            **{
                **{f: getattr(e, f) for f in e.__dataclass_fields__},
                "event_id": "bare-" + e.event_id,
            }
        )
        for e in events
    ]
    start = time.perf_counter()
    for i in range(0, len(renamed), batch):
        for event in renamed[i : i + batch]:
            bare.feed(event)
        await bare.join()
        if bare.interactions.wants_flush:
            await bare.interactions.flush()
    await bare.interactions.flush()
    return time.perf_counter() - start


async def run_wechaty(
    tmp: Path, events: list[Event], rooms: dict[str, tuple[str, str, list[str]]], batch: int
) -> float:
    """The same messages through the fake puppet service over loopback gRPC: the channel
    fetches each payload and member name, the app answers, the answers go back over gRPC.
    The fake runs in this process too, so its own cost is part of the figure."""
    import os

    from bot.channels.wechaty import WechatyChannel, WechatyOptions
    from tests.fakes.puppet_service import FakePuppetService
    from tests.wechaty_harness import TOKEN_ENV, account_config

    base = tmp / "wechaty"
    base.mkdir()
    shutil.copytree(tmp / "content", base / "content")
    shutil.copy(REPO / "config.toml", base / "config.toml")
    fake = await FakePuppetService().start()
    try:
        account_config(base, fake.endpoint)
        config = base / "config.toml"  # no hourly cap either: this measures throughput
        config.write_text(
            config.read_text("utf-8").replace("max_per_hour = 300", "max_per_hour = 10000000"),
            encoding="utf-8",
        )
        os.environ[TOKEN_ENV] = fake.token
        for room_id, (topic, owner, members) in rooms.items():
            for member in members:
                fake.contact(member, f"妈妈{member[-4:]}")
            fake.room(room_id, topic, owner, members)
        app = App.build(
            AppSettings(
                base_dir=base,
                database_url=f"sqlite://{base}/bench.sqlite3",
                redis_url="",
                clock=FakeClock(),
                seed=1,
                wechaty_options=WechatyOptions(fetch_concurrency=256),
            )
        )
        await app.open()
        channel = app.channels["brand"]
        assert isinstance(channel, WechatyChannel)
        await channel.start()
        await fake.wait_for_streams(1)
        stream = aiter(channel.events())
        messages = [e for e in events if isinstance(e, MessageReceived)]
        start = time.perf_counter()
        for i in range(0, len(messages), batch):
            chunk = messages[i : i + batch]
            for m in chunk:
                fake.message(m.sender_id, m.text, room=m.room)
            for _ in chunk:
                app.feed(await anext(stream))
            await app.dispatcher.join()
            await app.outbox.pump()
            if app.interactions.wants_flush:
                await app.interactions.flush()
        await app.interactions.flush()
        await app.outbox.pump()
        elapsed = time.perf_counter() - start
        await app.stop(timeout=5)
        return len(messages) / elapsed
    finally:
        await fake.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--contacts", type=int, default=2_000)
    parser.add_argument("--rooms", type=int, default=200)
    parser.add_argument("--rules", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=500, help="messages arriving together")
    parser.add_argument(
        "--wechaty",
        action="store_true",
        help="also push the stream through the fake puppet service over gRPC",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rng = random.Random(42)
    tmp = Path(tempfile.mkdtemp(prefix="mamabot-bench-"))
    try:
        shutil.copytree(REPO / "content", tmp / "content")
        shutil.copy(REPO / "config.toml", tmp / "config.toml")
        text, keywords = keyword_toml(args.rules, rng)
        (tmp / "content" / "keywords.toml").write_text(text, encoding="utf-8")
        app = App.build(
            AppSettings(
                base_dir=tmp,
                database_url=f"sqlite://{tmp}/bench.sqlite3",
                redis_url="",
                clock=FakeClock(),
                seed=1,
            ),
            world=SimWorld(),
        )
        await app.open()
        events = make_stream(app, args.messages, args.contacts, args.rooms, keywords, rng)
        # Warm up the keyword index and jieba outside the measurement.
        warm = app.sim_channels()[0].message("warmup", f"请问{keywords[0]}怎么办", room_id="R0")
        app.feed(warm)
        await app.settle()
        guard_us, unseen_us = guard_cost(app, events)
        full_s, latencies = await run_full(app, events, args.batch)
        bare_s = await run_bare(app, events, args.batch)
        replies = app.outbox.sent
        world = app.sim_channels()[0].world
        rooms = {r.room_id: (r.topic, r.owner_id, list(r.members)) for r in world.rooms.values()}
        await app.stop(timeout=5)
        wechaty = await run_wechaty(tmp, events, rooms, args.batch) if args.wechaty else None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    n = len(events)
    print(
        f"stream: {n} msgs, {args.contacts} contacts, {args.rooms} rooms, {args.rules} rules, {replies} actions sent"
    )
    print(
        f"guard: {guard_us:.0f} µs/msg (judge alone, same stream); "
        f"{unseen_us:.0f} µs/msg on texts never seen (the corpus, longer)"
    )
    if wechaty is not None:
        print(f"wechaty: {wechaty:.0f} msgs/s")
    print(
        f"pipeline: {n / full_s:.0f} msgs/s p50 {p50:.2f} ms p99 {p99:.2f} ms; bare: {n / bare_s:.0f} msgs/s"
    )


if __name__ == "__main__":
    asyncio.run(main())
