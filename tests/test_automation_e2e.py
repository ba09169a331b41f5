"""Automation across features, end to end: a mother's real click on a tracked link (over
HTTP, through the bot's web server) starts the next sequence; group owners and super
admins drive posts and sequences with # commands, and nobody else can."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp

from storage import nurture as enrolments
from storage.models import GuardAudit
from tests.harness import BotUnderTest, configure

LINK = re.compile(r"http://127\.0\.0\.1:8080/l/([A-Za-z0-9_\-]{22})")


async def mother(bot: BotUnderTest, contact: str = "c") -> None:
    await bot.friend_request(contact, "小红", "你好")
    await bot.says(contact, "孕24周")  # 孕中期: the demo mid-pregnancy sequence
    await bot.says(contact, "不用了")


async def status(contact: str) -> dict[str, str]:
    return {e.sequence_id: e.status for e in await enrolments.of_contact(contact)}


async def test_her_click_over_http_tags_her_and_starts_newborn() -> None:
    async with BotUnderTest() as bot:
        port = await bot.app.start_web(port=0)
        assert port
        await mother(bot)
        await bot.tick("3d")
        day3 = [a["text"] for a in bot.said_to("c") if "《产前准备》" in a["text"]]
        assert len(day3) == 1
        urls = LINK.findall(day3[0])
        assert len(urls) == 2
        async with aiohttp.ClientSession() as session:
            for token in urls:
                url = f"http://127.0.0.1:{port}/l/{token}"
                async with session.get(url, allow_redirects=False) as response:
                    assert response.status == 302
                    assert response.headers["Location"].startswith("https://")
        await bot.app.settle()
        tags = await bot.app.tags.tags_of("c")
        assert tags.get("关注:新生儿知识") == "link"
        assert (await status("c"))["newborn"] == "active"
        before = len(bot.said_to("c"))
        await bot.tick("14d")
        newborn = [a["text"] for a in bot.said_to("c")[before:] if "孕妇枕" not in a["text"]]
        assert len(newborn) == 3, newborn


async def test_someone_elses_click_on_her_link_starts_nothing() -> None:
    async with BotUnderTest() as bot:
        await mother(bot)
        await bot.tick("3d")
        (day3,) = [a["text"] for a in bot.said_to("c") if "《产前准备》" in a["text"]]
        clicks = bot.app.features[[f.name for f in bot.app.features].index("links")]
        for token in LINK.findall(day3):
            assert await clicks.exports["clicks"].click(token, clicker="stranger")
        assert "关注:新生儿知识" not in await bot.app.tags.tags_of("c")
        assert "关注:新生儿知识" not in await bot.app.tags.tags_of("stranger")
        assert "newborn" not in await status("c")


def owner_group(bot: BotUnderTest) -> None:
    bot.room("R1", "孕妈交流群", "owner", ["owner", "a", "c"])


async def test_the_owner_of_a_brand_group_lists_pauses_and_resumes_its_posts() -> None:
    async with BotUnderTest() as bot:
        owner_group(bot)
        await bot.register_room("R1")
        listing = await bot.says("owner", "#定时 列表", room="R1")
        (reply,) = [a["text"] for a in listing if a["action"] == "say"]
        assert "morning-tips" in reply and "08:00" in reply
        assert listing[0]["to"] == "owner" and listing[0]["room"] is None  # by DM
        await bot.says("owner", "#定时 暂停 morning-tips", room="R1")
        await bot.tick("1d")
        assert bot.said_in("R1") == []  # paused: no 08:00 tip
        await bot.says("owner", "#schedule resume morning-tips", room="R1")
        await bot.tick("1d")
        assert len(bot.said_in("R1")) == 1
        changes = await GuardAudit.filter(action="schedule").values_list("by", flat=True)
        assert list(changes) == ["owner", "owner"]


async def test_a_friend_who_owns_her_own_group_cannot_touch_the_brands_posts(
    tmp_path: Path,
) -> None:
    async with BotUnderTest(configure(tmp_path, super_admins=["boss"])) as bot:
        owner_group(bot)
        bot.room("R9", "我家的群", "friend", ["friend", "x"])
        await bot.register_room("R1")
        await bot.register_room("R9")
        await bot.says("friend", "#定时 暂停 morning-tips", room="R9")
        await bot.says("friend", "#定时 暂停 morning-tips")  # by DM: she runs no brand group
        await bot.tick("1d")
        assert len(bot.said_in("R1")) == 1  # the brand group still got its tip
        # Her own group never gets brand posts: only the refusal of her command.
        assert [a["text"] for a in bot.said_in("R9")] == [
            "这个群不归品牌管理，群管命令在这里用不了哦。需要的话请联系运营"
        ]
        # A super admin by DM, naming no group, pauses it everywhere.
        (reply,) = [a["text"] for a in await bot.says("boss", "#定时 暂停 morning-tips") if a["to"]]
        await bot.tick("1d")
        assert len(bot.said_in("R1")) == 1, reply


async def test_stop_nurture_in_the_group_and_by_dm(tmp_path: Path) -> None:
    async with BotUnderTest(configure(tmp_path, super_admins=["boss"])) as bot:
        owner_group(bot)
        await bot.register_room("R1")
        await mother(bot, "c")
        await mother(bot, "d")
        assert (await status("c"))["mid-pregnancy"] == "active"
        done = await bot.says("owner", "#停止培育 @小红", room="R1", mentions=["c"])
        assert any("已停止给" in a["text"] for a in done if a["action"] == "say")
        assert (await status("c"))["mid-pregnancy"] == "exited"
        # d is in none of the owner's groups: by DM only a super admin may stop hers.
        refused = await bot.says("owner", "#停止培育 d")
        assert (await status("d"))["mid-pregnancy"] == "active", refused
        await bot.says("boss", "#stopnurture d")
        assert (await status("d"))["mid-pregnancy"] == "exited"
        await bot.tick("8d")
        assert not any("/l/" in a["text"] for a in bot.said_to("c") + bot.said_to("d"))


BUSY_SEQUENCE = """\
[[sequences]]
id = "busy"

