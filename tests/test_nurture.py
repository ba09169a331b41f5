"""Nurture sequences, through the simulator: a mother enters a stage or an interest, the
steps come at their days inside the send window, and every way out (exit tag, 退订, a
stage change, a manual stop) stops them. Caps and quiet hours delay, never drop; a restart
or a step cut off in the middle repeats nothing."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.clock import FakeClock
from bot.triggers import Trigger
from flows.nurture import NURTURE_STEP, Nurture
from storage import links, profiles, work
from storage import nurture as store
from storage.db import Database
from storage.kv_redis import RedisKV
from storage.models import Enrollment, MarketingSend
from tests import services
from tests.harness import START, BotUnderTest, copy_project

TZ = START.tzinfo
LINK = re.compile(r"http://127\.0\.0\.1:8080/l/([A-Za-z0-9_\-]{22})")


def nurture_of(bot: BotUnderTest) -> Nurture:
    (feature,) = [f for f in bot.app.features if f.name == "nurture"]
    found: Nurture = feature.exports["nurture"]
    return found


def pushes(
    bot: BotUnderTest, contact: str = "c", marker: str = "/l/"
) -> list[tuple[datetime, str]]:
    """What sequences sent her (texts with the marker: a tracked link in the demo), with
    the local time each went out."""
    return [
        (datetime.fromisoformat(a["at"]).astimezone(TZ), a["text"])
        for a in bot.said_to(contact)
        if marker in a["text"]
    ]


async def mother(bot: BotUnderTest, contact: str = "c", stage: str = "孕24周") -> None:
    """She befriends the bot and tells the intake her stage, then ends it."""
    await bot.friend_request(contact, "小红", "你好")
    await bot.says(contact, stage)
    await bot.says(contact, "不用了")


async def status(contact: str = "c") -> dict[str, tuple[str, str]]:
    return {e.sequence_id: (e.status, e.end_reason) for e in await store.of_contact(contact)}


def sequences(tmp: Path, toml: str) -> Path:
    copy_project(tmp)
    (tmp / "content" / "sequences.toml").write_text(toml, encoding="utf-8")
    return tmp


@pytest.fixture(params=["sqlite", "postgres+redis"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """BotUnderTest arguments for a database that outlives one app: an SQLite file, or
    PostgreSQL and Redis as several instances share them (emptied before and after)."""
    if request.param == "sqlite":
        yield {"database_url": f"sqlite://{tmp_path}/bot.sqlite3"}
        return
    urls = {
        "database_url": services.postgres_url(),
        "redis_url": services.redis_url(),
        "kv_prefix": f"mamabot-test-{uuid.uuid4().hex[:8]}:",
    }
    await _empty(urls)
    try:
        yield urls
    finally:
        await _empty(urls)


async def _empty(urls: dict[str, str]) -> None:
    database = Database(urls["database_url"])
    await database.open()
    await database.truncate_all()
    await database.close()
    kv = RedisKV(urls["redis_url"], FakeClock(START), prefix=urls["kv_prefix"])
    await kv.flush_prefix()
    await kv.close()


def in_window(at: datetime) -> bool:
    return 9 * 60 <= at.hour * 60 + at.minute < 21 * 60


# --------------------------------------------------------------------------- the demo


async def test_mid_pregnancy_steps_arrive_on_days_1_3_and_7_inside_the_window() -> None:
    async with BotUnderTest() as bot:
        await mother(bot)  # 孕24周 on Wednesday 2026-11-25, 09:00
        assert await status() == {"mid-pregnancy": ("active", "")}
        await bot.tick("30d")
        sent = pushes(bot)
        assert [at.date().isoformat() for at, _ in sent] == [
            "2026-11-26",
            "2026-11-28",
            "2026-12-02",
        ]
        assert all(in_window(at) for at, _ in sent)
        day1_text, day3_text, day7_text = (text for _, text in sent)
        assert "《孕期营养补充指南》" in day1_text and "小红" in day1_text
        assert "《产前准备》" in day3_text and len(LINK.findall(day3_text)) == 2
        assert "孕妇枕" in day7_text
        assert "{" not in day1_text + day3_text + day7_text  # every placeholder filled
        assert await status() == {"mid-pregnancy": ("finished", "")}
        sources = await MarketingSend.filter(contact_id="c").values_list("source", flat=True)
        assert sorted(sources) == [f"seq:mid-pregnancy:{s}" for s in ("day1", "day3", "day7")]


async def test_a_click_on_the_newborn_feeding_link_tags_her_and_starts_newborn() -> None:
    async with BotUnderTest() as bot:
        await mother(bot)
        await bot.tick("3d")
        (_, day3_text) = pushes(bot)[-1]
        before_click = len(pushes(bot))
        clicked = [await links.get(token) for token in LINK.findall(day3_text)]
        (feeding,) = [link for link in clicked if link and link.link_id == "newborn-feeding"]
        assert feeding.contact_id == "c" and feeding.source == "seq:mid-pregnancy:day3"
        # The click, as the links feature records it: the link's tags, then the trigger.
        for tag in feeding.tags:
            await bot.app.tags.add("c", tag, source="link", detail=feeding.link_id)
        await bot.app.services.triggers.fire(
            Trigger("link", "c", feeding.link_id, bot.clock.now(), feeding.account_id)
        )
        assert "关注:新生儿知识" in await bot.app.tags.tags_of("c")
        assert (await status())["newborn"] == ("active", "")
        (enrolment,) = [e for e in await store.of_contact("c") if e.sequence_id == "newborn"]
        assert enrolment.trigger == "tag:关注:新生儿知识"
        await bot.tick("20d")
        later = [text for _, text in pushes(bot)[before_click:]]
        newborn = [text for text in later if "孕妇枕" not in text]  # not mid-pregnancy's day 7
        assert len(later) == 4 and len(newborn) == 3 and "脐带" in newborn[1]
        assert (await status())["newborn"] == ("finished", "")


async def test_the_exit_tag_stops_the_sequence_at_once() -> None:
    async with BotUnderTest() as bot:
        await mother(bot)
        await bot.tick("1d")
        assert len(pushes(bot)) == 1
        await bot.app.tags.add("c", "已购买", source="admin")
        assert await status() == {"mid-pregnancy": ("exited", "tag:已购买")}
        assert await work.rows(NURTURE_STEP, "pending") == []  # day3 is off the queue
        await bot.tick("10d")
        assert len(pushes(bot)) == 1


async def test_unsubscribing_stops_it() -> None:
    async with BotUnderTest() as bot:
        await mother(bot)
        await bot.tick("1d")
        await bot.says("c", "退订")
        await bot.tick("10d")
        assert len(pushes(bot)) == 1
        assert await status() == {"mid-pregnancy": ("exited", "退订")}


async def test_a_stage_change_out_of_mid_pregnancy_stops_it() -> None:
    async with BotUnderTest() as bot:
        await mother(bot, stage="孕27周+5天")  # 孕晚期 from Friday's 09:30 run
        await bot.tick("1d")
        assert len(pushes(bot)) == 1  # day 1, still 孕中期
        await bot.tick("25h")  # Friday 10:00: the stage job moved her at 09:30
        assert await status() == {"mid-pregnancy": ("exited", "stage:孕晚期")}
        await bot.tick("10d")
        assert len(pushes(bot)) == 1


async def test_the_manual_stop_ends_her_enrolments_and_says_which() -> None:
    async with BotUnderTest() as bot:
        await mother(bot)
        await bot.tick("1d")
        assert await nurture_of(bot).stop("c", "admin1") == ["mid-pregnancy"]
        assert await nurture_of(bot).stop("c", "admin1") == []
        await bot.tick("10d")
        assert len(pushes(bot)) == 1
        assert await status() == {"mid-pregnancy": ("exited", "manual:admin1")}


async def test_one_enrolment_per_contact_and_sequence_ever_however_often_triggered() -> None:
    async with BotUnderTest() as bot:
        await mother(bot)
        again = Trigger("stage", "c", "孕中期", bot.clock.now(), "sim")
        await bot.app.services.triggers.fire(again)
        await bot.app.services.triggers.fire(again)
        assert await Enrollment.filter(contact_id="c").count() == 1
        await bot.tick("1d")
        assert len(pushes(bot)) == 1
        await nurture_of(bot).stop("c", "admin1")
        await bot.app.services.triggers.fire(again)  # ended is not a fresh start
        await bot.tick("10d")
        assert len(pushes(bot)) == 1
        assert await status() == {"mid-pregnancy": ("exited", "manual:admin1")}


# --------------------------------------------------------------------------- guard rails

FOUR_SEQUENCES = "\n".join(
    f"""
