"""Scheduled group posts (content/posts.toml), through the real app and the simulator: the
brand's groups get their 08:00 post once a day, in turn, paused and resumed by #定时, across
restarts, outages and two instances."""

from __future__ import annotations

import itertools
import logging
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.channels.sim import SimWorld
from bot.work import Work, WorkQueue
from flows.posts import POST_SEND, PostCommands, Posts
from storage import links, people
from storage import work as work_store
from storage.models import MarketingSend, TrackedLink
from tests.harness import START, BotUnderTest, copy_project

AT = datetime.fromisoformat  # a time as written: "2026-11-26T08:00:00+08:00"
DAY1 = AT("2026-11-26T08:00:00+08:00")  # the first 08:00 after START (11-25 09:00)

TIPS = [f"早安干货{i}" for i in range(1, 4)]
ROTATING = f"""
[[posts]]
id = "tips"
schedule = "0 8 * * *"
variants = {TIPS!r}
""".replace("'", '"')


def project(tmp: Path, posts: str | None = None, rooms: str = "") -> Path:
    """A private copy of the project, with these [[rooms]] added to config.toml and this
    posts.toml (None: the shipped demo)."""
    copy_project(tmp)
    if rooms:
        config = tmp / "config.toml"
        config.write_text(config.read_text(encoding="utf-8") + rooms, encoding="utf-8")
    if posts is not None:
        (tmp / "content" / "posts.toml").write_text(posts, encoding="utf-8")
    return tmp


def listed(name: str, *tags: str) -> str:
    quoted = ", ".join(f'"{t}"' for t in tags)
    return f'\n[[rooms]]\nmatch = "{name}"\ntags = [{quoted}]\n'


async def group(bot: BotUnderTest, room_id: str, topic: str, owner: str = "") -> None:
    """A group the bot is in, recorded as the roster would have it."""
    bot.room(room_id, topic, owner=owner or f"owner-{room_id}", members=["m1", "m2"])
    await bot.register_room(room_id)


def posts_in(bot: BotUnderTest, room: str) -> list[str]:
    return [a["text"] for a in bot.said_in(room)]


def commands(bot: BotUnderTest) -> PostCommands:
    feature = next(f for f in bot.app.features if f.name == "posts")
    obj: PostCommands = feature.exports["posts"]
    return obj


def send_times(bot: BotUnderTest, room: str) -> list[datetime]:
    return [AT(a["at"]) for a in bot.said_in(room)]


# ------------------------------------------------------------------ the demo, by day


async def test_morning_tips_go_once_a_day_at_8_to_brand_groups_only() -> None:
    async with BotUnderTest() as bot:
        await group(bot, "R1", "孕妈交流群")  # listed in config.toml, tagged 孕妈群
        await group(bot, "F1", "姐妹闲聊群")  # a friend pulled the bot in: not the brand's
        await group(bot, "X1", "孕妈交流群", owner="eve")  # a later copy of the brand's name
        await bot.tick("71h")  # to 11-28 08:00
        times = send_times(bot, "R1")
        assert times == [DAY1, DAY1 + timedelta(days=1), DAY1 + timedelta(days=2)]
        assert all(t.tzinfo is not None and t.utcoffset() == timedelta(hours=8) for t in times)
        assert posts_in(bot, "F1") == [] and posts_in(bot, "X1") == []
        texts = posts_in(bot, "R1")
        assert len(set(texts)) == 3 and all(t.startswith("☀️") for t in texts)
        await bot.tick("23h")  # nothing more until the next 08:00
        assert len(bot.said_in("R1")) == 3


async def test_variants_rotate_never_twice_in_a_row_and_cycle_through_all(tmp_path: Path) -> None:
    async with BotUnderTest(project(tmp_path, ROTATING, listed("孕妈二群"))) as bot:
        await group(bot, "R1", "孕妈交流群")
        await group(bot, "R2", "孕妈二群")
        await bot.tick("7d")
        for room in ("R1", "R2"):
            texts = posts_in(bot, room)
            assert texts == [*TIPS, *TIPS, TIPS[0]]  # in turn, each group its own turn
            assert all(a != b for a, b in itertools.pairwise(texts))