[[sequences.triggers]]
on = "stage"
value = "孕中期"

[[sequences.steps]]
id = "one"
delay = "1h"
text = "第一条推送"

[[sequences.steps]]
id = "two"
delay = "2h"
text = "第二条推送"

[[sequences.steps]]
id = "three"
delay = "3h"
text = "第三条推送"
"""


async def test_her_own_question_is_answered_at_once_when_her_cap_is_reached(
    tmp_path: Path,
) -> None:
    configure(tmp_path)
    (tmp_path / "content" / "sequences.toml").write_text(BUSY_SEQUENCE, encoding="utf-8")
    async with BotUnderTest(tmp_path) as bot:
        await mother(bot)  # 09:00
        await bot.tick("4h")  # 13:00: two pushes went, the third waits for tomorrow
        pushed = [a["text"] for a in bot.said_to("c") if "推送" in a["text"]]
        assert pushed == ["第一条推送", "第二条推送"]
        answer = await bot.says("c", "奶粉怎么冲？")  # her question: never capped
        assert [a for a in answer if a["action"] == "say" and a["to"] == "c"]
        await bot.tick("1d")
        later = [a for a in bot.said_to("c") if a["text"] == "第三条推送"]
        assert len(later) == 1 and later[0]["at"].startswith("2026-11-26T")


async def test_a_step_is_in_the_outbox_table_before_its_row_is_done() -> None:
    """Killed right after a step ran, the bot must not lose her message: it is stored
    before the enrolment moves on (the outbox's memory buffer dies with the process)."""
    from datetime import timedelta

    from storage.models import OutboxMessage

    async with BotUnderTest() as bot:
        await mother(bot)
        bot.clock.set(bot.clock.now() + timedelta(days=1))
        assert await bot.app.work.run_due() >= 1  # day 1 ran; nothing pumped or flushed
        assert bot.app.outbox.unpersisted == 0
        stored = await OutboxMessage.filter(dedupe_key__endswith=":say").count()
        assert stored == 1


DIALOG_STEP = """\
[[sequences]]
id = "ask-city"

[[sequences.triggers]]
on = "keyword"
value = "formula"

[[sequences.steps]]
id = "ask"
dialog = "survey"
"""

SURVEY = """

[[dialogs]]
id = "survey"
flow = "survey"
trigger = "manual"

[[dialogs.steps]]
id = "where"
prompts = ["想问问你在哪个城市呀？"]
parser = "city"
field = "city"
"""


async def test_a_step_that_only_starts_a_dialog_keeps_the_quiet_hours(tmp_path: Path) -> None:
    from datetime import timedelta

    configure(tmp_path)
    (tmp_path / "content" / "sequences.toml").write_text(DIALOG_STEP, encoding="utf-8")
    dialogs = tmp_path / "content" / "dialogs.toml"
    dialogs.write_text(dialogs.read_text(encoding="utf-8") + SURVEY, encoding="utf-8")
    async with BotUnderTest(tmp_path) as bot:
        await bot.friend_request("c", "小红", "你好")
        await bot.says("c", "不用了")  # the intake ends
        await bot.tick("13h")  # 22:00
        await bot.says("c", "奶粉怎么冲？")  # enrols her at 22:00, in the quiet hours
        before = len(bot.said_to("c"))
        await bot.tick("10h")  # 08:00: still quiet
        assert len(bot.said_to("c")) == before
        await bot.tick("1h")  # 09:00
        after = [a for a in bot.said_to("c")[before:] if "哪个城市" in a["text"]]
        assert len(after) == 1, "the dialog's question comes after the quiet hours"
        at = after[0]["at"]
        assert at >= (bot.clock.now() - timedelta(minutes=31)).isoformat(), at


async def test_her_old_link_after_forget_counts_and_credits_nobody() -> None:
    from handlers.links import clicks_in

    async with BotUnderTest() as bot:
        await mother(bot)
        await bot.tick("3d")
        (day3,) = [a["text"] for a in bot.said_to("c") if "《产前准备》" in a["text"]]
        await bot.app.forget("c")
        seen: list[str] = []

        async def listen(trigger: object) -> None:
            seen.append(repr(trigger))

        bot.app.triggers.subscribe("test", listen)
        for token in LINK.findall(day3):
            assert await clicks_in(bot.app.features).click(token)
        from storage.models import ContactTag

        assert await ContactTag.all().count() == 0 and seen == []


async def test_a_stage_listener_that_fails_is_told_again_on_the_retry() -> None:
    """A store blip while a subscriber hears 孕中期 must not lose it: the daily job leaves
    her stage unstored, the row is retried, and the subscriber hears it then."""
    from storage.models import Profile

    async with BotUnderTest() as bot:
        heard: list[str] = []
        failures = [1]

        async def flaky(trigger: object) -> None:
            if getattr(trigger, "value", "") != "孕中期":
                return
            if failures:
                failures.pop()
                raise ConnectionError("the store blinked")
            heard.append("孕中期")

        bot.app.triggers.subscribe("flaky", flaky)
        await bot.friend_request("c", "小红", "你好")
        await bot.says("c", "孕12周+6天")  # 孕早期 today
        await bot.says("c", "不用了")
        await bot.tick("25h")  # the 09:30 run: 13 weeks, 孕中期; the first telling fails
        assert failures == [] and heard == ["孕中期"]
        assert (await Profile.get(contact_id="c")).stage == "孕中期"


async def test_stop_nurture_is_refused_in_a_friends_own_group_and_open_to_staff(
    tmp_path: Path,
) -> None:
    project = configure(
        tmp_path, super_admins=["boss"], admin={"commands_in_unlisted_groups": True}
    )
    config = project / "config.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("staff = []", 'staff = ["advisor"]', 1),
        encoding="utf-8",
    )
    async with BotUnderTest(project) as bot:
        bot.room("R9", "我家的群", "friend", ["friend", "c"])
        await bot.register_room("R9")
        await mother(bot, "c")
        said = await bot.says("friend", "#停止培育 @小红", room="R9", mentions=["c"])
        assert any("品牌群" in a["text"] for a in said if a["action"] == "say")
        assert (await status("c"))["mid-pregnancy"] == "active"
        await bot.says("advisor", "#停止培育 c")
        assert (await status("c"))["mid-pregnancy"] == "exited"