[[sequences]]
id = "s{n}"
triggers = [{{ on = "stage", value = "孕中期" }}]
{
        "".join(
            f'''
[[sequences.steps]]
id = "d{day}"
delay = "{day}d"
text = "[s{n}-d{day}]"
'''
            for day in (1, 2, 3)
        )
    }"""
    for n in range(4)
)


async def test_daily_and_weekly_caps_hold_across_sequences_and_nothing_is_lost(
    tmp_path: Path, stores: dict[str, str]
) -> None:
    async with BotUnderTest(sequences(tmp_path, FOUR_SEQUENCES), **stores) as bot:
        await mother(bot)
        await bot.tick("30d")
        sent = [at for at, _ in pushes(bot, marker="[s")]
        assert len(sent) == 12  # four sequences of three steps: every one went
        assert max(Counter(at.date() for at in sent).values()) == 2  # daily cap
        for at in sent:
            assert sum(at - timedelta(days=7) < other <= at for other in sent) <= 6  # weekly
        assert all(8 * 60 + 30 <= at.hour * 60 + at.minute < 21 * 60 + 30 for at in sent)
        assert max(sent).date() > (START + timedelta(days=7)).date()  # some waited a week
        assert all(s == ("finished", "") for s in (await status()).values())


QUIET = """
[[sequences]]
id = "anytime"
triggers = [{ on = "stage", value = "孕中期" }]
[[sequences.steps]]
id = "a1"
delay = "1d"
text = "[anytime]"

