"""storage.metrics on a small known dataset, on SQLite and PostgreSQL.

The expected numbers were worked out by hand from the rows below (see the comments next to
each assertion), before the code was run.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from storage import metrics
from storage.db import Database
from storage.metrics import Filters
from storage.models import (
    Contact,
    Enrollment,
    GuardAudit,
    Interaction,
    MarketingSend,
    MetricDay,
    MetricSummary,
    Order,
    Profile,
    Room,
    RoomMembership,
    TrackedLink,
)

TZ = ZoneInfo("Asia/Shanghai")
START, END = date(2026, 3, 10), date(2026, 3, 12)
NOW = datetime.fromisoformat("2026-03-20T12:00:00+08:00")  # every day of the range is final
BOT = frozenset({"bot"})


def at(text: str) -> datetime:
    return datetime.fromisoformat(f"2026-{text}+08:00")


_seq = 0


async def said(
    when: str,
    contact: str,
    kind: str = "message",
    room: str | None = None,
    text: str | None = None,
    account: str = "acc1",
) -> None:
    global _seq
    _seq += 1
    await Interaction.create(
        at=at(when),
        account_id=account,
        event_id=f"e{_seq}",
        kind=kind,
        room_id=room,
        contact_id=contact,
        msg_type="text" if kind == "message" else None,
        text=text if text is not None else ("在吗" if kind == "message" else None),
    )


async def seed() -> None:
    t0 = at("02-01T00:00:00")
    for cid, channel, friend in [
        ("a", "xhs", True),
        ("b", "xhs", True),
        ("c", "dy", False),  # asked, never accepted
        ("d", None, False),
        ("e", None, False),
    ]:
        await Contact.create(
            contact_id=cid, channel=channel, is_friend=friend, first_seen_at=t0, updated_at=t0
        )
    await Profile.create(contact_id="a", stage="pregnant", updated_at=t0)
    await Profile.create(contact_id="b", city="上海", updated_at=t0)  # no stage, no dates
    await Room.create(room_id="R1", account_id="acc1", topic="孕妈一群", updated_at=t0)
    await Room.create(room_id="R2", account_id="acc2", topic="宝妈二群", updated_at=t0)
    for room, cid, joined, left in [
        ("R1", "a", "03-01T10:00:00", None),
        ("R1", "b", "03-01T10:00:00", None),
        ("R1", "d", "03-10T08:00:00", "03-11T20:00:00"),
        ("R1", "e", "02-01T10:00:00", None),
        ("R1", "bot", "02-01T10:00:00", None),
        ("R2", "c", "03-05T10:00:00", None),
    ]:
        await RoomMembership.create(
            room_id=room, contact_id=cid, joined_at=at(joined), left_at=at(left) if left else None
        )
    await said("03-10T08:00:00", "d", "join", "R1")
    await said("03-10T08:30:00", "d", room="R1", text="奶粉推荐一下")
    await said("03-10T09:00:00", "bot", room="R1", text="欢迎新朋友，湿疹问题可以问我")
    await said("03-10T09:00:00", "a", "friend_request")
    await said("03-10T09:01:00", "a", "friend_added")
    await said("03-10T09:05:00", "a")
    await said("03-11T00:10:00", "b", "friend_added")  # 16:10 UTC on the 10th: local 11th
    await said("03-11T10:00:00", "b", room="R1", text="湿疹怎么办，湿疹好难受")
    await said("03-11T20:00:00", "d", "leave", "R1")
    await said("03-11T23:30:00", "a", room="R1", text="湿疹")  # 15:30 UTC: still the 11th
    await said("03-12T08:00:00", "a", "click")
    await said("03-12T10:00:00", "c", "friend_request", account="acc2")
    await said("03-12T11:00:00", "c", room="R2", text="奶粉", account="acc2")
    await said("03-13T00:00:00", "b", room="R1", text="奶粉奶粉奶粉")  # after the range
    await said("02-09T12:00:00", "e", room="R1", text="你好")
    await said("02-20T10:00:00", "a")
    # acc2 records adds: c's request alone (never accepted) does not make her a friend.
    await said("02-09T12:00:00", "e", "friend_added", account="acc2")
    for when, cid, room, action in [
        ("03-11T19:59:00", "d", "R1", "kick"),
        ("03-12T09:00:00", "a", "R1", "warn"),
        ("03-09T09:00:00", "x", "R2", "kick"),  # before the range
    ]:
        await GuardAudit.create(
            at=at(when), room_id=room, contact_id=cid, action=action, by="guard"
        )
    for oid, cid, cents, status, when, currency, channel in [
        ("o1", "a", 10000, "paid", "03-11T10:00:00", "CNY", None),
        ("o2", "a", 5000, "paid", "03-12T10:00:00", "CNY", None),
        ("o3", "a", 7000, "refunded", "03-11T11:00:00", "CNY", None),
        ("o4", "b", 3000, "paid", "03-10T10:00:00", "CNY", None),
        ("o5", None, 2000, "paid", "03-11T12:00:00", "CNY", "dy"),
        ("o6", "c", 1000, "paid", "03-12T12:00:00", "USD", None),
    ]:
        await Order.create(
            order_id=oid,
            contact_id=cid,
            amount_cents=cents,
            status=status,
            placed_at=at(when),
            currency=currency,
            channel=channel,
            created_at=t0,
            updated_at=t0,
        )
    await MarketingSend.create(key="k1", source="post:p1", room_id="R1", at=at("03-11T09:00:00"))
    await MarketingSend.create(key="k2", source="seq:s1:0", contact_id="a", at=at("03-10T10:00:00"))
    await MarketingSend.create(key="k3", source="seq:s1:0", contact_id="b", at=at("03-11T10:00:00"))
    for token, source, cid, room, when, clicks in [
        ("t1", "post:p1", None, "R1", "03-11T09:00:00", 3),
        ("t2", "seq:s1:0", "a", None, "03-10T10:00:00", 1),
        ("t3", "seq:s1:0", "b", None, "03-11T10:00:00", 0),
    ]:
        await TrackedLink.create(
            token=token,
            link_id="l",
            url="https://example.com",
            source=source,
            contact_id=cid,
            room_id=room,
            account_id="acc1",
            created_at=at(when),
            clicks=clicks,
        )
    for cid, when, status in [
        ("a", "03-10T10:00:00", "active"),
        ("b", "03-11T10:00:00", "finished"),
    ]:
        await Enrollment.create(
            contact_id=cid, sequence_id="s1", account_id="acc1", enrolled_at=at(when), status=status
        )


async def overview(f: Filters | None = None, now: datetime = NOW) -> dict[str, Any]:
    return await metrics.overview(START, END, f or Filters(), TZ, now, self_ids=BOT)


def column(result: dict[str, Any], key: str) -> list[Any]:
    return [d[key] for d in result["daily"]]


async def test_every_metric_on_a_known_dataset(db: Database) -> None:
    await seed()
    o = await overview()
    assert o["from"] == "2026-03-10" and o["to"] == "2026-03-12"
    assert o["filters"] == {"account": None, "room": None, "channel": None}
    assert column(o, "day") == ["2026-03-10", "2026-03-11", "2026-03-12"]
    # a (added on the 10th), b (added at 00:10 on the 11th); c was never accepted.
    assert column(o, "new_friends") == [1, 1, 0]
    # 10th: d, a (the bot's welcome is not activity); 11th: b, a; 12th: a (click), c.
    assert column(o, "dau") == [2, 2, 2]
    # 10th: e (02-09 is the 30th day back), a, d; 11th: e gone, b in; 12th: + c.
    assert column(o, "mau") == [3, 3, 4]
    assert column(o, "joins") == [1, 0, 0]
    assert column(o, "leaves") == [0, 0, 0]  # d left when she was kicked: no customer leaving
    assert column(o, "kicks") == [0, 1, 0]  # the warn and the kick of the 9th do not count
    # R1 (a, b, e, d until she left on the 11th; the bot is not a member) + R2 (c).
    assert column(o, "members") == [5, 5, 4]
    # 10th: d in R1; 11th: b and a (23:30 local) in R1; 12th: c in R2.
    assert column(o, "speakers") == [1, 2, 1]
    assert column(o, "interaction_rate") == [0.2, 0.4, 0.25]
    # 11th: e's 30 silent days since 02-09 ended (d was kicked: no churn).
    assert column(o, "churned") == [0, 1, 0]
    assert o["totals"] == {
        "new_friends": 2,
        "dau_avg": 2.0,
        "mau": 4,
        "joins": 1,
        "leaves": 0,
        "kicks": 1,
        "interaction_rate": round(4 / 14, 4),
        "churned": 1,
        "active": 4,
    }
    # a: stage known, two paid orders (the refund does not count); b: one paid order.
    assert o["funnel"] == {"added": 2, "profile_complete": 1, "first_order": 2, "repeat_order": 1}
    assert o["channels"] == [
        {
            "channel": "xhs",
            "new_friends": 2,
            "profile_complete": 1,
            "first_order": 2,
            "orders": 3,
            "revenue_cents": 18000,
        },
        {  # the unmatched order by its own channel; c's USD order counts, not its money
            "channel": "dy",
            "new_friends": 0,
            "profile_complete": 0,
            "first_order": 0,
            "orders": 2,
            "revenue_cents": 2000,
        },
    ]
    assert o["conversion"] == {
        "posts": [{"source": "post:p1", "sent": 1, "clicks": 3, "clicked": 1, "rate": 1.0}],
        "sequences": [{"source": "seq:s1:0", "sent": 2, "clicks": 1, "clicked": 1, "rate": 0.5}],
        "enrollments": [
            {"sequence_id": "s1", "enrolled": 2, "active": 1, "finished": 1, "exited": 0}
        ],
    }
    words = {t["word"]: t["count"] for t in o["hot_topics"]}
    # 湿疹 three times (b twice, a once), 奶粉 twice (d, c; b's three on the 13th are
    # after the week); the bot's 欢迎 and the stopwords 怎么办 and 一下 are not topics.
    assert o["hot_topics"][0]["word"] == "湿疹"
    assert words["湿疹"] == 3 and words["奶粉"] == 2
    assert not {"欢迎", "怎么办", "一下"} & set(words)
    assert all(t["weight"] > 0 for t in o["hot_topics"])


async def test_filters(db: Database) -> None:
    await seed()
    r1 = await overview(Filters(room_id="R1"))
    assert column(r1, "dau") == [1, 2, 0]  # a's direct message is not in the group
    assert column(r1, "members") == [4, 4, 3]
    assert column(r1, "speakers") == [1, 2, 0]
    assert column(r1, "kicks") == [0, 1, 0]
    assert r1["totals"]["new_friends"] == 2  # not a group figure: the room is ignored
    # The group's cohort is its new members: d, who never ordered.
    assert r1["funnel"] == {"added": 1, "profile_complete": 0, "first_order": 0, "repeat_order": 0}
    assert [p["source"] for p in r1["conversion"]["posts"]] == ["post:p1"]
    assert {t["word"] for t in r1["hot_topics"]} >= {"湿疹", "奶粉"}

    acc2 = await overview(Filters(account_id="acc2"))
    assert column(acc2, "dau") == [0, 0, 1]
    assert column(acc2, "members") == [1, 1, 1]
    assert column(acc2, "kicks") == [0, 0, 0]
    assert acc2["totals"]["new_friends"] == 0  # c asked acc2 but is no friend
    assert acc2["conversion"]["posts"] == []
    assert [t["word"] for t in acc2["hot_topics"]] == ["奶粉"]

    xhs = await overview(Filters(channel="xhs"))
    assert column(xhs, "dau") == [1, 2, 1]
    assert column(xhs, "members") == [2, 2, 2]
    assert column(xhs, "new_friends") == [1, 1, 0]
    assert [c["channel"] for c in xhs["channels"]] == ["xhs"]
    assert xhs["conversion"]["posts"] == []  # a post has no contact, so no channel
    assert xhs["conversion"]["sequences"][0]["sent"] == 2


async def test_a_day_is_a_local_calendar_day(db: Database) -> None:
    await seed()
    # 23:30 local on the 11th is 15:30 UTC on the 11th, 00:10 local on the 11th is 16:10
    # UTC on the 10th: both count for the 11th, never for a UTC day.
    only_11 = await metrics.overview(date(2026, 3, 11), date(2026, 3, 11), Filters(), TZ, NOW)
    assert column(only_11, "new_friends") == [1]
    assert column(only_11, "speakers") == [2]
    utc = await metrics.overview(
        date(2026, 3, 11), date(2026, 3, 11), Filters(), ZoneInfo("UTC"), NOW
    )
    # In UTC the 23:30 message is the 11th, the 00:10 friend the 10th (a different day).
    assert column(utc, "new_friends") == [0]


async def test_rollups_are_idempotent_and_today_stays_fresh(db: Database) -> None:
    await seed()
    evening = at("03-12T21:00:00")  # the 12th is still going on: provisional
    before = await metrics.overview(END, END, Filters(), TZ, evening, self_ids=BOT)
    await said("03-12T21:30:00", "e", room="R1", text="湿疹")
    later = await metrics.overview(END, END, Filters(), TZ, at("03-12T22:00:00"), self_ids=BOT)
    assert column(later, "dau") == [column(before, "dau")[0] + 1]
    assert not await MetricDay.filter(day=END.toordinal(), final=True).exists()

    first = await overview()
    assert column(first, "dau") == [2, 2, 3]
    assert await overview() == first
    assert await MetricDay.filter(day=END.toordinal(), final=True).exists()
    assert await metrics.roll_up(START, END, TZ, NOW) == 0  # nothing left to write
    # A final day is not read again: a row written for it late is not counted.
    await said("03-12T21:45:00", "d", room="R1", text="湿疹")
    assert await overview() == first


async def test_rooms_summary(db: Database) -> None:
    await seed()
    rooms = await metrics.rooms_summary(START, END, Filters(), TZ, NOW, self_ids=BOT)
    assert rooms == [
        {
            "room_id": "R1",
            "topic": "孕妈一群",
            "account_id": "acc1",
            "members": 3,
            "joins": 1,
            "leaves": 0,
            "kicks": 1,
            "messages": 3,
            "speakers": 3,
            "interaction_rate": round(3 / 11, 4),
        },
        {
            "room_id": "R2",
            "topic": "宝妈二群",
            "account_id": "acc2",
            "members": 1,
            "joins": 0,
            "leaves": 0,
            "kicks": 0,
            "messages": 1,
            "speakers": 1,
            "interaction_rate": round(1 / 3, 4),
        },
    ]


@pytest.mark.parametrize(
    ("start", "end"), [(date(2026, 3, 12), date(2026, 3, 10)), (date(2024, 1, 1), END)]
)
async def test_a_bad_range_is_refused(db: Database, start: date, end: date) -> None:
    with pytest.raises(ValueError):
        await metrics.overview(start, end, Filters(), TZ, NOW)


async def test_nothing_recorded_gives_zeros(db: Database) -> None:
    o = await overview()
    assert column(o, "dau") == [0, 0, 0]
    assert o["totals"]["interaction_rate"] == 0.0
    assert o["funnel"] == {"added": 0, "profile_complete": 0, "first_order": 0, "repeat_order": 0}
    assert o["channels"] == [] and o["hot_topics"] == []


# --------------------------------------------------------------------------- day summaries

SCOPES = [
    Filters(),
    Filters(account_id="acc1"),
    Filters(account_id="acc2"),
    Filters(room_id="R1"),
    Filters(room_id="R2"),
    Filters(channel="xhs"),
    Filters(channel="dy"),
]


async def from_activity(start: date, end: date, f: Filters, now: datetime) -> dict[str, Any]:
    return await metrics.overview(start, end, f, TZ, now, self_ids=BOT, summaries=False)


async def from_summaries(
    monkeypatch: pytest.MonkeyPatch, start: date, end: date, f: Filters, now: datetime
) -> dict[str, Any]:
    """The overview, failing if it is not read from the summaries."""

    async def refused(*args: Any) -> dict[str, Any]:
        raise AssertionError("read from the activity rollup, not the summaries")

    with monkeypatch.context() as m:
        m.setattr(metrics, "_overview_from_activity", refused)
        return await metrics.overview(start, end, f, TZ, now, self_ids=BOT)


async def test_summaries_give_the_figures_of_the_activity_rollup(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed()
    # 03-20 12:00: every day up to the 19th is over; the first run reaches back 430 days.
    assert await metrics.roll_up_finished_days(TZ, NOW, self_ids=BOT) == metrics.LOOKBACK_DAYS
    assert await MetricSummary.filter(day=END.toordinal(), scope="room:R1").exists()
    ranges = [(START, END), (date(2026, 3, 11), date(2026, 3, 11)), (date(2026, 2, 20), END)]
    # Today (provisional, worked out on the read) and days to come.
    ranges += [(date(2026, 3, 12), date(2026, 3, 22))]
    for f in SCOPES:
        for start, end in ranges:
            expected = await from_activity(start, end, f, NOW)
            assert await from_summaries(monkeypatch, start, end, f, NOW) == expected, (f, start)
    # Two filters at once have no summary: read from the activity rollup, same figures.
    both = Filters(account_id="acc1", channel="xhs")
    assert await metrics.overview(START, END, both, TZ, NOW, self_ids=BOT) == (
        await from_activity(START, END, both, NOW)
    )


async def test_days_after_the_last_summary_are_worked_out_on_the_read(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed()
    # The job ran at noon on the 11th (summaries up to the 10th); read on the 12th at
    # 21:00, with the 11th and the 12th not summarised yet.
    await metrics.roll_up_finished_days(TZ, at("03-11T12:00:00"), self_ids=BOT)
    assert not await MetricDay.filter(part="summary", day=date(2026, 3, 11).toordinal()).exists()
    now = at("03-12T21:00:00")
    for f in SCOPES:
        for start in (START, date(2026, 3, 11)):
            expected = await from_activity(start, END, f, now)
            assert await from_summaries(monkeypatch, start, END, f, now) == expected, (f, start)
    # Too many days missing (the job stopped a week ago): read from the activity rollup.
    later = at("03-20T12:00:00")
    o = await metrics.overview(START, END, Filters(), TZ, later, self_ids=BOT)
    assert o == await from_activity(START, END, Filters(), later)
    assert column(o, "mau") == [3, 3, 4]


async def test_a_final_day_is_not_rewritten(db: Database) -> None:
    await seed()
    assert await metrics.roll_up_finished_days(TZ, NOW, self_ids=BOT) == metrics.LOOKBACK_DAYS
    first = await overview()
    assert column(first, "dau") == [2, 2, 2]
    rows = await MetricSummary.filter(day=END.toordinal()).order_by("scope").values()
    assert await metrics.roll_up_finished_days(TZ, NOW, self_ids=BOT) == 0
    # A message written late for a final day is not counted, not even by the next run.
    await said("03-12T21:45:00", "d", room="R1", text="湿疹")
    assert await metrics.roll_up_finished_days(TZ, at("03-21T12:00:00"), self_ids=BOT) == 1
    assert await MetricSummary.filter(day=END.toordinal()).order_by("scope").values() == rows
    assert await overview() == first


async def test_summaries_of_another_timezone_or_bot_are_written_again(db: Database) -> None:
    await seed()
    await metrics.roll_up_finished_days(TZ, NOW, self_ids=BOT)
    utc = ZoneInfo("UTC")
    # Written again in UTC: the 00:10 friend of the 11th is a friend of the 10th there.
    assert await metrics.roll_up_finished_days(utc, NOW, self_ids=BOT) == metrics.LOOKBACK_DAYS
    o = await metrics.overview(START, END, Filters(), utc, NOW, self_ids=BOT)
    assert o == await metrics.overview(
        START, END, Filters(), utc, NOW, self_ids=BOT, summaries=False
    )
    assert column(o, "new_friends") == [2, 0, 0]
    # Read without the bot's id: the summaries (written without her) do not apply.
    mine = await metrics.overview(START, END, Filters(), utc, NOW)
    # The bot's welcome on the 10th counts now; b's message at 00:00 on the 13th local
    # is the 12th in UTC.
    assert column(mine, "dau") == [3, 2, 3]


# --------------------------------------------------------------------------- review fixes

DAY = date(2026, 3, 10)


async def one_day(f: Filters | None = None, self_ids: frozenset[str] = frozenset()) -> dict:
    o = await metrics.overview(DAY, DAY, f or Filters(), TZ, NOW, self_ids=self_ids)
    return o["daily"][0] | {"totals": o["totals"], "o": o}


async def member(room: str, cid: str, joined: str, left: str | None = None, **kw: Any) -> None:
    await RoomMembership.create(
        room_id=room,
        contact_id=cid,
        joined_at=at(joined),
        left_at=at(left) if left else None,
        **kw,
    )


async def test_concurrent_reads_roll_a_day_up_once(db: Database) -> None:
    for day in range(5, 13):
        await said(f"03-{day:02}T08:00:00", f"j{day}", "join", "R1")
        await said(f"03-{day:02}T10:00:00", "a", room="R1", text="湿疹")
    now = at("03-12T12:00:00")
    for _ in range(3):
        await MetricDay.all().delete()
        results = await asyncio.gather(
            *[metrics.overview(date(2026, 3, 5), END, Filters(), TZ, now) for _ in range(6)],
            return_exceptions=True,
        )
        assert [r for r in results if isinstance(r, BaseException)] == []
        assert all(r == results[0] for r in results)
        assert column(results[0], "dau") == [1] * 8 and column(results[0], "joins") == [1] * 8


async def bot_posts_daily() -> None:
    await Room.create(room_id="R1", account_id="acc1", topic="g", updated_at=at("01-01T00:00:00"))
    await member("R1", "bot", "01-01T00:00:00")
    await member("R1", "a", "01-01T00:00:00")
    for day in range(10, 20):
        await said(f"03-{day}T09:00:00", "bot", room="R1", text="新品奶粉限时优惠活动")
        await said(f"03-{day}T10:00:00", "a", room="R1", text="湿疹怎么办")


async def test_a_remembered_bot_id_is_left_out_before_and_after_login(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await bot_posts_daily()
    await metrics.remember_bot_id("acc1", "bot", at("03-01T00:00:00"))
    await metrics.remember_bot_id("acc1", "bot", at("03-02T00:00:00"))  # again: no change
    # The job runs before the account logged in (no live id): the bot is left out anyway.
    assert await metrics.roll_up_finished_days(TZ, NOW) == metrics.LOOKBACK_DAYS
    s, e = date(2026, 3, 14), date(2026, 3, 19)
    for live in (frozenset(), frozenset({"bot"})):  # before and after login: the same basis
        with monkeypatch.context() as m:
            m.setattr(metrics, "_overview_from_activity", None)  # summaries, or it fails
            o = await metrics.overview(s, e, Filters(), TZ, NOW, self_ids=live)
        assert column(o, "dau") == [1] * 6 and column(o, "members") == [1] * 6
        assert [t["word"] for t in o["hot_topics"]] == ["湿疹"]
    # Logged in the next day: one more day, nothing written again.
    assert await metrics.roll_up_finished_days(TZ, at("03-21T12:00:00"), self_ids={"bot"}) == 1


async def test_a_bot_id_learnt_late_is_counted_out(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await bot_posts_daily()
    await metrics.roll_up_finished_days(TZ, NOW)  # the id is not known yet: counted
    s, e = date(2026, 3, 14), date(2026, 3, 19)
    before = await metrics.overview(s, e, Filters(), TZ, NOW)
    assert column(before, "dau") == [2] * 6 and "湿疹" in {t["word"] for t in before["hot_topics"]}
    assert "限时" in {t["word"] for t in before["hot_topics"]}
    await metrics.remember_bot_id("acc1", "bot", NOW)  # the account logs in
    after = await metrics.overview(s, e, Filters(), TZ, NOW)
    assert column(after, "dau") == [1] * 6 and column(after, "members") == [1] * 6
    assert [t["word"] for t in after["hot_topics"]] == ["湿疹"]  # the words rolled again
    # The summaries that counted it were dropped; the next run writes them again, once.
    assert await metrics.roll_up_finished_days(TZ, NOW) == metrics.LOOKBACK_DAYS
    with monkeypatch.context() as m:
        m.setattr(metrics, "_overview_from_activity", None)
        assert await metrics.overview(s, e, Filters(), TZ, NOW) == after
    assert await metrics.roll_up_finished_days(TZ, NOW) == 0


async def test_a_new_friend_counts_once_on_her_first_add(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    for cid in "abcd":
        await Contact.create(
            contact_id=cid, is_friend=cid != "d", first_seen_at=NOW, updated_at=NOW
        )
    # a: asked at 23:50, added by acc1 after midnight: a friend of the 11th, not the 10th.
    await said("03-10T23:50:00", "a", "friend_request")
    await said("03-11T00:05:00", "a", "friend_added")
    # b: acc1's friend since February; her request to acc2 (which records adds) is no
    # second start, nor is acc2 adding her too.
    await said("02-01T10:00:00", "b", "friend_added")
    await said("03-11T10:00:00", "b", "friend_request", account="acc2")
    await said("03-11T10:05:00", "b", "friend_added", account="acc2")
    # c: added by acc2 on the 10th, then by acc1 on the 11th: acc2's new friend, once.
    await said("03-10T12:00:00", "c", "friend_added", account="acc2")
    await said("03-11T12:00:00", "c", "friend_added")
    # d: sim, an account that records requests only: her request counts, friend or not now.
    await said("03-11T09:00:00", "d", "friend_request", account="sim")
    s, e = date(2026, 3, 10), date(2026, 3, 11)
    expected = {
        None: ([1, 2], 3),
        "acc1": ([0, 1], 1),
        "acc2": ([1, 0], 1),
        "sim": ([0, 1], 1),
    }
    for account, (daily, total) in expected.items():
        o = await metrics.overview(s, e, Filters(account_id=account), TZ, NOW)
        assert (column(o, "new_friends"), o["totals"]["new_friends"]) == (daily, total), account
        assert o["funnel"]["added"] == total
    assert (await metrics.overview(DAY, DAY, Filters(), TZ, NOW))["totals"]["new_friends"] == 1
    await metrics.roll_up_finished_days(TZ, NOW)
    with monkeypatch.context() as m:
        m.setattr(metrics, "_overview_from_activity", None)
        o = await metrics.overview(s, e, Filters(), TZ, NOW)
    assert column(o, "new_friends") == [1, 2] and o["channels"][0]["new_friends"] == 3


async def two_accounts_in_one_group() -> None:
    await Room.create(room_id="R1", account_id="acc1", topic="g", updated_at=at("01-01T00:00:00"))
    for cid in "ab":
        await member("R1", cid, "03-01T10:00:00")
    await member("R1", "d", "03-10T08:00:00")
    for account in ("acc1", "acc2"):  # each account receives every event of the group
        await said("03-10T08:00:00", "d", "join", "R1", account=account)
        await said("03-10T09:00:00", "a", room="R1", text="湿疹", account=account)


async def test_two_bot_accounts_in_one_group_count_it_once(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await two_accounts_in_one_group()
    day = await one_day()
    assert (day["speakers"], day["members"], day["joins"], day["dau"]) == (1, 3, 1, 1)
    assert [(t["word"], t["count"]) for t in day["o"]["hot_topics"]] == [("湿疹", 1)]
    # The group is acc1's: its figures go to acc1, none to acc2.
    acc1, acc2 = await one_day(Filters(account_id="acc1")), await one_day(Filters("acc2"))
    assert (acc1["speakers"], acc1["members"], acc1["joins"]) == (1, 3, 1)
    assert (acc2["speakers"], acc2["members"], acc2["joins"], acc2["dau"]) == (0, 0, 0, 0)
    assert acc2["o"]["hot_topics"] == []
    rooms = await metrics.rooms_summary(DAY, DAY, Filters(), TZ, NOW)
    assert [(r["messages"], r["speakers"], r["joins"]) for r in rooms] == [(1, 1, 1)]
    await metrics.roll_up_finished_days(TZ, NOW)
    with monkeypatch.context() as m:
        m.setattr(metrics, "_overview_from_activity", None)
        assert (await one_day(Filters(account_id="acc2")))["speakers"] == 0
        assert (await one_day())["joins"] == 1


async def test_a_sequence_step_belongs_to_the_account_of_its_enrolment(db: Database) -> None:
    for seq, account in (("s1", "acc1"), ("s2", "acc2")):
        await Enrollment.create(
            contact_id="a", sequence_id=seq, account_id=account, enrolled_at=at("03-01T10:00:00")
        )
    await MarketingSend.create(key="k", source="seq:s2:0", contact_id="a", at=at("03-10T10:00:00"))
    for account, sent in (("acc1", []), ("acc2", [1])):
        o = await metrics.overview(DAY, DAY, Filters(account_id=account), TZ, NOW)
        assert [s["sent"] for s in o["conversion"]["sequences"]] == sent, account


async def test_a_kick_is_no_leave(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    await Room.create(room_id="R1", account_id="acc1", topic="g", updated_at=at("01-01T00:00:00"))
    # k1 removed by an admin (a remover), k2 kicked by the guard just before midnight,
    # v left of her own accord.
    await member("R1", "k1", "03-01T10:00:00", "03-10T10:00:00", remover_id="admin")
    await member("R1", "k2", "03-01T10:00:00", "03-10T00:00:30")
    await member("R1", "v", "03-01T10:00:00", "03-10T11:00:00")
    await GuardAudit.create(
        at=at("03-09T23:59:50"), room_id="R1", contact_id="k2", action="kick", by="guard"
    )
    for cid, when in (("k1", "03-10T10:00:00"), ("k2", "03-10T00:00:30"), ("v", "03-10T11:00:00")):
        await said(when, cid, "leave", "R1")
    day = await one_day()
    assert (day["leaves"], day["churned"]) == (1, 1)
    assert (await metrics.rooms_summary(DAY, DAY, Filters(), TZ, NOW))[0]["leaves"] == 1
    await metrics.roll_up_finished_days(TZ, NOW)
    with monkeypatch.context() as m:
        m.setattr(metrics, "_overview_from_activity", None)
        day = await one_day()
    assert (day["leaves"], day["churned"]) == (1, 1)


async def test_members_are_people_and_speakers_are_members(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await Room.create(room_id="R1", account_id="acc1", topic="g", updated_at=at("01-01T00:00:00"))
    # a left and came back twice on the 10th: one member. b stays. s speaks, no member.
    await member("R1", "a", "03-01T10:00:00", "03-10T09:00:00")
    await member("R1", "a", "03-10T09:30:00", "03-10T12:00:00")
    await member("R1", "a", "03-10T13:00:00")
    await member("R1", "b", "03-01T10:00:00")
    for cid in ("a", "b", "s"):
        await said("03-10T14:00:00", cid, room="R1", text="你好")
    s, e = date(2026, 3, 9), date(2026, 3, 11)
    o = await metrics.overview(s, e, Filters(), TZ, NOW)
    assert column(o, "members") == [2, 2, 2]
    assert column(o, "speakers") == [0, 2, 0] and column(o, "interaction_rate") == [0, 1.0, 0]
    r1 = await metrics.overview(s, e, Filters(room_id="R1"), TZ, NOW)
    assert column(r1, "members") == [2, 2, 2]
    rooms = await metrics.rooms_summary(s, e, Filters(), TZ, NOW)
    assert (rooms[0]["members"], rooms[0]["speakers"], rooms[0]["messages"]) == (2, 2, 3)
    assert rooms[0]["interaction_rate"] == round(2 / 6, 4)
    await metrics.roll_up_finished_days(TZ, NOW)
    with monkeypatch.context() as m:
        m.setattr(metrics, "_overview_from_activity", None)
        for f in (Filters(), Filters(room_id="R1"), Filters(account_id="acc1")):
            o = await metrics.overview(s, e, f, TZ, NOW)
            assert column(o, "members") == [2, 2, 2] and column(o, "speakers") == [0, 2, 0], f


async def test_deleting_the_bot_is_churn_of_that_account(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # g was added by acc1 and deleted it (two bounces that day, one more the next day:
    # one loss); h DMed acc2 and deleted it; u was removed by acc1 (the account's doing);
    # n was never a friend of acc1 (a bounce of a DM to a group member); w came back
    # (a request) after her first loss and left again the next day: two losses.
    for when, cid, kind, account in (
        ("03-01T09:00:00", "g", "friend_added", "acc1"),
        ("03-10T09:00:00", "g", "friend_lost", "acc1"),
        ("03-10T18:00:00", "g", "friend_lost", "acc1"),
        ("03-11T09:00:00", "g", "friend_lost", "acc1"),
        ("03-02T09:00:00", "h", "message", "acc2"),
        ("03-10T10:00:00", "h", "friend_lost", "acc2"),
        ("03-01T09:00:00", "u", "friend_added", "acc1"),
        ("03-10T11:00:00", "u", "friend_removed", "acc1"),
        ("03-10T12:00:00", "n", "friend_lost", "acc1"),
        ("03-01T09:00:00", "w", "friend_request", "acc1"),
        ("03-09T09:00:00", "w", "friend_lost", "acc1"),
        ("03-10T13:00:00", "w", "friend_request", "acc1"),
        ("03-11T13:00:00", "w", "friend_lost", "acc1"),
    ):
        await said(when, cid, kind, account=account)
    await Contact.create(contact_id="g", channel="xhs", first_seen_at=NOW, updated_at=NOW)
    o = await metrics.overview(START, END, Filters(), TZ, NOW)
    assert column(o, "churned") == [2, 1, 0] and o["totals"]["churned"] == 3  # g h, w
    day = await one_day()
    assert (day["churned"], day["totals"]["churned"]) == (2, 2)
    assert (await one_day(Filters(account_id="acc2")))["churned"] == 1
    assert (await one_day(Filters(channel="xhs")))["churned"] == 1
    assert (await one_day(Filters(room_id="R1")))["churned"] == 0  # no group: not a leave
    # The same from the day summaries.
    await metrics.roll_up_finished_days(TZ, NOW)
    with monkeypatch.context() as m:
        m.setattr(metrics, "_overview_from_activity", None)
        day = await one_day()
        acc2 = await one_day(Filters(account_id="acc2"))
        o = await metrics.overview(START, END, Filters(), TZ, NOW)
    assert (day["churned"], day["totals"]["churned"], acc2["churned"]) == (2, 2, 1)
    assert column(o, "churned") == [2, 1, 0] and o["totals"]["churned"] == 3
