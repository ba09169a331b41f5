"""Conversations through the real dispatcher: welcomes, friend requests, channel codes."""

from __future__ import annotations

from tests.harness import BotUnderTest


async def test_a_wave_of_joins_gets_one_welcome_mentioning_everyone() -> None:
    async with BotUnderTest() as bot:
        bot.room("R1", "孕妈交流群", owner="owner1", members=["owner1", "a"])
        for i in range(20):
            await bot.join("R1", f"m{i}", f"宝妈{i}", inviter="a")
            await bot.tick("1s")
        assert bot.said_in("R1") == []  # still inside the 30 s window
        await bot.tick("30s")
        welcomes = bot.said_in("R1")
        assert len(welcomes) == 1
        assert welcomes[0]["mentions"] == [f"m{i}" for i in range(20)]
        assert "@宝妈0" in welcomes[0]["text"] and "@宝妈19" in welcomes[0]["text"]
        assert "孕妈交流群" in welcomes[0]["text"]
        assert "群规" in welcomes[0]["text"]


async def test_joins_in_separate_windows_get_separate_welcomes() -> None:
    async with BotUnderTest() as bot:
        bot.room("R1", "孕妈交流群", owner="owner1", members=["owner1"])
        await bot.join("R1", "b", "小美")
        await bot.tick("31s")
        await bot.join("R1", "c", "小红")
        await bot.tick("31s")
        welcomes = bot.said_in("R1")
        assert [w["mentions"] for w in welcomes] == [["b"], ["c"]]


async def test_member_who_left_within_the_window_is_not_welcomed() -> None:
    async with BotUnderTest() as bot:
        bot.room("R1", "孕妈交流群", owner="owner1", members=["owner1"])
        await bot.join("R1", "b", "小美")
        await bot.join("R1", "c", "小红")
        await bot.leave("R1", "c")
        await bot.tick("31s")
        assert [w["mentions"] for w in bot.said_in("R1")] == [["b"]]


async def test_room_override_template() -> None:
    async with BotUnderTest() as bot:
        bot.room("R2", "VIP宝妈群", owner="owner1", members=["owner1"])
        await bot.join("R2", "b", "小美")
        await bot.tick("31s")
        (welcome,) = bot.said_in("R2")
        assert welcome["text"].startswith("热烈欢迎 @小美 加入VIP宝妈群")


async def test_bot_joining_a_room_is_not_welcomed() -> None:
    async with BotUnderTest() as bot:
        bot.room("R1", "孕妈交流群", owner="owner1", members=["owner1"])
        await bot.join("R1", bot.channel.self_id, "小暖")
        await bot.tick("1m")
        assert bot.said_in("R1") == []