[[sequences]]
id = "daytime"
triggers = [{ on = "stage", value = "孕中期" }]
window = "09:00-21:00"
[[sequences.steps]]
id = "b1"
delay = "1d"
text = "[daytime]"
"""


async def test_quiet_hours_move_a_step_to_their_end_and_a_window_to_its_start(
    tmp_path: Path,
) -> None:
    late = START.replace(hour=22, minute=40)
    async with BotUnderTest(sequences(tmp_path, QUIET), start=late) as bot:
        await mother(bot)  # enrolled at 22:40: both steps are due at 22:40 the next day
        await bot.tick("2d")
        times = {text: at for at, text in pushes(bot, marker="[")}
        assert times == {
            "[anytime]": datetime(2026, 11, 27, 8, 30, tzinfo=TZ),
            "[daytime]": datetime(2026, 11, 27, 9, 0, tzinfo=TZ),
        }


# --------------------------------------------------------------------------- never twice


async def test_a_restart_mid_sequence_loses_and_repeats_nothing(stores: dict[str, str]) -> None:
    async with BotUnderTest(**stores) as bot:
        await mother(bot)
        await bot.tick("2d")
        before = [text for _, text in pushes(bot)]
        stopped_at = bot.clock.now()
    assert len(before) == 1
    async with BotUnderTest(**stores, start=stopped_at) as bot:  # a new process
        await bot.tick("10d")
        after = pushes(bot)
        assert [at.date().isoformat() for at, _ in after] == ["2026-11-28", "2026-12-02"]
        assert await MarketingSend.filter(contact_id="c").count() == 3
        assert await status() == {"mid-pregnancy": ("finished", "")}


@pytest.mark.parametrize("where", ["before it is recorded", "after it is recorded"])
async def test_a_step_cut_off_and_run_again_sends_once_and_goes_on(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with BotUnderTest() as bot:
        await mother(bot)
        cuts: list[str] = []
        real_advance, real_schedule = store.advance, bot.app.work.schedule

        async def advance(*args: Any, **kwargs: Any) -> bool:
            if not cuts:
                cuts.append("advance")
                raise ConnectionError("cut off before the step was recorded")
            return await real_advance(*args, **kwargs)

        async def schedule(kind: str, key: str, *args: Any, **kwargs: Any) -> bool:
            if kind == NURTURE_STEP and key.split(":")[2] == "1" and not cuts:
                cuts.append("schedule")
                raise ConnectionError("cut off after the step was recorded")
            return await real_schedule(kind, key, *args, **kwargs)

        if where == "before it is recorded":
            monkeypatch.setattr(store, "advance", advance)
        else:
            monkeypatch.setattr(bot.app.work, "schedule", schedule)
        await bot.tick("1d")
        assert cuts  # the first run of day 1 was cut off, and the queue ran it again
        await bot.tick("7d")
        assert [at.date().isoformat() for at, _ in pushes(bot)] == [
            "2026-11-26",
            "2026-11-28",
            "2026-12-02",
        ]
        day1 = await MarketingSend.filter(source="seq:mid-pregnancy:day1").count()
        assert day1 == 1  # counted once against her cap


# --------------------------------------------------------------------------- the parts

TRIGGERS = """
[[sequences]]
id = "by-channel"
triggers = [{ on = "channel", value = "小红书" }]
steps = [{ id = "x", add_tags = ["来自:渠道"] }]

