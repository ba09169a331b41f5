"""The dialog step parsers on their own."""

from __future__ import annotations

from datetime import date

import pytest

from bot.config import DialogStep
from flows.dialog import read_answer

TODAY = date(2026, 11, 25)


def step(parser: str, **fields: object) -> DialogStep:
    return DialogStep(id="s", prompts=["?"], parser=parser, field="f", **fields)  # type: ignore[arg-type]


def value(s: DialogStep, text: str) -> str | None:
    answer = read_answer(s, text, TODAY)
    return None if answer is None else answer.value


def test_stage_date() -> None:
    answer = read_answer(step("stage_date"), "宝宝8个月", TODAY)
    assert answer is not None and answer.value == "婴儿期"
    assert answer.fields["birth_date"] == date(2026, 3, 25) and answer.fields["due_date"] is None
    assert read_answer(step("stage_date"), "不方便说", TODAY) is None
    due = read_answer(step("stage_date", expect="due"), "3月15号", TODAY)
    assert due is not None and due.fields["due_date"] == date(2027, 3, 15)


def test_city() -> None:
    answer = read_answer(step("city"), "坐标杭州", TODAY)
    assert answer is not None and answer.fields == {"city": "杭州", "province": "浙江"}
    assert read_answer(step("city"), "保密", TODAY) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("二胎", "二胎"),
        ("第二个宝宝", "二胎"),
        ("就一个", "一胎"),
        ("三胎啦", "三胎及以上"),
        ("不知道", None),
    ],
)
def test_choice_prefers_the_longest_word(text: str, expected: str | None) -> None:
    choices = {
        "一胎": ["第一个", "一个", "就一个"],
        "二胎": ["第二个", "2胎"],
        "三胎及以上": ["三胎", "第三个"],
    }
    assert value(step("choice", choices=choices), text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("是的", "是"),
        ("嗯嗯", "是"),
        ("好呀！", "是"),
        ("不是", "否"),
        ("没有", "否"),
        ("No", "否"),
        ("随便", None),
    ],
)
def test_yes_no(text: str, expected: str | None) -> None:
    assert value(step("yes_no"), text) == expected


def test_number_with_limits() -> None:
    s = step("number", min=1, max=10)
    assert value(s, "3个") == "3"
    assert value(s, "两个孩子") == "2"
    assert value(s, "12") is None  # above max
    assert value(s, "很多") is None
    assert value(step("number"), "3.5公斤") == "3.5"


def test_text_takes_anything_but_nothing() -> None:
    assert value(step("text"), " 喜欢绘本 ") == "喜欢绘本"
    assert value(step("text"), "  ") is None


def test_choice_ignores_ages_and_negations() -> None:
    choices = {"一胎": ["第一个", "一个"], "三胎及以上": ["三胎", "三个"]}
    s = step("choice", choices=choices)
    assert value(s, "宝宝三个月") is None
    assert value(s, "不是第一个") is None
    assert value(s, "三个娃") == "三胎及以上"


@pytest.mark.parametrize("text", ["不错", "nice", "还行吧"])
def test_yes_no_is_not_fooled_by_look_alikes(text: str) -> None:
    assert value(step("yes_no"), text) is None


FAMILY = {"一胎": ["第一个", "一个"], "二胎": ["第二个", "2胎"], "三胎及以上": ["三胎", "三个"]}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # one child
        ("头胎", "一胎"),
        ("就这一个，够了", "一胎"),
        ("只有一个宝宝", "一胎"),
        ("第一次当妈妈", "一胎"),
        ("目前1个娃", "一胎"),
        # two: by order, by count, by who they are, twins, an older sibling
        ("这是老二，老大3岁了", "二胎"),
        ("二宝，老大上小学了", "二胎"),
        ("一个男孩一个女孩", "二胎"),
        ("一儿一女", "二胎"),
        ("儿女双全啦", "二胎"),
        ("两个闺女", "二胎"),
        ("俩宝", "二胎"),
        ("俩娃妈", "二胎"),
        ("兩個", "二胎"),
        ("双胞胎", "二胎"),
        ("龙凤胎～", "二胎"),
        ("上面有个哥哥", "二胎"),
        ("大的5岁小的2岁", "二胎"),
        ("老大3岁，现在怀孕20周", "二胎"),
        ("不是第一个，是第二个", "二胎"),
        ("二孩", "二胎"),
        # three and more: the last choice
        ("老三", "三胎及以上"),
        ("仨", "三胎及以上"),
        ("两个姐姐一个弟弟", "三胎及以上"),
        ("老大5岁，这次是双胞胎", "三胎及以上"),
        ("四个孩子", "三胎及以上"),
        # not an answer: ages, a negation alone, the mother's own family, other talk
        ("宝宝三个月", None),
        ("一岁两个月", None),
        ("一个人带娃好累", None),
        ("我有个姐姐", None),
        ("不是第一个", None),
        ("你们是做什么的", None),
    ],
)
def test_the_family_step_counts_the_children_however_she_says_it(
    text: str, expected: str | None
) -> None:
    s = DialogStep(id="family", prompts=["?"], parser="choice", field="family", choices=FAMILY)
    assert value(s, text) == expected


def test_the_family_reading_keeps_the_choice_words_for_the_rest() -> None:
    choices = {"一胎": ["独苗苗"], "二胎": ["2胎"], "其他": ["再婚家庭"]}
    s = DialogStep(id="family", prompts=["?"], parser="choice", field="family", choices=choices)
    assert value(s, "独苗苗") == "一胎"
    assert value(s, "再婚家庭") == "其他"  # no count in it: the words decide
    assert value(s, "三胎") is None  # more than the choices name, and none says "以上"
    s = DialogStep(id="family", prompts=["?"], parser="choice", field="family", choices=FAMILY)
    assert value(s, "五个孩子") == "三胎及以上"  # the last choice is open-ended