async def test_pending_welcome_survives_a_restart(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite://{tmp_path}/bot.sqlite3"
    async with BotUnderTest(database_url=url) as bot:
        bot.room("R1", "孕妈交流群", owner="owner1", members=["owner1"])
        await bot.join("R1", "b", "小美")
        world, now = bot.world, bot.clock.now()
    # The process died inside the window; a new one must still welcome her.
    async with BotUnderTest(database_url=url, world=world, start=now) as again:
        await again.tick("31s")
        (welcome,) = again.said_in("R1")
        assert welcome["mentions"] == ["b"]


async def test_friend_request_from_xiaohongshu_is_accepted_tagged_and_greeted() -> None:
    async with BotUnderTest() as bot:
        done = await bot.friend_request("c", "小红", "你好，我是从小红书来的")
        kinds = [a["action"] for a in done]
        assert kinds == ["tag", "accept_friend", "say", "say"]  # greeting, then the intake
        assert "预产期" in bot.said_to("c")[1]["text"]
        tag = done[0]
        assert (tag["contact"], tag["tag"], tag["op"], tag["source"]) == (
            "c",
            "渠道:小红书",
            "add",
            "channel",
        )
        greeting = bot.said_to("c")[0]
        assert (
            greeting["room"] is None and "小红书" in greeting["text"] and "小红" in greeting["text"]
        )
        assert await bot.app.tags.tags_of("c") == {"渠道:小红书": "channel"}
        from storage.models import Contact

        contact = await Contact.get(contact_id="c")
        assert contact.channel == "小红书" and contact.is_friend


async def test_friend_request_without_channel_gets_the_default_greeting() -> None:
    async with BotUnderTest() as bot:
        done = await bot.friend_request("d", "阿花", "你好")
        assert [a["action"] for a in done] == ["accept_friend", "say", "say"]
        assert "阿花" in bot.said_to("d")[0]["text"] and "预产期" in bot.said_to("d")[1]["text"]
        assert await bot.app.tags.tags_of("d") == {}


async def test_redelivered_friend_request_is_handled_once() -> None:
    async with BotUnderTest() as bot:
        event = bot.channel.friend_request("c", "小红", "小红书")
        bot.channel.push(event)
        bot.channel.push(event)
        await bot.app.settle()
        assert len(bot.of("accept_friend")) == 1
        assert len(bot.said_to("c")) == 2  # one greeting, one intake question


async def test_joining_a_channel_group_tags_her_and_keeps_her_first_channel() -> None:
    from storage.models import Contact

    async with BotUnderTest() as bot:
        bot.room("R9", "抖音直播福利群", owner="o", members=["o"])
        await bot.join("R9", "b", "小美")
        assert await bot.app.tags.tags_of("b") == {"渠道:抖音直播群": "channel"}
        assert (await Contact.get(contact_id="b")).channel == "直播粉丝群"
        await bot.friend_request("c", "小红", "我是从小红书来的")
        await bot.join("R9", "c", "小红")
        tags = await bot.app.tags.tags_of("c")
        assert tags == {"渠道:小红书": "channel", "渠道:抖音直播群": "channel"}
        assert (await Contact.get(contact_id="c")).channel == "小红书"  # the first one stays
        bot.room("R1", "孕妈交流群", owner="o", members=["o"])
        await bot.join("R1", "d", "豆豆妈")
        assert await bot.app.tags.tags_of("d") == {}


async def test_a_group_without_a_name_is_not_welcomed_as_empty_brackets() -> None:
    async with BotUnderTest() as bot:
        bot.room("R9", "", "owner1", ["owner1", "m1"])
        await bot.join("R9", "m1", "小美")
        said = await bot.tick("1m")
        (welcome,) = [a["text"] for a in said if a["action"] == "say" and a["room"] == "R9"]
        assert "@小美" in welcome and "【】" not in welcome


async def test_a_join_wave_names_twenty_and_counts_the_rest() -> None:
    async with BotUnderTest() as bot:
        bot.room("R1", "孕妈交流群", owner="owner1", members=["owner1"])
        for i in range(35):
            await bot.join("R1", f"m{i}", f"宝妈{i}")
        await bot.tick("31s")
        (welcome,) = bot.said_in("R1")
        assert welcome["mentions"] == [f"m{i}" for i in range(20)]
        named = " ".join(f"@宝妈{i}" for i in range(20))
        assert welcome["text"].startswith(f"欢迎 {named} 等35位新朋友 加入【孕妈交流群】")
        assert "@宝妈20" not in welcome["text"]
        assert len(welcome["text"]) < 400


async def test_a_wave_of_exactly_max_names_is_not_counted() -> None:
    async with BotUnderTest() as bot:
        bot.room("R1", "孕妈交流群", owner="owner1", members=["owner1"])
        for i in range(20):
            await bot.join("R1", f"m{i}", f"宝妈{i}")
        await bot.tick("31s")
        (welcome,) = bot.said_in("R1")
        assert len(welcome["mentions"]) == 20 and "等" not in welcome["text"].split("加入")[0]


def test_the_count_text_knows_only_its_count() -> None:
    import pytest
    from pydantic import ValidationError

    from bot.config import WelcomeContent

    assert WelcomeContent().max_names == 20
    with pytest.raises(ValidationError, match="count"):
        WelcomeContent(more_names="等{n}位新朋友")
    with pytest.raises(ValidationError):
        WelcomeContent(max_names=0)
