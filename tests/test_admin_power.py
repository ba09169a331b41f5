"""Power only where it was given (issue 11, item 1).

Anyone can add the bot as a friend, pull it into a group of her own and own that group.
That must give her no power over the brand's groups: commands act only in groups the
brand lists, and what reaches beyond one group (a ban, the allow list, VIP tags, lessons
for the model, #问询 of a stranger) needs a super admin or a contact named for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from storage import people
from storage.models import GuardAllow, GuardBan, GuardFeedback
from tests.harness import BotUnderTest, configure

AD = "加我微信mama88 代购奶粉 价格私聊"


def says(actions: list[dict[str, Any]]) -> list[str]:
    return [a["text"] for a in actions if a["action"] == "say"]


def cast(bot: BotUnderTest) -> None:
    """The brand's group (listed in config.toml) and a stranger's own group."""
    bot.room("R1", "孕妈交流群", owner="o", members=["o", "m", "v"])
    bot.room("X1", "我的小群", owner="eve", members=["eve", "v"])
    for contact, name in (("o", "群主"), ("m", "小美"), ("v", "小蓝"), ("eve", "伊芙")):
        bot.world.add_contact(contact, name)


async def test_the_owner_of_her_own_group_has_no_power(tmp_path: Path) -> None:
    async with BotUnderTest(configure(tmp_path, super_admins=["boss"])) as bot:
        cast(bot)
        await bot.says("v", "大家好", room="R1")  # the bot knows both groups
        await bot.says("v", "你好", room="X1")
        (refusal,) = says(await bot.says("eve", "#拉黑 @小蓝", room="X1", mentions=["v"]))
        assert "不归品牌管理" in refusal
        for command, mentions in (
            ("#白名单 @伊芙", ["eve"]),
            ("#标签 @伊芙 VIP", ["eve"]),
            (f"#正常 {AD}", []),
            ("#问询 @小蓝", ["v"]),
            ("#踢 @小蓝", ["v"]),
        ):
            assert await bot.says("eve", command, room="X1", mentions=mentions) == []
        # By DM she runs no brand group: refused, then ignored.
        (refusal,) = says(await bot.says("eve", "#拉黑 boss"))
        assert "只有群主和管理员" in refusal
        assert says(await bot.says("eve", "#拉黑 v")) == []
        assert bot.of("kick") == [] and bot.of("tag") == []
        assert await GuardBan.all().count() == 0 and await GuardAllow.all().count() == 0
        assert await GuardFeedback.all().count() == 0
        assert bot.said_to("v") == []  # no intake DM'd to a member on her word
        # Her ads in the brand's group are judged as anyone's.
        acted = await bot.says("eve", AD, room="R1")
        assert any(a["action"] in ("say", "kick") for a in acted)


async def test_a_brand_group_owner_commands_her_group_only(tmp_path: Path) -> None:
    async with BotUnderTest(configure(tmp_path)) as bot:
        cast(bot)
        bot.room("R9", "陌生人", owner="s", members=["s"])
        await bot.says("m", "早", room="R1")
        (refusal,) = says(await bot.says("o", "#拉黑 @小蓝", room="R1", mentions=["v"]))
        assert refusal.startswith("拉黑会影响所有群")
        (refusal,) = says(await bot.says("o", "#白名单 @小美", room="R1", mentions=["m"]))
        assert refusal.startswith("白名单会影响所有群")
        (refusal,) = says(await bot.says("o", f"#垃圾 {AD}", room="R1"))
        assert refusal.startswith("教群管家认广告会影响所有群")
        (refusal,) = says(await bot.says("o", "#标签 @小美 VIP", room="R1", mentions=["m"]))
        assert refusal.startswith("受保护的标签会影响所有群")
        assert await GuardBan.all().count() == 0 and bot.of("tag") == []
        # What stays inside her group works: an ordinary tag, a kick.
        done = await bot.says("o", "#标签 @小美 高意向", room="R1", mentions=["m"])
        assert [a["tag"] for a in done if a["action"] == "tag"] == ["高意向"]
        done = await bot.says("o", "#踢 @小蓝", room="R1", mentions=["v"])
        assert [(a["room"], a["contact"]) for a in done if a["action"] == "kick"] == [("R1", "v")]
        # #问询 by DM: a member of her group yes, a stranger no.
        (refusal,) = says(await bot.says("o", "#问询 s"))
        assert refusal.startswith("私聊不在你群里的人会影响所有群")
        assert bot.said_to("s") == []
        done = await bot.says("o", "#问询 m")
        (confirm,) = [a["text"] for a in done if a["action"] == "say" and a["to"] == "o"]
        assert "已私聊" in confirm and bot.said_to("m")


async def test_scopes_named_in_config_and_super_admins_reach_every_group(tmp_path: Path) -> None:
    ops = configure(tmp_path, super_admins=["boss"], admin={"ban": ["o"], "vip": ["o"]})
    async with BotUnderTest(ops) as bot:
        cast(bot)
        await bot.says("v", "大家好", room="R1")
        await bot.says("v", "你好", room="X1")
        done = await bot.says("o", "#标签 @小美 VIP", room="R1", mentions=["m"])
        assert [a["tag"] for a in done if a["action"] == "tag"] == ["VIP"]
        done = await bot.says("o", "#拉黑 @小蓝 卖货", room="R1", mentions=["v"])
        assert await GuardBan.filter(contact_id="v").exists()
        # A super admin commands even a group the brand does not list.
        done = await bot.says("boss", "#公告 周末活动", room="X1")
        assert [a["room"] for a in done if a["action"] == "say"] == ["X1"]


async def test_unlisted_groups_can_be_opened_to_their_owners(tmp_path: Path) -> None:
    ops = configure(tmp_path, admin={"commands_in_unlisted_groups": True})
    async with BotUnderTest(ops) as bot:
        cast(bot)
        done = await bot.says("eve", "#踢 @小蓝", room="X1", mentions=["v"])
        assert [(a["room"], a["contact"]) for a in done if a["action"] == "kick"] == [("X1", "v")]
        # One group's power only: still no ban.
        (refusal,) = says(await bot.says("eve", "#拉黑 @小美", room="X1", mentions=["m"]))
        assert refusal.startswith("拉黑会影响所有群") and await GuardBan.all().count() == 0


async def test_a_copy_named_after_a_listed_group_gives_no_power(tmp_path: Path) -> None:
    async with BotUnderTest(configure(tmp_path)) as bot:
        cast(bot)
        await bot.register_room("R1")  # the brand's 孕妈交流群, recorded first
        bot.room("X2", "孕妈交流群", owner="eve", members=["eve", "v"])  # her copy of the name
        await bot.register_room("X2")
        (refusal,) = says(await bot.says("eve", "#公告 领券啦", room="X2"))
        assert "不归品牌管理" in refusal
        for command in ("#问询 @小蓝", "#标签 @小蓝 高意向"):
            assert await bot.says("eve", command, room="X2", mentions=["v"]) == []
        (refusal,) = says(await bot.says("eve", "#统计"))  # and no DM power either
        assert "只有群主和管理员" in refusal
        assert not [a for a in bot.said_in("X2") if "领券" in a["text"]]
        assert bot.of("tag") == [] and bot.said_to("v") == []
        # The brand's own group, listed by the same name, still works for its owner.
        done = await bot.says("o", "#公告 今晚直播", room="R1")
        assert [a["room"] for a in done if a["action"] == "say"] == ["R1"]


async def test_by_dm_a_tag_reaches_only_members_of_her_groups(tmp_path: Path) -> None:
    async with BotUnderTest(configure(tmp_path, admin={"teach": ["t"]})) as bot:
        cast(bot)
        await bot.says("m", "早", room="R1")
        (refusal,) = says(await bot.says("o", "#标签 stranger 高意向"))
        assert "不在你管理的群里" in refusal and bot.of("tag") == []
        done = await bot.says("o", "#标签 m 高意向")
        assert [a["tag"] for a in done if a["action"] == "tag"] == ["高意向"]
        # Named for one scope only: that scope's commands, nothing else.
        (refusal,) = says(await bot.says("t", "#标签 m 高意向"))
        assert "只有群主和管理员" in refusal and [a["tag"] for a in bot.of("tag")] == ["高意向"]
        (taught,) = says(await bot.says("t", f"#垃圾 {AD}"))
        assert "记住" in taught


async def test_owning_a_group_of_her_own_does_not_shield_her_from_a_ban(tmp_path: Path) -> None:
    async with BotUnderTest(configure(tmp_path, super_admins=["boss"])) as bot:
        cast(bot)
        bot.room("X3", "小号群", owner="spam", members=["spam"])
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "spam", "boss"])
        await bot.join("X3", "x", "小号")  # the roster knows X3 and its owner spam
        assert "X3" in await people.rooms_of("spam")
        done = await bot.says("boss", "#拉黑 spam", room="R1")
        assert "R1" in [a["room"] for a in done if a["action"] == "kick"]
        assert await GuardBan.filter(contact_id="spam").exists()
