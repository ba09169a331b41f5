"""The group guard through the real dispatcher and the simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from storage.models import GuardAudit, GuardBan
from tests.harness import BotUnderTest, copy_project


def kinds(actions: list[dict[str, Any]]) -> list[str]:
    return [a["action"] for a in actions]


async def test_an_ad_is_warned_then_kicked_on_the_third_time() -> None:
    async with BotUnderTest() as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "a", "b"])
        (warning,) = await bot.says("b", "帮我砍一刀谢谢姐妹们", room="R1", name="小美")
        assert warning["action"] == "say" and warning["mentions"] == ["b"]
        assert warning["text"].startswith("@小美 温馨提醒") and "第1次" in warning["text"]
        (second,) = await bot.says("b", "好物分享 http://xyz.top/p", room="R1")
        assert "第2次" in second["text"]
        done = await bot.says("b", "复制￥AbCd1234Xy￥打开淘宝", room="R1")
        assert kinds(done)[0] == "kick" and done[0]["contact"] == "b"
        assert "淘口令" in done[0]["reason"] and "第3次警告" in done[0]["reason"]
        notice = [a for a in done if a["action"] == "say" and a["to"] == "o"]
        assert notice and "孕妈交流群" in notice[0]["text"]  # the owner hears about it
        actions = (
            await GuardAudit.filter(contact_id="b").order_by("id").values_list("action", flat=True)
        )
        assert list(actions) == ["warn", "warn", "kick"]
        row = await GuardAudit.filter(contact_id="b", action="kick").first()
        assert row is not None and row.text == "复制￥AbCd1234Xy￥打开淘宝" and row.score > 0.6


async def test_a_high_confidence_ad_is_kicked_at_once() -> None:
    async with BotUnderTest() as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "b"])
        done = await bot.says("b", "加我V❤信 mama88 日赚300", room="R1")
        assert kinds(done)[0] == "kick"
        assert await GuardBan.filter(contact_id="b").exists()


async def test_the_blacklist_follows_the_spammer_into_other_groups() -> None:
    async with BotUnderTest() as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o"])
        bot.room("R2", "宝妈辅食群", owner="o", members=["o"])
        await bot.join("R1", "x", "小花")
        await bot.join("R2", "x", "小花")
        await bot.tick("31s")
        done = await bot.says("x", "宝妈在家刷单 日结", room="R1")
        kicked = sorted(a["room"] for a in done if a["action"] == "kick")
        assert kicked == ["R1", "R2"]
        bot.world.rooms["R2"].members.append("x")  # someone invites her back
        before = len(bot.actions)
        await bot.join("R2", "x", "小花")
        await bot.tick("31s")
        again = bot.actions[before:]
        assert [a["room"] for a in again if a["action"] == "kick"] == ["R2"]
        assert not any(a["action"] == "say" and a["room"] == "R2" for a in again)  # no welcome


async def test_a_spoofed_owner_name_gets_no_protection() -> None:
    async with BotUnderTest() as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "x"])
        assert await bot.says("o", "加我V❤信 mama88 团购", room="R1", name="群主") == []
        done = await bot.says("x", "加我V❤信 mama88 团购", room="R1", name="群主")
        assert kinds(done)[0] == "kick" and done[0]["contact"] == "x"


async def test_protected_tags_and_the_allowlist() -> None:
    from storage.models import GuardAllow

    async with BotUnderTest() as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "v", "w"])
        await bot.app.tags.add("v", "VIP", source="admin")
        await GuardAllow.create(contact_id="w", at=bot.clock.now())
        assert kinds(await bot.says("v", "加我微信mama88", room="R1")) == []
        assert kinds(await bot.says("w", "加我微信mama88", room="R1")) == []


async def test_flooding_is_warned() -> None:
    async with BotUnderTest() as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "b"])
        said = []
        for i in range(8):
            said += await bot.says("b", f"看看我家宝宝第{i}张照片哈哈", room="R1")
        assert [a for a in said if a["action"] == "say" and "刷屏" in a["text"]]


async def test_mothers_talking_about_links_prices_and_wechat_are_left_alone() -> None:
    async with BotUnderTest() as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "b"])
        for text in [
            "我微信步数今天两万，带娃真累",
            "社区医院打疫苗要扫二维码登记吗",
            "请月嫂一个月多少钱啊",
            "群里发的优惠券怎么用",
            "这款奶粉两百多一罐贵不贵",
        ]:
            done = await bot.says("b", text, room="R1")
            assert "kick" not in kinds(done) and not any(
                "温馨提醒" in a.get("text", "") for a in done
            ), text


def without_model(tmp_path: Path) -> Path:
    """A project copy whose guard has no model, so a test weighs the rules alone."""
    copy_project(tmp_path)
    guard = tmp_path / "content" / "guard.toml"
    guard.write_text(
        guard.read_text(encoding="utf-8").replace("classifier = true", "classifier = false"),
        encoding="utf-8",
    )
    return tmp_path


async def test_the_same_text_repeated_by_one_member_is_warned(tmp_path: Path) -> None:
    async with BotUnderTest(without_model(tmp_path)) as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "b"])
        for _ in range(2):
            assert await bot.says("b", "姐妹们早上好呀今天也要加油", room="R1") == []
        await bot.tick("2m")
        (warning,) = await bot.says("b", "姐妹们早上好呀！今天也要加油～", room="R1")
        assert "重复发送同一内容3次" in warning["text"] and warning["mentions"] == ["b"]
        await bot.tick("11m")  # out of the window: a new count
        assert await bot.says("b", "姐妹们早上好呀今天也要加油", room="R1") == []


async def test_a_spam_wave_across_groups_tips_a_borderline_ad_over(tmp_path: Path) -> None:
    async with BotUnderTest(without_model(tmp_path)) as bot:
        for i in (1, 2, 3):
            bot.room(f"R{i}", f"宝妈{i}群", owner="o", members=["o", f"m{i}"])
        # Each copy differs in its code, as waves do; 砍一刀 alone is below a warning.
        assert await bot.says("m1", "拼多多砍一刀最后一次了 口令ab12", room="R1") == []
        assert await bot.says("m2", "拼多多砍一刀最后一次了 口令xy789", room="R2") == []
        (warning,) = await bot.says("m3", "拼多多砍一刀最后一次了 口令q5", room="R3")
        assert "同一内容在3个群发送" in warning["text"]
        # A mother asking the same question in three groups is not a wave of ads.
        for i in (1, 2, 3):
            done = await bot.says(f"m{i}", "宝宝湿疹反反复复怎么办啊有没有好办法", room=f"R{i}")
            assert "kick" not in kinds(done)
            assert not any("温馨提醒" in a.get("text", "") for a in done)
            assert any("湿疹" in a.get("text", "") for a in done)  # she gets her answer


async def test_each_history_check_can_be_switched_off_for_one_group(tmp_path: Path) -> None:
    base = without_model(tmp_path)
    guard = base / "content" / "guard.toml"
    guard.write_text(
        guard.read_text(encoding="utf-8")
        + '\n[[rooms]]\nmatch = "闲聊群"\nflood = false\nrepeats = false\n',
        encoding="utf-8",
    )
    async with BotUnderTest(base) as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "b"])
        bot.room("R2", "闲聊群", owner="o", members=["o", "b"])
        said: list[dict[str, Any]] = []
        for i in range(9):
            said += await bot.says("b", f"哈哈哈第{i}遍姐妹们早上好呀", room="R2")
        assert said == []  # neither a flood nor a repeat in this group
        for _ in range(3):
            said += await bot.says("b", "姐妹们早上好呀今天也要加油", room="R1")
        assert [a["room"] for a in said] == ["R1"]  # the default group still counts


async def test_a_mother_correcting_her_group_buy_line_is_not_repeating_herself(
    tmp_path: Path,
) -> None:
    async with BotUnderTest(without_model(tmp_path)) as bot:
        bot.room("R1", "小区团购群", owner="o", members=["o", "b"])
        for text in ["3号楼2单元 要2份", "3号楼2单元 要3份", "3号楼2单元 要1份"]:
            assert await bot.says("b", text, room="R1") == [], text


async def test_a_warning_says_why_in_plain_words_and_where_she_stands() -> None:
    async with BotUnderTest() as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "b"])
        (first,) = await bot.says("b", "帮我砍一刀谢谢姐妹们", room="R1", name="小美")
        assert "第1次提醒，累计3次将被移出群聊" in first["text"]
        (second,) = await bot.says("b", "好物分享 http://xyz.top/p", room="R1")
        assert "发了外部链接" in second["text"] and "xyz.top" not in second["text"]
        assert "第2次提醒，再违规将被移出群聊" in second["text"]
        for warning in (first, second):
            assert "模型" not in warning["text"] and "0." not in warning["text"]


async def test_an_event_handled_again_is_one_warning_and_one_flood_hit() -> None:
    """After a store outage the dispatcher runs the failed handler again on the same event:
    its warning and its place in the flood window must not count twice."""
    async with BotUnderTest() as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "b"])
        event = bot.channel.message("b", "帮我砍一刀谢谢姐妹们", room_id="R1")
        for _ in range(3):  # the same event, handled three times
            await bot.app.dispatcher._chain(event)
        await bot.app.settle()
        warnings = [a for a in bot.said_in("R1") if "提醒" in a["text"]]
        assert len(warnings) == 1 and "第1次提醒" in warnings[0]["text"]
        assert bot.of("kick") == []
        assert await bot.app.kv.window_count("g:flood:R1:b", 60) == 1
