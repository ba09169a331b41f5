"""A ban removes her from every managed group she is in (issue 10, item 2).

"She is in" is what the groups' member lists say, not only where the bot saw her join or
speak: everyone who was in a group before the bot arrived counts. Each removal goes
through the account that is in that group.
"""

from __future__ import annotations

from pathlib import Path

from storage import people
from storage.models import GuardBan, OutboxMessage, RoomMembership
from tests.harness import BotUnderTest, configure

TWO_ACCOUNTS = '\n[[accounts]]\nid = "a1"\nkind = "sim"\n\n[[accounts]]\nid = "a2"\nkind = "sim"\n'


async def test_a_ban_removes_her_where_she_was_before_the_bot(tmp_path: Path) -> None:
    ops = configure(tmp_path, super_admins=["boss"], rooms=["宝妈辅食群", "早教群"])
    async with BotUnderTest(ops) as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "v", "boss"])
        bot.room("R2", "宝妈辅食群", owner="o2", members=["o2", "m", "v"])  # v: from the start
        bot.room("R3", "早教群", owner="o3", members=["o3", "m"])  # v is not here
        bot.world.add_contact("v", "小蓝")
        await bot.says("m", "早上好", room="R2")  # the bot knows R2 and R3; v never spoke
        await bot.says("m", "早", room="R3")
        done = await bot.says("boss", "#拉黑 @小蓝 卖货", room="R1", mentions=["v"])
        assert sorted(a["room"] for a in done if a["action"] == "kick") == ["R1", "R2"]
        assert await GuardBan.filter(contact_id="v").exists()


async def test_each_removal_goes_through_the_account_in_that_group(tmp_path: Path) -> None:
    ops = configure(tmp_path, super_admins=["boss"], rooms=["宝妈辅食群"])
    with (ops / "config.toml").open("a", encoding="utf-8") as f:
        f.write(TWO_ACCOUNTS)
    async with BotUnderTest(ops) as bot:
        first, second = bot.app.sim_channels()
        assert (first.account_id, second.account_id) == ("a1", "a2")
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "v", "boss", first.self_id])
        bot.room("R2", "宝妈辅食群", owner="o2", members=["o2", "v", second.self_id])
        bot.world.add_contact("v", "小蓝")
        await people.upsert_room("R2", "a2", bot.clock.now(), topic="宝妈辅食群", owner_id="o2")
        # The ban arrives on a1, in R1; R2 is a2's group.
        await bot.says("boss", "#拉黑 v", room="R1")
        kicks = await OutboxMessage.filter(action="kick").order_by("id")
        assert [(k.payload["room"], k.account_id) for k in kicks] == [("R1", "a1"), ("R2", "a2")]
        assert [a["room"] for a in second.actions if a["action"] == "kick"] == ["R2"]
        # R2's owner is told by the account she shares a group with, by name.
        (notice,) = [a for a in second.actions if a["action"] == "say" and a["to"] == "o2"]
        assert "已将 小蓝 移出群聊" in notice["text"]


async def test_the_roster_is_refreshed_from_the_member_lists(tmp_path: Path) -> None:
    async with BotUnderTest(configure(tmp_path)) as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "a", "b"])
        await bot.join("R1", "c", "小C")  # the first join records the group and its list
        assert await people.members_of("R1") == ["a", "b", "c", "o"]
        # Unseen by the bot (it was down): b left, d arrived. The daily refresh sees both.
        bot.world.rooms["R1"].members.remove("b")
        bot.world.rooms["R1"].members.append("d")
        await bot.tick("1d")
        assert await people.members_of("R1") == ["a", "c", "d", "o"]
        stint = await RoomMembership.get(room_id="R1", contact_id="b")
        assert stint.left_at is not None


async def test_a_group_the_recorded_account_left_is_reached_through_the_one_there(
    tmp_path: Path,
) -> None:
    ops = configure(tmp_path, super_admins=["boss"], rooms=["宝妈辅食群"])
    with (ops / "config.toml").open("a", encoding="utf-8") as f:
        f.write(TWO_ACCOUNTS)
    async with BotUnderTest(ops) as bot:
        first, second = bot.app.sim_channels()
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "v", "boss", first.self_id])
        # R2 was recorded by a1, which has since left it; a2 is the account in it now.
        bot.room("R2", "宝妈辅食群", owner="o2", members=["o2", "v", second.self_id])
        await people.upsert_room("R2", "a1", bot.clock.now(), topic="宝妈辅食群", owner_id="o2")
        await bot.says("boss", "#拉黑 v", room="R1")
        kicks = await OutboxMessage.filter(action="kick").order_by("id")
        assert [(k.payload["room"], k.account_id) for k in kicks] == [("R1", "a1"), ("R2", "a2")]


async def test_members_who_only_wrote_are_found_by_name_after_the_refresh(
    tmp_path: Path,
) -> None:

    async with BotUnderTest(configure(tmp_path)) as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "wxid_m1"])
        bot.world.add_contact("wxid_m1", "小美妈妈")
        await bot.says("wxid_m1", "早上好", room="R1")  # she only writes
        assert await people.name_of("wxid_m1") == ""
        await bot.register_room("R1")
        await bot.tick("1d")  # the daily roster refresh
        assert await people.name_of("wxid_m1") == "小美妈妈"
