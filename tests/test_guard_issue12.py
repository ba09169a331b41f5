"""The guard's understanding (issue 12, items 4-6): what is not an ad (a link to an
allowed domain, 接龙 lines, order numbers, members adding each other), warnings before
kicks for established members, and the kinds of ad it used to miss. The sentences here
were written for these tests; none comes from an evaluation set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.config import GuardRules, load_content
from handlers.guard.judge import KICK, PASS, WARN, Judge, model_view
from handlers.guard.normalize import fold
from storage.models import GuardAudit, GuardBan
from tests.harness import REPO, BotUnderTest, copy_project

SHOP = "shop.example-baby.cn"


@pytest.fixture(scope="module")
def rules() -> GuardRules:
    shipped = load_content(REPO / "content").guard.guard
    return shipped.model_copy(update={"allowed_domains": [*shipped.allowed_domains, SHOP]})


@pytest.fixture(scope="module")
def judge() -> Judge:
    return Judge.for_content(REPO / "content")


ALLOWED_LINKS = [
    "今天公众号这篇讲辅食添加的挺实用 https://mp.weixin.qq.com/s/Ab3kXz91LmQ 大家可以看看",
    f"店里新到的防胀气奶瓶我买了，链接在这 https://{SHOP}/item/20931 用着还行",
    "官方商城的积分怎么兑换啊 nuannuan-baby.com/points 这里点进去没反应",
    # A mother passing on the brand's own offer is no advertiser in the brand's group.
    f"官方店今晚有秒杀 满199减30 https://{SHOP}/sale 需要的姐妹冲呀",
    f"{SHOP}/coupon 领券满300减60，今天最后一天，囤尿不湿的抓紧",
]
JIELONG = [
    "3. 豆豆妈 139****2231 两份",
    "7、团团妈 186****0912 1号楼 要一份",
    "接龙 12、琪琪妈 136****7721 两盒",
    "15. 小米粒 要3份",
    "②号 甜甜妈 1380000**** 一份",
    # A list line says who and how many: a name, a flat, a count, paid or not.
    "9. 乐乐妈 两箱 已转账",
    "11、8号楼602 朵朵妈 要一份",
    "4.小满 一提 已付",
    "6. 12栋2单元 安安妈 一箱 已付款",
]
ORDERS = [
    "订单号 3620194478123356721 什么时候发货呀，等了五天了",
    "请问一下我的订单号是2025112718230045 一直显示待揽收",
    "客服你好 单号 773019283746512 物流三天没动了",
    "订单编号：2026112318004521 还没发货，麻烦群主帮看一下",
]
MEMBERS_ADDING = [
    "好的，加微信",
    "好的，我加你",
    "我也在望京，宝宝一岁半，加个微信周末一起溜娃吧",
    "同城的宝妈可以加我微信，周末一起带娃去公园",
    "可以互加一下，以后有什么问题一起讨论",
]


@pytest.mark.parametrize("text", ALLOWED_LINKS + JIELONG + ORDERS + MEMBERS_ADDING)
def test_what_is_not_an_ad_passes(judge: Judge, rules: GuardRules, text: str) -> None:
    assert judge.judge(text, rules).verdict == PASS, judge.judge(text, rules)


def test_the_model_never_sees_an_allowed_link_nor_numbers_that_reach_nobody() -> None:
    allowed = ["mp.weixin.qq.com", SHOP]
    seen = model_view(f"看这篇 https://mp.weixin.qq.com/s/Ab3k 和 https://{SHOP}/i/1", allowed)
    assert "weixin" not in seen and SHOP not in seen
    assert "http://t.cn/x" in model_view("点 http://t.cn/x 领", allowed)  # not allowed: kept
    assert "2231" not in model_view("豆豆妈 139****2231", allowed)
    assert "2025112718230045" not in model_view("订单号是2025112718230045", allowed)
    assert model_view("3.5元一斤", allowed) == "3.5元一斤"  # a price is not a list number


def test_the_same_link_outside_the_allowlist_still_counts(judge: Judge) -> None:
    rules = GuardRules()  # no allowed domains
    assert judge.judge(ALLOWED_LINKS[1], rules).verdict != PASS


def test_members_adding_each_other_with_a_sign_of_selling_are_still_judged(
    judge: Judge, rules: GuardRules
) -> None:
    for text in [
        "加我微信，了解一下宝宝辅食课程",
        "想要同款的加我微信 mama8866",
        "好的，加微信，链接发你 http://t.cn/abc",
    ]:
        verdict = judge.judge(text, rules)
        assert verdict.verdict != PASS and not verdict.contact_exchange, (text, verdict)
    assert judge.judge("好的，加微信", rules).contact_exchange


# Written for this test, one class each (issue 12, item 6).
MISSED_KINDS = {
    "slang_contact": ["有需要的宝妈绿泡泡找我 bb520mm", "需要的姐妹加个绿泡泡，号在我名字里"],
    "split_id": [
        "V信号分开发防屏蔽：前面是lucky 后面是mama 中间加个下划线",
        "扣扣号是三二七七 后四位八八九一",
    ],
    "self_intro": [
        "我是卖纸尿裤的，群里姐妹拿都是成本价，朋友圈天天有活动",
        "新人报到～我是做童装的，自己有工厂，群里宝妈拿货都是出厂价",
        "大家好，我是做母婴用品的，正品保障，价格美丽，有需要的宝妈随时找我",
    ],
    "giveaway_follow": [
        "0元领婴儿湿巾10包，关注公众号宝宝好物社回复666即可领取，包邮到家",
        "宝妈福利：关注公众号就送宝宝辅食勺，数量有限先到先得",
    ],
    "testimonial": [
        "我自己吃了这个产后修复的胶原蛋白，半年瘦了二十斤，可以分享给有需要的姐妹",
        "我家娃喝了这款奶粉再也不便秘了，我囤了好几箱，需要的可以匀给你们",
        "用了三个月这个防脱洗发水，头发真的长回来了，我这还有几瓶，原价出给群里姐妹",
    ],
    "insurance": [
        "新生儿医保加商业险怎么配？我是做保险的，可以免费帮宝妈们出方案",
        "家庭保单免费检视，看看你的保险买对了没，专业持证代理人",
    ],
    "like_jobs": [
        "招宝妈点赞员，在家用手机就能做，一单三块，日结不拖欠",
        "抖音点赞任务，一个赞两块，当天结算，宝妈带娃也能做",
    ],
}


@pytest.mark.parametrize(
    "text", [t for texts in MISSED_KINDS.values() for t in texts], ids=lambda t: t[:12]
)
def test_the_kinds_it_missed_are_acted_on(judge: Judge, rules: GuardRules, text: str) -> None:
    assert judge.judge(text, rules).verdict != PASS


@pytest.mark.parametrize(
    "text",
    [
        "我是做会计的，产假快结束了，宝宝以后谁带真发愁",
        "新人报到，孕28周，第一次当妈好多不懂，请多指教",
        "我家买的平安的少儿重疾，一年八百多，大家都买的哪家",
        "社区医院打疫苗要先关注公众号预约，别忘了",
        "我囤了好几箱纸尿裤，结果宝宝长太快穿不下了，好心疼",
        "微信前面那个群解散了吗，怎么找不到了",
    ],
)
def test_mothers_on_the_same_topics_pass(judge: Judge, rules: GuardRules, text: str) -> None:
    assert judge.judge(text, rules).verdict == PASS


def test_slang_for_wechat_folds_to_wechat() -> None:
    assert fold("绿泡泡 mama0812") == "微信mama0812"
    assert fold("🐧 12345678") == "qq12345678"


def test_an_established_member_is_warned_before_a_kick_unless_the_ad_is_unmistakable(
    judge: Judge, rules: GuardRules
) -> None:
    bargain = "姐妹们帮我砍一刀 拼多多 http://pdd.xyz/a"
    assert judge.judge(bargain, rules).verdict == KICK
    assert judge.judge(bargain, rules, established=True).verdict == WARN
    for ad in ["加我V❤信 mama88 日赚300", "这个面霜真好用，微信 mama8866 找我拿"]:
        assert judge.judge(ad, rules, established=True).verdict == KICK, ad


def kinds(actions: list[dict[str, Any]]) -> list[str]:
    return [a["action"] for a in actions]


def warned(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The guard's warnings and reminders among the actions."""
    return [a for a in actions if a["action"] == "say" and "温馨提醒" in a["text"]]


