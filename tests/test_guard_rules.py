"""The guard's normaliser and rule layers, and the `mamabot spam-check` line format."""

from __future__ import annotations

import json

import pytest

from bot.cli import main
from bot.config import GuardRules, load_content
from bot.events import MessageType
from handlers.guard import judge as judge_module
from handlers.guard.classifier import NaiveBayes
from handlers.guard.judge import RULES_SEE, WORDS_SEE, Hit, Judge, _is_question, model_view
from handlers.guard.normalize import digits, fold
from tests.harness import REPO

RULES = GuardRules(blocked_words={"刷单": 0.9, "砍一刀": 0.7}, classifier=False)


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("加我V❤信 mama88", "加我微信mama88"),
        ("加 薇 ❤ 信：ｍａｍａ８８", "加微信mama88"),
        ("➕V：abc123", "加微信abc123"),
        ("威信 baby_01", "微信baby01"),
        ("w x: baby_2024", "微信baby2024"),
        ("扣扣 12345678", "qq12345678"),
        ("十v看朋友圈", "加微信看朋友圈"),
        ("宝宝湿疹怎么办？", "宝宝湿疹怎么办"),
        ("have a nice day", "haveaniceday"),  # a v inside a word stays a v
        # An id broken up by what is put between its characters reads as one again ...
        ("联系方式Y🍎Y🍎0🍎7🍎2🍎1", "联系方式yy0721"),
        ("m[玫瑰]a[玫瑰]m[玫瑰]a[玫瑰]8", "mama8"),
        ("l丨u丨c丨k丨y 丶 6", "lucky6"),
        ("b の b の 9", "bb9"),
        # ... while a WeChat emoji among words is left as it is.
        ("宝宝[捂脸]好可爱", "宝宝捂脸好可爱"),
    ],
)
def test_fold(raw: str, folded: str) -> None:
    assert fold(raw) == folded


def test_digits_in_disguise_become_numbers() -> None:
    assert digits("一三八 零零零零 一二三四") == "13800001234"
    assert digits("①③⑧-0000-1111") == "13800001111"


def verdict(text: str, rules: GuardRules = RULES, **kw: object) -> tuple[str, list[str]]:
    v = Judge().judge(text, rules, **kw)  # type: ignore[arg-type]
    return v.verdict, v.reasons


def test_contact_solicitation_in_every_disguise() -> None:
    assert verdict("加我V❤信 mama88")[0] == "kick"
    assert verdict("加 我 微 信 了解一下")[0] == "warn"
    assert verdict("威信 一三八零零零零一二三四")[0] == "kick"
    assert verdict("有需要的宝妈私我")[0] == "pass"  # a weak sign alone is not enough


def test_links_respect_the_allowlist_and_taokouling_is_caught() -> None:
    shop = GuardRules(allowed_domains=["nuannuan-baby.com"], classifier=False)
    assert verdict("点击 http://t.cn/abc 领红包", shop) == ("warn", ["外部链接 t.cn"])
    assert verdict("在 https://www.nuannuan-baby.com/p/1 下单", shop)[0] == "pass"
    assert verdict("复制￥AbCd1234Xy￥打开淘宝", shop)[0] == "warn"


def test_blocked_words_and_agreeing_layers() -> None:
    assert verdict("宝妈在家刷单")[0] == "kick"
    decision, reasons = verdict("帮我砍一刀 http://pdd.xyz/a")
    assert decision == "warn" and len(reasons) == 2
    assert Judge().judge("帮我砍一刀 http://pdd.xyz/a", RULES).score == pytest.approx(0.8)


def test_message_types_by_group_policy() -> None:
    strict = GuardRules(types={"mini_program": "kick"}, classifier=False)
    assert verdict("", RULES, type=MessageType.MINI_PROGRAM)[0] == "warn"
    assert verdict("", strict, type=MessageType.MINI_PROGRAM)[0] == "kick"
    assert verdict("", RULES, type=MessageType.IMAGE)[0] == "pass"


def test_history_and_newcomers_weigh_in() -> None:
    judge = Judge()
    flood = [Hit(0.7, "刷屏")]
    assert judge.judge("好的", RULES, history=flood).verdict == "warn"
    # A newcomer's evidence weighs more: enough for a warning ...
    wave = [Hit(0.55, "同一内容在3个群发送")]
    assert judge.judge("好的", RULES, history=wave).verdict == "pass"
    assert judge.judge("好的", RULES, history=wave, newcomer=True).verdict == "warn"
    # ... never, by itself, for a kick (0.85 + 0.15 is past the kick line).
    newcomer = judge.judge("加 我 微 信 了解一下", RULES, newcomer=True)
    assert newcomer.verdict == "warn" and newcomer.score >= RULES.kick_at
    assert judge.judge("加我V❤信 mama88", RULES, newcomer=True).verdict == "kick"  # on its own


