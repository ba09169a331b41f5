"""The care detector: the phrase table (tests/care_phrases.tsv) and the readings under it."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from bot.config import CareContent
from handlers.care.detect import Detector, Risk, _first_chars, prepare

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import care_phrases  # noqa: E402

TABLE = REPO / "tests" / "care_phrases.tsv"


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(CareContent())


@pytest.fixture(scope="module")
def outcomes(detector: Detector) -> list[care_phrases.Outcome]:
    return care_phrases.judge(care_phrases.load(TABLE), detector)


def read(detector: Detector, text: str) -> str:
    risk = detector.detect(text)
    return risk.severity if risk else "none"


# --- the table ---------------------------------------------------------------------


def test_the_table_is_big_enough_and_covers_every_label() -> None:
    rows = care_phrases.load(TABLE)
    assert len(rows) >= 320
    counts = {label: sum(r.label == label for r in rows) for label in care_phrases.LABELS}
    assert min(counts.values()) >= 30, counts


def test_no_urgent_crisis_or_loss_row_is_missed(outcomes: list[care_phrases.Outcome]) -> None:
    missed = [
        f"{o.row.text} -> {o.read}"
        for o in outcomes
        if o.row.label in care_phrases.RISKS and not o.right
    ]
    assert missed == []


def test_crisis_and_loss_rows_are_read_as_exactly_that(
    outcomes: list[care_phrases.Outcome],
) -> None:
    # A loss read as urgent would answer her, but miss the stop of all marketing.
    wrong = [
        f"{o.row.text} -> {o.read}"
        for o in outcomes
        if o.row.label in ("crisis", "loss") and o.read != o.row.label
    ]
    assert wrong == []


def test_no_everyday_row_is_escalated(outcomes: list[care_phrases.Outcome]) -> None:
    escalated = [
        f"{o.row.text} -> {o.read} {o.reason}"
        for o in outcomes
        if o.row.label == "none" and o.read != "none"
    ]
    assert escalated == []


def test_concern_rows_read_as_concern_or_higher_are_counted(
    outcomes: list[care_phrases.Outcome],
) -> None:
    concern = [o for o in outcomes if o.row.label == "concern"]
    found = sum(o.right for o in concern)
    # Not a requirement of the issue (a concern read as none is a softer miss); the floor
    # keeps a regression visible. The figure is in the report and in bench/care_phrases.py.
    assert found >= 0.9 * len(concern), f"{found}/{len(concern)}"


# --- numbers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "prepared"),
    [
        ("宝宝三十九度八", "宝宝39度8"),
        ("三十八点五度", "38.5度"),
        ("烧到三十九", "烧到39"),
        ("两个月的宝宝", "2个月的宝宝"),
        ("四十度", "40度"),
        ("宝宝３９度", "宝宝39度"),
        ("一阵一阵的疼", "一阵一阵的疼"),  # no unit after it: not a number
    ],
)
def test_numbers_are_read(text: str, prepared: str) -> None:
    assert prepare(text) == prepared


@pytest.mark.parametrize(
    ("text", "severity"),
    [
        ("宝宝38度2", "concern"),  # 38.2
        ("宝宝39.5度", "concern"),
        ("宝宝40°C", "urgent"),
        ("宝宝40℃", "urgent"),
        ("宝宝烧到四十度", "urgent"),
        ("宝宝三十九度八，精神很差", "urgent"),
        ("宝宝体温37.0", "none"),
        ("宝宝体温36.8", "none"),
        ("今天室外39度", "none"),  # weather
        ("洗澡水40度可以吗", "none"),  # water
        ("宝宝体重39斤", "none"),
        ("孕39周了", "none"),
    ],
)
def test_temperatures(detector: Detector, text: str, severity: str) -> None:
    assert read(detector, text) == severity


# --- ages --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "severity"),
    [
        ("2个月宝宝38度", "urgent"),
        ("宝宝才50天，38.1", "urgent"),
        ("新生儿发烧", "urgent"),
        ("宝宝3个月，发烧38度", "urgent"),  # 3个月以下 includes 3个月
        ("宝宝6个月，发烧38度", "concern"),
        ("孩子2岁，烧到38.5，玩得挺好", "concern"),
        ("孩子2岁，烧到39.5，精神很差", "urgent"),
        ("孕12周发烧38度", "concern"),  # weeks of pregnancy are not a baby's age
    ],
)
def test_a_babys_age_changes_what_a_fever_means(
    detector: Detector, text: str, severity: str
) -> None:
    assert read(detector, text) == severity


# --- negation, hypotheticals, questions, the past -------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "没有发烧",
        "宝宝没发烧",
        "不烧了",
        "已经退烧了",
        "烧退了",
        "昨天烧今天好了",
        "昨天39度，今天退了",
        "不是破水，是分泌物",
        "还没见红",
        "医生说不是胎停",
        "我怕宝宝会发烧",
        "万一破水了怎么办",
        "如果见红了要去医院吗",
        "胎动一般几周开始",
        "宝宝发烧贴哪个牌子好用",
        "退烧药买哪个",
        "梦见宝宝抽搐了",
        "我小时候发烧抽搐过",
        "我闺蜜流产了",
        "怎么判断是不是破水了",
        "宝宝出牙会发烧吗",
    ],
)
def test_what_is_not_happening_to_her_is_no_risk(detector: Detector, text: str) -> None:
    assert detector.detect(text) is None


@pytest.mark.parametrize(
    ("text", "severity"),
    [
        ("宝宝抽搐了怎么办", "urgent"),  # a danger sign asked about is still a danger sign
        ("见红了要马上去医院吗", "urgent"),
        ("没有发烧，但是宝宝抽搐了", "urgent"),  # the negation stops at the comma
        ("宝宝没吃药就发烧了，39度", "concern"),  # 没 negates 吃药, not the fever
        ("宝宝一直抽搐不停", "urgent"),  # 不停 is no negation
        ("我恨不得掐死他", "crisis"),  # nor is 恨不得
        ("下面流水了，会不会是破水", "urgent"),
    ],
)
def test_a_negator_or_a_question_nearby_does_not_hide_a_risk(
    detector: Detector, text: str, severity: str
) -> None:
    assert read(detector, text) == severity


@pytest.mark.parametrize(
    "text",
    ["笑死我了", "累死了", "气死我了", "想死你们了", "热死了", "这价格跳楼价", "困死了"],
)
def test_idioms_are_no_risk(detector: Detector, text: str) -> None:
    assert detector.detect(text) is None


def test_crisis_wins_over_urgent_and_the_other_severities_are_kept(detector: Detector) -> None:
    risk = detector.detect("宝宝高烧40度抽搐了，我真的不想活了")
    assert risk is not None and risk.severity == "crisis"
    assert "urgent" in risk.also


def test_a_loss_with_bleeding_is_urgent_and_still_a_loss(detector: Detector) -> None:
    risk = detector.detect("流产了，现在大出血")
    assert risk == Risk("urgent", "流产+出血", frozenset({"loss"}))


def test_the_reason_names_what_was_read(detector: Detector) -> None:
    assert detector.detect("宝宝39度抽搐了") == Risk("urgent", "高烧+抽搐", frozenset({"concern"}))
    risk = detector.detect("见红了")
    assert risk is not None and risk.reason == "见红"


# --- classes found on the first blind table (each with rows of its own in the table) ---


@pytest.mark.parametrize(
    ("text", "severity"),
    [
        ("宝宝38度5 整个人蔫蔫的 一直在睡", "urgent"),  # fever + lethargy
        ("宝宝从床上掉下来 后脑勺着地了 之后吐了两次", "urgent"),  # head blow + vomiting
        ("32周了 发紧 差不多五分钟一次", "urgent"),  # pains at intervals; 差不多 negates nothing
        ("宝宝吃葡萄噎住了 咳不出来", "urgent"),
        ("早产住保温箱 最后还是走了", "loss"),
        ("厨房拿着刀 控制不住自己 好乱", "crisis"),
        ("宝宝磕到头了 还好没事 刚刚吐奶了一口", "none"),  # spit-up is no vomiting
        ("宝宝每隔十分钟醒一次", "none"),  # an interval without pains
        ("我家宝宝最后还是走了三步", "none"),
    ],
)
def test_two_signs_in_different_clauses_make_a_danger(
    detector: Detector, text: str, severity: str
) -> None:
    assert read(detector, text) == severity


@pytest.mark.parametrize(
    ("text", "severity"),
    [
        ("39周见红了", "urgent"),  # the segmenter glues 周见
        ("刚破水 好多水往下流", "urgent"),  # and 刚破水
        ("宝宝嘴巴周围有点发紫", "urgent"),
        ("宝宝嘴唇没有发紫 就是有点干", "none"),  # a gap never crosses a negator
        ("孩子不小心喝了洗洁精", "urgent"),  # 不小心 negates nothing
        ("宝宝叫了好几声都不怎么醒", "urgent"),
    ],
)
def test_signs_read_through_the_words_around_them(
    detector: Detector, text: str, severity: str
) -> None:
    assert read(detector, text) == severity


@pytest.mark.parametrize(
    ("text", "severity"),
    [
        ("宝宝1月龄 今天38度2", "urgent"),
        ("宝宝发烧38度 2个月", "urgent"),  # the age as a clause of its own
        ("宝宝今天40天 量了38度", "urgent"),
        ("烧到38.5了 我家才一个多月", "urgent"),
        ("产后2个月 发烧38度", "concern"),  # her months since birth, not the baby's age
        ("15天的宝宝 手脚冰凉 体温35.6", "urgent"),  # too cold is a danger too
        ("宝宝6个月 体温35.6", "none"),
        ("宝宝前天发烧 今天体温36.6 在玩", "none"),  # a normal reading later settles it
        ("宝宝早上36.8 现在烧到40度", "urgent"),  # a normal reading before does not
        ("宝宝37度4算发烧吗", "none"),
        ("宝宝40度算高烧吗", "urgent"),
    ],
)
def test_ages_and_readings(detector: Detector, text: str, severity: str) -> None:
    assert read(detector, text) == severity


@pytest.mark.parametrize(
    ("text", "severity"),
    [
        ("婆婆说发烧要多喝水 对吗", "none"),  # someone's advice
        ("老人说见红就要马上去医院 记住了", "none"),
        ("医生说胎心没了", "loss"),  # a diagnosis, not advice
        ("电视剧里那个孕妇突然见红了 演得好夸张", "none"),
        ("破水了是什么感觉啊", "none"),
        ("便秘好了 终于拉了", "none"),
        ("发热门诊要排队多久", "none"),
        ("我想死的心都有 哈哈哈 又胖了", "none"),
        ("想死的心都有了，每天就我一个人带娃", "crisis"),  # not laughed off
    ],
)
def test_what_is_told_about_is_not_what_is_happening(
    detector: Detector, text: str, severity: str
) -> None:
    assert read(detector, text) == severity


# --- ops' words and ignore -----------------------------------------------------------


def test_ops_words_add_phrases_per_severity() -> None:
    content = CareContent(words={"urgent": ["嘴巴发黑"], "crisis": ["我想走了"]})
    detector = Detector(content)
    assert detector.detect("宝宝嘴巴发黑") == Risk("urgent", "关注词:嘴巴发黑")
    assert read(detector, "我想走了。") == "crisis"
    assert detector.detect("宝宝嘴巴没有发黑") is None  # negation applies to them too
    assert Detector(CareContent()).detect("宝宝嘴巴发黑") is None


def test_ops_ignore_phrases_are_never_a_risk() -> None:
    book = "《宝宝发烧了》第二册到货了"  # a shop's title the table does not know
    assert read(Detector(CareContent()), book) == "concern"
    detector = Detector(CareContent(ignore=["《宝宝发烧了》"]))
    assert detector.detect(book) is None
    assert read(detector, "宝宝发烧了") == "concern"


# --- hostile input -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "发" * 100_000,
        "宝宝" + "，" * 50_000 + "抽搐",
        "没" * 10_000 + "发烧",
        "烧到" * 20_000,
        "3" * 50_000 + "度",
        "\u200b".join("宝宝发烧40度"),  # zero-width spaces between the characters
        "\ud800宝宝\x00发烧",  # a lone surrogate and a NUL
        "🤒" * 5_000,
        "ｂａｂｙ　３９度" * 1_000,
    ],
)
def test_hostile_input_returns_without_error(detector: Detector, text: str) -> None:
    detector.detect(text)  # no exception; speed is measured by bench/care_phrases.py


def test_zero_width_characters_do_not_hide_a_risk(detector: Detector) -> None:
    assert read(detector, "\u200b".join("宝宝发烧40度")) == "urgent"


def test_a_long_message_is_read_at_its_start_and_its_end(detector: Detector) -> None:
    story = "今天天气不错。" * 200
    assert read(detector, "宝宝抽搐了。" + story) == "urgent"
    assert read(detector, story + "宝宝抽搐了") == "urgent"
    # The middle of a very long message is not read: the price of a bounded scan.
    assert detector.detect(story + "宝宝抽搐了" + story) is None


# --- classes from care_blind2 --------------------------------------------------------


def test_typos_of_a_sign_word_are_read_as_the_word() -> None:
    assert prepare("胎东少了 宝宝抽疯了 发绕39度") == "胎动少了 宝宝抽风了 发烧39度"
    assert prepare("发绕口令") == "发绕口令"  # only before a reading or a 了


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("老公看球激动得呼吸困难😂", "none"),  # a jokable sign, laughed at
        ("带娃带得快崩溃了哈哈", "none"),
        ("带娃带得快崩溃了 天天睡不好", "concern"),
        ("宝宝呼吸困难 哈哈 吓死我了 快来人", "urgent"),  # the laugh is not right after it
        ("见红了哈哈 终于要卸货了", "urgent"),  # 见红 is never a joke
        ("破水了！不是 是打翻了水杯", "none"),  # taken back
        ("破水了 不是开玩笑", "urgent"),  # 不是 that takes nothing back
    ],
)
def test_a_laugh_or_a_retraction_right_after_the_sign(
    detector: Detector, text: str, expected: str
) -> None:
    assert read(detector, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("宝宝抽搐那次 吓坏了", "none"),  # an episode named after the sign
        ("宝宝高烧那天晚上开始抽搐 现在还在抽", "urgent"),  # named, and still going on
        ("那会儿也有过想死的念头 现在都好了", "none"),  # a crisis told as over
        ("那会儿也有过想死的念头 最近又有了", "crisis"),
        ("上次宝宝抽搐那回 住了院 现在都好了", "none"),  # over, in a past story
    ],
)
def test_past_episodes(detector: Detector, text: str, expected: str) -> None:
    assert read(detector, text) == expected


def test_asking_whether_a_reading_counts_is_no_fever_past_three_months(
    detector: Detector,
) -> None:
    assert read(detector, "宝宝1岁 37度8算发烧吗 还是38度才算") == "none"
    assert read(detector, "宝宝2个月 38度算发烧吗") == "urgent"


def test_a_nosebleed_in_pregnancy_is_no_pregnancy_bleeding(detector: Detector) -> None:
    assert read(detector, "孕30周 鼻子突然出血") == "concern"
    assert read(detector, "怀孕18周 今天突然出血了") == "urgent"


def test_an_age_in_years_makes_a_bare_reading_a_childs(detector: Detector) -> None:
    assert read(detector, "一岁半 38度5 在玩") == "concern"


@pytest.mark.parametrize(
    "text",
    [
        "孩子咳了半个多月了 晚上更厉害",
        "宝宝每次吃完奶都吐 吐得挺多",
        "孕30周 脚踝肿得鞋都穿不上",
        "出生第4天的宝宝 皮肤有点黄",
        "娃红屁股 有几块破皮了",
        "最近动不动就自责 觉得自己是个差劲的妈妈",
        "一个人带娃 我每天晚上都想哭",
        "宝宝鼻子堵了 吃奶吃得很费劲",
        "喂奶喂得乳头都裂开了 好疼",
        "宝宝4个月 头老是歪向一边",
        "宝宝五天没拉屎了 肚子胀",
        "孕中期查出贫血 要吃铁剂吗",
        "孩子湿疹最近蔓延到胳膊上了",
        "孕早期小肚子隐隐作痛",
        "黄疸都快五十天了还没退",
        "宝宝脸上起了一片红疹",
    ],
)
def test_concern_classes_are_read_as_concern(detector: Detector, text: str) -> None:
    assert read(detector, text) == "concern"


# --- classes from the fourth blind read ----------------------------------------------


def test_dialect_and_shorthand_are_read_as_the_words() -> None:
    assert prepare("td好少 38周ps了 冇尿 叫唔醒") == "胎动好少 38周破水了 没尿 叫不醒"
    assert prepare("宝宝wen du 38.5") == "宝宝体温 38.5"
    assert prepare("最近bxhl") == "最近不想活了"
    assert prepare("帮我ps一下照片 ps了一张图") == "帮我ps一下照片 ps了一张图"  # a picture


@pytest.mark.parametrize(
    ("text", "severity"),
    [
        ("宝宝七个礼拜 体温38.0", "urgent"),
        ("三月龄 腋温38.1", "urgent"),
        ("我家小宝两个月零十天 38度", "urgent"),
        ("宝宝出生第20天 37.9", "urgent"),  # under three months 37.8 is enough
        ("宝宝才45天 额头摸着烫", "urgent"),  # hot to the touch, no thermometer
        ("宝宝8个月 额头摸着烫", "concern"),
        ("宝宝7个月 体温37.9", "concern"),
    ],
)
def test_a_young_babys_age_said_other_ways(detector: Detector, text: str, severity: str) -> None:
    assert read(detector, text) == severity


@pytest.mark.parametrize(
    ("text", "severity"),
    [
        ("孕29周 发烧38.7 尿尿疼 腰也痛", "urgent"),  # all three parts of a combo
        ("孕29周 发烧38.7 尿尿疼", "concern"),  # two of three
        ("孕31周 摔了一跤 暂时没什么感觉", "urgent"),  # no feeling is no question
        ("大宝摔了一跤 膝盖破了", "none"),  # outside a pregnancy a tumble is a tumble
        ("孕30周 胎心仪测出来142", "none"),
        ("孕30周 胎心仪测出来172", "urgent"),
        ("孕30周 胎心监护做了40分钟", "none"),
        ("如果他还在的话 今天就满月了", "loss"),  # the if is the loss
        ("如果宝宝还在睡 我就先去洗澡", "none"),
        ("不想活了哈哈 不是开玩笑", "crisis"),  # a laugh she says is no joke
        ("不想活了哈哈 又胖了三斤", "none"),
        ("宝宝打嗝 一抽一抽的", "none"),
    ],
)
def test_fourth_blind_classes(detector: Detector, text: str, severity: str) -> None:
    assert read(detector, text) == severity


def test_the_first_character_guard_never_narrows_the_sign_union(detector: Detector) -> None:
    plain = re.compile("|".join(f"(?:{s.pattern.pattern})" for s in detector.signs))
    assert detector._any_sign.pattern != plain.pattern  # the guard is there
    texts = [row.text for row in care_phrases.load(TABLE)]
    for text in texts:
        message = prepare(text)
        assert bool(detector._any_sign.search(message)) == bool(plain.search(message)), text


@pytest.mark.parametrize(
    ("pattern", "starts"),
    [
        ("ab|cd", {"a", "c"}),
        ("(?:x)?y", {"x", "y"}),
        ("(?<!z)[0-2]q", {"0", "1", "2"}),
        (r"\dq", set("0123456789")),
        ("a?", None),  # can match nothing
        ("[^a]b", None),  # a negated class
        (".b", None),
    ],
)
def test_first_chars(pattern: str, starts: set[str] | None) -> None:
    found = _first_chars(pattern)
    assert (None if found is None else set(found)) == starts


# --- classes from the fifth blind read -----------------------------------------------


def test_pinyin_and_cantonese_words_are_read_as_the_words() -> None:
    assert prepare("wo xiang si") == "我想死"
    assert prepare("好累 xiangsi") == "好累 想死"
    assert prepare("bu xiang huo le") == "不想活了"
    assert prepare("xiang si ni men le") == "xiang si ni men le"  # missing someone
    assert prepare("bb啱啱七个礼拜 点算好") == "bb刚刚7个礼拜 怎么办"
    assert prepare("bb先至五个星期 成身好热") == "bb才5个星期 全身好热"


@pytest.mark.parametrize(
    ("text", "severity"),
    [
        ("我个bb啱啱七个礼拜 发烧39度", "urgent"),  # the age is read through 啱啱
        ("bb先至五个星期 成身好热 量咗38.5", "urgent"),  # 好热 of a body is no weather
        ("今天天气好热 外面38度", "none"),
        ("体重又涨了 xiang si哈哈哈", "none"),  # a laugh right after it
        ("十年前生老大的时候大出血", "none"),  # years ago
        ("五年前大出血 住了一个月院", "none"),
        ("听同事说她家宝宝误吞了纽扣电池", "none"),  # hearsay
        ("听邻居说楼上的孩子误吞了纽扣电池", "none"),
        ("书上写宝宝发烧超过40度会烧坏脑子 是真的吗", "none"),  # a claim asked about
        ("宝宝发烧40度 网上说要捂汗 是真的吗", "urgent"),  # her baby, then the question
        ("孕妇摔倒了要去医院吗 我没摔 就是好奇", "none"),
        ("孕32周 老公今天一下午都没动", "none"),  # a stretch of stillness, not his
        ("孕32周 宝宝今天一下午都没动", "urgent"),
    ],
)
def test_fifth_blind_classes(detector: Detector, text: str, severity: str) -> None:
    assert read(detector, text) == severity


def test_the_first_character_guards_never_skip_a_sign_or_a_part(detector: Detector) -> None:
    texts = [prepare(row.text) for row in care_phrases.load(TABLE)]
    guarded = [(s.pattern, starts) for s, starts in detector._guarded]
    guarded += list(zip(detector._parts, detector._part_starts, strict=True))
    assert any(starts is not None for _, starts in guarded)
    for pattern, starts in guarded:
        for text in texts:
            if starts is not None and pattern.search(text):
                assert not starts.isdisjoint(text), (pattern.pattern, text)