async def test_in_a_group_an_allowed_link_a_jielong_line_and_an_order_number_pass() -> None:
    async with BotUnderTest() as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "m"])
        for text in [ALLOWED_LINKS[0], JIELONG[0], JIELONG[1]]:
            done = await bot.says("m", text, room="R1", name="小雨妈妈")
            assert not warned(done) and "kick" not in kinds(done), (text, done)
        # Her order question reaches the keyword rule that answers it.
        done = await bot.says("m", ORDERS[0], room="R1")
        assert "kick" not in kinds(done)
        (answer,) = [a for a in done if a["action"] == "say"]
        assert "订单" in answer["text"] and "温馨提醒" not in answer["text"]
        assert not await GuardAudit.filter(contact_id="m").exists()


async def test_members_adding_each_other_are_left_alone_by_default() -> None:
    async with BotUnderTest() as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "a", "b"])
        await bot.says("a", "我也在望京，宝宝一岁半，加个微信周末一起溜娃吧", room="R1")
        done = await bot.says("b", "好的，加微信", room="R1")
        assert not [a for a in done if a.get("mentions")], done
        assert "kick" not in kinds(done) and not await GuardBan.filter(contact_id="b").exists()


def remind_project(tmp: Path) -> Path:
    copy_project(tmp)
    path = tmp / "content" / "guard.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("classifier = true\n", 'classifier = true\nmember_contact = "remind"\n', 1),
        encoding="utf-8",
    )
    return tmp


