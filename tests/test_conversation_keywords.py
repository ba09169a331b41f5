"""Keyword replies through the real dispatcher: scope, cooldown, variants, tags, hot reload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.harness import BotUnderTest, copy_project

RULES = """
[[rules]]
id = "eczema"
keywords = ["湿疹"]
replies = ["湿疹要保湿哦A", "湿疹要保湿哦B", "湿疹要保湿哦C"]
tags = ["关注:湿疹"]
cooldown_seconds = 600

[[rules]]
id = "order"
mode = "regex"
pattern = "订单号?\\\\s*\\\\d{6,}"
scope = "dm"
replies = ["正在帮你查订单～"]
priority = 5

[[rules]]
id = "vip-only"
keywords = ["专属顾问"]
rooms = ["VIP宝妈群"]
replies = ["VIP 顾问马上来"]

[[rules]]
id = "tagged-rooms"
keywords = ["团购"]
room_tags = ["孕妈群"]
replies = ["团购请看群公告"]

[[rules]]
id = "group-rules"
mode = "exact"
keywords = ["群规"]
scope = "groups"
replies = ["群规：不发广告"]
"""


def project(tmp_path: Path, rules: str = RULES) -> Path:
    copy_project(tmp_path)
    (tmp_path / "content" / "keywords.toml").write_text(rules, encoding="utf-8")
    return tmp_path


async def test_question_in_a_group_is_answered_with_a_mention_and_tags_the_asker(
    tmp_path: Path,
) -> None:
    async with BotUnderTest(project(tmp_path)) as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "b"])
        done = await bot.says("b", "宝宝脸上长湿疹了怎么办", room="R1", name="小美")
        assert [a["action"] for a in done] == ["tag", "say"]
        assert done[0]["tag"] == "关注:湿疹" and done[0]["source"] == "keyword"
        assert done[1]["room"] == "R1" and done[1]["mentions"] == ["b"]
        assert done[1]["text"].startswith("湿疹要保湿哦")


def said(actions: list[dict[str, Any]]) -> list[tuple[str, tuple[str, ...]]]:
    return [(a["text"], tuple(a["mentions"])) for a in actions if a["action"] == "say"]


POINTER = "上面刚回复过哦👆"


async def test_cooldown_per_rule_per_chat(tmp_path: Path) -> None:
    async with BotUnderTest(project(tmp_path)) as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "b", "c"])
        bot.room("R2", "另一个群", owner="o", members=["o", "b"])
        assert len(await bot.says("b", "湿疹", room="R1")) == 2
        again = await bot.says("c", "湿疹又犯了", room="R1")
        assert [a["action"] for a in again] == ["tag", "say"]  # tagged, and pointed up
        assert said(again) == [(POINTER, ("c",))]
        assert [a["action"] for a in await bot.says("b", "湿疹", room="R2")] == ["say"]
        await bot.tick("11m")
        (answer,) = said(await bot.says("c", "湿疹", room="R1"))
        assert answer[0].startswith("湿疹要保湿哦")


async def test_a_repeat_in_the_cooldown_gets_a_pointer_once_per_asker(tmp_path: Path) -> None:
    async with BotUnderTest(project(tmp_path)) as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "b", "c", "d"])
        (answer,) = said(await bot.says("b", "宝宝湿疹怎么办", room="R1", name="小美"))
        assert answer[0].startswith("湿疹要保湿哦") and answer[1] == ("b",)
        await bot.tick("3m")
        assert said(await bot.says("c", "我家也湿疹，怎么弄呀", room="R1")) == [(POINTER, ("c",))]
        assert await bot.says("c", "湿疹好难受", room="R1") == []  # once: no pointer storm
        assert said(await bot.says("d", "湿疹", room="R1")) == [(POINTER, ("d",))]
        assert said(await bot.says("b", "湿疹还是没好", room="R1")) == [(POINTER, ("b",))]
        assert said(await bot.says("b", "湿疹", room="R1")) == []
        # Her mark lasts as long as the cooldown it belongs to, no longer: the next
        # answer (a new cooldown) starts afresh for everyone.
        await bot.tick("6m")  # 9 minutes after the answer
        assert said(await bot.says("c", "湿疹", room="R1")) == []
        await bot.tick("2m")
        (fresh,) = said(await bot.says("d", "湿疹", room="R1"))
        assert fresh[0].startswith("湿疹要保湿哦") and fresh[1] == ("d",)
        await bot.tick("1m")
        assert said(await bot.says("c", "湿疹", room="R1")) == [(POINTER, ("c",))]


async def test_a_repeat_in_a_private_chat_gets_the_pointer_once(tmp_path: Path) -> None:
    async with BotUnderTest(project(tmp_path)) as bot:
        (answer,) = said(await bot.says("b", "宝宝湿疹怎么办"))
        assert answer[0].startswith("湿疹要保湿哦") and answer[1] == ()
        assert said(await bot.says("b", "湿疹涂什么")) == [(POINTER, ())]
        assert await bot.says("b", "湿疹") == []  # and no fallback acknowledgement either


async def test_repeat_reply_can_be_reworded_or_switched_off(tmp_path: Path) -> None:
    worded = 'repeat_reply = "{name}，{bot}刚在上面回答过啦，往上翻翻～"\n' + RULES
    async with BotUnderTest(project(tmp_path, worded)) as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "b", "c"])
        await bot.says("b", "湿疹", room="R1")
        assert said(await bot.says("c", "湿疹", room="R1", name="小红")) == [
            ("小红，小暖刚在上面回答过啦，往上翻翻～", ("c",))
        ]
    silent = 'repeat_reply = ""\n' + RULES
    (tmp_path / "silent").mkdir()
    async with BotUnderTest(project(tmp_path / "silent", silent)) as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "b", "c"])
        await bot.says("b", "湿疹", room="R1")
        assert said(await bot.says("c", "湿疹", room="R1")) == []


BAG = """
[[rules]]
id = "hospital-bag"
keywords = ["待产包", "待产"]
replies = ["待产包清单：产褥垫、月子服……"]
tags = ["关注:待产"]
max_chars = 40
questions_only = true
"""


async def test_a_birth_story_that_mentions_the_keyword_gets_no_list(tmp_path: Path) -> None:
    async with BotUnderTest(project(tmp_path, BAG)) as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "b", "c"])
        story = (
            "姐妹们我生啦！昨天半夜破水进了待产室，疼了一整晚，开到三指才打上无痛，"
            "今天早上顺产一个7斤2两的男宝，谢谢大家之前的鼓励🥰"
        )
        assert await bot.says("b", story, room="R1") == []  # no list, no 关注:待产 tag
        assert await bot.says("b", "终于进待产室了", room="R1") == []  # no question either
        done = await bot.says("c", "待产包一般要准备些什么呀", room="R1")
        assert [a["action"] for a in done] == ["tag", "say"]
        assert done[1]["text"].startswith("待产包清单")
        await bot.tick("30s")  # within the default 60 s cooldown
        assert said(await bot.says("b", "待产包？", room="R1")) == [(POINTER, ("b",))]


async def test_variants_are_picked_at_random(tmp_path: Path) -> None:
    seen = set()
    async with BotUnderTest(project(tmp_path), seed=3) as bot:
        for i in range(30):
            (say,) = [a for a in await bot.says(f"m{i}", "湿疹") if a["action"] == "say"]
            seen.add(say["text"])
    assert seen == {"湿疹要保湿哦A", "湿疹要保湿哦B", "湿疹要保湿哦C"}


async def test_scopes_dm_groups_room_names_and_room_tags(tmp_path: Path) -> None:
    async with BotUnderTest(project(tmp_path)) as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "b"])
        bot.room("R2", "VIP宝妈群", owner="o", members=["o", "b"])
        assert await bot.says("b", "订单号 12345678", room="R1") == []
        (dm,) = await bot.says("b", "订单号 12345678")  # (the DM fallback is not needed here)
        assert dm["to"] == "b" and dm["room"] is None and dm["text"] == "正在帮你查订单～"
        assert all("群规" not in a["text"] for a in await bot.says("b", "群规"))
        assert [a["text"] for a in await bot.says("b", "群规", room="R1")] == ["群规：不发广告"]
        assert await bot.says("b", "有专属顾问吗", room="R1") == []
        assert [a["text"] for a in await bot.says("b", "有专属顾问吗", room="R2")] == [
            "VIP 顾问马上来"
        ]
        assert await bot.says("b", "有团购吗", room="R2") == []  # VIP群 has no 孕妈群 tag
        assert [a["text"] for a in await bot.says("b", "有团购吗", room="R1")] == ["团购请看群公告"]


async def test_non_text_messages_and_chatter_get_no_reply(tmp_path: Path) -> None:
    from bot.events import MessageType

    async with BotUnderTest(project(tmp_path)) as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "b"])
        assert await bot.says("b", "湿疹", room="R1", type=MessageType.IMAGE) == []
        assert await bot.says("b", "今天天气真好", room="R1") == []


async def test_hot_reload_takes_new_rules_and_refuses_broken_ones(tmp_path: Path) -> None:
    base = project(tmp_path)
    async with BotUnderTest(base) as bot:
        assert [a["text"] for a in await bot.says("b", "黄疸")] != ["黄疸要多晒太阳"]
        rules = (
            RULES
            + '\n[[rules]]\nid = "jaundice"\nkeywords = ["黄疸"]\nreplies = ["黄疸要多晒太阳"]\n'
        )
        (base / "content" / "keywords.toml").write_text(rules, encoding="utf-8")
        assert bot.app.content.reload() == []
        assert [a["text"] for a in await bot.says("b", "黄疸")] == ["黄疸要多晒太阳"]
        (base / "content" / "keywords.toml").write_text("[[rules]]\nid = 3\n", encoding="utf-8")
        problems = bot.app.content.reload()
        assert problems and "keywords.toml" in problems[0]
        assert [a["text"] for a in await bot.says("c", "黄疸")] == ["黄疸要多晒太阳"]


async def test_shipped_demo_content_answers_common_questions() -> None:
    async with BotUnderTest() as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "b"])
        for question in [
            "宝宝湿疹怎么办",
            "新生儿黄疸多少算高",
            "几个月可以加辅食",
            "纸尿裤怎么选尺码",
        ]:
            done = await bot.says("b", question, room="R1")
            assert any(a["action"] == "say" for a in done), question


async def test_unanswered_dm_gets_one_acknowledgement_per_cooldown(tmp_path: Path) -> None:
    async with BotUnderTest(project(tmp_path)) as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "b"])
        assert await bot.says("b", "今天天气真好", room="R1") == []  # never in groups
        (ack,) = await bot.says("b", "在吗", name="小美")
        assert ack["to"] == "b" and "顾问" in ack["text"] and "小暖" in ack["text"]
        assert await bot.says("b", "我想问个事") == []
        (answer,) = [
            a for a in await bot.says("b", "湿疹") if a["action"] == "say"
        ]  # not held back
        assert answer["text"].startswith("湿疹要保湿哦")
        await bot.tick("13h")
        assert len(await bot.says("b", "你好")) == 1


async def test_content_watcher_reloads_on_each_change_and_survives_a_broken_edit(
    tmp_path: Path,
) -> None:
    base = project(tmp_path)
    kw = base / "content" / "keywords.toml"
    async with BotUnderTest(base) as bot:

        async def edits():  # type: ignore[no-untyped-def]
            # What watchfiles yields after each save, with the save done just before.
            kw.write_text(
                RULES + '\n[[rules]]\nid = "j"\nkeywords = ["黄疸"]\nreplies = ["多晒太阳"]\n',
                encoding="utf-8",
            )
            yield {("modified", str(kw))}
            kw.write_text("[[rules]]\nid = 3\n", encoding="utf-8")  # half-finished edit
            yield {("modified", str(kw))}

        await bot.app.watch_content(edits())
        assert [a["text"] for a in await bot.says("b", "黄疸")] == ["多晒太阳"]

        async def broken_watcher():  # type: ignore[no-untyped-def]
            raise OSError("content/ was removed")
            yield

        await bot.app.watch_content(broken_watcher())  # logged, never raised
        (say,) = [a for a in await bot.says("c", "湿疹") if a["action"] == "say"]
        assert say["text"].startswith("湿疹要保湿哦")


async def test_the_material_promised_by_the_xiaohongshu_greeting_exists() -> None:
    async with BotUnderTest() as bot:
        done = await bot.friend_request("c", "小红", "我是从小红书来的")
        assert "回复“资料”" in next(a for a in done if a["action"] == "say")["text"]
        await bot.says("c", "不用了")
        (answer,) = [a for a in await bot.says("c", "资料") if a["action"] == "say"]
        assert "资料包" in answer["text"]


async def test_an_unanswered_private_question_reaches_the_staff_on_duty(tmp_path: Path) -> None:
    base = project(tmp_path)
    config = (base / "config.toml").read_text(encoding="utf-8")
    assert "staff = []" in config
    (base / "config.toml").write_text(config.replace("staff = []", 'staff = ["s1"]'), "utf-8")
    async with BotUnderTest(base) as bot:
        done = await bot.says("b", "宝宝晚上老是醒怎么办呀", name="小美")
        (to_staff,) = [a for a in done if a["action"] == "say" and a["to"] == "s1"]
        assert "小美" in to_staff["text"] and "宝宝晚上老是醒" in to_staff["text"]
        assert "b" not in to_staff["text"].split("：")[0]  # named, not by id
        assert any(a["to"] == "b" and "顾问" in a["text"] for a in done)  # her ack, as before
        later = await bot.says("b", "还有辅食的问题")  # no second ack in the cooldown...
        assert [a["to"] for a in later if a["action"] == "say"] == ["s1"]  # ...staff still hear
        answered = await bot.says("b", "湿疹")  # a rule answers it: nobody is bothered
        assert not any(a.get("to") == "s1" for a in answered)
