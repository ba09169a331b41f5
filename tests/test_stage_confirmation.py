"""A stage reading the bot is unsure of, or one that contradicts her dates, is confirmed with
her before it becomes a tag (您是孕12周左右，预产期大约2027年6月9日，对吗？): 对 saves it as a
confident answer would be saved, 不对 asks again, a new reading is a fresh answer. Through
the real dispatcher and the simulator (today is 2026-11-25)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bot.stages import StageEntered
from flows.dialog import confirmation
from storage.models import Profile
from tests.harness import BotUnderTest


def texts(actions: list[dict[str, Any]]) -> list[str]:
    return [a["text"] for a in actions if a["action"] == "say"]


def tags(actions: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(a["op"], a["tag"]) for a in actions if a["action"] == "tag"]


async def befriend(bot: BotUnderTest, contact: str = "c") -> None:
    done = await bot.friend_request(contact, "小红", "你好")
    assert "预产期" in texts(done)[-1]


def entered(bot: BotUnderTest) -> list[StageEntered]:
    seen: list[StageEntered] = []

    async def listen(event: StageEntered) -> None:
        seen.append(event)

    bot.app.dialogs.stage_listeners.append(listen)
    return seen


async def test_an_unsure_reading_is_confirmed_then_saved_on_yes() -> None:
    async with BotUnderTest() as bot:
        seen = entered(bot)
        await befriend(bot)
        done = await bot.says("c", "怀孕3个月")  # 3 obstetric months: close to 孕中期
        assert texts(done) == ["您是孕12周左右，预产期大约2027年6月9日，对吗？"]
        assert tags(done) == [] and seen == []
        profile = await Profile.get(contact_id="c")
        assert profile.due_date is None and profile.stage is None
        done = await bot.says("c", "对的")
        assert tags(done) == [("add", "阶段:孕早期")]
        assert "城市" in texts(done)[-1]
        profile = await Profile.get(contact_id="c")
        assert (profile.due_date, profile.birth_date, profile.stage) == (
            date(2027, 6, 9),
            None,
            "孕早期",
        )
        assert [(e.old, e.new) for e in seen] == [(None, "孕早期")]
        assert not any(key.startswith("confirm:") and v for key, v in profile.extra.items())
        done = await bot.says("c", "对")  # now the city question: 对 is no city
        assert tags(done) == [] and "城市" in texts(done)[-1]


async def test_no_asks_the_stage_question_again() -> None:
    async with BotUnderTest() as bot:
        await befriend(bot)
        await bot.says("c", "怀孕3个月")
        done = await bot.says("c", "不对")
        (again,) = texts(done)
        assert "预产期" in again and "对吗" not in again and "没太看懂" not in again
        assert tags(done) == []
        # The dropped reading is not saved by a later 对.
        done = await bot.says("c", "对")
        assert tags(done) == []
        assert (await Profile.get(contact_id="c")).due_date is None
        done = await bot.says("c", "孕24周")
        assert tags(done) == [("add", "阶段:孕中期")]
        assert (await Profile.get(contact_id="c")).due_date == date(2027, 3, 17)


async def test_a_new_reading_after_the_question_is_a_fresh_answer() -> None:
    async with BotUnderTest() as bot:
        await befriend(bot)
        await bot.says("c", "怀孕3个月")
        done = await bot.says("c", "不是，孕16周了")
        assert tags(done) == [("add", "阶段:孕中期")]
        assert "城市" in texts(done)[-1]
        assert (await Profile.get(contact_id="c")).due_date == date(2027, 5, 12)


async def test_a_confident_reading_is_saved_at_once_without_a_question() -> None:
    async with BotUnderTest() as bot:
        seen = entered(bot)
        await befriend(bot)
        done = await bot.says("c", "预产期是明年3月15号")
        assert tags(done) == [("add", "阶段:孕中期")]
        assert not any("对吗" in t for t in texts(done)) and "城市" in texts(done)[-1]
        assert [(e.old, e.new) for e in seen] == [(None, "孕中期")]


async def test_a_reading_that_contradicts_her_due_date_is_confirmed() -> None:
    async with BotUnderTest() as bot:
        await befriend(bot)
        await bot.says("c", "孕24周")  # due 2027-03-17
        await bot.says("c", "不用了")
        spec = bot.app.content.current.dialogs.get("birth_check")
        assert spec is not None
        assert await bot.app.dialogs.start_from_job(
            spec, "c", bot.channel.account_id, bot.clock.now()
        )
        # A baby of 8 months cannot be the one due in March: asked, not overwritten.
        done = await bot.says("c", "宝宝8个月了")
        assert texts(done)[-1] == "您是宝宝8个月左右，生日大约2026年3月25日，对吗？"
        assert tags(done) == []
        profile = await Profile.get(contact_id="c")
        assert (profile.due_date, profile.birth_date) == (date(2027, 3, 17), None)
        done = await bot.says("c", "没错")
        assert tags(done) == [("remove", "阶段:孕中期"), ("add", "阶段:婴儿期")]
        profile = await Profile.get(contact_id="c")
        assert (profile.due_date, profile.birth_date) == (None, date(2026, 3, 25))


async def test_a_reading_that_fits_her_due_date_is_saved_at_once() -> None:
    async with BotUnderTest() as bot:
        await befriend(bot)
        await bot.says("c", "孕24周")
        await bot.says("c", "不用了")
        spec = bot.app.content.current.dialogs.get("birth_check")
        assert spec is not None
        await bot.app.dialogs.start_from_job(spec, "c", bot.channel.account_id, bot.clock.now())
        done = await bot.says("c", "预产期是明年3月20号")  # three days off: the same answer
        assert not any("对吗" in t for t in texts(done))
        assert (await Profile.get(contact_id="c")).due_date == date(2027, 3, 20)


async def test_the_reading_waiting_for_her_yes_survives_a_restart(tmp_path: Path) -> None:
    db = f"sqlite://{tmp_path}/bot.sqlite3"
    async with BotUnderTest(database_url=db) as bot:
        await befriend(bot)
        assert "对吗" in texts(await bot.says("c", "怀孕3个月"))[-1]
    async with BotUnderTest(database_url=db) as bot:
        done = await bot.says("c", "嗯嗯")
        assert tags(done) == [("add", "阶段:孕早期")]
        assert (await Profile.get(contact_id="c")).due_date == date(2027, 6, 9)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("对", True),
        ("对的", True),
        ("对呀！", True),
        ("是的", True),
        ("嗯嗯", True),
        ("没错", True),
        ("对对对", True),
        ("不对", False),
        ("不是的", False),
        ("错了", False),
        ("不对哦", False),
        ("孕16周", None),
        ("不知道", None),
        ("", None),
    ],
)
def test_her_reply_to_a_confirmation(text: str, said: bool | None) -> None:
    assert confirmation(text) is said