async def test_a_group_that_forbids_adding_each_other_gets_one_gentle_reminder_a_day(
    tmp_path: Path,
) -> None:
    async with BotUnderTest(remind_project(tmp_path)) as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "a", "b"])
        done = await bot.says("b", "好的，加微信", room="R1", name="小美")
        (reminder,) = [a for a in done if a.get("mentions") == ["b"]]
        assert reminder["text"].startswith("@小美 温馨提醒") and "第1次" not in reminder["text"]
        again = await bot.says("a", "好的，加微信", room="R1")
        assert not [a for a in again if a.get("mentions")]  # once a day
        await bot.tick("1d")
        later = await bot.says("a", "好的，加微信", room="R1", name="乐乐妈")
        assert [a["mentions"] for a in later if a.get("mentions")] == [["a"]], later
        assert not await GuardAudit.filter(contact_id__in=["a", "b"]).exists()  # no warning
        owner = await bot.says("o", "好的，加微信", room="R1")
        assert not [a for a in owner if a.get("mentions")]  # nobody acts on the owner


async def test_an_established_members_first_bargain_link_is_a_warning_not_a_kick() -> None:
    async with BotUnderTest() as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "m", "n"])
        await bot.says("m", "早上好呀", room="R1")  # the group is recorded, her stint opened
        await bot.tick("8d")
        done = await bot.says("m", "姐妹们帮我砍一刀 拼多多 http://pdd.xyz/a", room="R1")
        assert "kick" not in kinds(done), done
        assert [a["mentions"] for a in done if a.get("mentions")] == [["m"]]
        assert not await GuardBan.filter(contact_id="m").exists()
        # Someone who just arrived gets no such benefit of the doubt.
        await bot.join("R1", "x", "新人")
        await bot.tick("31s")
        new = await bot.says("x", "姐妹们帮我砍一刀 拼多多 http://pdd.xyz/a", room="R1")
        assert kinds(new)[0] == "kick"


async def test_an_established_members_unmistakable_ad_is_still_kicked() -> None:
    async with BotUnderTest() as bot:
        bot.room("R1", "孕妈交流群", owner="o", members=["o", "m"])
        await bot.says("m", "早上好呀", room="R1")
        await bot.tick("8d")
        done = await bot.says("m", "加我V❤信 mama88 日赚300", room="R1")
        assert kinds(done)[0] == "kick"


def test_spam_check_shows_a_newcomers_verdict(capsys) -> None:  # type: ignore[no-untyped-def]
    text = "我的电话13812345678，宝宝湿疹怎么办，有没有人知道"
    assert main(["spam-check", "--dir", str(REPO), text]) == 0
    assert main(["spam-check", "--dir", str(REPO), "--newcomer", text]) == 0
    regular, newcomer = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert list(newcomer) == ["verdict", "score", "reasons"]
    assert newcomer["score"] > regular["score"]


@pytest.mark.parametrize(
    "text",
    [
        "医生让每天补维D 400IU，一直补到两岁",
        "维AD一天一粒",
        "维生素D滴剂哪个牌子好",
        "宝宝维D3吃到几岁",
    ],
)
def test_a_vitamin_is_not_a_wechat_id(judge: Judge, rules: GuardRules, text: str) -> None:
    # 维 folds to 微 (维信 = 微信); 维D with a dose read as 微 + an id and was kicked.
    assert judge.judge(text, rules).verdict == PASS


@pytest.mark.parametrize("text", ["维d abc12345", "加维d123456", "维信 mama88"])
def test_a_vitamin_letter_does_not_hide_an_id(judge: Judge, rules: GuardRules, text: str) -> None:
    assert judge.judge(text, rules).verdict != PASS
