"""The intake dialog through the real dispatcher and the simulator: answers, re-asks, 跳过,
取消, a question in the middle, the reminder, and a restart in the middle."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from storage.models import DialogState, Profile
from tests import services
from tests.harness import BotUnderTest, copy_project


def texts(actions: list[dict[str, Any]]) -> list[str]:
    return [a["text"] for a in actions if a["action"] == "say"]


def tags(actions: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(a["op"], a["tag"]) for a in actions if a["action"] == "tag"]


async def befriend(bot: BotUnderTest, contact: str = "c", name: str = "小红") -> None:
    done = await bot.friend_request(contact, name, "你好")
    assert "预产期" in texts(done)[-1]


async def test_the_intake_after_a_friend_request_fills_stage_city_and_family() -> None:
    async with BotUnderTest() as bot:
        await befriend(bot)
        done = await bot.says("c", "宝宝8个月啦")
        assert tags(done) == [("add", "阶段:婴儿期")]
        assert "城市" in texts(done)[-1]
        done = await bot.says("c", "我在杭州")
        assert tags(done) == [("add", "城市:杭州")]
        assert "第几个宝宝" in texts(done)[-1]
        done = await bot.says("c", "二胎")
        assert tags(done) == [("add", "家庭:二胎")]
        assert "都记下啦" in texts(done)[-1] and "小红" in texts(done)[-1]
        profile = await Profile.get(contact_id="c")
        assert profile.birth_date == date(2026, 3, 25) and profile.stage == "婴儿期"
        assert (profile.city, profile.province, profile.family) == ("杭州", "浙江", "二胎")
        assert not await DialogState.filter(contact_id="c").exists()
        assert await bot.app.tags.tags_of("c") == {
            "阶段:婴儿期": "dialog",
            "城市:杭州": "dialog",
            "家庭:二胎": "dialog",
        }
        # Answered everything: a new friend request does not ask again.
        done = await bot.friend_request("c", "小红", "你好")
        assert not any("预产期" in t for t in texts(done))


async def test_an_unreadable_answer_is_asked_again_with_a_hint_then_left_alone() -> None:
    async with BotUnderTest() as bot:
        await befriend(bot)
        (again,) = texts(await bot.says("c", "这个嘛"))
        assert "没太看懂" in again and "预产期" in again
        (next_question,) = texts(await bot.says("c", "嗯嗯"))
        assert "城市" in next_question and "没太看懂" not in next_question  # moved on
        profile = await Profile.get(contact_id="c")
        assert profile.stage is None


async def test_skip_and_cancel_work_at_any_step() -> None:
    async with BotUnderTest() as bot:
        await befriend(bot)
        (city_question,) = texts(await bot.says("c", "跳过"))
        assert "城市" in city_question
        (cancelled,) = texts(await bot.says("c", "不用了"))
        assert "不打扰" in cancelled
        assert not await DialogState.filter(contact_id="c").exists()
        # Out of the dialog: the same words are ordinary messages again.
        done = await bot.says("c", "宝宝湿疹怎么办")
        assert "湿疹" in texts(done)[-1] and tags(done) == [("add", "关注:湿疹")]


async def test_a_question_in_the_middle_is_answered_then_the_step_is_asked_again() -> None:
    async with BotUnderTest() as bot:
        await befriend(bot)
        answer, again = texts(await bot.says("c", "宝宝湿疹怎么办"))
        assert "湿疹" in answer and "预产期" in again
        done = await bot.says("c", "预产期是明年3月15号")  # no try was used up
        assert tags(done) == [("add", "阶段:孕中期")]
        profile = await Profile.get(contact_id="c")
        assert profile.due_date == date(2027, 3, 15)


async def test_silence_gets_one_reminder_then_the_dialog_closes_quietly() -> None:
    async with BotUnderTest() as bot:
        await befriend(bot)
        assert texts(await bot.tick("23h")) == []
        (reminder,) = texts(await bot.tick("2h"))
        assert "小红" in reminder and "不用了" in reminder
        assert texts(await bot.tick("23h")) == []
        await bot.tick("2h")
        assert not await DialogState.filter(contact_id="c").exists()
        done = await bot.says("c", "宝宝8个月")  # too late: an ordinary message now
        assert tags(done) == []


async def test_a_restart_in_the_middle_of_the_dialog_goes_on_where_it_was(tmp_path: Path) -> None:
    db = f"sqlite://{tmp_path}/bot.sqlite3"
    async with BotUnderTest(database_url=db) as bot:
        await befriend(bot)
        await bot.says("c", "孕24周")
    async with BotUnderTest(database_url=db) as bot:  # a new process on the same database
        done = await bot.says("c", "坐标魔都")
        assert tags(done) == [("add", "城市:上海")]
        assert "第几个宝宝" in texts(done)[-1]


async def test_a_new_stage_answer_replaces_the_old_stage_tag(tmp_path: Path) -> None:
    copy_project(tmp_path)
    (tmp_path / "content" / "dialogs.toml").write_text(
        '[[dialogs]]\nid = "update"\ntrigger = "keyword"\nkeywords = ["更新阶段"]\n'
        'done = "好的"\n\n[[dialogs.steps]]\nid = "stage"\nprompts = ["宝宝多大啦？"]\n'
        'parser = "stage_date"\nfield = "stage"\ntags = ["阶段:{value}"]\nskip_if_known = false\n',
        encoding="utf-8",
    )
    async with BotUnderTest(tmp_path) as bot:
        assert texts(await bot.says("c", "更新阶段")) == ["宝宝多大啦？"]
        await bot.says("c", "孕24周")
        await bot.says("c", "更新阶段")
        done = await bot.says("c", "宝宝刚满月")
        assert tags(done) == [("remove", "阶段:孕中期"), ("add", "阶段:婴儿期")]
        assert await bot.app.tags.tags_of("c") == {"阶段:婴儿期": "dialog"}


async def test_a_stage_without_dates_is_asked_again_once_it_is_stale() -> None:
    async with BotUnderTest() as bot:
        await befriend(bot)
        await bot.says("c", "在备孕")
        await bot.says("c", "不用了")
        done = await bot.friend_request("c", "小红", "你好")  # re-added soon after
        assert not any("预产期" in t for t in texts(done))
        await bot.tick("91d")
        done = await bot.friend_request("c", "小红", "你好")
        assert "预产期" in texts(done)[-1]  # 备孕 three months ago: worth asking again


async def test_no_thanks_for_nothing_and_no_restart_after_cancel() -> None:
    async with BotUnderTest() as bot:
        await befriend(bot)
        await bot.says("c", "跳过")
        await bot.says("c", "跳过")
        done = await bot.says("c", "跳过")
        assert texts(done) == []  # all skipped: nothing recorded, nothing to thank for
        await befriend(bot, "d", "阿花")
        await bot.says("d", "取消")
        done = await bot.friend_request("d", "阿花", "你好")  # she re-adds the bot
        assert not any("预产期" in t for t in texts(done))


async def test_the_dialog_state_is_in_the_key_value_store_with_an_expiry() -> None:
    async with BotUnderTest() as bot:
        await befriend(bot)
        (state,) = (await bot.app.kv.get_json("dialog:c"))["dialogs"]
        assert (state["dialog"], state["step"], state["reminded"]) == ("intake", 0, False)
        # It expires after the quiet close (reminder + close, plus a grace period).
        ttl = await bot.app.kv.ttl("dialog:c")
        assert ttl is not None and 86400 < ttl <= 3 * 86400
        await bot.says("c", "孕24周")
        (state,) = (await bot.app.kv.get_json("dialog:c"))["dialogs"]
        assert state["step"] == 1 and state["answered"] == 1
        await bot.says("c", "取消")
        assert await bot.app.kv.get_json("dialog:c") == {"dialogs": []}  # in no dialog now
        assert await bot.app.kv.ttl("dialog:c") == 3600
        # A mother in no dialog is answered as usual.
        assert any("湿疹" in t for t in texts(await bot.says("c", "宝宝湿疹怎么办")))


async def test_a_stale_key_whose_dialog_is_gone_is_dropped() -> None:
    async with BotUnderTest() as bot:
        await befriend(bot)
        await DialogState.filter(contact_id="c").delete()  # e.g. deleted by another process
        done = await bot.says("c", "坐标魔都")
        assert not any(tag.startswith("城市") for _, tag in tags(done))
        assert await bot.app.kv.get_json("dialog:c") == {"dialogs": []}


async def test_the_reminder_moves_the_expiry_and_the_quiet_close_drops_the_key() -> None:
    async with BotUnderTest() as bot:
        await befriend(bot)
        await bot.tick("25h")  # the reminder
        (state,) = (await bot.app.kv.get_json("dialog:c"))["dialogs"]
        assert state["reminded"] is True
        await bot.tick("2d")  # the quiet close, then "in no dialog" for an hour
        assert await bot.app.kv.get_json("dialog:c") in (None, {"dialogs": []})
        assert not await DialogState.filter(contact_id="c").exists()


async def test_a_lost_key_does_not_lose_her_dialog() -> None:
    """The store was flushed or the key evicted: the table still knows, and the key is
    written again when she answers."""
    async with BotUnderTest() as bot:
        await befriend(bot)
        await bot.says("c", "孕24周")
        await bot.app.kv.delete("dialog:c")
        done = await bot.says("c", "坐标魔都")
        assert tags(done) == [("add", "城市:上海")]
        (state,) = (await bot.app.kv.get_json("dialog:c"))["dialogs"]
        assert state["step"] == 2


async def test_two_syncs_at_once_leave_the_later_truth() -> None:
    """A sync that read "no dialog" cannot overwrite one that wrote a dialog after it."""
    async with BotUnderTest() as bot:
        await befriend(bot)
        engine, kv = bot.app.dialogs, bot.app.kv
        real_set = kv.set_json
        gate, reached, wrote_dialog = asyncio.Event(), asyncio.Event(), asyncio.Event()

        async def slow_set(key, value, ttl=None):  # type: ignore[no-untyped-def]
            if value == {"dialogs": []}:
                reached.set()
                await gate.wait()  # the closing sync is slow to reach the store
            else:
                wrote_dialog.set()
            return await real_set(key, value, ttl)

        kv.set_json = slow_set  # type: ignore[method-assign]
        await DialogState.filter(contact_id="c").delete()  # the intake closed
        closing = asyncio.create_task(engine.sync("c"))
        await reached.wait()
        spec = bot.app.content.current.dialogs.get("birth_check")
        assert spec is not None
        starting = asyncio.create_task(
            engine.start_from_job(spec, "c", bot.channel.account_id, bot.clock.now())
        )
        # Let the new dialog's sync go as far as it can: to the store, or to the wait for
        # the closing sync (which still holds her lock).
        lock = engine._locks.get("c")
        # No event tells that a lock has waiters: poll, yielding to the loop.
        while not wrote_dialog.is_set() and not (lock is not None and lock._waiters):  # noqa: ASYNC110
            await asyncio.sleep(0)
        gate.set()
        await closing
        assert await starting
        state = await engine.active("c")
        assert state is not None and state.dialog_id == "birth_check"
        (cached,) = (await kv.get_json("dialog:c"))["dialogs"]
        assert cached["dialog"] == "birth_check"


async def test_a_store_error_around_the_reminder_still_closes_the_dialog_on_time() -> None:
    async with BotUnderTest() as bot:
        await befriend(bot)
        queue = bot.app.work
        real_schedule = queue.schedule
        failures = [1]

        async def close_row_fails_once(kind: str, key: str, due_at: Any, **kw: Any) -> bool:
            if kind == "dialog_due" and failures:
                failures.pop()
                raise ConnectionError("store down")
            return await real_schedule(kind, key, due_at, **kw)

        queue.schedule = close_row_fails_once  # type: ignore[method-assign]
        reminders = texts(await bot.tick("25h"))  # queuing the quiet close failed once
        queue.schedule = real_schedule  # type: ignore[method-assign]
        assert any("有空再回复" in t for t in reminders)  # the retry still reminded her
        await bot.tick("25h")  # past the quiet close
        assert not await DialogState.filter(contact_id="c").exists()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_after_her_first_answer_silence_still_gets_a_reminder_then_a_close(
    backend: str, tmp_path: Path
) -> None:
    url = f"sqlite://{tmp_path}/d.sqlite3" if backend == "sqlite" else services.postgres_url()
    async with BotUnderTest(database_url=url) as bot:  # the clock runs on Asia/Shanghai
        await bot.app.db.truncate_all()
        await befriend(bot)
        await bot.says("c", "宝宝8个月啦")  # answered the first step, asked the next
        assert texts(await bot.tick("23h")) == []
        (reminder,) = texts(await bot.tick("2h"))
        assert "有空再回复" in reminder
        await bot.tick("25h")
        assert not await DialogState.filter(contact_id="c").exists()
        await bot.app.db.truncate_all()


@pytest.mark.parametrize(
    ("answer", "family"),
    [
        ("这是老二，老大3岁了", "二胎"),
        ("二宝，老大上小学了", "二胎"),
        ("一个男孩一个女孩", "二胎"),
        ("俩宝", "二胎"),
        ("双胞胎", "二胎"),
        ("就这一个宝贝", "一胎"),
        ("第三个了，上面两个姐姐", "三胎及以上"),
    ],
)
async def test_the_family_question_understands_how_mothers_count(answer: str, family: str) -> None:
    async with BotUnderTest() as bot:
        await befriend(bot)
        await bot.says("c", "宝宝8个月啦")
        await bot.says("c", "杭州")
        done = await bot.says("c", answer)
        assert tags(done) == [("add", f"家庭:{family}")]
        assert "都记下啦" in texts(done)[-1]
        assert (await Profile.get(contact_id="c")).family == family


async def test_a_stage_answer_that_counts_the_children_answers_the_family_question() -> None:
    async with BotUnderTest() as bot:
        await befriend(bot)
        done = await bot.says("c", "老大5岁老二5个月")
        assert tags(done) == [("add", "阶段:婴儿期"), ("add", "家庭:二胎")]
        assert "城市" in texts(done)[-1]
        done = await bot.says("c", "杭州")
        assert tags(done) == [("add", "城市:杭州")]
        (thanks,) = texts(done)  # no family question: she told us already
        assert "都记下啦" in thanks and "第几个" not in thanks
        profile = await Profile.get(contact_id="c")
        assert (profile.family, profile.children) == ("二胎", 2)


async def test_her_own_question_mid_intake_is_acknowledged_and_goes_to_the_staff(
    tmp_path: Path,
) -> None:
    copy_project(tmp_path)
    config = tmp_path / "config.toml"
    text = config.read_text(encoding="utf-8")
    assert "staff = []" in text
    config.write_text(text.replace("staff = []", 'staff = ["s1"]'), encoding="utf-8")
    async with BotUnderTest(tmp_path) as bot:
        await befriend(bot)
        done = await bot.says("c", "你们是做什么的？")
        (to_staff,) = [a for a in done if a["action"] == "say" and a["to"] == "s1"]
        assert "小红" in to_staff["text"] and "你们是做什么的" in to_staff["text"]
        ack, again = [a["text"] for a in done if a["action"] == "say" and a["to"] == "c"]
        assert "顾问" in ack and "没太看懂" not in ack + again
        assert "预产期" in again  # the step again
        # No try was used up: an unreadable answer still gets the hint, not the next step.
        (hint,) = texts(await bot.says("c", "这个嘛"))
        assert "没太看懂" in hint
        done = await bot.says("c", "孕24周")
        assert tags(done) == [("add", "阶段:孕中期")]