async def test_a_grace_of_zero_still_sends_posts_on_time(tmp_path: Path) -> None:
    project = configure(tmp_path)
    config = project / "config.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "missed_post_grace_minutes = 60", "missed_post_grace_minutes = 0", 1
        ),
        encoding="utf-8",
    )
    async with BotUnderTest(project) as bot:
        owner_group(bot)
        await bot.register_room("R1")
        await bot.tick("1d")
        assert len(bot.said_in("R1")) == 1


async def test_a_push_still_queued_when_she_unsubscribes_is_withheld() -> None:
    """The day-1 message waits in the outbox (the account is offline); she says 退订
    meanwhile. When the account is back, her confirmation goes and the push does not."""
    from storage.models import OutboxMessage

    async with BotUnderTest() as bot:
        await mother(bot)
        bot.channel.online = False
        await bot.tick("1d")  # day 1 ran: its message waits for the account
        waiting = await OutboxMessage.filter(status="pending").values_list("payload", flat=True)
        assert any("《孕期营养补充指南》" in str(p) for p in waiting)
        await bot.says("c", "退订")
        bot.channel.online = True
        bot.app.outbox.wake()
        await bot.tick("1m")
        texts = [a["text"] for a in bot.said_to("c")]
        assert any("已为你退订" in t for t in texts)
        assert not any("《孕期营养补充指南》" in t for t in texts)
        assert await OutboxMessage.filter(status="withheld").count() == 1