def test_a_newcomer_leaving_her_own_phone_number_with_a_question_is_not_kicked() -> None:
    rules = GuardRules()  # the shipped thresholds and bonus, and the model
    judge = Judge.for_content(REPO / "content")
    text = "我的电话13812345678，宝宝湿疹怎么办"
    assert judge.judge(text, rules).verdict == "warn"
    v = judge.judge(text, rules, newcomer=True)
    assert v.verdict == "warn", v


def test_ordinary_messages_pass() -> None:
    for text in [
        "宝宝湿疹怎么办",
        "我微信步数今天两万",
        "社区医院打疫苗要扫二维码吗",
        "请月嫂多少钱",
    ]:
        assert verdict(text)[0] == "pass", text


def test_spam_check_prints_one_contract_line_per_text(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["spam-check", "--dir", str(REPO), "加我V❤信 mama88", "宝宝湿疹怎么办"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [list(line) for line in lines] == [["verdict", "score", "reasons"]] * 2
    assert lines[0]["verdict"] == "kick" and "留微信号/QQ号" in lines[0]["reasons"]
    assert lines[1] == {"verdict": "pass", "score": 0.0, "reasons": []}
    assert all(0.0 <= line["score"] <= 1.0 for line in lines)


def test_a_mother_reporting_a_scam_is_not_taken_for_the_scammer() -> None:
    rules = GuardRules(blocked_words={"日赚": 0.8}, classifier=False)
    report = "有个宝妈群里的人拉我做兼职，说每天一小时日赚两百，我总觉得不对"
    assert verdict(report, rules)[0] == "pass"
    assert verdict("想在家日赚三百吗", rules)[0] == "warn"  # the ad's own question form
    assert verdict("日赚三百靠谱吗 加我V mama88", rules)[0] == "kick"  # a contact: no excuse


class Leaning(NaiveBayes):
    """A model that answers one probability, to test how the judge weighs it."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    @property
    def trained(self) -> bool:
        return True

    def spam_probability(self, text: str) -> float:
        return self.p


def test_v_me_and_add_to_get_are_solicitation_but_her_own_story_is_not() -> None:
    assert verdict("兼职 一单一结 V我")[0] == "warn"
    assert verdict("加vx领小样")[0] == "warn"
    assert verdict("加我领 宝宝疫苗时间表")[0] == "warn"
    assert verdict("蚕丝面膜 微❤ party_mm")[0] == "kick"
    assert verdict("收旧衣服 加V")[0] == "warn"
    for text in [
        "超市里的试吃辅食，销售一直让我加她微信，我没加",
        "月嫂走之前让我加微信",
        "群里不方便发，加你微信我把体检单发你看看",
        "拼多多砍一刀的别找我了哈哈",
    ]:
        assert "招揽加微信/QQ" not in verdict(text)[1], text
        assert "引导私聊" not in verdict(text)[1], text


def test_a_call_to_get_in_touch_needs_the_model_to_lean_towards_an_ad() -> None:
    rules = GuardRules(classifier=True)
    soft = "月嫂有档期 有需要的宝妈私我"
    assert Judge(Leaning(0.7)).judge(soft, rules).verdict == "warn"
    assert Judge(Leaning(0.5)).judge(soft, rules).verdict == "pass"
    assert Judge(Leaning(0.7)).judge("月嫂有档期", rules).verdict == "pass"
    assert Judge(Leaning(0.97)).judge("月嫂有档期", rules).verdict == "warn"  # model alone


def test_the_model_alone_does_not_act_on_a_question_to_the_group() -> None:
    rules = GuardRules(classifier=True)
    model = Leaning(0.99)
    assert Judge(model).judge("儿童保险一年几百块，能报门诊吗", rules).verdict == "pass"
    assert Judge(model).judge("儿童保险一年几百块，能报门诊？😂", rules).verdict == "pass"
    assert Judge(model).judge("儿童保险一年几百块，能报门诊", rules).verdict == "warn"
    # A question with the seller's own contact is no excuse.
    assert Judge(model).judge("想要保险吗 加我V mama88", rules).verdict == "kick"


def test_naive_bayes_keeps_its_ratios_right_as_it_learns() -> None:
    """The per-feature log ratios kept while learning give the textbook posterior."""
    import math

    from handlers.guard.classifier import HAM, SPAM, features

    model = NaiveBayes().fit(
        [(SPAM, "加我微信领红包"), (HAM, "宝宝湿疹怎么办"), (SPAM, "刷单日结")]
    )
    model.learn("宝宝红包怎么领", HAM)  # a feature seen on both sides moves its ratio

    def textbook(text: str) -> float:
        known = [f for f in features(text) if f in model.ratio]
        vocab = len(model.ratio)
        score = {}
        for label in (SPAM, HAM):
            den = model.totals[label] + model.alpha * vocab
            score[label] = math.log(model.docs[label] / 4) + sum(
                math.log((model.counts[label][f] + model.alpha) / den) for f in known
            )
        return 1 / (1 + math.exp((score[HAM] - score[SPAM]) / math.sqrt(len(known))))

    for text in ["领红包", "宝宝湿疹", "加我微信", "刷单"]:
        assert model.spam_probability(text) == pytest.approx(textbook(text))
    assert model.spam_probability("领红包") > 0.5 > model.spam_probability("宝宝湿疹怎么办")
    assert NaiveBayes().spam_probability("领红包") == 0.0  # untrained: no opinion


def test_blocked_words_follow_jieba_words_not_any_substring() -> None:
    rules = GuardRules(blocked_words={"日入": 0.8, "带单": 0.85, "刷单": 0.9}, classifier=False)
    assert verdict("宝宝生日入园前要准备什么", rules)[0] == "pass"  # 生日 / 入园
    assert verdict("今天带单车出去玩", rules)[0] == "pass"  # 带 / 单车
    assert verdict("日入过万 宝妈在家就能做", rules)[0] == "warn"
    assert verdict("老师带单 稳赚", rules)[0] == "warn"
    assert verdict("兼职刷单日结", rules)[0] == "kick"  # jieba alone splits 刷 / 单日
    assert verdict("宝妈在家刷 ❤ 单", rules)[0] == "kick"  # folded first


def test_selling_through_herself_warns_with_the_model_but_a_question_or_a_favour_does_not() -> None:
    rules = GuardRules(classifier=True)
    leaning, doubtful = Judge(Leaning(0.5)), Judge(Leaning(0.3))
    for text in [
        "宝宝便秘用了这个益生菌第二天就拉了，链接私我",
        "这款奶粉我这有渠道，比超市便宜一半",
        "生发片好多姐妹问，找我拿😊",
        "我表姐在做，可以给大家便宜",
        "我现在有货，一罐比母婴店便宜八十",
    ]:
        assert leaning.judge(text, rules).verdict == "warn", text
        assert doubtful.judge(text, rules).verdict == "pass", text  # a weak sign alone
    for text in [
        "这个团购能便宜点吗",
        "双十一买能便宜不少",
        "谁有那个推车的链接，私我一下",
        "楼下快递柜我帮你取了，回来找我拿",
        "有厂家渠道的姐妹吗",
        "我老公单位发了内部价的电影票",
    ]:
        assert leaning.judge(text, rules).verdict == "pass", text


def test_host_like_runs_are_read_once_and_hosts_still_found() -> None:
    judge = Judge()
    # A run of host characters that never reaches a top-level domain is no link (and is
    # scanned once, not from every "a": bench/guard_worst.py prints the time).
    assert judge.judge("a." * 2000, RULES).verdict == "pass"
    hits = judge.judge("团购链接 a.b.shop.xyz/p 快来", RULES).reasons
    assert any("外部链接 a.b.shop.xyz" in r for r in hits), hits


# ---------------------------------------------------------------- no message can freeze it

# The worst inputs we know for the guard's patterns (bench/guard_worst.py times them).
WORST = {
    "host-like run": "a." * 50_000,
    "question marks then a letter": "?" * 50_000 + "a",
    "full-width question marks then a digit": "？" * 50_000 + "1",
    "negated blocked word, repeated": "不要刷单" * 25_000,
    "plus-v then spaces": "加v" + " " * 100_000 + "x",
    "digits": "1" * 100_000,
    "emoji": "😊" * 100_000,
    "separators after a letter, none closing": "a" + "丨 [玫瑰]" * 20_000,
}


@pytest.mark.parametrize("name", sorted(WORST))
def test_the_worst_inputs_are_judged(name: str) -> None:
    judge = Judge.for_content(REPO / "content")
    assert judge.judge(WORST[name], GuardRules()).verdict in ("pass", "warn", "kick")


def test_the_question_check_reads_the_tail_once() -> None:
    # The regex it replaces retried the tail from every "?": this took hours.
    assert _is_question("?" * 1_000_000 + "a") is False
    assert _is_question("宝宝几个月了呢～～😊")
    assert _is_question("能报门诊吗 ? ")
    assert not _is_question("吗的")


def test_every_stage_reads_a_bounded_part_of_a_huge_message(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The budget: rules read the first RULES_SEE characters, jieba's stages WORDS_SEE."""
    judge = Judge.for_content(REPO / "content")
    seen: dict[str, int] = {}

    def spy(name: str, real):  # type: ignore[no-untyped-def]
        def wrapped(text, *args, **kw):  # type: ignore[no-untyped-def]
            seen[name] = max(seen.get(name, 0), len(text))
            return real(text, *args, **kw)

        return wrapped

    monkeypatch.setattr(judge_module, "fold", spy("fold", judge_module.fold))
    monkeypatch.setattr(judge_module, "digits", spy("digits", judge_module.digits))
    monkeypatch.setattr(judge_module, "_word_edges", spy("edges", judge_module._word_edges))
    model = judge.model
    monkeypatch.setattr(model, "spam_probability", spy("model", model.spam_probability))
    huge = "宝宝今天吃了辅食 刷单 " * 100_000  # 1.2 million characters
    judge.judge(huge, GuardRules(blocked_words={"刷单": 0.9}))
    assert set(seen) == {"fold", "digits", "edges", "model"}
    assert RULES_SEE <= 10_000 and WORDS_SEE <= 2_000  # tens of milliseconds at most
    assert seen["fold"] <= RULES_SEE and seen["digits"] <= RULES_SEE
    assert seen["edges"] <= WORDS_SEE and seen["model"] <= WORDS_SEE


def test_an_ad_at_the_start_of_a_100_kb_message_is_still_caught() -> None:
    judge = Judge.for_content(REPO / "content")
    filler = "".join(text[:15_000] for text in WORST.values())  # 105,000 characters
    assert judge.judge("加我V❤信 mama88 " + filler, GuardRules()).verdict == "kick"
    assert (
        judge.judge("宝妈在家刷单 日结 " + filler, GuardRules(blocked_words={"刷单": 0.9})).verdict
        == "kick"
    )
    # ... and a contact left further on, within what the rules read, too.
    late = "宝宝今天吃了辅食睡得很好。" * 200 + "加我V❤信 mama88"
    assert WORDS_SEE < len(late) < RULES_SEE
    assert judge.judge(late, GuardRules()).verdict == "kick"


def test_a_mother_giving_her_id_to_meet_up_is_warned_at_most_never_kicked() -> None:
    """Her own WeChat id for a playdate, nothing sold: kicking her would be the worst
    mistake. The same id offered with a product, or bare and disguised, is still kicked."""
    for text in (
        "好呀 我微信是 mm_2019 你加我 明天一起去公园遛娃",
        "我们同一个小区的 我v: lele0808 周末约着带娃晒太阳",
        "可以的 加我 qq 12345678 周六一起去早教中心试听",
    ):
        assert verdict(text)[0] != "kick", text
    assert verdict("我微信是 mm_2019 你加我 一起做代购 月入过万")[0] == "kick"
    assert verdict("加我V❤信 mama88")[0] == "kick"


# ------------------------------------------- what the fourth blind table taught, by class
# Written for these tests, one class at a time; none comes from an evaluation set.

SHOP = "shop.example-baby.cn"


@pytest.fixture(scope="module")
def shipped() -> GuardRules:
    rules = load_content(REPO / "content").guard.guard
    return rules.model_copy(update={"allowed_domains": [*rules.allowed_domains, SHOP]})


def shipped_verdict(text: str, rules: GuardRules) -> str:
    return Judge.for_content(REPO / "content").judge(text, rules).verdict


MOTHERS = {
    # A neighbour pulling one mother into her neighbourhood's walking group: no product,
    # price, id or link (member-to-member contact with no commercial sign).
    "meet_up_invite": [
        "我也住龙湖春江郦城，我们小区有个遛娃群，加我好友我拉你进去",
        "你是万科城的呀，我们那有个妈妈群每天傍晚一起推车散步，加我我拉你进来",
        "我们天通苑这边有个一起遛娃的群，周末常约公园，加我微信拉你",
        "离得好近！我家也在滨江，小区里好几个同月龄的宝宝，加个好友我拉你进妈妈群",
        "原来你也是翠苑小区的，我们有个妈妈群，加我好友我拉你进去",
    ],
    # Two friends buying together: a price and 拼单 / 凑单 between named members.
    "buying_together": [
        "@小鱼妈妈 山姆那个湿巾一箱太多了，咱俩一人一半吧，198分下来一人99",
        "@豆豆妈 睡袋满300减50，咱们一起下单凑个单吧，一人一个",
        "开市客的大包装纸巾我俩拼单了，回头分你一半，钱转我一半就行",
        "@乐乐妈 那个分腿睡袋两件八折，我们一起下单吧，我买80码你买90码",
    ],
    # Her own outgrown things given away: 免费送 + 私我 is no pitch.
    "giveaway": [
        "宝宝穿小的学步鞋，三双，都是穿了一两个月的，免费送，需要的私我约时间来拿",
        "家里孩子穿小的衣服整理出一袋，80到90码，免费送给需要的宝妈，私我约自提",
        "婴儿床用不上了，送给有需要的姐妹，自提，私聊我约时间",
    ],
    "jielong": [
        "接龙：1. 米米妈 L码 2包",
        "3) 果果妈 一箱 7号楼",
        "5、小糖果 90码 两件",
        "#接龙\n周五团购草莓 两盒起\n\n1. 豆豆妈 2盒\n2. 小米粒 1盒\n3. 乐乐妈 3盒 5栋",
        "【接龙】12. 可可妈 3栋1单元 139****2231 纸尿裤XL码两包 湿巾一提 已转账",
    ],
    # The brand's own shop with a price: the link is taken out, even written against a
    # Chinese word.
    "allowed_link_price": [
        f"这个防胀气奶瓶 https://{SHOP}/item/8812 才49块，能用很久，推荐",
        "官方店里nuannuan-baby.com/item/2231这款口水巾才39，用了半年没起球",
        "暖暖官网的湿巾nuannuan-baby.com/p/88，29.9一大包，能用很久",
    ],
    # Mothers on the topics of the ads below.
    "same_topics": [
        "有人在别的群发了个福利群二维码，长按识别加入送红包，是不是骗子",
        "幼儿园的家长群二维码过期了，谁能再发一下，我扫码进群没反应",
        "有个机构说免费测评，测完一直让我报课，靠谱吗",
        "孩子注意力不集中，医院说要做感统测评，一次三百，值得做吗",
        "产后修复中心给我打电话说体验价99，是真的吗",
        "我产后去医院做了盆底肌修复，一次两百多，做了十次感觉有用",
        "闲钱我都买了定期，保本最重要",
        "快递员的联系方式是95338吗",
        "在jd.com上买的，比超市便宜",
    ],
}
ADS = {
    "emoji_split_id": [
        "有需要联系方式Y🍎Y🍎0🍎7🍎2🍎1",
        "联系方式 L💕U💕C💕K💕Y💕5💕2💕0",
        "童装批发 联系方式：m[玫瑰]a[玫瑰]m[玫瑰]a[玫瑰]6[玫瑰]6",
    ],
    "group_poaching": [
        "附近宝妈交友群，二维码在这，长按识别加入，满200人发福利",
        "同城宝妈群招人啦 长按图片识别加入 群里每天有福利",
        "附近宝妈福利群，加我好友拉你进群，每天有红包",
    ],
    "assessment_course": [
        "孩子注意力不集中可能是感统失调，免费测评，测完送价值399元课程",
        "宝宝说话晚？可能是语言发育迟缓，免费做一次评估，评估后送价值299的体验课",
        "孩子坐不住爱发脾气，可能是感统失调，机构免费测评名额有限，测完送课",
    ],
    "investment": [
        "闲钱放着也是放着，跟着老师做，一个月多赚两三千，保本的",
        "每天拿出一点闲钱放在这里，每月稳定收益百分之八，我已经拿了半年了",
    ],
    "postpartum": [
        "生完宝宝肚子松的姐妹可以来试试我们的产后修复，首次体验只要68",
        "产后骨盆修复，体验价128一次，做完立马收胯",
    ],
    # What the exemptions above do not cover.
    "not_exempt": [
        "@所有人 纸尿裤拼单还差3人，19.9四包，要的私我",
        "闲置衣服免费上门回收，旧衣服也能换钱，私我",
        "全新的宝宝学步鞋，免费送一双，私我下单第二双半价",
    ],
}


@pytest.mark.parametrize(
    "text", [t for texts in MOTHERS.values() for t in texts], ids=lambda t: t[:12]
)
def test_mothers_of_the_fourth_table_classes_pass(shipped: GuardRules, text: str) -> None:
    assert shipped_verdict(text, shipped) == "pass"


@pytest.mark.parametrize("text", [t for texts in ADS.values() for t in texts], ids=lambda t: t[:12])
def test_ads_of_the_fourth_table_classes_are_acted_on(shipped: GuardRules, text: str) -> None:
    assert shipped_verdict(text, shipped) != "pass"


def test_an_id_split_by_emoji_after_contact_details_is_an_id_by_rule() -> None:
    assert verdict("联系方式 Y🍎Y🍎0🍎7🍎2🍎1") == ("kick", ["留微信号/QQ号"])
    assert verdict("联系方式 b丨b丨9丨9丨6") == ("kick", ["留微信号/QQ号"])
    # A hotline's digits and the words after 联系方式 are no one's WeChat.
    assert verdict("顺丰的联系方式95338")[0] == "pass"
    assert verdict("客服联系方式在app里能找到")[0] == "pass"


def test_the_shapes_act_by_rule_and_the_weak_ones_only_with_the_model() -> None:
    rules = GuardRules(classifier=True)
    none, leaning = Judge(Leaning(0.0)), Judge(Leaning(0.5))
    for text in ADS["group_poaching"][:2] + ADS["assessment_course"]:
        assert none.judge(text, rules).verdict == "warn", text
    for text in ADS["investment"] + ADS["postpartum"]:
        assert none.judge(text, rules).verdict == "pass", text  # a weak sign alone
        assert leaning.judge(text, rules).verdict == "warn", text
    # ... not in a question about it, nor in a report of it ("长按识别" is not "别加").
    assert leaning.judge("产后修复体验价99，有人去过吗？", rules).verdict == "pass"
    assert none.judge(MOTHERS["same_topics"][0], rules).verdict == "pass"


def test_buying_together_and_a_giveaway_are_not_offers_whatever_the_model_says() -> None:
    rules = GuardRules(classifier=True)
    sure = Judge(Leaning(0.99))
    for text in MOTHERS["buying_together"] + MOTHERS["giveaway"]:
        assert sure.judge(text, rules).verdict == "pass", text
    for text in ADS["not_exempt"]:
        assert sure.judge(text, rules).verdict == "warn", text


def test_a_whole_jielong_list_is_the_groups_own_business_but_a_price_list_is_not() -> None:
    rules = GuardRules(classifier=True)
    sure = Judge(Leaning(0.99))
    lists = [
        "#接龙\n周五团购草莓\n\n1. 豆豆妈 2盒\n2. 小米粒 1盒\n3. 乐乐妈 3盒",
        "1. 豆豆妈 2盒\n2. 乐乐妈 1盒 5栋\n3. 我 3盒",  # no 接龙, a mother on each line
        "接龙+1 暖暖妈 XL 一包",
        "１． 米米妈 L码 2包",
    ]
    for text in lists:
        assert sure.judge(text, rules).verdict == "pass", text
    for text in [
        "今日特价\n1. 花王纸尿裤 89元\n2. 爱他美 199元\n3. 湿巾 9.9元",
        "#接龙\n1. 豆豆妈 2盒\n2. 小米粒 1盒\n需要的姐妹私我下单，量大从优",
    ]:
        assert sure.judge(text, rules).verdict == "warn", text


def test_an_allowed_host_against_a_chinese_word_is_taken_out_of_what_the_model_reads() -> None:
    seen = model_view("在官网nuannuan-baby.com/p/3买的，49块能用很久", ["nuannuan-baby.com"])
    assert "nuannuan" not in seen and "49块能用很久" in seen
    assert "t.cn" in model_view("点t.cn/x领", ["nuannuan-baby.com"])  # not allowed: kept
    # A shop named against a word is not a link held against her; spaced out, it is.
    links = GuardRules(classifier=False)
    assert verdict("在jd.com上买的", links)[0] == "pass"
    assert verdict("点击 abc.top 领红包", links)[0] == "warn"


# -------------------------------------------- what the fifth blind table taught, by class
# Written for these tests from the classes in words; none comes from an evaluation set.

MOTHERS5 = {
    # Her own recommendation with a product link from a big marketplace.
    "marketplace_link": [
        "我买的是这款 https://item.jd.com/100012345678.html 京东自营，第二天就到了",
        "链接给你们 https://m.tb.cn/h.5abcDEF 我家一直用这个",
        "@小鱼妈妈 你要的那个推车链接 https://detail.tmall.com/item.htm?id=612345678901",
        "https://u.jd.com/AbCdEf 这个奶瓶消毒器我用了半年，推荐",
        "我在天猫旗舰店买的 https://detail.tmall.com/item.htm?id=1234 比实体店便宜100块",
        "京东自营，领券后89，链接 https://item.jd.com/100045.html",
    ],
    # Neighbours of one building and mothers of one hospital adding each other.
    "neighbours_hospital": [
        "我们楼的宝妈群你要进吗，加我微信我拉你",
        "你也住3栋呀，加个微信吧，我拉你进我们楼的妈妈群",
        "我们单元的宝妈建了个群，加我微信我拉你进去",
        "你也是在妇幼生的吗？加个微信呗，交流下产检经验",
        "同一个医院生的，加我微信吧，以后互相交流一下复查的情况",
    ],
    # Her own used thing given away or sold cheaply.
    "own_used": [
        "送！婴儿床，宝宝不睡了，要的姐妹私我",
        "安全座椅出了，坐不下了，100块",
        "闲置婴儿床 300块 自己来拉",
        "推车用不上了，200出，同小区自取，私我",
        "吸奶器闲置，只用过一个月，150块，要的私聊",
        "餐椅出了，宝宝不爱坐，50块，同小区自取",
    ],
    # Mothers on the topics of the ads below.
    "same_topics": [
        "公积金贷款需要老公签字吗？",
        "有人扫我头像加我，说能贷款，是骗子吧大家小心",
        "妊娠纹仪器做了3次淡化了一点点，花了好几千，不推荐",
        "这个群广告太多了，群主管管吧",
        "这个群没有广告，挺好的，纯交流",
        "千万别把验证码告诉别人，我同事被骗了",
        "快递员打电话让我把验证码告诉他，我没给",
        "银行说发验证码了但我没收到",
        "银行要提供验证码吗？",
        "贷款真的不用老公签字吗？",
        "客服让我报一下验证码，我没理她",
        "我们办房贷的时候需要老公签字，跑了好几趟银行",
        "验证码一直收不到，是不是手机号填错了",
        "快递丢件了，淘宝给我理赔了，钱退到支付宝了",
        "楼下母婴店关店清仓了，全场3折，大家可以去看看",
        "我现在在做月子，需要的东西都买好了",
        "支付宝搜一下医保电子凭证就能用",
    ],
}
ADS5 = {
    "marketplace_with_signs": [
        "宝妈在家兼职，需要的私我 https://item.jd.com/100012345678.html",
        "https://m.tb.cn/h.5abcDEF 内部优惠券，加我微信领 mama8899",
        "京东返利群，每天领券省钱，https://u.jd.com/xyz 想进的私我",
        "链接：https://m.tb.cn/h.Q7wErTy 点开领券 宝宝辅食全场5折",
    ],
    "pinduoduo": [
        "帮我砍一刀 https://mobile.yangkeduo.com/abc.html 谢谢",
        "拼多多助力一下 https://p.pinduoduo.com/xyz 点一下就行",
    ],
    "loan": [
        "急用钱的宝妈看过来，货款秒批，不用老公签字，扫描头像二维码申请",
        "宝妈专属货款，凭身份证就能贷，最高5万，扫描头像二维码申请",
        "宝妈也能借钱，额度3万，无需老公同意，扫我头像",
    ],
    "stretch_marks": [
        "妊娠纹修复仪，3次淡化，不好不收钱，私信预约",
        "生完宝宝肚子上的纹路别担心，我们的修复仪3次淡化，不好不收钱，私信预约名额",
    ],
    "ad_free_group": [
        "不想被广告打扰的宝妈，来我们新群，纯交流，扫码进（图）",
        "这个群广告太多了，我们建了个纯净宝妈群，没有广告，想进的扫码",
        "广告太多了，来我们新群吧，纯聊天不卖货，扫码进",
    ],
    "testimonial": [
        "我家宝宝之前湿疹一直不好，用了这款草本膏三天就好了，这款我现在在做，私我拿",
        "宝宝以前挑食瘦小，吃了这个益生菌半个月胃口大开，我现在在做这个，私我拿货",
    ],
    "verification_code": [
        "您好，我是奶粉品牌售后，您的订单有质量问题，请提供手机号和验证码办理退款",
        "亲，您购买的纸尿裤批次有问题，需要给您退款，请把收到的验证码发给我",
        "您好，把短信验证码告诉客服就能退款",
        "亲，麻烦把您收到的短信验证码截个图，马上给您退款",
        "群里买过这款奶粉的宝妈注意，官方售后在做召回，私我发手机号和验证码",
    ],
    "refund_phishing": [
        "您的快递丢失了，我们给您理赔，请打开支付宝搜索“备用金”按提示操作",
        "我是快递客服，您的包裹丢件，可以理赔三倍，支付宝搜索备用金领取",
    ],
    "wholesale": [
        "童装批发，一件也是批发价，需要的进我们的批发群",
        "关店清仓，全场3折，价目表私我",
        "母婴店关店清仓，奶粉纸尿裤3折处理，要价格表的私我",
    ],
}


@pytest.mark.parametrize(
    "text", [t for texts in MOTHERS5.values() for t in texts], ids=lambda t: t[:12]
)
def test_mothers_of_the_fifth_table_classes_pass(shipped: GuardRules, text: str) -> None:
    assert shipped_verdict(text, shipped) == "pass"


@pytest.mark.parametrize(
    "text", [t for texts in ADS5.values() for t in texts], ids=lambda t: t[:12]
)
def test_ads_of_the_fifth_table_classes_are_acted_on(shipped: GuardRules, text: str) -> None:
    assert shipped_verdict(text, shipped) != "pass"


class Reading(NaiveBayes):
    """A model that answers one probability and keeps what it was given to read."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p
        self.read: list[str] = []

    @property
    def trained(self) -> bool:
        return True

    def spam_probability(self, text: str) -> float:
        self.read.append(text)
        return self.p


def test_a_marketplace_link_is_no_sign_by_itself_and_unread_by_the_model() -> None:
    links = GuardRules(classifier=False)  # the default marketplaces
    shared = "我买的是这款 https://item.jd.com/1000123.html 京东自营"
    assert verdict(shared, links) == ("pass", [])
    assert verdict("链接给你们 m.tb.cn/h.5abc 我家一直用这个", links) == ("pass", [])
    # ... counted when the group lists no marketplace, and with a contact, recruitment or
    # a shop's pitch; pinduoduo is no marketplace of the list.
    none = GuardRules(classifier=False, marketplace_domains=[])
    assert verdict(shared, none) == ("warn", ["外部链接 item.jd.com"])
    assert "外部链接 item.jd.com" in verdict("宝妈兼职 https://item.jd.com/1.html", links)[1]
    assert "外部链接 m.tb.cn" in verdict("m.tb.cn/h.5abc 加我微信领券", links)[1]
    for pitch in ["点开领券", "宝宝零食全场包邮", "今晚限时秒杀"]:
        assert verdict(f"m.tb.cn/h.5abc {pitch}", links)[0] == "warn", pitch
    assert verdict("助力一下 https://p.pinduoduo.com/xyz", links)[0] == "warn"
    model = Reading(0.1)
    Judge(model).judge(shared, GuardRules(classifier=True))
    assert model.read and not any("jd.com" in text for text in model.read)


def test_the_shipped_marketplaces_leave_pinduoduo_out() -> None:
    markets = load_content(REPO / "content").guard.guard.marketplace_domains
    assert {"jd.com", "taobao.com", "tb.cn", "tmall.com"} <= set(markets)
    assert not any("pinduoduo" in d or "yangkeduo" in d for d in markets)


def test_neighbours_and_her_own_used_things_pass_whatever_the_model_says() -> None:
    rules = GuardRules(classifier=True)
    # What is left of a neighbour's invitation is a few words: only a model sure of an ad
    # keeps it from being an exchange.
    for text in MOTHERS5["neighbours_hospital"][:3]:
        assert Judge(Leaning(0.85)).judge(text, rules).contact_exchange, text
    sure = Judge(Leaning(0.99))
    for text in MOTHERS5["own_used"]:
        assert sure.judge(text, rules).verdict == "pass", text
    # A shop's clearance, a price list and a job are no one's used things.
    for text in [
        "闲置童装清仓，多款可选，价目表私我",
        "闲置玩具清仓，30元一件",
        "闲置在家的宝妈，每天2小时，日入300元，私我",
        "闲置奶瓶 20元 吸奶器 80元 温奶器 50元 消毒柜 100元，私我",
    ]:
        assert sure.judge(text, rules).verdict == "warn", text


def test_the_fifth_table_shapes_act_by_rule() -> None:
    rules = GuardRules(classifier=True)
    none = Judge(Leaning(0.0))
    for kind in (
        "loan",
        "stretch_marks",
        "ad_free_group",
        "testimonial",
        "verification_code",
        "refund_phishing",
        "wholesale",
    ):
        for text in ADS5[kind]:
            assert none.judge(text, rules).verdict == "warn", text
    for text in MOTHERS5["same_topics"]:
        assert none.judge(text, rules).verdict == "pass", text
