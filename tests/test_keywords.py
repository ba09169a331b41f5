"""Unit tests of the keyword matcher: normalisation, modes, any/all, priority, scale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.config import KeywordRule, load_content
from bot.ops_regex import compile_ops
from bot.text import normalize, strip_punctuation
from handlers.keywords import KeywordIndex
from tests.harness import REPO, copy_project


def rule(id: str, **fields: Any) -> KeywordRule:
    fields.setdefault("replies", [f"answer {id}"])
    return KeywordRule(id=id, **fields)


def ids(index: KeywordIndex, text: str) -> list[str]:
    return [r.id for r in index.match(text)]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＮＴ什么时候做", "nt什么时候做"),
        ("宝宝  湿疹\t\n怎么办 ", "宝宝 湿疹 怎么办"),
        ("订单号１２３４５", "订单号12345"),
        ("VIP", "vip"),
        ("", ""),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_strip_punctuation_only_at_the_edges() -> None:
    assert strip_punctuation("  群规？！") == "群规"
    assert strip_punctuation("「群规」😊") == "群规"
    assert strip_punctuation("群，规") == "群，规"
    assert strip_punctuation("？？") == ""


def test_contains_any_and_all() -> None:
    index = KeywordIndex(
        [
            rule("any", keywords=["湿疹", "奶癣"]),
            rule("all", keywords=["疫苗", "发烧"], require="all"),
        ]
    )
    assert ids(index, "宝宝奶癣") == ["any"]
    assert ids(index, "打疫苗了") == []
    assert ids(index, "打完疫苗发烧了") == ["all"]
    assert ids(index, "发烧，是不是疫苗的反应") == ["all"]
    assert ids(index, "疫苗疫苗") == []  # one keyword twice is not all of them


def test_exact_ignores_case_width_and_surrounding_punctuation() -> None:
    index = KeywordIndex([rule("rules", mode="exact", keywords=["群规", "Help"])])
    assert ids(index, "群规") == ["rules"]
    assert ids(index, "群规？") == ["rules"]
    assert ids(index, " ＨＥＬＰ! ") == ["rules"]
    assert ids(index, "看看群规") == []
    assert ids(index, "群规是什么") == []


def test_word_mode_needs_whole_jieba_words() -> None:
    index = KeywordIndex(
        [rule("milk", mode="word", keywords=["奶"]), rule("nt", mode="word", keywords=["NT"])]
    )
    assert ids(index, "宝宝不爱喝奶") == ["milk"]
    assert ids(index, "奶粉怎么冲") == []  # 奶 is inside the word 奶粉
    assert ids(index, "NT什么时候做") == ["nt"]
    assert ids(index, "I want to know") == []  # "nt" inside "want"


def test_contains_mode_matches_inside_words() -> None:
    index = KeywordIndex([rule("milk", keywords=["奶"])])
    assert ids(index, "奶粉怎么冲") == ["milk"]


def test_regex_runs_on_normalised_text_ignoring_case() -> None:
    index = KeywordIndex([rule("order", mode="regex", pattern=r"订单号?\s*\d{10,}")])
    assert ids(index, "订单号 1234567890") == ["order"]
    assert ids(index, "订单号１２３４５６７８９０") == ["order"]  # full-width digits
    assert ids(index, "订单 123") == []
    ci = KeywordIndex([rule("sku", mode="regex", pattern=r"sku-\d+")])
    assert ids(ci, "SKU-42 有货吗") == ["sku"]


def test_priority_then_file_order() -> None:
    index = KeywordIndex(
        [
            rule("first", keywords=["辅食"]),
            rule("second", keywords=["辅食"]),
            rule("urgent", keywords=["过敏"], priority=5),
            rule("low", keywords=["辅食"], priority=-1),
        ]
    )
    assert ids(index, "辅食过敏了") == ["urgent", "first", "second", "low"]


def test_disabled_rules_never_match() -> None:
    index = KeywordIndex(
        [rule("off", keywords=["湿疹"], enabled=False), rule("on", keywords=["黄疸"])]
    )
    assert len(index) == 1
    assert ids(index, "湿疹") == []
    assert ids(index, "黄疸") == ["on"]


def test_overlapping_keywords_of_many_rules() -> None:
    index = KeywordIndex(
        [
            rule("short", keywords=["纸尿裤"]),
            rule("long", keywords=["纸尿裤尺码"]),
            rule("other", keywords=["尺码"]),
        ]
    )
    assert ids(index, "纸尿裤尺码怎么选") == ["short", "long", "other"]


def test_empty_text_and_empty_index() -> None:
    assert KeywordIndex([]).match("湿疹") == []
    assert KeywordIndex([rule("a", keywords=["湿疹"])]).match("   ") == []


def test_ten_thousand_rules_match_exactly_the_right_ones() -> None:
    rules = [rule(f"r{i}", keywords=[f"关键词{i}号"]) for i in range(10_000)]
    rules.append(rule("words", mode="word", keywords=["黄疸"]))
    index = KeywordIndex(rules)
    assert ids(index, "请问关键词1234号和关键词9999号") == ["r1234", "r9999"]
    assert ids(index, "宝宝黄疸高") == ["words"]
    assert ids(index, "关键词号") == []


def test_shipped_content_covers_the_promised_topics() -> None:
    content = load_content(REPO / "content")
    rules = content.keywords.rules
    assert len(rules) >= 30
    index = KeywordIndex(rules)
    in_group = {
        "宝宝湿疹怎么办": "eczema",
        "新生儿黄疸多少算高": "jaundice",
        "几个月可以加辅食": "solids",
        "纸尿裤怎么选尺码": "diaper-size",
        "宝宝晚上总是夜醒怎么哄睡": "sleep",
        "打完疫苗发烧了": "vaccine-fever",
        "母乳喂养要注意什么": "breastfeeding",
        "我的快递到哪了": "order-in-group",
        "群规": "group-rules",
    }
    in_dm = {
        "我的快递到哪了": "delivery",
        "订单号：2026112512345": "order-number",
        "想退货怎么弄": "returns",
    }
    for questions, excluded in ((in_group, "dm"), (in_dm, "groups")):
        for question, rule_id in questions.items():
            matched = [r.id for r in index.match(question) if r.scope != excluded]
            assert matched and matched[0] == rule_id, (question, matched)
    assert ids(index, "今天天气真好") == []


def test_many_regex_rules_combined_into_one_pass() -> None:
    index = KeywordIndex(
        [
            rule("order", mode="regex", pattern=r"订单号?\s*\d{10,}"),
            rule("phone", mode="regex", pattern=r"1[3-9]\d{9}"),
            rule("repeat", mode="regex", pattern=r"(哈){5,}"),
            rule("named", mode="regex", pattern=r"(?P<n>\d+)元"),
            rule("named2", mode="regex", pattern=r"(?P<n>\d+)块"),  # same group name
        ]
    )
    assert ids(index, "订单号1234567890") == ["order"]
    assert ids(index, "电话13800138000") == ["phone"]
    assert ids(index, "哈哈哈哈哈哈") == ["repeat"]
    assert ids(index, "39元还是40块") == ["named", "named2"]
    assert ids(index, "没有数字") == []
    combinable = KeywordIndex(
        [rule("a", mode="regex", pattern=r"\d+元"), rule("b", mode="regex", pattern=r"(?i)VIP")]
    )
    assert ids(combinable, "vip价39元") == ["a", "b"]
    assert ids(combinable, "普通价") == []


# ---------------------------------------------------------------- ops' regexes run on RE2

# A pattern Python's re accepts and then backtracks on: 8 s on 26 characters, hours on 60.
CATASTROPHIC = r"(\w+\s?)+吗$"


def test_a_catastrophic_pattern_runs_in_linear_time_and_keeps_its_meaning() -> None:
    index = KeywordIndex([rule("ask", mode="regex", pattern=CATASTROPHIC)])
    # With Python's re this line alone would take longer than the age of the universe.
    assert ids(index, "宝宝" * 30 + " 湿疹" * 30 + "！") == []
    assert ids(index, "a" * 100_000 + "!") == []
    assert ids(index, "宝宝湿疹 怎么办吗") == ["ask"]  # \w and \s are Unicode, as in Python


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        (r"\d{3}", "宝宝３个月", False),  # normalised to ASCII first: one digit
        (r"\d{3}", "出生体重３２００克", True),
        (r"^\w+$", "宝宝湿疹", True),
        (r"宝宝\s湿疹", "宝宝\u3000湿疹", True),
        (r"[\s,]", "a b", True),
        (r"[^\d]+元", "九十九元", True),
        (r"\D", "123", False),
        (r"\u5b9d\u5b9d", "宝宝", True),
        (r"SKU-\d+\Z", "sku-42", True),
        (r"a{,2}b", "aaab", True),
        (r"[]x]", "]", True),
    ],
)
def test_python_meaning_of_classes_is_kept_on_re2(pattern: str, text: str, matches: bool) -> None:
    index = KeywordIndex([rule("r", mode="regex", pattern=pattern)])
    assert (ids(index, text) == ["r"]) is matches


def test_classes_are_unicode_wide_before_normalisation_too() -> None:
    assert compile_ops(r"宝\s宝").search("宝\u2003宝")  # an em space, as in Python
    assert compile_ops(r"^[\w\s]+$").search("宝宝 mama_1\u00a0")
    assert not compile_ops(r"\W").search("宝宝mama")
    assert compile_ops(r"\d").search("٣")  # any decimal digit, as in Python


@pytest.mark.parametrize(
    ("pattern", "advice"),
    [
        (r"(哈)\1{4,}", "back-references"),
        (r"(?P<x>哈)(?P=x)", "back-references by name"),
        (r"(?<!不)买", "negative lookbehind"),
        (r"(?<=订单)\d+", "lookbehind"),
        (r"奶粉(?=多少钱)", "lookahead"),
        (r"奶粉(?!过敏)", "negative lookahead"),
        (r"(?>a+)b", "atomic groups"),
        (r"a*+b", "a quantifier may not follow a quantifier"),
        (r"[\W]", "\\W inside [...]"),
        (r"a{2000}", "may not exceed 1000"),
    ],
)
def test_patterns_re2_cannot_run_are_refused_with_advice(pattern: str, advice: str) -> None:
    with pytest.raises(ValueError) as err:
        rule("order-ref", mode="regex", pattern=pattern)
    message = str(err.value)
    assert "pattern cannot be used (rule 'order-ref')" in message
    assert advice in message


def test_an_invalid_pattern_is_still_called_invalid() -> None:
    with pytest.raises(ValueError) as err:
        rule("broken", mode="regex", pattern="([unclosed")
    assert "pattern is not a valid regular expression (rule 'broken')" in str(err.value)


def test_max_chars_and_questions_only_limit_what_a_rule_matches() -> None:
    index = KeywordIndex(
        [
            rule("bag", keywords=["待产包", "待产"], max_chars=20, questions_only=True),
            rule("short", keywords=["湿疹"], max_chars=10),
            rule("asks", keywords=["月子"], questions_only=True),
        ]
    )
    assert ids(index, "待产包要准备什么") == ["bag"]
    assert ids(index, "求一份待产包清单") == ["bag"]  # a request counts as asking
    assert ids(index, "待产包？") == ["bag"]  # nothing but the keyword asks for it
    assert ids(index, " ＊待产包＊ ") == ["bag"]
    assert ids(index, "昨天进了待产室疼了一晚上") == []  # short, but no question
    assert ids(index, "34周了，想问一下待产包里到底要准备哪些东西，医院会发吗") == []  # too long
    assert ids(index, "湿疹怎么办") == ["short"]
    assert ids(index, "宝宝湿疹") == ["short"]  # no question needed
    assert ids(index, "宝宝湿疹好几天了，一直反复") == []  # 11 characters
    assert ids(index, "月子里能洗头吗") == ["asks"]
    assert ids(index, "月子里婆婆天天让我喝猪蹄汤，一碗接一碗，太油了，后来我偷偷倒掉了") == []


def test_max_chars_counts_the_normalised_text() -> None:
    index = KeywordIndex([rule("short", keywords=["湿疹"], max_chars=4)])
    assert ids(index, "  湿疹   湿疹 ") == []  # "湿疹 湿疹": 5
    assert ids(index, "  ＳＳ湿疹  ") == ["short"]  # "ss湿疹": 4


def test_shipped_hospital_bag_rule_ignores_a_birth_story() -> None:
    index = KeywordIndex(load_content(REPO / "content").keywords.rules)
    assert "hospital-bag" in ids(index, "待产包需要准备什么")
    assert "hospital-bag" in ids(index, "待产包")
    story = "姐妹们我生啦！昨天半夜破水进了待产室，疼了一整晚，今天早上顺产一个7斤2两的男宝"
    assert "hospital-bag" not in ids(index, story)
    assert "hospital-bag" not in ids(index, "进了待产室好紧张")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"keywords": ["待产包"], "max_chars": 0}, "greater than or equal to 1"),
        ({"keywords": ["待产包"], "max_chars": 2}, "shorter than the keyword '待产包'"),
        ({"keywords": ["湿疹", "疫苗"], "require": "all", "max_chars": 1}, "shorter than"),
    ],
)
def test_limits_that_could_never_match_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rule("r", **fields)


def test_max_chars_may_leave_some_keywords_of_an_any_rule() -> None:
    assert rule("r", keywords=["待产包清单", "待产包"], max_chars=3).max_chars == 3


def test_repeat_reply_placeholders_are_checked() -> None:
    from bot.config import KeywordsContent

    assert KeywordsContent(repeat_reply="{name}，上面有哦").repeat_reply == "{name}，上面有哦"
    assert KeywordsContent(repeat_reply="").repeat_reply == ""
    with pytest.raises(ValueError, match="unknown placeholder"):
        KeywordsContent(repeat_reply="{nmae}，上面有哦")


BAD_LIMITS = """repeat_reply = "{nmae}，上面有哦"

[[rules]]
id = "bag"
keywords = ["待产包"]
replies = ["清单"]
max_chars = 2

[[rules]]
id = "zero"
keywords = ["湿疹"]
replies = ["保湿"]
max_chars = 0

[[rules]]
id = "typo"
keywords = ["月子"]
replies = ["休息"]
question_only = true
"""


def test_check_reports_every_bad_limit_by_line_and_rule(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from bot.cli import main

    copy_project(tmp_path)
    (tmp_path / "content" / "keywords.toml").write_text(BAD_LIMITS, encoding="utf-8")
    assert main(["check", "--dir", str(tmp_path)]) == 1
    errors = [line for line in capsys.readouterr().out.splitlines() if line.startswith("error")]
    assert len(errors) == 4
    assert "keywords.toml:1: repeat_reply: unknown placeholder {nmae}" in errors[0]
    assert "keywords.toml:7: rule 'bag': max_chars = 2 is shorter than" in errors[1]
    assert "keywords.toml:13: rule 'zero': max_chars" in errors[2]
    assert "keywords.toml:19: rule 'typo': unknown key 'question_only'" in errors[3]
    assert "did you mean 'questions_only'" in errors[3]
