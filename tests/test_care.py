"""Care, through the real dispatcher and the simulator: an urgent message gets a safety
answer, a person and reminders; a loss stops everything for good; staff take a chat over.

Most tests inject a detector that knows a few real phrases (the flows are what they test;
the phrase table tests the detector). Those marked REAL DETECTOR go through
handlers/care/detect.py itself.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from bot.app import FEATURES
from bot.cli import main
from bot.config import CareContent
from handlers.care import feature as care_feature
from handlers.care.detect import Risk
from storage import care, privacy
from storage import nurture as enrolments
from storage.db import Database
from storage.models import CareState, Escalation, Profile, TagEvent, WorkItem
from tests import services
from tests.harness import BotUnderTest, configure

MOM = "wxid_mom1"  # long enough that a staff text naming her by id would be caught
STAFF = ("s1", "s2")
RISKS = {
    "宝宝发烧40度抽搐了": Risk("urgent", "高烧+抽搐"),
    "见红了": Risk("urgent", "见红"),
    "产后好想死": Risk("crisis", "轻生念头"),
    "胎停了": Risk("loss", "胎停"),
}


class PhraseDetector:
    """Knows the phrases above, nothing else."""

    def __init__(self, content: CareContent) -> None:
        self.content = content

    def detect(self, text: str) -> Risk | None:
        return next((risk for phrase, risk in RISKS.items() if phrase in text), None)


WITH_FAKE = {**FEATURES, "care": partial(care_feature.feature, detector=PhraseDetector)}


def project(tmp: Path, staff: tuple[str, ...] = STAFF, super_admins: tuple[str, ...] = ()) -> Path:
    base = configure(tmp, super_admins=super_admins)
    config = base / "config.toml"
    text = config.read_text(encoding="utf-8")
    assert "staff = []" in text
    listed = ", ".join(f'"{s}"' for s in staff)
    config.write_text(text.replace("staff = []", f"staff = [{listed}]", 1), encoding="utf-8")
    return base


def bot_in(tmp: Path, **kw: Any) -> BotUnderTest:
    return BotUnderTest(project(tmp), features=WITH_FAKE, **kw)


def texts(actions: list[dict[str, Any]]) -> list[str]:
    return [a["text"] for a in actions if a["action"] == "say"]


def to(actions: list[dict[str, Any]], contact: str) -> list[str]:
    return [a["text"] for a in actions if a["action"] == "say" and a["to"] == contact]


def group(bot: BotUnderTest) -> None:
    bot.room("R1", "孕妈交流群", "o", ["o", MOM, "b", "s1"])
    bot.world.add_contact(MOM, "小红")


async def expecting(bot: BotUnderTest, contact: str = MOM, answer: str = "孕24周") -> None:
    """A mother who told her stage by DM (孕24周: 孕中期, the demo nurture sequence)."""
    await bot.friend_request(contact, "小红", "你好")
    await bot.says(contact, answer)
    await bot.says(contact, "不用了")


# --------------------------------------------------------------------------- urgent


async def urgent_in_the_group(bot: BotUnderTest) -> None:
    group(bot)
    done = await bot.says(MOM, "宝宝发烧40度抽搐了", room="R1")
    # One short answer in the group, @ her, with what to do; no keyword tip, no tag.
    (answer,) = [a for a in done if a["action"] == "say" and a["room"] == "R1"]
    assert answer["mentions"] == [MOM] and "120" in answer["text"]
    assert len(answer["text"]) < 60
    assert not any("3个月以下发烧" in t for t in texts(done))
    assert [a for a in done if a["action"] == "tag"] == []
    staff_says = [a for a in done if a["action"] == "say" and a["to"] in STAFF]
    assert [(a["room"], a["mentions"]) for a in staff_says] == [(None, [])] * len(STAFF)
    for member in STAFF:
        (alert,) = to(done, member)
        for part in ("小红", "孕妈交流群", "宝宝发烧40度抽搐了", "紧急", "高烧+抽搐", "#已处理"):
            assert part in alert, (part, alert)
        assert MOM not in alert  # her name, never her id
    (case,) = await Escalation.all()
    assert (case.contact_id, case.room_id, case.severity) == (MOM, "R1", "urgent")
    assert case.respond_by - case.opened_at == timedelta(minutes=15)


async def test_an_urgent_message_in_a_group_gets_help_a_person_and_reminders_until_handled(
    tmp_path: Path,
) -> None:
    async with bot_in(tmp_path) as bot:
        await reminded_until_handled(bot)


async def test_the_same_on_postgres_and_redis(tmp_path: Path) -> None:
    pg, redis = services.postgres_url(), services.redis_url()
    db = Database(pg)
    await db.open()
    await db.truncate_all()
    await db.close()
    prefix = f"mamabot-test:{uuid.uuid4().hex}:"
    async with bot_in(tmp_path, database_url=pg, redis_url=redis, kv_prefix=prefix) as bot:
        await reminded_until_handled(bot)


async def reminded_until_handled(bot: BotUnderTest) -> None:
    await urgent_in_the_group(bot)
    assert texts(await bot.tick("14m")) == []
    for _ in range(2):  # every 15 minutes, to every staff member
        reminders = await bot.tick("15m")
        assert [a["to"] for a in reminders if a["action"] == "say"] == list(STAFF)
        assert all(t.startswith("⏰ 还没人处理：小红（紧急") for t in texts(reminders)), texts(
            reminders
        )
    done = await bot.says("s1", "#已处理 @小红", room="R1", mentions=[MOM])
    assert bot.said_in("R1")[1:] == []  # the group sees nothing of it
    (reply,) = to(done, "s1")
    assert "用时44分钟" in reply and "超过了目标时间" in reply, reply
    assert "已有同事处理" in to(done, "s2")[0]
    assert texts(await bot.tick("3h")) == []  # no more reminders
    (case,) = await Escalation.all()
    assert case.handled_at is not None
    assert (case.handled_at - case.opened_at, case.handled_by) == (
        timedelta(minutes=44),
        "s1",
    )
    assert case.reminders == 2


async def test_past_max_reminders_they_slow_down_and_reach_the_super_admins(
    tmp_path: Path,
) -> None:
    base = project(tmp_path, super_admins=("boss",))
    async with BotUnderTest(base, features=WITH_FAKE) as bot:
        await urgent_in_the_group(bot)
        fast = await bot.tick("2h")  # [care] max_reminders = 8, every 15 minutes
        assert len(to(fast, "s1")) == 8 and to(fast, "boss") == []
        slow = await bot.tick("3h")  # then every 60 minutes, the super admins told too
        assert len(to(slow, "s1")) == 3 and len(to(slow, "boss")) == 3
        assert all(t.startswith("⏰ 还没人处理：小红") for t in to(slow, "boss"))
        assert (await Escalation.get()).handled_at is None
        case = await Escalation.get()
        await bot.says("s2", f"#已处理 {case.id}")
        assert texts(await bot.tick("1d")) == []  # handled: the chain ends


async def test_a_message_handled_again_answers_and_alerts_once(tmp_path: Path) -> None:
    async with bot_in(tmp_path) as bot:
        group(bot)
        event = bot.channel.message(MOM, "宝宝发烧40度抽搐了", room_id="R1")
        for _ in range(3):  # the dispatcher runs it again after a store outage
            await bot.app.dispatcher._chain(event)
        await bot.app.settle()
        assert len(bot.said_in("R1")) == 1
        assert [len(bot.said_to(s)) for s in STAFF] == [1, 1]
        assert await Escalation.all().count() == 1
        assert await WorkItem.filter(kind="care_remind").count() == 1
        await bot.tick("15m")
        assert [len(bot.said_to(s)) for s in STAFF] == [2, 2]


async def test_a_crisis_by_dm_gets_the_hotline_and_the_super_admins_when_no_staff(
    tmp_path: Path,
) -> None:
    base = project(tmp_path, staff=(), super_admins=("boss",))
    async with BotUnderTest(base, features=WITH_FAKE) as bot:
        await bot.friend_request(MOM, "小红", "你好")
        await bot.says(MOM, "不用了")
        done = await bot.says(MOM, "产后好想死")
        (answer,) = to(done, MOM)  # no fallback "收到啦", no other answer
        assert "12356" in answer and "小红" in answer
        (alert,) = to(done, "boss")
        assert "心理危机" in alert and "私聊" in alert and "产后好想死" in alert
        # By DM, #已处理 naming nobody closes the only mother's cases, and says which.
        (reply,) = to(await bot.says("boss", "#handled"), "boss")
        assert reply.startswith("已处理 小红 的1条关怀提醒")
        assert await care.open_cases() == []


async def test_staff_naming_nobody_among_several_mothers_are_asked_which(tmp_path: Path) -> None:
    async with bot_in(tmp_path) as bot:
        await bot.says(MOM, "见红了", name="小红")
        await bot.says("wxid_mom2", "产后好想死", name="小美")
        (question,) = to(await bot.says("s1", "#已处理"), "s1")
        assert "2位妈妈" in question and "小红" in question and "小美" in question
        assert len(await care.open_cases()) == 2
        number = re.search(r"编号(\d+)：小美", question)
        assert number is not None
        (reply,) = to(await bot.says("s1", f"#已处理 {number.group(1)}"), "s1")
        assert "小美" in reply
        assert [c.contact_id for c in await care.open_cases()] == [MOM]


async def test_marketing_waits_until_the_pause_ends(tmp_path: Path) -> None:
    async with bot_in(tmp_path) as bot:
        await expecting(bot)  # enrolled in mid-pregnancy: day1 due tomorrow 09:00
        done = await bot.says(MOM, "见红了")
        assert "120" in to(done, MOM)[0]
        hold = await care.marketing_hold(MOM, bot.clock.now())
        assert hold is not None and hold.until == bot.clock.now() + timedelta(hours=72)
        assert not any("营养" in t for t in to(await bot.tick("71h"), MOM))
        later = await bot.tick("2h")
        (day1,) = [a for a in later if a["action"] == "say" and "孕期营养" in a["text"]]
        assert day1["to"] == MOM and day1["at"] >= hold.until.isoformat()


# --------------------------------------------------------------------------- loss


async def test_a_loss_ends_her_sequences_and_stage_for_good(tmp_path: Path) -> None:
    async with bot_in(tmp_path) as bot:
        await expecting(bot)
        await expecting(bot, "wxid_mom2", "预产期是下周")  # the birth question due in 2 weeks
        assert (await enrolments.of_contact(MOM))[0].status == "active"
        done = await bot.says(MOM, "胎停了")
        (answer,) = to(done, MOM)
        assert "抱抱你" in answer and "恭喜" not in answer
        assert [(a["op"], a["tag"], a["source"]) for a in done if a["action"] == "tag"] == [
            ("remove", "阶段:孕中期", "care")
        ]
        (alert,) = to(done, "s1")
        assert "失去宝宝" in alert and "请勿发送恭喜或阶段内容" in alert
        assert [e.status for e in await enrolments.of_contact(MOM)] == ["exited"]
        history = await TagEvent.filter(contact_id=MOM).order_by("id").values_list("op", flat=True)
        assert list(history) == ["add", "remove"]  # the history keeps her stage tag
        assert await care.stopped(MOM) and not await privacy.can_market(MOM)
        await bot.says("wxid_mom2", "胎停了")
        later = await bot.tick("40d")
        assert to(later, MOM) == [] and to(later, "wxid_mom2") == []  # no 恭喜, no question
        for mom in (MOM, "wxid_mom2"):
            profile = await Profile.get(contact_id=mom)
            assert (profile.stage, profile.due_date, profile.birth_date) == (None, None, None)
            assert not any(t.startswith("阶段:") for t in await bot.app.tags.tags_of(mom))
        # Staff lift the stop; marketing may reach her again (her stage is not restored).
        await bot.says("s1", f"#恢复推送 {(await Escalation.first()).id}")  # type: ignore[union-attr]
        assert await privacy.can_market(MOM)


async def test_a_loss_mid_intake_ends_the_question_so_no_answer_brings_a_stage_back(
    tmp_path: Path,
) -> None:
    async with bot_in(tmp_path) as bot:
        await bot.friend_request(MOM, "小红", "你好")  # the intake asks her stage
        await bot.says(MOM, "胎停了")
        after = await bot.says(MOM, "预产期是明年3月1号")  # an answer to the old question
        assert not [a for a in after if a["action"] == "tag" and a["op"] == "add"]
        profile = await Profile.get_or_none(contact_id=MOM)
        assert profile is None or (profile.stage, profile.due_date) == (None, None)
        later = await bot.tick("3d")  # no reminder of the dropped question either
        assert to(later, MOM) == []


async def test_commands_and_staff_quoting_risk_words_are_no_risk(tmp_path: Path) -> None:
    async with bot_in(tmp_path) as bot:
        group(bot)
        await bot.says("o", "#公告 宝宝发烧40度抽搐了请马上就医", room="R1")
        await bot.says("s1", "宝宝发烧40度抽搐了要马上去医院哦", room="R1")
        assert not await Escalation.exists()
        # Her words are hers, whatever they start with.
        await bot.says(MOM, "#宝宝发烧40度抽搐了", room="R1")
        assert await Escalation.filter(contact_id=MOM).count() == 1


# --------------------------------------------------------------------------- takeover


async def test_a_takeover_sends_what_the_bot_would_say_to_the_staff(tmp_path: Path) -> None:
    async with bot_in(tmp_path) as bot:
        group(bot)
        done = await bot.says("s1", "#接管 @小红 2", room="R1", mentions=[MOM])
        assert "已接管 小红 2小时" in to(done, "s1")[0] and bot.said_in("R1") == []
        done = await bot.says(MOM, "宝宝湿疹怎么办", room="R1")
        assert bot.said_in("R1") == []
        (diverted,) = to(done, "s1")
        assert diverted.startswith("🤝 你接管中的 小红") and "湿疹" in diverted
        # Her urgent words are still answered at once, in the group.
        await bot.says(MOM, "宝宝发烧40度抽搐了", room="R1")
        assert len(bot.said_in("R1")) == 1
        await bot.says("s1", "#交还 @小红", room="R1", mentions=[MOM])
        assert await care.taken_over_by(MOM, bot.clock.now()) is None
        await bot.says(MOM, "宝宝便秘怎么办", room="R1")
        assert "便秘" in bot.said_in("R1")[-1]["text"]
        # By DM with her id, for an hour: it ends by itself.
        await bot.says("s2", f"#takeover {MOM} 1")
        assert await care.taken_over_by(MOM, bot.clock.now()) == "s2"
        await bot.says(MOM, "红屁屁怎么办", room="R1")
        assert "红屁" in bot.said_to("s2")[-1]["text"]
        await bot.tick("61m")
        await bot.says(MOM, "宝宝夜醒怎么办", room="R1")
        assert "夜醒" not in bot.said_to("s2")[-1]["text"]
        assert bot.said_in("R1")[-1]["mentions"] == [MOM]


async def test_a_takeover_that_runs_out_is_told_to_the_one_who_took_it(tmp_path: Path) -> None:
    async with bot_in(tmp_path) as bot:
        group(bot)
        await bot.says("s1", "#接管 @小红 2", room="R1", mentions=[MOM])
        later = await bot.tick("121m")
        (told,) = to(later, "s1")
        assert told.startswith("⏱ 对 小红 的接管已到时间") and MOM not in told
        assert to(later, "s2") == []


async def test_a_takeover_handed_back_or_renewed_is_not_told_as_run_out(tmp_path: Path) -> None:
    async with bot_in(tmp_path) as bot:
        group(bot)
        take = {"room": "R1", "mentions": [MOM]}
        await bot.says("s1", "#接管 @小红 1", **take)
        await bot.says("s1", "#交还 @小红", **take)
        await bot.says("s2", "#接管 @小红 1", **take)  # taken by someone else,
        await bot.says("s2", "#接管 @小红 3", **take)  # then made longer
        later = await bot.tick("2h")
        assert to(later, "s1") == [] and to(later, "s2") == []
        (told,) = to(await bot.tick("61m"), "s2")  # the one in force runs out
        assert "接管已到时间" in told


async def test_a_members_takeover_does_nothing(tmp_path: Path) -> None:
    async with bot_in(tmp_path) as bot:
        group(bot)
        done = await bot.says("b", "#接管 @小红", room="R1", mentions=[MOM])
        assert texts(done) == []
        await bot.says("b", f"#接管 {MOM}")
        assert not await CareState.exists()
        await bot.says(MOM, "宝宝湿疹怎么办", room="R1")
        assert "湿疹" in bot.said_in("R1")[-1]["text"]


# --------------------------------------------------------------------------- REAL DETECTOR


async def test_real_detector_no_fever_is_no_risk(tmp_path: Path) -> None:
    async with BotUnderTest(project(tmp_path)) as bot:
        group(bot)
        done = await bot.says(MOM, "宝宝没有发烧，就是有点流鼻涕", room="R1")
        assert to(done, "s1") == []
        assert not await Escalation.exists()


async def test_real_detector_urgent_words_in_a_group(tmp_path: Path) -> None:
    async with BotUnderTest(project(tmp_path)) as bot:
        await urgent_in_the_group(bot)


def test_real_detector_replay_contract(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    base = project(tmp_path)
    lines: list[dict[str, Any]] = [
        {"kind": "room", "id": "R1", "topic": "孕妈交流群", "owner": "o", "members": ["o", "a"]},
        {"kind": "message", "room": "R1", "from": "a", "text": "宝宝发烧40度抽搐了"},
        {"kind": "friend_request", "from": "c", "name": "小红", "hello": "你好"},
        {"kind": "message", "from": "c", "text": "孕24周"},
        {"kind": "message", "from": "c", "text": "不用了"},
        {"kind": "message", "from": "c", "text": "胎停了"},
    ]
    script = tmp_path / "script.jsonl"
    script.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines), "utf-8")
    assert main(["replay", str(script), "--config", str(base / "config.toml")]) == 0
    out = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.strip()]
    says = [o for o in out if o["action"] == "say"]
    assert any(o["room"] == "R1" and o["mentions"] == ["a"] and "120" in o["text"] for o in says)
    assert any(o["room"] is None and o["to"] == "s1" and "紧急" in o["text"] for o in says)
    assert any(o["to"] == "s1" and "失去宝宝" in o["text"] for o in says)
    removed = [o for o in out if o["action"] == "tag" and o["op"] == "remove"]
    assert [(o["contact"], o["tag"], o["source"]) for o in removed] == [
        ("c", "阶段:孕中期", "care")
    ]


async def test_real_detector_a_loss_with_bleeding_is_urgent_and_still_a_loss(
    tmp_path: Path,
) -> None:
    async with BotUnderTest(project(tmp_path)) as bot:
        await expecting(bot)
        done = await bot.says(MOM, "流产了，现在大出血")
        (answer,) = to(done, MOM)
        assert "120" in answer  # what to do now comes first
        assert await care.stopped(MOM)  # and it is a loss: marketing stops for good
        assert [e.status for e in await enrolments.of_contact(MOM)] == ["exited"]


# --------------------------------------------------------------------------- review fixes


async def test_a_failing_group_lookup_costs_no_alert_and_lets_no_tip_through(
    tmp_path: Path,
) -> None:
    from bot.channels.base import ChannelError

    # The guard fails on the lookup too (a handler error, allowed here); care must not.
    async with bot_in(tmp_path, handler_errors=True) as bot:
        group(bot)
        await bot.register_room("R1")

        async def broken(*_args: Any, **_kw: Any) -> Any:
            raise ChannelError("the gateway did not answer", retryable=True)

        bot.app.rooms.info = broken  # type: ignore[method-assign]
        done = await bot.says(MOM, "宝宝发烧40度抽搐了", room="R1", name="小红")
        said_in_group = [a["text"] for a in done if a["action"] == "say" and a["room"] == "R1"]
        assert len(said_in_group) == 1 and "120" in said_in_group[0]  # no keyword tip after
        assert to(done, "s1") and to(done, "s2")  # the staff are told all the same
        assert await Escalation.filter(contact_id=MOM).count() == 1


async def test_a_case_number_closes_that_case_only(tmp_path: Path) -> None:
    async with bot_in(tmp_path) as bot:
        await bot.says(MOM, "见红了", name="小红")
        await bot.tick("30m")
        await bot.says(MOM, "产后好想死")
        first, second = await Escalation.all().order_by("id")
        await bot.says("s2", f"#已处理 {first.id}")
        assert (await Escalation.get(id=first.id)).handled_at is not None
        assert (await Escalation.get(id=second.id)).handled_at is None  # the crisis stays open
        later = await bot.tick("20m")
        assert any("还没人处理" in t for t in to(later, "s1"))


async def test_her_unsubscribe_during_a_takeover_is_confirmed_to_her(tmp_path: Path) -> None:
    async with bot_in(tmp_path) as bot:
        await expecting(bot)
        await bot.says("s1", f"#接管 {MOM} 2")
        done = await bot.says(MOM, "退订")
        assert any("已为你退订" in t for t in to(done, MOM))


async def test_a_mothers_risk_words_after_a_command_word_are_still_read(tmp_path: Path) -> None:
    async with bot_in(tmp_path) as bot:
        group(bot)
        await bot.register_room("R1")
        await bot.says(MOM, "#帮助 宝宝发烧40度抽搐了", room="R1", name="小红")
        assert await Escalation.filter(contact_id=MOM).count() == 1


async def test_a_takeover_with_the_mention_glued_to_the_command_works(tmp_path: Path) -> None:
    async with bot_in(tmp_path) as bot:
        group(bot)
        await bot.register_room("R1")
        done = await bot.says("s1", "#接管@小红\u20052", room="R1", mentions=[MOM])
        assert any("已接管 小红" in t for t in to(done, "s1"))
        assert await care.taken_over_by(MOM, bot.clock.now()) == "s1"


async def test_a_takeover_handed_back_early_lets_her_steps_go_within_the_hour(
    tmp_path: Path,
) -> None:
    async with bot_in(tmp_path) as bot:
        await expecting(bot)  # 孕中期: the demo day-1 step is due tomorrow
        await bot.says("s1", f"#接管 {MOM} 720")
        await bot.tick("2d")
        assert not [t for t in to(bot.actions, MOM) if "/l/" in t]  # held by the takeover
        await bot.says("s1", f"#交还 {MOM}")
        later = await bot.tick("61m")
        assert [t for t in to(later, MOM) if "/l/" in t], "the held step goes once handed back"


async def test_no_dialog_reminder_reaches_her_while_she_is_taken_over(tmp_path: Path) -> None:
    async with bot_in(tmp_path) as bot:
        await bot.friend_request(MOM, "小红", "你好")  # the intake asks her stage
        await bot.says("s1", f"#接管 {MOM} 48")
        later = await bot.tick("30h")
        assert to(later, MOM) == []  # no "前面问的问题有空再回复就好" from the bot


async def test_a_takeover_of_a_typed_name_is_refused_not_made_for_nobody(tmp_path: Path) -> None:
    async with bot_in(tmp_path) as bot:
        await expecting(bot)
        done = await bot.says("s1", "#接管 小红 2")
        assert any("找不到" in t for t in to(done, "s1"))
        assert not await CareState.filter(contact_id="小红").exists()


async def test_forgetting_her_takes_her_words_out_of_the_staff_alerts(tmp_path: Path) -> None:
    from storage.models import OutboxMessage

    async with bot_in(tmp_path) as bot:
        await expecting(bot)
        await bot.says(MOM, "见红了")
        await bot.tick("20m")  # a reminder too
        payloads = await OutboxMessage.all().values_list("payload", flat=True)
        assert any("见红了" in str(p) for p in payloads)
        await bot.app.forget(MOM)
        payloads = await OutboxMessage.all().values_list("payload", flat=True)
        assert not any("见红了" in str(p) for p in payloads)
        (case,) = await Escalation.all()
        assert case.handled_at is not None and case.text is None