async def test_selector_by_name_by_tag_and_everyone(tmp_path: Path) -> None:
    posts = """
[[posts]]
id = "by-name"
schedule = "08:00"
rooms = ["宝妈辅食群"]
text = "辅食群专属：{room}，{bot}早上好"

[[posts]]
id = "by-tag"
schedule = "08:00"
room_tags = ["孕妈群"]
text = "孕妈群专属"

[[posts]]
id = "everyone"
schedule = "08:00"
text = "所有品牌群"
"""
    rooms = listed("宝妈辅食群") + listed("孕妈二群", "孕妈群")
    async with BotUnderTest(project(tmp_path, posts, rooms)) as bot:
        await group(bot, "R1", "孕妈交流群")
        await group(bot, "R2", "宝妈辅食群")
        await group(bot, "R3", "孕妈二群")
        await group(bot, "F1", "闺蜜群")  # not listed: not even "everyone" goes there
        await bot.tick("23h")
        assert sorted(posts_in(bot, "R1")) == ["孕妈群专属", "所有品牌群"]
        assert sorted(posts_in(bot, "R2")) == ["所有品牌群", "辅食群专属：宝妈辅食群，小暖早上好"]
        assert sorted(posts_in(bot, "R3")) == ["孕妈群专属", "所有品牌群"]
        assert posts_in(bot, "F1") == []


# ------------------------------------------------------------------ #定时


async def test_pause_and_resume_in_a_group_and_everywhere(tmp_path: Path) -> None:
    async with BotUnderTest(project(tmp_path, rooms=listed("孕妈二群", "孕妈群"))) as bot:
        await group(bot, "R1", "孕妈交流群")
        await group(bot, "R2", "孕妈二群")
        cmd = commands(bot)
        listing = await cmd.command("R1", "孕妈交流群", "列表")
        assert "morning-tips" in listing and "每天 08:00" in listing
        assert "下次 11月26日 08:00" in listing and "暂停" not in listing
        reply = await cmd.command("R1", "孕妈交流群", "暂停 morning-tips")
        assert "已暂停本群" in reply
        assert "本群已暂停" in await cmd.command("R1", "孕妈交流群", "list")
        await bot.tick("23h")  # 11-26 08:00
        assert posts_in(bot, "R1") == [] and len(posts_in(bot, "R2")) == 1
        assert "已恢复本群" in await cmd.command("R1", "孕妈交流群", "恢复 morning-tips")
        await bot.tick("1d")  # 11-27
        assert len(posts_in(bot, "R1")) == 1 and len(posts_in(bot, "R2")) == 2

        assert "已暂停所有群" in await cmd.command(None, "", "pause morning-tips")  # by DM
        assert "已全部暂停" in await cmd.command(None, "", "")
        group_try = await cmd.command("R2", "孕妈二群", "恢复 morning-tips")
        assert "全部暂停" in group_try  # a group cannot lift a super admin's pause
        await bot.tick("1d")  # 11-28: nobody
        assert len(posts_in(bot, "R1")) == 1 and len(posts_in(bot, "R2")) == 2
        assert "所有群恢复" in await cmd.command(None, "", "resume morning-tips")
        await bot.tick("1d")  # 11-29: both again
        assert len(posts_in(bot, "R1")) == 2 and len(posts_in(bot, "R2")) == 3


async def test_command_mistakes_get_a_helpful_answer() -> None:
    async with BotUnderTest() as bot:
        cmd = commands(bot)
        unknown = await cmd.command("R1", "孕妈交流群", "暂停 evening")
        assert "没有编号为「evening」" in unknown and "morning-tips" in unknown
        assert "#定时 列表" in await cmd.command("R1", "孕妈交流群", "删除 morning-tips")
        assert "例如" in await cmd.command(None, "", "暂停")
        not_ours = await cmd.command("F1", "闺蜜群", "暂停 morning-tips")
        assert "不发到本群" in not_ours
        assert "本群没有定时内容" in await cmd.command("F1", "闺蜜群", "列表")
        everything = await cmd.command(None, "", "列表")
        assert everything.startswith("全部定时内容") and "morning-tips" in everything


# ------------------------------------------------------------------ outages and restarts


def file_db(tmp: Path) -> str:
    return f"sqlite://{tmp}/posts.sqlite3"


async def test_a_fire_missed_within_the_grace_goes_at_start_and_rotation_survives(
    tmp_path: Path,
) -> None:
    base, world = project(tmp_path, ROTATING), SimWorld()
    async with BotUnderTest(base, database_url=file_db(tmp_path), world=world) as bot:
        await group(bot, "R1", "孕妈交流群")
        await bot.tick("1d")  # 11-26 09:00: day 1 sent
        assert posts_in(bot, "R1") == [TIPS[0]]
    # Down from 09:00 until 08:40 the next day: 40 minutes after 11-27's fire.
    back = DAY1 + timedelta(days=1, minutes=40)
    async with BotUnderTest(base, database_url=file_db(tmp_path), world=world, start=back) as bot:
        await bot.tick("0s")
        assert posts_in(bot, "R1") == [TIPS[1]]  # the next in turn, not the first again
        assert send_times(bot, "R1") == [back]
        await bot.tick("1d")
        assert posts_in(bot, "R1") == [TIPS[1], TIPS[2]]


