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
