"""Admin commands in the group chat, through the real dispatcher and the simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from storage.models import GuardAudit, GuardBan, GuardFeedback
from tests.harness import BotUnderTest, configure, copy_project


def says(actions: list[dict[str, Any]]) -> list[str]:
    return [a["text"] for a in actions if a["action"] == "say"]


def group(bot: BotUnderTest) -> None:
    bot.room("R1", "孕妈交流群", owner="o", members=["o", "b", "c"])
    bot.world.add_contact("o", "群主")


async def test_help_and_unknown_commands_for_admins() -> None:
    async with BotUnderTest() as bot:
        group(bot)
        (help_text,) = says(await bot.says("o", "#帮助", room="R1"))
        assert "#踢" in help_text and "#统计" in help_text
        (same,) = says(await bot.says("o", "/help", room="R1"))
        assert same == help_text
        (hint,) = says(await bot.says("o", "#飞起", room="R1"))
        assert "#帮助" in hint


async def test_members_get_one_polite_refusal_and_a_spoofed_name_gets_nothing() -> None:
    async with BotUnderTest() as bot:
        group(bot)
        (refusal,) = await bot.says("x", "#踢 c", room="R1", name="群主")  # renamed as 群主
        assert "只有群主和管理员" in refusal["text"] and refusal["mentions"] == ["x"]
        assert await bot.says("x", "#踢 c", room="R1") == []  # ignored from now on
        assert bot.of("kick") == []
        chat = await bot.says("b", "#今天的话题 宝宝辅食", room="R1")  # not a command
        assert not any("只有群主" in t for t in says(chat))


async def test_kick_warn_and_tag() -> None:
    async with BotUnderTest() as bot:
        group(bot)
        done = await bot.says("o", "#踢 @小蓝", room="R1", mentions=["c"])
        assert [a["contact"] for a in done if a["action"] == "kick"] == ["c"]
        row = await GuardAudit.get(contact_id="c", action="kick")
        assert row.by == "o"
        (warning,) = says(await bot.says("o", "#警告 @小美 不要发链接", room="R1", mentions=["b"]))
        assert "不要发链接" in warning and "第1次" in warning
        await bot.says("o", "#warn b 第二次", room="R1")
        done = await bot.says("o", "#警告 b 第三次", room="R1")
        assert [a["contact"] for a in done if a["action"] == "kick"] == ["b"]
        done = await bot.says("o", "#标签 @小美 高意向", room="R1", mentions=["b"])
        assert [(a["tag"], a["source"]) for a in done if a["action"] == "tag"] == [
            ("高意向", "admin")
        ]


async def test_ban_follows_her_and_unban_lifts_it(tmp_path: Path) -> None:
    # A ban reaches every group: the owner may ban because ops named her for it.
    async with BotUnderTest(configure(tmp_path, admin={"ban": ["o"]})) as bot:
        group(bot)
        bot.room("R2", "宝妈辅食群", owner="o", members=["o"])
        await bot.join("R2", "c", "小蓝")
        await bot.tick("31s")
        done = await bot.says("o", "#拉黑 @小蓝 卖货", room="R1", mentions=["c"])
        assert sorted(a["room"] for a in done if a["action"] == "kick") == ["R1", "R2"]
        assert await GuardBan.filter(contact_id="c").exists()
        (lifted,) = says(await bot.says("o", "#解除拉黑 c", room="R1"))
        assert "已解除" in lifted
        bot.world.rooms["R2"].members.append("c")
        before = len(bot.actions)
        await bot.join("R2", "c", "小蓝")
        assert not [a for a in bot.actions[before:] if a["action"] == "kick"]


async def test_allowlist_and_feedback_teach_the_guard(tmp_path: Path) -> None:
    ops = configure(tmp_path, admin={"allow": ["o"], "teach": ["o"]})
    async with BotUnderTest(ops) as bot:
        group(bot)
        await bot.says("o", "#白名单 @小美", room="R1", mentions=["b"])
        assert [
            a for a in await bot.says("b", "加我微信mama88", room="R1") if a["action"] != "tag"
        ] == []
        text = "周末亲子手工课报名啦 名额有限 先到先得"
        before = bot.app.judge.model.spam_probability(text)
        for _ in range(3):
            await bot.says("o", f"#垃圾 {text}", room="R1")
        assert bot.app.judge.model.spam_probability(text) > before
        assert await GuardFeedback.filter(label="spam").count() == 3
        (answer,) = says(await bot.says("o", "#正常 宝宝几个月可以吃米粉", room="R1"))
        assert "不会再误判" in answer


async def test_notice_and_stats_with_the_right_numbers() -> None:
    async with BotUnderTest() as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o"])
        await bot.join("R1", "b", "小美")
        await bot.join("R1", "c", "小蓝")
        await bot.tick("31s")
        await bot.says("b", "大家好呀", room="R1")
        await bot.says("b", "宝宝今天会翻身了", room="R1")
        await bot.says("c", "帮我砍一刀谢谢姐妹们", room="R1")  # warned by the guard
        await bot.says("o", "#踢 c", room="R1")  # kicked: leaves
        (notice,) = says(await bot.says("o", "#公告 今晚8点直播", room="R1"))
        assert notice == "📢 群公告\n今晚8点直播"
        (stats,) = says(await bot.says("o", "#统计", room="R1"))
        # messages: b×2, c×1, o: #踢, #公告, #统计 = 6 from 3 members.
        assert "今天：消息6条，活跃3人，进群2人，退群1人，警告1次，移出1人" in stats
        assert "近7天：消息6条" in stats


async def test_an_admin_can_start_the_intake_for_a_member() -> None:
    async with BotUnderTest() as bot:
        group(bot)
        done = await bot.says("o", "#问询 @小美", room="R1", mentions=["b"])
        # Her confirmation is for her, by DM: the group does not read admin chatter.
        (answer,) = [a["text"] for a in done if a["action"] == "say" and a["to"] == "o"]
        assert "已私聊" in answer
        (question,) = bot.said_to("b")
        assert "预产期" in question["text"] and question["room"] is None
        done = await bot.says("b", "孕20周")
        assert [a["tag"] for a in done if a["action"] == "tag"] == ["阶段:孕中期"]
        (again,) = says(await bot.says("o", "#问询 b", room="R1"))
        assert "已经在对话中" in again


# ---------------------------------------------------------------------- commands by DM


def two_groups(bot: BotUnderTest) -> None:
    bot.room("R1", "孕妈交流群", owner="o", members=["o", "b", "c"])
    bot.room("R2", "宝妈辅食群", owner="o", members=["o", "c"])


async def test_an_owner_names_the_group_in_a_dm_command(tmp_path: Path) -> None:
    async with BotUnderTest(configure(tmp_path, rooms=["宝妈辅食群"])) as bot:
        two_groups(bot)
        await bot.says("b", "大家好呀", room="R1")  # the bot learns of both groups
        await bot.says("c", "早上好", room="R2")
        (ask,) = says(await bot.says("o", "#统计"))
        assert "请在命令后面先写群名" in ask and "孕妈交流群" in ask and "宝妈辅食群" in ask
        done = await bot.says("o", "#统计 孕妈交流群")
        (stats,) = [a for a in done if a["action"] == "say"]
        assert stats["to"] == "o" and stats["room"] is None
        assert stats["text"].startswith("📊 「孕妈交流群」数据")
        assert "今天：消息1条，活跃1人" in stats["text"]  # b's message; DMs are not counted
        done = await bot.says("o", "#公告 「宝妈辅食群」 今晚8点直播")
        assert [(a["room"], a["text"]) for a in done if a["action"] == "say"] == [
            ("R2", "📢 群公告\n今晚8点直播"),
            (None, "已在「宝妈辅食群」发布公告"),
        ]


async def test_dm_warn_is_posted_in_the_group_and_dm_kick_removes_her(tmp_path: Path) -> None:
    async with BotUnderTest(configure(tmp_path, rooms=["宝妈辅食群"])) as bot:
        two_groups(bot)
        await bot.says("b", "大家好呀", room="R1")
        await bot.says("c", "早上好", room="R2")
        done = await bot.says("o", "#警告 孕妈交流群 b 别发链接")
        warning, confirm = [a for a in done if a["action"] == "say"]
        assert warning["room"] == "R1" and warning["mentions"] == ["b"]
        assert "别发链接" in warning["text"] and "第1次" in warning["text"]
        assert (
            confirm["to"] == "o" and confirm["text"] == "已在「孕妈交流群」警告 b（第1次，共2次）"
        )
        done = await bot.says("o", "#踢 宝妈辅食群 c")
        assert [(a["room"], a["contact"]) for a in done if a["action"] == "kick"] == [("R2", "c")]
        assert "已将 c 移出「宝妈辅食群」" in says(done)
        row = await GuardAudit.get(action="kick", contact_id="c")
        assert (row.room_id, row.by) == ("R2", "o")


async def test_dm_ban_removes_her_from_every_group_and_needs_no_group_name(
    tmp_path: Path,
) -> None:
    ops = configure(tmp_path, rooms=["宝妈辅食群"], admin={"ban": ["o"]})
    async with BotUnderTest(ops) as bot:
        two_groups(bot)
        await bot.join("R1", "x", "小广告")
        await bot.join("R2", "x", "小广告")
        await bot.tick("31s")
        done = await bot.says("o", "#拉黑 x 卖货")
        assert sorted(a["room"] for a in done if a["action"] == "kick") == ["R1", "R2"]
        # She is named as people see her (小广告), never by her id (x).
        assert "已将 小广告 拉黑，所有群都不能再进（已从2个群移出）" in says(done)
        assert await GuardBan.filter(contact_id="x").exists()
        audits = await GuardAudit.filter(contact_id="x").values_list("action", "room_id")
        assert ("ban", None) in audits and ("kick", "R1") in audits
        (lifted,) = says(await bot.says("o", "#unban x"))
        assert lifted == "已解除 小广告 的拉黑"
        (hint,) = says(await bot.says("o", "#拉黑"))
        assert "微信ID" in hint  # no @ by DM


async def test_a_mother_typing_a_command_by_dm_gets_one_refusal() -> None:
    async with BotUnderTest() as bot:
        two_groups(bot)
        await bot.says("b", "大家好呀", room="R1")
        (refusal,) = says(await bot.says("b", "#踢 c"))
        assert "只有群主和管理员" in refusal
        assert says(await bot.says("b", "#拉黑 c")) == []  # once is enough
        assert bot.of("kick") == [] and not await GuardBan.filter(contact_id="c").exists()
        chat = await bot.says("b", "#宝宝辅食 怎么做")  # not a command: the usual answers
        assert not any("只有群主" in t for t in says(chat))


async def test_a_super_admin_by_dm_and_the_dm_help(tmp_path: Path) -> None:
    copy_project(tmp_path)
    config = (tmp_path / "config.toml").read_text(encoding="utf-8")
    (tmp_path / "config.toml").write_text(
        config.replace("super_admins = []", 'super_admins = ["boss"]'), encoding="utf-8"
    )
    async with BotUnderTest(tmp_path) as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "b"])
        await bot.says("b", "大家好呀", room="R1")
        (help_text,) = says(await bot.says("boss", "#帮助"))
        assert "#统计 孕妈交流群" in help_text and "#踢" in help_text
        (stats,) = says(await bot.says("boss", "#stats"))  # her only group: no name needed
        assert stats.startswith("📊 「孕妈交流群」数据")
        (reloaded,) = says(await bot.says("boss", "#重载"))
        assert "内容已重新加载" in reloaded


async def test_every_admin_action_is_audited_with_who_and_where(tmp_path: Path) -> None:
    async with BotUnderTest(configure(tmp_path, admin={"allow": ["o"], "teach": ["o"]})) as bot:
        group(bot)
        await bot.says("o", "#标签 @小美 高意向", room="R1", mentions=["b"])
        await bot.says("o", "#公告 今晚8点直播", room="R1")
        await bot.says("o", "#垃圾 加我V看朋友圈", room="R1")
        await bot.says("o", "#正常 宝宝几个月可以吃米粉", room="R1")
        await bot.says("o", "#重载", room="R1")
        await bot.says("o", "#白名单 c", room="R1")
        rows = await GuardAudit.filter(by="o").order_by("id")
        assert [(r.action, r.room_id, r.contact_id) for r in rows] == [
            ("tag", "R1", "b"),
            ("notice", "R1", ""),
            ("spam", "R1", ""),
            ("ham", "R1", ""),
            ("reload", "R1", ""),
            ("allow", "R1", "c"),
        ]
        assert rows[0].text == "高意向" and rows[1].text == "今晚8点直播"
        assert rows[2].text == "加我V看朋友圈"


async def test_a_new_corpus_retrains_the_guard_on_reload_and_keeps_admin_feedback(
    tmp_path: Path,
) -> None:
    copy_project(tmp_path)
    corpus = tmp_path / "content" / "guard_examples.tsv"
    async with BotUnderTest(tmp_path) as bot:
        group(bot)
        taught = "周末亲子手工课报名啦 名额有限 先到先得"
        await bot.says("o", f"#垃圾 {taught}", room="R1")
        text = "团团团 蜂蜜柚子茶 今晚截单"
        before = bot.app.judge.model.spam_probability(text)
        taught_before = bot.app.judge.model.spam_probability(taught)
        rows = "".join(f"spam\t团团团 蜂蜜柚子茶{i}号 今晚截单 接龙\n" for i in range(30))
        corpus.write_text(corpus.read_text(encoding="utf-8") + rows, encoding="utf-8")
        (answer,) = says(await bot.says("o", "#重载", room="R1"))
        assert "内容已重新加载" in answer
        assert bot.app.judge.model.spam_probability(text) > before
        # The admin's lesson was learned again on top of the new corpus.
        assert bot.app.judge.model.spam_probability(taught) == pytest.approx(
            taught_before, abs=0.05
        )
        assert await bot.app.retrain_guard() is False  # unchanged: nothing to do


async def test_a_refused_content_edit_is_sent_to_the_super_admins_once_an_hour(
    tmp_path: Path,
) -> None:
    copy_project(tmp_path)
    config = (tmp_path / "config.toml").read_text(encoding="utf-8")
    (tmp_path / "config.toml").write_text(
        config.replace("super_admins = []", 'super_admins = ["boss"]'), encoding="utf-8"
    )
    keywords = tmp_path / "content" / "keywords.toml"
    async with BotUnderTest(tmp_path) as bot:
        keywords.write_text("[[rules]]\nid = 3\n", encoding="utf-8")

        async def saves():  # type: ignore[no-untyped-def]
            for _ in range(3):  # the editor saves the same broken file three times
                yield {("modified", str(keywords))}

        await bot.app.watch_content(saves())
        await bot.tick("1s")
        (notice,) = bot.said_to("boss")
        assert notice["text"].startswith("⚠️ 内容文件有错误，仍在用之前的内容")
        # Worded as `mamabot check` words it: file and line, the rule, no rules[0] path.
        assert "keywords.toml:2: rule '3'" in notice["text"], notice["text"]
        assert "rules[" not in notice["text"] and "/content/" not in notice["text"]
        await bot.tick("1h")
        await bot.app.watch_content(saves())
        await bot.tick("1s")
        assert len(bot.said_to("boss")) == 2


async def test_a_former_owner_has_no_power_by_dm(tmp_path: Path) -> None:
    async with BotUnderTest(configure(tmp_path, rooms=["宝妈辅食群"])) as bot:
        two_groups(bot)
        await bot.says("b", "大家好呀", room="R1")
        await bot.says("c", "早上好", room="R2")
        bot.world.rooms["R1"].owner_id = "b"  # the group was handed over to b
        (ask,) = says(await bot.says("o", "#统计"))
        assert "宝妈辅食群" in ask and "孕妈交流群" not in ask  # o still runs R2 only
        done = await bot.says("o", "#踢 孕妈交流群 b")
        assert bot.of("kick") == [] and "不是这个群的群主或管理员" in says(done)[0]


async def test_nobody_acts_on_owners_admins_or_super_admins(tmp_path: Path) -> None:
    configure(tmp_path, super_admins=["boss"], admin={"ban": ["a1", "o"]})  # may ban, not them
    config = (tmp_path / "config.toml").read_text(encoding="utf-8")
    config = config.replace(
        'match = "孕妈交流群"\ntags = ["孕妈群"]\nadmins = []',
        'match = "孕妈交流群"\ntags = ["孕妈群"]\nadmins = ["a1"]',
    )
    assert 'admins = ["a1"]' in config
    (tmp_path / "config.toml").write_text(config, encoding="utf-8")
    async with BotUnderTest(tmp_path) as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "a1", "boss", "c"])
        for command in ("#踢 o", "#警告 o 别发了", "#拉黑 o"):
            (refusal,) = says(await bot.says("a1", command, room="R1"))
            assert "不能对群主、管理员或超级管理员" in refusal
        (refusal,) = says(await bot.says("o", "#踢 a1", room="R1"))
        assert "不能对群主" in refusal
        (refusal,) = says(await bot.says("o", "#拉黑 boss", room="R1"))
        assert "不能对群主" in refusal
        assert bot.of("kick") == [] and await GuardBan.all().count() == 0
        done = await bot.says("a1", "#踢 c", room="R1")  # a member: as before
        assert [a["contact"] for a in done if a["action"] == "kick"] == ["c"]


async def test_warn_applies_the_rules_of_a_group_named_in_guard_toml(tmp_path: Path) -> None:
    copy_project(tmp_path)
    with (tmp_path / "content" / "guard.toml").open("a", encoding="utf-8") as f:
        f.write('\n[[rooms]]\nmatch = "孕妈交流群"\nwarnings_before_kick = 1\n')
    async with BotUnderTest(tmp_path) as bot:
        group(bot)
        done = await bot.says("o", "#警告 c 不要发广告", room="R1")
        assert [a["contact"] for a in done if a["action"] == "kick"] == ["c"]


async def test_replies_name_people_never_by_their_id(tmp_path: Path) -> None:
    async with BotUnderTest(configure(tmp_path, admin={"ban": ["o"]})) as bot:
        two_groups(bot)
        await bot.says("b", "大家好呀", room="R1")
        (reply,) = says(await bot.says("o", "#拉黑 wxid_ghost 卖货"))
        assert "这位成员" in reply and "wxid_ghost" not in reply


async def test_admin_replies_go_to_the_admin_and_reload_errors_never_to_the_group(
    tmp_path: Path,
) -> None:
    copy_project(tmp_path)
    async with BotUnderTest(tmp_path) as bot:
        group(bot)
        for command in ("#帮助", "#统计", "#标签 b 高意向"):
            done = await bot.says("o", command, room="R1")
            assert [a for a in done if a["action"] == "say" and a["room"] == "R1"] == []
            assert any(a["action"] == "say" and a["to"] == "o" for a in done), command
        (tmp_path / "content" / "keywords.toml").write_text("[[rules]]\nid = 3\n", "utf-8")
        done = await bot.says("o", "#重载", room="R1")
        (error,) = [a for a in done if a["action"] == "say"]
        assert error["to"] == "o" and error["room"] is None and "keywords.toml" in error["text"]
        (warning,) = [a for a in await bot.says("o", "#警告 b 别发链接", room="R1")]
        assert warning["room"] == "R1" and "别发链接" in warning["text"]  # members see this
        done = await bot.says("o", "#踢 c 发广告", room="R1")
        (notice,) = [a for a in done if a["action"] == "say" and a["room"] == "R1"]
        assert notice["text"].startswith("已将") and "移出群聊" in notice["text"]
        assert "发广告" not in notice["text"]  # never why, in front of everyone


async def test_a_hand_typed_at_name_is_looked_up_among_the_members() -> None:
    async with BotUnderTest() as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "b", "c", "d"])
        for contact, name in (("b", "小红"), ("c", "小张"), ("d", "小张")):
            bot.world.add_contact(contact, name)
        # No mention ids: the owner typed "@小红" by hand. The reason is never the target.
        (warning,) = says(await bot.says("o", "#警告 @小红 不要发广告", room="R1"))
        assert "不要发广告" in warning
        assert bot.said_in("R1")[-1]["mentions"] == ["b"]
        (reply,) = says(await bot.says("o", "#踢 @小张 发广告", room="R1"))  # two 小张
        assert "2个人都叫“小张”" in reply
        (reply,) = says(await bot.says("o", "#踢 @小李 发广告", room="R1"))  # nobody
        assert "没有叫“小李”" in reply
        (reply,) = says(await bot.says("o", "#问询 不存在的人", room="R1"))
        assert "不在这个群里" in reply
        assert bot.of("kick") == [] and bot.said_to("不存在的人") == []


async def test_anyone_can_ask_for_her_own_id_by_dm_never_in_the_group() -> None:
    async with BotUnderTest() as bot:
        group(bot)
        (answer,) = [a for a in await bot.says("b", "#我的ID") if a["action"] == "say"]
        assert answer["to"] == "b" and answer["text"].startswith("你的ID：b")
        (alias,) = [a for a in await bot.says("b", "#myid") if a["action"] == "say"]
        assert alias["text"] == answer["text"]
        done = await bot.says("c", "#我的ID", room="R1")
        assert [(a["room"], a["to"]) for a in done if a["action"] == "say"] == [(None, "c")]


async def test_a_warning_command_handled_again_counts_once() -> None:
    async with BotUnderTest() as bot:
        group(bot)
        event = bot.channel.message("o", "#警告 c 别发链接", room_id="R1")
        for _ in range(3):  # the dispatcher runs it again after a store outage
            await bot.app.dispatcher._chain(event)
        await bot.app.settle()
        assert bot.of("kick") == []
        (warning,) = [a for a in bot.said_in("R1") if "别发链接" in a["text"]]
        assert "第1次" in warning["text"]