[[sequences]]
id = "by-keyword"
triggers = [{ on = "keyword", value = "daichanbao" }]
steps = [{ id = "x", add_tags = ["来自:关键词"] }]

[[sequences]]
id = "by-link"
triggers = [{ on = "link", value = "some-link" }]
steps = [{ id = "x", add_tags = ["来自:链接"] }]

[[sequences]]
id = "by-order"
triggers = [{ on = "order" }]
steps = [{ id = "x", add_tags = ["来自:订单"] }]

[[sequences]]
id = "by-tag"
triggers = [{ on = "tag", value = "高意向" }]
steps = [{ id = "x", add_tags = ["来自:标签"] }]

[[sequences]]
id = "late-only"
triggers = [{ on = "tag", value = "高意向" }]
stages = ["孕晚期"]
steps = [{ id = "x", add_tags = ["来自:孕晚期"] }]

[[sequences]]
id = "switched-off"
enabled = false
triggers = [{ on = "tag", value = "高意向" }]
steps = [{ id = "x", add_tags = ["来自:停用"] }]
"""


async def test_each_kind_of_trigger_enrols_in_the_sequences_that_name_it(tmp_path: Path) -> None:
    async with BotUnderTest(sequences(tmp_path, TRIGGERS)) as bot:
        await mother(bot)  # 孕中期
        fire = bot.app.services.triggers.fire
        now = bot.clock.now()
        await fire(Trigger("untag", "c", "高意向", now, "sim"))  # a tag taken away: nothing
        for kind, value in [("channel", "抖音"), ("keyword", "other"), ("link", "x")]:
            await fire(Trigger(kind, "c", value, now, "sim"))  # type: ignore[arg-type]
        assert await status() == {}
        await fire(Trigger("channel", "c", "小红书", now, "sim"))
        await fire(Trigger("keyword", "c", "daichanbao", now, "sim"))
        await fire(Trigger("link", "c", "some-link", now, None))  # her account: her profile's
        await fire(Trigger("order", "c", "", now, "sim"))
        await bot.app.tags.add("c", "高意向", source="admin")
        await bot.tick("1m")
        assert sorted(await status()) == [
            "by-channel",
            "by-keyword",
            "by-link",
            "by-order",
            "by-tag",
        ]
        tags = await bot.app.tags.tags_of("c")
        assert {t: s for t, s in tags.items() if t.startswith("来自:")} == {
            "来自:渠道": "sequence",
            "来自:关键词": "sequence",
            "来自:链接": "sequence",
            "来自:订单": "sequence",
            "来自:标签": "sequence",
        }
        # Someone no account ever talked to cannot be written to: not enrolled.
        await fire(Trigger("order", "stranger", "", now, None))
        assert await status("stranger") == {}


STEPS = """
[[sequences]]
id = "steps"
triggers = [{ on = "stage", value = "孕中期" }]
stages = ["孕中期"]

[[sequences.steps]]
id = "vip-only"
delay = "1d"
if_tags = ["VIP"]
text = "[vip]"

[[sequences.steps]]
id = "after-it"
delay = "1d"
after = "previous"
unless_tags = ["已购买"]
text = "[next] {bot}"
add_tags = ["培育:第二步"]
remove_tags = ["待跟进"]

