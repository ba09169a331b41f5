"""Stage over time, through the simulator: the daily recompute and the birth question."""

from __future__ import annotations

from datetime import date
from typing import Any

from bot.stages import StageEntered, StageListener
from storage.models import Profile, TagEvent
from tests.harness import BotUnderTest


def tags(actions: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(a["op"], a["tag"], a["source"]) for a in actions if a["action"] == "tag"]


def texts(actions: list[dict[str, Any]]) -> list[str]:
    return [a["text"] for a in actions if a["action"] == "say"]


def stage_log(stages: list[tuple[str | None, str | None]]) -> StageListener:
    async def listen(event: StageEntered) -> None:
        stages.append((event.old, event.new))

    return listen


async def test_the_stage_advances_over_a_simulated_month() -> None:
    async with BotUnderTest() as bot:
        stages: list[tuple[str | None, str | None]] = []
        bot.app.stages.listeners.append(stage_log(stages))
        await bot.friend_request("c", "小红", "你好")
        done = await bot.says("c", "孕27周+5天")
        assert tags(done) == [("add", "阶段:孕中期", "dialog")]
        await bot.says("c", "不用了")
        assert tags(await bot.tick("1d")) == []  # 27w6d: still 孕中期
        changes = tags(await bot.tick("25h"))  # 28w0d at the 09:30 run two days on
        assert changes == [("remove", "阶段:孕中期", "stage"), ("add", "阶段:孕晚期", "stage")]
        # Her answer in the intake is a stage entered too, like the daily job's change.
        assert stages == [(None, "孕中期"), ("孕中期", "孕晚期")]
        assert tags(await bot.tick("28d")) == []  # a month on: still 孕晚期, no churn
        profile = await Profile.get(contact_id="c")
        assert profile.stage == "孕晚期"
        assert await bot.app.tags.tags_of("c") == {"阶段:孕晚期": "stage"}
        history = await TagEvent.filter(contact_id="c").order_by("id").values_list("op", flat=True)
        assert list(history) == ["add", "remove", "add"]  # the old stage tag is kept in history


async def test_after_the_due_date_the_bot_asks_once_whether_the_baby_has_arrived() -> None:
    async with BotUnderTest() as bot:
        await bot.friend_request("c", "小红", "你好")
        await bot.says("c", "预产期是下周")  # 2026-12-02
        await bot.says("c", "不用了")
        assert texts(await bot.tick("14d")) == []  # due + 7 days, 09:00: before the run
        (question,) = texts(await bot.tick("1h"))  # the 09:30 run asks
        assert "宝宝出生了吗" in question and "小红" in question
        done = await bot.says("c", "宝宝12月3号出生的")
        assert ("add", "阶段:新生儿期", "dialog") in tags(done)
        assert ("remove", "阶段:孕晚期", "dialog") in tags(done)
        assert "恭喜" in texts(done)[-1]
        profile = await Profile.get(contact_id="c")
        assert (profile.birth_date, profile.due_date) == (date(2026, 12, 3), None)
        # Asked once, and now she has a birthday: what follows is the newborn sequence
        # (content/sequences.toml), never the question again.
        later = texts(await bot.tick("30d"))
        assert not any("出生" in t or "恭喜" in t for t in later), later
        profile = await Profile.get(contact_id="c")
        assert profile.stage == "婴儿期"  # 38 days old by then


async def test_no_congratulations_when_she_skips_the_birth_question() -> None:
    async with BotUnderTest() as bot:
        await bot.friend_request("c", "小红", "你好")
        await bot.says("c", "预产期是下周")
        await bot.says("c", "不用了")
        await bot.tick("14d")
        (question,) = texts(await bot.tick("1h"))
        assert "宝宝出生了吗" in question
        assert texts(await bot.says("c", "跳过")) == []
        profile = await Profile.get(contact_id="c")
        assert profile.birth_date is None


async def expecting(bot: BotUnderTest, contact: str = "c", due: str = "预产期是下周") -> None:
    """A mother who told her due date (2026-12-02 for 下周), then ended the intake."""
    await bot.friend_request(contact, "小红", "你好")
    await bot.says(contact, due)
    await bot.says(contact, "不用了")


async def test_a_birth_told_after_the_birth_question_closed_is_recorded_and_congratulated() -> None:
    async with BotUnderTest() as bot:
        stages: list[tuple[str | None, str | None]] = []
        bot.app.stages.listeners.append(stage_log(stages))
        await expecting(bot)
        await bot.tick("15d")  # asked 宝宝出生了吗 at the 09:30 run
        await bot.tick("3d")  # she said nothing: the question closed
        done = await bot.says("c", "生了生了，12月3号出生的女宝")
        assert tags(done) == [
            ("remove", "阶段:孕晚期", "dialog"),
            ("add", "阶段:新生儿期", "dialog"),
        ]
        (congratulation,) = texts(done)
        assert "恭喜" in congratulation and "生日" in congratulation
        assert stages[-1] == ("孕晚期", "新生儿期")  # heard like a stage from the intake
        profile = await Profile.get(contact_id="c")
        assert (profile.birth_date, profile.due_date) == (date(2026, 12, 3), None)
        # A second announcement is not congratulated again.
        assert not any("恭喜" in t for t in texts(await bot.says("c", "宝宝出生啦，好开心")))
        await bot.tick("30d")  # her stage follows the birthday, it is not dropped
        profile = await Profile.get(contact_id="c")
        assert profile.stage == "婴儿期"
        assert await bot.app.tags.tags_of("c") == {"阶段:婴儿期": "stage"}


async def test_news_of_a_birth_without_a_date_asks_for_the_birthday() -> None:
    async with BotUnderTest() as bot:
        await expecting(bot)
        await bot.tick("4d")  # before the due date: an early baby
        (question,) = texts(await bot.says("c", "卸货啦！"))
        assert "哪天出生" in question and "恭喜" not in question
        done = await bot.says("c", "11月28号")
        assert ("add", "阶段:新生儿期", "dialog") in tags(done)
        (congratulation,) = texts(done)
        assert "恭喜" in congratulation  # once, when it is recorded
        profile = await Profile.get(contact_id="c")
        assert profile.birth_date == date(2026, 11, 28)


async def test_talk_about_the_birth_that_is_no_news_is_left_to_the_other_handlers() -> None:
    async with BotUnderTest() as bot:
        await expecting(bot)
        for text in ("快生了好紧张", "顺产还是剖腹产好？", "还没生呢"):
            done = await bot.says("c", text)
            assert not any(a["action"] == "tag" for a in done), text
            assert not any("恭喜" in t or "哪天出生" in t for t in texts(done)), text
        profile = await Profile.get(contact_id="c")
        assert profile.birth_date is None and profile.due_date == date(2026, 12, 2)
        # Without a due date there is nothing to update: an ordinary message.
        await bot.friend_request("d", "阿花", "你好")
        await bot.says("d", "不用了")
        done = await bot.says("d", "生了生了，12月3号出生的女宝")
        assert not any(a["action"] == "tag" for a in done)
