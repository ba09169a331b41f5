"""The deletion confirmation: a late 确认删除 is told it expired, 算了 / 不删了 withdraws the
request, and neither is heard as anything else while the question is open."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.privacy import CANCELLED, EXPIRED, NOTHING_TO_CONFIRM
from storage.models import Profile
from tests.harness import BotUnderTest


def texts(actions: list[dict[str, Any]]) -> list[str]:
    return [a["text"] for a in actions if a["action"] == "say"]


async def open_dialogs(bot: BotUnderTest) -> list[Any]:
    state = await bot.app.kv.get_json("dialog:c")
    return list(state["dialogs"]) if state else []


async def mother_with_a_profile(bot: BotUnderTest) -> None:
    await bot.friend_request("c", "小红", "你好")
    await bot.says("c", "宝宝8个月")
    await bot.says("c", "不用了")  # the rest of the intake
    assert await Profile.filter(contact_id="c").exists()


async def test_a_late_confirmation_is_told_the_request_expired() -> None:
    async with BotUnderTest() as bot:
        await mother_with_a_profile(bot)
        await bot.says("c", "删除我的信息")
        await bot.tick("11m")
        assert texts(await bot.says("c", "确认删除")) == [EXPIRED]
        assert "失效" in EXPIRED and "删除我的信息" in EXPIRED
        assert await Profile.filter(contact_id="c").exists()
        # Told once: a second try is no longer about that request.
        assert texts(await bot.says("c", "确认删除！")) == [NOTHING_TO_CONFIRM]
        # Asking again starts a new 10 minutes, and confirming in time deletes.
        await bot.says("c", "删除我的信息")
        await bot.tick("9m")
        (done,) = texts(await bot.says("c", "确认删除"))
        assert "已删除" in done
        assert not await Profile.filter(contact_id="c").exists()


async def test_a_confirmation_long_after_is_nothing_to_confirm() -> None:
    async with BotUnderTest() as bot:
        await mother_with_a_profile(bot)
        assert texts(await bot.says("c", "确认删除")) == [NOTHING_TO_CONFIRM]  # nothing asked
        await bot.says("c", "删除我的信息")
        await bot.tick("25h")
        assert texts(await bot.says("c", "确认删除")) == [NOTHING_TO_CONFIRM]
        assert await Profile.filter(contact_id="c").exists()


@pytest.mark.parametrize("word", ["算了", "不删了", "算了吧～", "还是不删了"])
async def test_she_can_withdraw_the_request_politely(word: str) -> None:
    async with BotUnderTest() as bot:
        await mother_with_a_profile(bot)
        await bot.says("c", "删除我的信息")
        await bot.tick("3m")
        assert texts(await bot.says("c", word)) == [CANCELLED]  # not the generic fallback
        assert await Profile.filter(contact_id="c").exists()
        assert texts(await bot.says("c", "确认删除")) == [NOTHING_TO_CONFIRM]
        assert await Profile.filter(contact_id="c").exists()


async def test_withdrawing_mid_intake_keeps_her_intake() -> None:
    async with BotUnderTest() as bot:
        await bot.friend_request("c", "小红", "你好")
        await bot.says("c", "删除我的信息")
        assert texts(await bot.says("c", "算了")) == [CANCELLED]  # the deletion, not the intake
        assert await open_dialogs(bot) != []


async def test_after_the_question_closed_cancel_words_are_hers_again() -> None:
    async with BotUnderTest() as bot:
        await bot.friend_request("c", "小红", "你好")
        await bot.says("c", "删除我的信息")
        await bot.tick("11m")
        done = texts(await bot.says("c", "不用了"))  # to the intake, which it ends
        assert CANCELLED not in done and any("不打扰" in t for t in done)
        assert await open_dialogs(bot) == []
        assert texts(await bot.says("c", "确认删除")) == [EXPIRED]  # still remembered


async def test_cancel_words_without_a_request_are_not_taken_for_one() -> None:
    async with BotUnderTest() as bot:
        await mother_with_a_profile(bot)
        assert CANCELLED not in texts(await bot.says("c", "算了"))


async def test_a_deletion_that_fails_midway_keeps_her_request_for_the_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from handlers.privacy import FORGOTTEN
    from storage import privacy

    async with BotUnderTest(handler_errors=True) as bot:
        await mother_with_a_profile(bot)
        await bot.says("c", "删除我的信息")
        real = privacy.forget
        calls = {"n": 0}

        async def flaky(contact_id: str) -> Any:
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("the database refused mid-delete")
            return await real(contact_id)

        monkeypatch.setattr(privacy, "forget", flaky)
        event = bot.channel.message("c", "确认删除")
        await bot.app.dispatcher._chain(event)  # fails mid-way
        await bot.app.settle()
        assert FORGOTTEN not in texts(bot.said_to("c"))
        await bot.app.dispatcher._chain(event)  # the same event, handled again
        await bot.app.settle()
        assert not await Profile.filter(contact_id="c").exists()
        assert FORGOTTEN in texts(bot.said_to("c"))