[[sequences.steps]]
id = "late-only"
delay = "1h"
after = "previous"
stages = ["孕晚期"]
text = "[late]"

[[sequences.steps]]
id = "ask"
delay = "1h"
after = "previous"
dialog = "birth_check"
"""


async def test_conditions_skip_a_step_and_the_next_follows_as_if_it_ran(tmp_path: Path) -> None:
    async with BotUnderTest(sequences(tmp_path, STEPS)) as bot:
        await mother(bot)
        await bot.app.tags.add("c", "待跟进", source="admin")
        await bot.tick("3d")
        sent = pushes(bot, marker="[")
        # vip-only was skipped at day 1; after-it came a day after that, not after enrolment.
        assert [(at.date().isoformat(), text) for at, text in sent] == [
            ("2026-11-27", f"[next] {bot.app.config.bot.name}")
        ]
        tags = await bot.app.tags.tags_of("c")
        assert tags.get("培育:第二步") == "sequence" and "待跟进" not in tags
        # late-only skipped (she is 孕中期); the dialog step asked its question.
        assert any("宝宝出生了吗" in a["text"] for a in bot.said_to("c"))
        assert await status() == {"steps": ("finished", "")}


BROKEN = """
[[sequences]]
id = "broken"
triggers = [{ on = "stage", value = "孕中期" }]

[[sequences.steps]]
id = "bad"
delay = "1d"
dialog = "no-such-dialog"
invite = "没有这个群"

[[sequences.steps]]
id = "good"
delay = "2d"
text = "[still here]"
"""


async def test_a_broken_step_costs_that_step_not_the_sequence_or_the_bot(tmp_path: Path) -> None:
    async with BotUnderTest(sequences(tmp_path, BROKEN)) as bot:
        await mother(bot)
        await bot.tick("1d")
        assert await work.rows(NURTURE_STEP, "failed") == []
        assert bot.of("invite") == []
        answer = await bot.says("c", "待产包要准备什么？")
        assert any(a["action"] == "say" for a in answer)  # the bot still answers her
        await bot.tick("1d")
        assert [text for _, text in pushes(bot, marker="[")] == ["[still here]"]
        assert await status() == {"broken": ("finished", "")}


async def test_a_sequence_switched_off_mid_way_ends_its_enrolments(tmp_path: Path) -> None:
    base = sequences(tmp_path, QUIET)
    async with BotUnderTest(base) as bot:
        await mother(bot)
        path = base / "content" / "sequences.toml"
        path.write_text(QUIET.replace('id = "daytime"', 'id = "daytime"\nenabled = false'), "utf-8")
        assert bot.app.content.reload() == []
        await bot.tick("2d")
        assert [text for _, text in pushes(bot, marker="[")] == ["[anytime]"]
        assert await status() == {
            "anytime": ("finished", ""),
            "daytime": ("exited", "sequence disabled"),
        }


SILENT_STEPS = """
[[sequences]]
id = "silent"
triggers = [{ on = "stage", value = "孕中期" }]
stages = ["孕中期"]
exit_tags = ["已购买"]
steps = [{ id = "t1", delay = "1d", add_tags = ["培育:一"] }]
"""


async def test_a_step_checks_her_itself_even_when_it_sends_nothing(tmp_path: Path) -> None:
    async with BotUnderTest(sequences(tmp_path, SILENT_STEPS)) as bot:
        await mother(bot, "c")
        await mother(bot, "d")
        await bot.friend_request("e", "小兰", "你好")
        await bot.app.tags.add("e", "已购买", source="admin")  # bought before she enrolled
        await bot.says("e", "孕20周")
        await bot.says("c", "退订")
        await bot.tick("1h")  # past today's stage job, which would set it right again
        # Her stage moved with nobody told (a trigger subscriber that failed): the step
        # reads it when it runs.
        profile = await profiles.get("d")
        assert profile is not None
        await profiles.set_stage(profile, "孕晚期", bot.clock.now())
        await bot.tick("2d")
        assert await status("c") == {"silent": ("exited", "退订")}
        assert await status("d") == {"silent": ("exited", "stage:孕晚期")}
        assert await status("e") == {"silent": ("exited", "tag:已购买")}
        for contact in ("c", "d", "e"):
            assert "培育:一" not in await bot.app.tags.tags_of(contact)
