"""RFM: quintile boundaries, segments as tags with source rfm and their history, leaving
the window, and the daily job in the work queue."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import FakeClock
from bot.config import RfmSection, RfmSegment
from flows.rfm import MIN_CONTACTS, RFM_DAILY, quintiles, run_rfm, segment_for
from storage import orders as order_store
from storage import work
from storage.db import Database
from storage.models import Contact, RfmScore, TagEvent
from storage.tags import TagChange, TagStore
from tests.harness import START, BotUnderTest, copy_project

TZ = START.tzinfo


def test_five_contacts_score_one_to_five() -> None:
    assert quintiles([50, 10, 40, 20, 30]) == [5, 1, 4, 2, 3]


def test_ten_contacts_score_in_pairs() -> None:
    assert quintiles(list(range(10))) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_ties_share_their_average_rank() -> None:
    assert quintiles([7, 7, 7, 7]) == [3, 3, 3, 3]  # nobody stands out, either way
    assert quintiles([10, 10, 20, 30, 30]) == [2, 2, 3, 5, 5]
    # Most bought once: they are the middle, not the bottom, and the one who bought
    # twice the top.
    assert quintiles([1] * 19 + [2]) == [3] * 19 + [5]
    assert quintiles([3]) == [3]
    assert quintiles([]) == []


def test_the_first_segment_whose_ranges_hold_wins() -> None:
    segments = RfmSection().segments
    assert segment_for(5, 5, 5, segments) == "高价值"
    assert segment_for(4, 5, 4, segments) == "高价值"
    assert segment_for(5, 2, 1, segments) == "潜力"
    assert segment_for(5, 3, 5, segments) == "潜力"  # F 3: not 高价值 however much she spent
    assert segment_for(2, 4, 1, segments) == "流失风险"
    assert segment_for(3, 1, 1, segments) == "待唤醒"
    assert segment_for(1, 5, 5, segments) == "流失风险"  # the first that holds her wins
    assert segment_for(4, 4, 3, segments) == ""  # M too low for 高价值, F too high for 潜力


async def buy(contact_id: str, *days_ago_and_yuan: tuple[int, int], status: str = "paid") -> None:
    """Paid orders of hers, `days_ago` before START."""
    if not await Contact.exists(contact_id=contact_id):
        await Contact.create(contact_id=contact_id, first_seen_at=START, updated_at=START)
    existing = len(await order_store.orders_of(contact_id))
    await order_store.upsert(
        [
            order_store.OrderInput(
                order_id=f"{contact_id}-{existing + i}",
                contact_id=contact_id,
                amount_cents=yuan * 100,
                placed_at=START - timedelta(days=days),
                status=status,
            )
            for i, (days, yuan) in enumerate(days_ago_and_yuan)
        ],
        "api",
        START,
    )


def rfm_tags(history: list[TagChange]) -> list[tuple[str, str, str]]:
    return [(c.op, c.tag, c.detail) for c in history if c.source == "rfm"]


async def test_segments_become_tags_and_changes_are_recorded(db: Database) -> None:
    tags = TagStore(FakeClock(START))
    heard: list[TagChange] = []

    async def listen(change: TagChange) -> None:
        heard.append(change)

    tags.listeners.append(listen)
    config = RfmSection(window_days=90)
    # Five mothers, each better than the last in R, F and M.
    await buy("e", (80, 10))
    await buy("d", (60, 20), (61, 20))
    await buy("c", (40, 30), (41, 30), (42, 30))
    await buy("b", (20, 40), (21, 40), (22, 40), (23, 40))
    await buy("a", (1, 50), (2, 50), (3, 50), (4, 50), (5, 50))
    await buy("z", (2, 999), status="refunded")  # refunds are not spending
    await buy("old", (200, 999))  # outside the window
    report = await run_rfm(tags, config, START, min_contacts=1)
    assert (report.scored, report.changed, report.dropped) == (5, 5, 0)
    scores = {
        s.contact_id: (s.recency_days, s.frequency, s.monetary_cents, s.r, s.f, s.m, s.segment)
        for s in await RfmScore.all()
    }
    assert scores == {
        "a": (1, 5, 25000, 5, 5, 5, "高价值"),
        "b": (20, 4, 16000, 4, 4, 4, "高价值"),
        "c": (40, 3, 9000, 3, 3, 3, "待唤醒"),
        "d": (60, 2, 4000, 2, 2, 2, "待唤醒"),
        "e": (80, 1, 1000, 1, 1, 1, "待唤醒"),
    }
    assert await tags.tags_of("a") == {"RFM-高价值": "rfm"}
    assert await tags.tags_of("e") == {"RFM-待唤醒": "rfm"}
    assert rfm_tags(await tags.history("a")) == [("add", "RFM-高价值", "R5 F5 M5")]
    assert sorted((c.contact_id, c.op, c.tag) for c in heard) == [
        ("a", "add", "RFM-高价值"),
        ("b", "add", "RFM-高价值"),
        ("c", "add", "RFM-待唤醒"),
        ("d", "add", "RFM-待唤醒"),
        ("e", "add", "RFM-待唤醒"),
    ]

    # The same day again: scores rewritten, no tag touched.
    heard.clear()
    again = await run_rfm(tags, config, START, min_contacts=1)
    assert (again.scored, again.changed) == (5, 0) and heard == []

    # 31 days on: d's orders (60 and 61 days before) fall out of the 90-day window, and e
    # has bought six times in the last days: she has the most orders, the most money and
    # the last order. Four are scored: by mid-rank they score 1, 2, 4 and 5.
    later = START + timedelta(days=31)
    tags.clock = FakeClock(later)
    await buy("e", *[(-30 + i, 900) for i in range(6)])
    heard.clear()
    report = await run_rfm(tags, config, later, min_contacts=1)
    assert (report.scored, report.changed, report.dropped) == (4, 3, 1)
    assert await tags.tags_of("e") == {"RFM-高价值": "rfm"}
    assert rfm_tags(await tags.history("e")) == [
        ("add", "RFM-待唤醒", "R1 F1 M1"),
        ("remove", "RFM-待唤醒", ""),
        ("add", "RFM-高价值", "R5 F5 M5"),
    ]
    assert await tags.tags_of("d") == {}
    assert not await RfmScore.exists(contact_id="d")
    assert rfm_tags(await tags.history("d"))[-1] == ("remove", "RFM-待唤醒", "")
    # a slips from 5s to 4s: still 高价值, untouched; b to R2 F2 M2: 待唤醒 now.
    assert (await RfmScore.get(contact_id="a")).r == 4
    assert await tags.tags_of("a") == {"RFM-高价值": "rfm"}
    assert await tags.tags_of("b") == {"RFM-待唤醒": "rfm"}
    assert sorted((c.contact_id, c.op, c.tag) for c in heard) == [
        ("b", "add", "RFM-待唤醒"),
        ("b", "remove", "RFM-高价值"),
        ("d", "remove", "RFM-待唤醒"),
        ("e", "add", "RFM-高价值"),
        ("e", "remove", "RFM-待唤醒"),
    ]
    assert await TagEvent.filter(source="rfm").count() == 5 + 5


async def test_the_job_owns_the_prefix_a_tag_given_by_hand_is_replaced(db: Database) -> None:
    tags = TagStore(FakeClock(START))
    await buy("a", (1, 50))
    await buy("b", (1, 50))
    await tags.add("a", "RFM-待唤醒", source="admin")  # the segment she is in, by hand
    await tags.add("b", "RFM-高价值", source="admin")  # another one
    await tags.add("b", "RFM客户", source="admin")  # not the prefix "RFM-": hers to keep
    config = RfmSection(segments=[RfmSegment(name="待唤醒")])
    report = await run_rfm(tags, config, START, min_contacts=1)
    assert report.changed == 2
    assert await tags.tags_of("a") == {"RFM-待唤醒": "rfm"}
    assert await tags.tags_of("b") == {"RFM-待唤醒": "rfm", "RFM客户": "admin"}
    assert rfm_tags(await tags.history("b")) == [
        ("remove", "RFM-高价值", ""),
        ("add", "RFM-待唤醒", "R3 F3 M3"),
    ]
    again = await run_rfm(tags, config, START, min_contacts=1)
    assert again.changed == 0


async def test_a_renamed_segment_replaces_the_old_tag(db: Database) -> None:
    tags = TagStore(FakeClock(START))
    await buy("a", (1, 50))
    await run_rfm(tags, RfmSection(segments=[RfmSegment(name="老客")]), START, min_contacts=1)
    await run_rfm(tags, RfmSection(segments=[RfmSegment(name="忠实客户")]), START, min_contacts=1)
    assert await tags.tags_of("a") == {"RFM-忠实客户": "rfm"}
    # No segment holds her any more: no rfm tag, and still a score.
    await run_rfm(
        tags, RfmSection(segments=[RfmSegment(name="x", r=(5, 5))]), START, min_contacts=1
    )
    assert await tags.tags_of("a") == {}
    assert (await RfmScore.get(contact_id="a")).segment == ""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path)


async def test_the_daily_job_runs_once_a_day_at_run_at(project: Path) -> None:
    db = f"sqlite://{project}/bot.sqlite3"
    async with BotUnderTest(project, database_url=db) as bot:
        (row,) = await work.rows(RFM_DAILY)
        assert row.key == f"{RFM_DAILY}:2026-11-25"
        assert row.due_at.astimezone(TZ) == datetime(2026, 11, 25, 3, 30, tzinfo=TZ)
        # A mother orders before she is known; she befriends the bot; next day's run
        # links the order and gives her a segment.
        await order_store.upsert(
            [
                order_store.OrderInput(
                    order_id="N1",
                    phone="13800000001",
                    amount_cents=100,
                    placed_at=START - timedelta(days=3),
                )
            ],
            "api",
            START,
        )
        await bot.friend_request("c", "小红", "你好")
        await Contact.filter(contact_id="c").update(phone="13800000001")
        for i in range(19):  # enough buyers to rank (MIN_CONTACTS with her)
            await buy(f"other{i}", (10, 100))
        await bot.tick("1d")
        done = [r.key for r in await work.rows(RFM_DAILY, "done")]
        assert done == [f"{RFM_DAILY}:2026-11-25", f"{RFM_DAILY}:2026-11-26"]
        assert [o["order_id"] for o in await order_store.orders_of("c")] == ["N1"]
        # Her last order is the most recent, she bought once as everyone, spent the least.
        assert await bot.app.tags.tags_of("c") == {"RFM-潜力": "rfm"}
        tagged = [a for a in bot.actions if a.get("action") == "tag" and a["tag"] == "RFM-潜力"]
        assert len(tagged) == 1  # the app's observers heard it once
    async with BotUnderTest(project, database_url=db, start=START + timedelta(days=1, hours=1)):
        # A restart plans nothing twice.
        keys = [r.key for r in await work.rows(RFM_DAILY)]
        assert keys == [f"{RFM_DAILY}:2026-11-{day}" for day in (25, 26, 27)]


async def test_too_few_buyers_are_not_scored_and_get_no_tags(db: Database) -> None:
    tags = TagStore(FakeClock(START))
    await buy("first", (1, 50))  # the shop's first buyer, the day after she bought
    lone = await run_rfm(tags, RfmSection(), START)
    assert (lone.scored, lone.changed, lone.too_few) == (0, 0, 1)
    assert await tags.tags_of("first") == {} and not await RfmScore.exists()
    for i in range(18):
        await buy(f"c{i}", (5 + i, 100))
    assert (await run_rfm(tags, RfmSection(), START)).too_few == MIN_CONTACTS - 1
    assert not await RfmScore.exists()
    await buy("c18", (30, 100))  # the twentieth
    report = await run_rfm(tags, RfmSection(), START)
    assert (report.scored, report.too_few) == (MIN_CONTACTS, 0)
    assert await tags.tags_of("first") != {}


async def test_money_adds_up_in_the_shops_currency_only(db: Database) -> None:
    tags = TagStore(FakeClock(START))
    await buy("a", (1, 100))
    await buy("b", (1, 80))
    # 100 US dollars and 500 yen are not 10,000 and 50,000 fen.
    await order_store.upsert(
        [
            order_store.OrderInput("u1", 10000, START - timedelta(days=1), currency="USD",
                                   contact_id="a"),
            order_store.OrderInput("j1", 50000, START - timedelta(days=1), currency="JPY",
                                   contact_id="b"),
        ],
        "api",
        START,
    )  # fmt: skip
    report = await run_rfm(tags, RfmSection(), START, min_contacts=1)
    assert report.other_currency == 2
    scores = {s.contact_id: (s.frequency, s.monetary_cents) for s in await RfmScore.all()}
    assert scores == {"a": (2, 10000), "b": (2, 8000)}  # counted as orders, not as money