async def test_ops_editing_a_running_sequence_neither_repeats_nor_loses_a_step(
    tmp_path: Path,
) -> None:
    """A step inserted at the top, and one deleted, while she is in the sequence: she
    gets each remaining step once, the old day 1 never again."""
    configure(tmp_path)
    path = tmp_path / "content" / "sequences.toml"
    original = path.read_text(encoding="utf-8")
    async with BotUnderTest(tmp_path) as bot:
        await mother(bot)
        await bot.tick("1d")  # day 1 went
        inserted = original.replace(
            "\n[[sequences.steps]]\n",
            '\n[[sequences.steps]]\nid = "welcome-new"\ndelay = "0m"\ntext = "新加的第一步"\n\n'
            "[[sequences.steps]]\n",
            1,
        )
        path.write_text(inserted, encoding="utf-8")
        assert bot.app.content.reload() == []
        await bot.tick("10d")
        pushes = [a["text"] for a in bot.said_to("c") if "/l/" in a["text"] or "新加" in a["text"]]
        guides = [t for t in pushes if "《孕期营养补充指南》" in t]
        assert len(guides) == 1  # day 1 not again
        assert not any("新加的第一步" in t for t in pushes)  # she was past it
        assert any("《产前准备》" in t for t in pushes) and any("孕妇枕" in t for t in pushes)
        assert (await status("c"))["mid-pregnancy"] == "finished"


async def test_a_step_deleted_while_pending_moves_her_on_to_the_next(tmp_path: Path) -> None:
    import re as regex

    configure(tmp_path)
    path = tmp_path / "content" / "sequences.toml"
    original = path.read_text(encoding="utf-8")
    async with BotUnderTest(tmp_path) as bot:
        await mother(bot)
        await bot.tick("1d")  # day 1 went; day 3 is pending
        blocks = regex.split(r"(?m)^(?=\[\[sequences)", original)
        day3 = [i for i, b in enumerate(blocks) if 'id = "day3"' in b]
        assert day3
        start = day3[0]
        end = start + 1
        while end < len(blocks) and blocks[end].startswith("[[sequences.steps.links]]"):
            end += 1
        path.write_text("".join(blocks[:start] + blocks[end:]), encoding="utf-8")
        assert bot.app.content.reload() == []
        await bot.tick("10d")
        pushes = [a for a in bot.said_to("c") if "/l/" in a["text"]]
        assert not any("《产前准备》" in a["text"] for a in pushes)
        (pillow,) = [a for a in pushes if "孕妇枕" in a["text"]]
        assert pillow["at"].startswith("2026-12-02")  # on day 7, as the step says
        assert (await status("c"))["mid-pregnancy"] == "finished"


ORDER_SEQUENCE = """\
[[sequences]]
id = "after-order"

[[sequences.triggers]]
on = "order"

[[sequences.steps]]
id = "thanks"
delay = "1h"
text = "谢谢下单～收到货有任何问题随时找我"
"""


async def test_an_order_placed_starts_the_sequences_that_wait_for_one(tmp_path: Path) -> None:
    configure(tmp_path)
    (tmp_path / "content" / "sequences.toml").write_text(ORDER_SEQUENCE, encoding="utf-8")
    async with BotUnderTest(tmp_path) as bot:
        await mother(bot)
        await bot.app.order_placed("c", "孕妇枕")
        await bot.tick("2h")
        assert [a["text"] for a in bot.said_to("c") if "下单" in a["text"]] == [
            "谢谢下单～收到货有任何问题随时找我"
        ]
