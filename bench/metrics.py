"""The insight queries on a brand-sized SQLite database.

Generates (seeded, so every run builds the same data) 100,000 contacts, 2,000,000
interactions over the year before "now", 200,000 orders, 200 groups with about 100,000
membership stints, tags with their history, sequences, posts and guard kicks, in a temp
SQLite file (bulk inserts through sqlite3 after the migrations made the schema). Activity
is skewed as in real groups: a few mothers write much more than the rest, and the last
months are busier than the first. Then times:

- overview for the 30 days ending yesterday before any day summary exists: cold (it writes
  the 60 days of activity rollup and 7 days of words it needs) and again (read from that
  activity rollup: the way every read went before the summaries);
- the first daily job, `roll_up_finished_days` on a database that has none: the activity
  and words rollups, then the day summaries, of LOOKBACK_DAYS days (a one-off);
- overview warm: every finished day summarised by the daily job (the steady state; the
  second read is the figure of the last line), and checks it equals the figures read from
  the activity rollup; then the 30 days ending today (today provisional: the first read
  writes its activity rollup, every read works its figures out), and the room, channel,
  account and account+channel (no summary) filters;
- the next daily job: one more day;
- contact 360 (storage.contact_view.contact_360) for 200 random contacts: median and p95;
- the daily RFM run (flows.rfm.run_rfm) over every contact with orders.

`--keep PATH` keeps the generated data (generation takes minutes) and reuses it.

Last line: `metrics: overview <X> ms, contact360 <Y> ms, rfm <Z> s`
(overview warm, contact360 median). Targets: < 1000 ms, < 100 ms, < 30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from storage import metrics
from storage.db import Database

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 6, 30, 15, 0, tzinfo=TZ)
CHANNELS = ["xhs", "douyin", "store", "live", "poster", "friend", "wecom", "mall"]
STAGES = ["pregnant", "newborn", "infant", "toddler", None]
TEXTS = [
    "宝宝湿疹反反复复怎么办",
    "奶粉转奶要注意什么",
    "今天去产检了，医生说一切正常",
    "孩子晚上睡不好总是醒",
    "辅食添加从米粉开始吗",
    "有没有推荐的纸尿裤",
    "宝宝便秘三天了",
    "大家的月嫂都是哪里找的",
    "打疫苗后发烧正常吗",
    "早教课有必要上吗",
    "母乳不够怎么追奶",
    "孕晚期腿抽筋好难受",
    "这个活动链接怎么参加",
    "宝宝长牙流口水",
    "DHA要不要额外补",
    "今天天气好带娃出去晒太阳",
]


def utc_text(at: datetime) -> str:
    """What tortoise stores for an aware datetime in SQLite."""
    return at.astimezone(UTC).isoformat(" ")


def generate(path: Path, contacts: int, interactions: int, orders: int, seed: int) -> None:
    rnd = random.Random(seed)
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    start = NOW - timedelta(days=365)
    span = 365 * 86400

    def when() -> datetime:
        # Busier lately: the square root leans the draws toward the end of the year.
        return start + timedelta(seconds=int(span * rnd.random() ** 0.6))

    ids = [f"wxid_{i:06d}" for i in range(contacts)]
    t0 = utc_text(start)
    con.executemany(
        "INSERT INTO contact (contact_id, name, channel, is_friend, first_seen_at, updated_at,"
        " external_id, unionid, phone) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (
                cid,
                f"妈妈{i}",
                rnd.choice(CHANNELS) if rnd.random() < 0.7 else None,
                rnd.random() < 0.7,
                t0,
                t0,
                f"ext{i}",
                None,
                f"138{i:08d}",
            )
            for i, cid in enumerate(ids)
        ),
    )
    con.executemany(
        "INSERT INTO profile (contact_id, account_id, stage, due_date, city, extra, updated_at)"
        " VALUES (?, ?, ?, ?, ?, '{}', ?)",
        ((cid, "acc1", rnd.choice(STAGES), None, "上海", t0) for cid in ids if rnd.random() < 0.6),
    )
    rooms = [(f"room{r}@chatroom", "acc1" if r % 2 else "acc2") for r in range(200)]
    con.executemany(
        "INSERT INTO room (room_id, account_id, topic, updated_at) VALUES (?, ?, ?, ?)",
        ((room, account, f"宝妈群{i}", t0) for i, (room, account) in enumerate(rooms)),
    )
    stints = []
    room_of: dict[str, tuple[str, str]] = {}
    for cid in ids:
        if rnd.random() < 0.8:
            room, account = rooms[rnd.randrange(len(rooms))]
            room_of[cid] = (room, account)
            joined = when()
            left = joined + timedelta(days=rnd.randrange(1, 200)) if rnd.random() < 0.1 else None
            stints.append((room, cid, utc_text(joined), utc_text(left) if left else None))
            if rnd.random() < 0.25:
                room2 = rooms[rnd.randrange(len(rooms))][0]
                stints.append((room2, cid, utc_text(when()), None))
    con.executemany(
        "INSERT INTO room_membership (room_id, contact_id, joined_at, left_at) VALUES (?, ?, ?, ?)",
        stints,
    )
    # A few mothers talk much more than the rest (Pareto weights).
    weights = [rnd.paretovariate(1.2) for _ in ids]
    talkers = rnd.choices(ids, weights=weights, k=interactions)
    kinds = rnd.choices(
        ["message", "click", "join", "leave", "friend_request", "friend_added"],
        weights=[85, 5, 3, 2, 3, 2],
        k=interactions,
    )

    def rows():  # type: ignore[no-untyped-def]
        for n, (cid, kind) in enumerate(zip(talkers, kinds, strict=True)):
            room, account = room_of.get(cid, (None, "acc1"))
            if kind == "message" and (room is None or rnd.random() < 0.3):
                room = None  # a direct chat
            if kind in ("friend_request", "friend_added", "click"):
                room = None
            text = rnd.choice(TEXTS) if kind == "message" else None
            yield (
                utc_text(when()),
                account,
                f"ev{n}",
                kind,
                room,
                cid,
                "text" if kind == "message" else None,
                text,
            )

    con.executemany(
        "INSERT INTO interaction (at, account_id, event_id, kind, room_id, contact_id,"
        " msg_type, text) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows(),
    )
    buyers = rnd.choices(ids, weights=weights, k=orders)
    con.executemany(
        "INSERT INTO shop_order (order_id, contact_id, amount_cents, currency, status, product,"
        " channel, account_id, placed_at, source, created_at, updated_at)"
        " VALUES (?, ?, ?, 'CNY', ?, '奶粉', ?, 'acc1', ?, 'csv', ?, ?)",
        (
            (
                f"SO{n:07d}",
                cid if rnd.random() < 0.9 else None,
                rnd.randrange(1000, 80000),
                rnd.choices(["paid", "refunded", "cancelled"], weights=[88, 8, 4])[0],
                rnd.choice(CHANNELS),
                utc_text(when()),
                t0,
                t0,
            )
            for n, cid in enumerate(buyers)
        ),
    )
    tags = ["关注:湿疹", "关注:辅食", "孕期", "新生儿", "活动:618", "VIP"]
    con.executemany("INSERT INTO tag (name, created_at) VALUES (?, ?)", ((t, t0) for t in tags))
    tag_rows = [(cid, rnd.randrange(1, len(tags) + 1)) for cid in ids for _ in range(2)]
    con.executemany(
        "INSERT OR IGNORE INTO contact_tag (contact_id, tag_id, source, detail, added_at)"
        " VALUES (?, ?, 'keyword', '', ?)",
        ((cid, tag, t0) for cid, tag in tag_rows),
    )
    con.executemany(
        "INSERT INTO tag_event (contact_id, tag, op, source, detail, at)"
        " VALUES (?, ?, 'add', 'keyword', '', ?)",
        ((cid, tags[tag - 1], t0) for cid, tag in tag_rows),
    )
    enrolled = rnd.sample(ids, len(ids) // 5)
    con.executemany(
        "INSERT INTO enrollment (contact_id, sequence_id, account_id, trigger, status, step,"
        " enrolled_at, end_reason) VALUES (?, ?, 'acc1', 'tag', ?, 1, ?, '')",
        (
            (cid, f"seq{n % 5}", rnd.choice(["active", "finished", "exited"]), utc_text(when()))
            for n, cid in enumerate(enrolled)
        ),
    )
    sends = []
    links = []
    for n, cid in enumerate(enrolled):
        at = utc_text(when())
        sends.append((f"s{n}", f"seq:seq{n % 5}:0", cid, None, at))
        links.append((f"tok{n}", f"seq:seq{n % 5}:0", cid, None, at, rnd.choice([0, 0, 1, 2])))
    for n in range(3000):
        room = rooms[n % len(rooms)][0]
        at = utc_text(when())
        sends.append((f"p{n}", f"post:p{n % 20}", None, room, at))
        links.append((f"ptok{n}", f"post:p{n % 20}", None, room, at, rnd.randrange(0, 30)))
    con.executemany(
        "INSERT INTO marketing_send (key, source, contact_id, room_id, at) VALUES (?, ?, ?, ?, ?)",
        sends,
    )
    con.executemany(
        "INSERT INTO tracked_link (token, link_id, url, tags, source, contact_id, room_id,"
        " account_id, created_at, clicks) VALUES (?, 'l', 'https://example.com', '[]', ?, ?, ?,"
        " 'acc1', ?, ?)",
        links,
    )
    con.executemany(
        "INSERT INTO guard_audit (at, room_id, contact_id, action, by, reasons, score)"
        " VALUES (?, ?, ?, 'kick', 'guard', '', 0.9)",
        (
            (utc_text(when()), rooms[rnd.randrange(len(rooms))][0], rnd.choice(ids))
            for _ in range(2000)
        ),
    )
    con.commit()
    con.execute("ANALYZE")
    con.close()


LATER_INDEXES = (
    ("room_membership", "joined_at"),
    ("room_membership", "left_at"),
    ("tracked_link", "created_at"),
    ("enrollment", "enrolled_at"),
)


def forget_metrics(path: Path) -> None:
    """Make a kept file look as if the metrics migrations never ran: drop their tables and
    records, so opening it applies the metrics migrations of this checkout (which may have
    changed since the file was generated) and the run starts with no rollup."""
    con = sqlite3.connect(path)
    tables = [
        r[0]
        for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'metric%'"
        )
    ]
    for table in [*tables, "bot_identity"]:
        con.execute(f'DROP TABLE IF EXISTS "{table}"')
    for table, column in LATER_INDEXES:  # 0007's, on tables that stay
        for (name,) in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql LIKE ?",
            [table, f'%"{column}"%'],
        ).fetchall():
            con.execute(f'DROP INDEX "{name}"')
    con.execute("DELETE FROM tortoise_migrations WHERE name >= '0006'")
    con.commit()
    con.close()
    # Migrating an existing SQLite file first copies it aside (storage/migrate.py); the copy
    # of a scratch file is half a gigabyte of nothing, and an existing one is never redone.
    path.with_name(f"{path.name}.before-0006_metrics").touch()


async def timed(label: str, run) -> float:  # type: ignore[no-untyped-def]
    began = time.perf_counter()
    await run()
    took = time.perf_counter() - began
    print(f"{label}: {took * 1000:.0f} ms", flush=True)
    return took


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--interactions", type=int, default=2_000_000)
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="PATH",
        help="keep the generated data in PATH and, when PATH exists, reuse it (generation"
        " takes minutes); every run still works on a copy, so each starts cold",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite3"
        url = f"sqlite://{path}"
        if args.keep is not None and args.keep.exists():
            shutil.copyfile(args.keep, path)
            forget_metrics(path)
            print(f"reusing the data generated in {args.keep}", flush=True)
        else:
            db = Database(url)
            await db.open()  # the schema, from the migrations
            await db.close()
            began = time.perf_counter()
            generate(path, args.contacts, args.interactions, args.orders, args.seed)
            print(
                f"generated {args.contacts} contacts, {args.interactions} interactions, "
                f"{args.orders} orders in {time.perf_counter() - began:.1f} s "
                f"({path.stat().st_size / 2**20:.0f} MiB)",
                flush=True,
            )
            if args.keep is not None:
                args.keep.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, args.keep)
        db = Database(url)
        await db.open()
        try:
            await bench(args.contacts, args.seed)
        finally:
            await db.close()


async def bench(contacts: int, seed: int) -> None:
    end = NOW.date() - timedelta(days=1)
    start = end - timedelta(days=29)
    f = metrics.Filters()
    result: dict = {}

    async def overview(now: datetime, first: date = start, last: date = end, **kw: Any) -> None:
        result.clear()
        result.update(await metrics.overview(first, last, kw.pop("f", f), TZ, now, **kw))

    await timed(
        "overview cold (no summary yet: writes 60 days of activity rollup)", lambda: overview(NOW)
    )
    await timed("overview again, no summary yet (from the activity rollup)", lambda: overview(NOW))
    slow = dict(result)
    horizon = NOW.date() - timedelta(days=metrics.LOOKBACK_DAYS)
    await timed(
        f"first daily job, part 1: activity and words rollups of {metrics.LOOKBACK_DAYS} days",
        lambda: metrics.roll_up(horizon, end, TZ, NOW),
    )
    await timed(
        f"first daily job, part 2: day summaries of {metrics.LOOKBACK_DAYS} days",
        lambda: metrics.roll_up_finished_days(TZ, NOW),
    )
    await timed("overview warm, first read", lambda: overview(NOW))
    warm = await timed("overview warm", lambda: overview(NOW))
    same = "yes" if result == slow else "NO"
    print(f"  summaries agree with the activity rollup: {same}", flush=True)
    later = NOW + metrics.FRESH
    today = NOW.date()
    await timed(
        "overview warm, 30 days ending today, first read (writes today's activity rollup)",
        lambda: overview(later, start + timedelta(days=1), today),
    )
    await timed(
        "overview warm, 30 days ending today (today worked out on the read)",
        lambda: overview(later, start + timedelta(days=1), today),
    )
    await timed(
        "overview warm, room filter",
        lambda: overview(later, f=metrics.Filters(room_id="room7@chatroom")),
    )
    await timed(
        "overview warm, channel filter", lambda: overview(later, f=metrics.Filters(channel="xhs"))
    )
    await timed(
        "overview warm, account filter",
        lambda: overview(later, f=metrics.Filters(account_id="acc2")),
    )
    await timed(
        "overview, account and channel filters (no summary: from the activity rollup)",
        lambda: overview(later, f=metrics.Filters(account_id="acc2", channel="xhs")),
    )
    await overview(NOW)
    totals = result["totals"]
    print(
        f"  totals: dau_avg {totals['dau_avg']}, mau {totals['mau']}, active {totals['active']},"
        f" new friends {totals['new_friends']}, churned {totals['churned']},"
        f" rate {totals['interaction_rate']}; hot: "
        + " ".join(t["word"] for t in result["hot_topics"][:8]),
        flush=True,
    )
    tomorrow = NOW + timedelta(days=1)
    await timed(
        "next daily job (one more day: rollups and summaries)",
        lambda: metrics.roll_up_finished_days(TZ, tomorrow),
    )

    contact_ms = await contact360(contacts, seed)
    rfm_s = await rfm()
    print(
        f"metrics: overview {warm * 1000:.0f} ms, contact360 {contact_ms:.1f} ms, rfm {rfm_s:.1f} s"
    )


async def contact360(contacts: int, seed: int) -> float:
    from storage import contact_view

    rnd = random.Random(seed)
    times = []
    for _ in range(200):
        cid = f"wxid_{rnd.randrange(contacts):06d}"
        began = time.perf_counter()
        view = await contact_view.contact_360(cid, tz=TZ)
        await contact_view.timeline(cid, cursor=None, limit=50)
        times.append((time.perf_counter() - began) * 1000)
        assert view is not None
    times.sort()
    median = statistics.median(times)
    print(f"contact360 + first timeline page: median {median:.1f} ms, p95 {times[189]:.1f} ms")
    return median


async def rfm() -> float:
    from bot.clock import FakeClock
    from bot.config import RfmSection
    from flows.rfm import run_rfm
    from storage.tags import TagStore

    tags = TagStore(FakeClock(NOW))
    began = time.perf_counter()
    report = await run_rfm(tags, RfmSection(), NOW)
    took = time.perf_counter() - began
    print(f"rfm: {report.scored} scored, {report.changed} changed in {took:.1f} s")
    return took


if __name__ == "__main__":
    asyncio.run(main())