async def test_a_fire_missed_beyond_the_grace_is_skipped_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    base, world = project(tmp_path, ROTATING), SimWorld()
    async with BotUnderTest(base, database_url=file_db(tmp_path), world=world) as bot:
        await group(bot, "R1", "孕妈交流群")
        await bot.tick("20h")  # 11-26 05:00, before the first fire
    caplog.set_level(logging.INFO, logger="flows.posts")
    back = DAY1 + timedelta(minutes=90)
    for _restart in range(2):  # a second start logs nothing again
        async with BotUnderTest(
            base, database_url=file_db(tmp_path), world=world, start=back
        ) as bot:
            await bot.tick("0s")
            assert posts_in(bot, "R1") == []
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1, skipped
    assert "tips" in skipped[0] and "2026-11-26 08:00" in skipped[0]
    assert "skipped: missed by 90 min" in skipped[0]
    async with BotUnderTest(base, database_url=file_db(tmp_path), world=world, start=back) as bot:
        await bot.tick("1d")  # the chain goes on: 11-27 08:00 is sent, the first variant
        assert posts_in(bot, "R1") == [TIPS[0]]


async def test_after_an_outage_only_the_latest_fire_within_the_grace_goes(
    tmp_path: Path,
) -> None:
    posts = '[[posts]]\nid = "often"\nschedule = "*/20 * * * *"\ntext = "整点干货"\n'
    base, world = project(tmp_path, posts), SimWorld()
    before = DAY1 - timedelta(minutes=10)
    async with BotUnderTest(base, database_url=file_db(tmp_path), world=world, start=before) as bot:
        await group(bot, "R1", "孕妈交流群")
        await bot.tick("5m")  # down from 07:55; the 08:00 row waits in the queue
    back = DAY1 + timedelta(minutes=50)  # 08:00, 08:20 and 08:40 all passed
    async with BotUnderTest(base, database_url=file_db(tmp_path), world=world, start=back) as bot:
        await bot.tick("0s")
        assert send_times(bot, "R1") == [back]  # one post, not a burst of three
        await bot.tick("10m")
        assert send_times(bot, "R1") == [back, DAY1 + timedelta(hours=1)]


async def test_a_restart_between_fan_out_and_sends_repeats_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, world = project(tmp_path, rooms=listed("孕妈二群", "孕妈群")), SimWorld()
    async with BotUnderTest(base, database_url=file_db(tmp_path), world=world) as bot:
        await group(bot, "R1", "孕妈交流群")
        await group(bot, "R2", "孕妈二群")
        # This instance stops claiming post_send rows: it dies after the fan-out.
        claimable = property(lambda q: sorted(k for k in q.runners if k != POST_SEND))
        monkeypatch.setattr(WorkQueue, "kinds", claimable)
        await bot.tick("23h")
        pending = await work_store.rows(POST_SEND, "pending")
        assert sorted(r.payload["room"] for r in pending) == ["R1", "R2"]
        assert bot.said_in("R1") == [] and bot.said_in("R2") == []
        monkeypatch.undo()
    later = DAY1 + timedelta(minutes=2)
    async with BotUnderTest(base, database_url=file_db(tmp_path), world=world, start=later) as bot:
        await bot.tick("1h")
        assert len(bot.said_in("R1")) == 1 and len(bot.said_in("R2")) == 1
        await bot.tick("23h")  # the next day: one more each, nothing of day 1 again
        assert len(bot.said_in("R1")) == 2 and len(bot.said_in("R2")) == 2
        assert await MarketingSend.filter(source="post:morning-tips").count() == 4


async def test_a_fan_out_that_fails_half_way_is_retried_without_doubling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with BotUnderTest(project(tmp_path, rooms=listed("孕妈二群", "孕妈群"))) as bot:
        await group(bot, "R1", "孕妈交流群")
        await group(bot, "R2", "孕妈二群")
        real = Posts._schedule_send
        calls: list[str] = []

        async def flaky(self: Posts, post_id: str, fire: datetime, target: Any, now: Any) -> None:
            calls.append(target.room_id)
            if len(calls) == 2:  # the database drops after the first group's row
                raise ConnectionError("gone")
            await real(self, post_id, fire, target, now)

        monkeypatch.setattr(Posts, "_schedule_send", flaky)
        await bot.tick("83000s")  # to 08:03: 08:00, and the retry half a minute later
        assert calls == ["R1", "R2", "R1", "R2"]
        assert len(bot.said_in("R1")) == 1 and len(bot.said_in("R2")) == 1


async def test_a_send_run_twice_sends_once_and_turns_the_rotation_once(tmp_path: Path) -> None:
    # A crash after the send but before the queue marked its row done runs it again.
    async with BotUnderTest(project(tmp_path, ROTATING)) as bot:
        await group(bot, "R1", "孕妈交流群")
        feature = next(f for f in bot.app.features if f.name == "posts")
        send = feature.work[POST_SEND]
        key = "post:tips:R1:2026-11-25T09:00:00+08:00"
        await bot.app.work.schedule(
            POST_SEND, key, START, payload={"post": "tips", "room": "R1"}, account_id="sim"
        )
        (item,) = await work_store.rows(POST_SEND)
        row = Work(item.id, item.kind, item.key, item.due_at, item.payload, "sim", None, 1)
        await send(row)
        await send(row)
        await bot.app.work.cancel([key])
        await bot.tick("1s")
        assert posts_in(bot, "R1") == [TIPS[0]]
        assert await MarketingSend.filter(key=key).count() == 1
        await bot.tick("1d")  # the next day's post is the next variant, none skipped
        assert posts_in(bot, "R1") == [TIPS[0], TIPS[1]]


# ------------------------------------------------------------------ links, pacing, errors


async def test_a_tracked_link_in_a_post_is_tokenised_for_the_group(tmp_path: Path) -> None:
    posts = """
[[posts]]
id = "guide"
schedule = "08:00"
room_tags = ["孕妈群"]
text = "今天的干货：{link:feeding}"

[[posts.links]]
id = "feeding"
url = "https://example.com/feeding"
tags = ["关注:新生儿知识"]
"""
    async with BotUnderTest(project(tmp_path, posts)) as bot:
        await group(bot, "R1", "孕妈交流群")
        await bot.tick("23h")
        (text,) = posts_in(bot, "R1")
        match = re.fullmatch(r"今天的干货：http://127\.0\.0\.1:8080/l/([A-Za-z0-9_-]{22})", text)
        assert match, text
        row = await TrackedLink.get(token=match.group(1))
        assert (row.room_id, row.contact_id, row.account_id) == ("R1", None, "sim")
        assert (row.source, row.url) == ("post:guide", "https://example.com/feeding")
        assert (await links.conversion("post:guide")).sent == 1


async def test_a_post_to_many_groups_is_spread_out_by_the_accounts_pacing(
    tmp_path: Path,
) -> None:
    names = [f"孕妈{i:02d}群" for i in range(30)]
    rooms = "".join(listed(name, "孕妈群") for name in names)
    async with BotUnderTest(project(tmp_path, ROTATING, rooms), pace=True) as bot:
        for i, name in enumerate(names):
            await group(bot, f"G{i:02d}", name)
        await bot.tick("1d")
        times = sorted(t for i in range(30) for t in send_times(bot, f"G{i:02d}"))
        assert len(times) == 30  # each group once
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        assert min(gaps) >= 2.0  # [outbox.pacing] min_interval_seconds: never a burst
        assert times[0] >= DAY1 and times[-1] - times[0] >= timedelta(seconds=58)


async def test_a_bad_post_costs_that_post_not_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    posts = """
[[posts]]
id = "room-only"
schedule = "08:00"
text = "{room}"

[[posts]]
id = "good"
schedule = "08:00"
text = "早安"
"""
    caplog.set_level(logging.INFO, logger="flows.posts")
    async with BotUnderTest(project(tmp_path, posts, listed("R9"))) as bot:
        await group(bot, "R9", "")  # listed by id, a group with no name: "{room}" is empty
        await group(bot, "R1", "孕妈交流群")
        await bot.tick("23h")
        assert posts_in(bot, "R9") == ["早安"]
        assert sorted(posts_in(bot, "R1")) == ["孕妈交流群", "早安"]
        assert any(
            "room-only" in r.getMessage() and "empty" in r.getMessage() for r in caplog.records
        )
        await bot.tick("1d")  # and the next day as well
        assert posts_in(bot, "R9") == ["早安", "早安"]


# ------------------------------------------------------------------ two instances


async def test_two_instances_send_each_group_its_post_once_a_day() -> None:
    from tests.test_two_instances import two_instances

    async with two_instances() as pair:
        a = pair.apps[0]
        await a.open()
        await people.upsert_room("R1", "sim", START, topic="孕妈交流群")
        b = pair.build("b")
        await b.open()  # plans nothing twice
        fires = await work_store.rows("post_fire")
        assert [r.key for r in fires] == ["post:morning-tips:2026-11-26T08:00:00+08:00"]
        await a.settle()  # what start made due now, so both_until sees the next due time
        await pair.both_until(START + timedelta(days=3))
        said: list[tuple[str, dict[str, Any]]] = [
            (who, r) for who, r in pair.actions if r["action"] == "say" and r["room"] == "R1"
        ]
        assert [AT(r["at"]) for _, r in said] == [DAY1 + timedelta(days=d) for d in range(3)]
        sends = await work_store.rows(POST_SEND)
        assert [r.status for r in sends] == ["done"] * 3
