"""Stage understanding: the phrasing table, boundaries, and the `mamabot parse-stage` contract."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from flows.stage import (
    StageBoundaries,
    _pinyin,
    add_months,
    parse_stage,
    stage_for,
)
from tests.harness import REPO

TODAY = date(2026, 11, 25)
TABLE = Path(__file__).with_name("stage_cases.tsv")
FIELDS = ("stage", "due_date", "birth_date", "gestational_days", "baby_age_days", "children")


def load_cases() -> list[Any]:
    """The table's rows; a `# today: YYYY-MM-DD` line sets today for the rows after it."""
    cases = []
    today = TODAY
    lines = TABLE.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    assert header == ["text", "hint", *FIELDS], header
    for number, line in enumerate(lines[1:], start=2):
        if moved := re.fullmatch(r"#\s*today:\s*(\d{4}-\d{2}-\d{2})\s*", line):
            today = date.fromisoformat(moved.group(1))
            continue
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        assert len(cells) == len(header), f"{TABLE.name}:{number}: {len(cells)} cells"
        text, hint, *values = cells
        expected: dict[str, Any] = {}
        for name, value in zip(FIELDS, values, strict=True):
            if value == "null":
                expected[name] = None
            elif name in ("gestational_days", "baby_age_days", "children"):
                expected[name] = int(value)
            else:
                expected[name] = value
        cases.append(pytest.param(text, hint or None, expected, today, id=f"{number}:{text}"))
    return cases


CASES = load_cases()


def test_the_table_is_large_and_varied() -> None:
    assert len(CASES) >= 150
    stages = {case.values[2]["stage"] for case in CASES}
    assert stages >= {
        None,
        "备孕期",
        "孕早期",
        "孕中期",
        "孕晚期",
        "新生儿期",
        "婴儿期",
        "幼儿期",
        "学龄前期",
    }


@pytest.mark.parametrize(("text", "hint", "expected", "today"), CASES)
def test_phrasing(text: str, hint: str | None, expected: dict[str, Any], today: date) -> None:
    line = parse_stage(text, today, hint).to_json()  # type: ignore[arg-type]
    confidence = line.pop("confidence")
    assert line == expected
    assert 0 <= confidence <= 1 and (confidence == 0) == (set(expected.values()) == {None})


def test_stage_boundaries_by_date() -> None:
    def pregnant(days: int) -> str | None:
        return stage_for(TODAY, due_date=date.fromordinal(TODAY.toordinal() + 280 - days))

    assert [pregnant(d) for d in (1, 90, 91, 195, 196, 280, 290)] == [
        "孕早期",
        "孕早期",
        "孕中期",
        "孕中期",
        "孕晚期",
        "孕晚期",
        "孕晚期",
    ]

    def born(birth: date) -> str | None:
        return stage_for(TODAY, birth_date=birth)

    assert born(TODAY) == "新生儿期"
    assert born(date(2026, 10, 29)) == "新生儿期"  # 27 days
    assert born(date(2026, 10, 28)) == "婴儿期"  # 28 days
    assert born(date(2025, 11, 26)) == "婴儿期"  # the first birthday is tomorrow
    assert born(date(2025, 11, 25)) == "幼儿期"
    assert born(date(2023, 11, 26)) == "幼儿期"
    assert born(date(2023, 11, 25)) == "学龄前期"
    assert born(date(2020, 11, 26)) == "学龄前期"
    assert born(date(2020, 11, 25)) is None  # six: past what this product covers
    assert born(date(2026, 12, 1)) is None  # not born yet


def test_boundaries_come_from_config() -> None:
    strict = StageBoundaries(middle_from_weeks=14, infant_from_days=42)
    assert parse_stage("孕13周", TODAY).stage == "孕中期"
    assert parse_stage("孕13周", TODAY, bounds=strict).stage == "孕早期"
    assert parse_stage("宝宝30天", TODAY, bounds=strict).stage == "新生儿期"


def test_add_months_clamps_to_the_month_end() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2024, 3, 31), -1) == date(2024, 2, 29)
    assert add_months(date(2026, 11, 25), -8) == date(2026, 3, 25)
    assert add_months(date(2026, 11, 25), 2) == date(2027, 1, 25)


def test_cli_prints_one_contract_line_per_argument(capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(
        ["parse-stage", "--today", "2026-11-25", "--dir", str(REPO), "孕24周", "你好", "宝宝8个月"]
    )
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # keys in contract order, the confidence last
    assert [list(line) for line in lines] == [[*FIELDS, "confidence"]] * 3
    assert lines[0].pop("confidence") >= 0.9
    assert lines[0] == {
        "stage": "孕中期",
        "due_date": "2027-03-17",
        "birth_date": None,
        "gestational_days": 168,
        "baby_age_days": None,
        "children": None,
    }
    assert lines[1].pop("confidence") == 0
    assert set(lines[1].values()) == {None}
    assert lines[2]["birth_date"] == "2026-03-25" and lines[2]["baby_age_days"] == 245


def test_cli_reads_stdin_and_takes_a_hint() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "parse-stage", "--today", "2026-11-25", "--expect", "due"],
        input="3月15号\n不方便说\n寶寶兩個月\n",
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["stage"] for line in lines] == ["孕中期", None, "婴儿期"]
    assert lines[0]["due_date"] == "2027-03-15"


def test_cli_rejects_a_bad_date(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["parse-stage", "--today", "2026-02-30", "孕24周"]) == 2
    assert "--today must be YYYY-MM-DD" in capsys.readouterr().err


@pytest.mark.parametrize("today", ["9999-12-31", "0001-01-01", "2100-01-01", "1899-12-31"])
def test_cli_refuses_a_today_the_calendar_cannot_reach(capsys, today: str) -> None:  # type: ignore[no-untyped-def]
    # 9999-12-31: a due date 40 weeks on is in year 10000 (a traceback before the check).
    answers = ["孕24周", "宝宝8个月", "预产期2027年3月15日", "两岁半", "农历八月十五"]
    assert main(["parse-stage", "--today", today, "--dir", str(REPO), *answers]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"--today must be in the years 1900-2099, got '{today}'" in captured.err


@pytest.mark.parametrize("today", ["1900-01-01", "2099-12-31"])
def test_cli_reads_answers_at_both_ends_of_the_calendar(capsys, today: str) -> None:  # type: ignore[no-untyped-def]
    answers = [
        "孕24周",
        "宝宝8个月",
        "预产期2月29日",
        "农历八月十五",
        "老大5岁老二5个月",
        "预产期明年3月",
    ]
    assert main(["parse-stage", "--today", today, "--dir", str(REPO), *answers]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(answers)
    assert json.loads(lines[0])["gestational_days"] == 168


def test_a_long_text_is_read_only_at_its_start() -> None:
    # "宝宝" x 20,000 took 0.9 s and x 100,000 twenty seconds (the 宝宝...生 cue is
    # quadratic); an answer is a line, so the parser reads its first MAX_ANSWER characters.
    assert parse_stage("孕24周" + "宝宝" * 20_000, TODAY).stage == "孕中期"
    assert parse_stage("宝宝" * 300 + "孕24周", TODAY).empty


# --------------------------------------------------------------------------- confidence


@pytest.mark.parametrize(
    "text",
    [
        "孕24周+3天",
        "宝宝8个月",
        "预产期2027年3月15日",
        "宝宝是2024年6月1日生的",
        "孕9周，下周去医院建卡",
    ],
)
def test_a_plain_answer_is_read_with_high_confidence(text: str) -> None:
    result = parse_stage(text, TODAY)
    assert result.confidence >= 0.9 and not result.needs_confirmation


@pytest.mark.parametrize(
    "text",
    [
        "怀孕三个月",  # 4N weeks sits on the 孕早期 / 孕中期 boundary: either stage
        "怀孕七个月了",
        "孕早期",  # a stage without a date
        "刚测出两道杠",
        "老大3岁了，在备孕二胎",
        "孕35周，医生说下周可能就生了",  # two readings that disagree
        "宝宝还不到一岁",  # a bound, not a date: 1 month or 11
        "肚子快七个月了",
    ],
)
def test_an_uncertain_reading_asks_to_be_confirmed(text: str) -> None:
    result = parse_stage(text, TODAY)
    assert not result.empty and result.needs_confirmation


@pytest.mark.parametrize("text", ["3月15号", "农历腊月十八", "11月20号吧", "3.15"])
def test_a_bare_month_day_is_read_but_confirmed(text: str) -> None:
    # No cue or hint says due date or birthday: it is a guess between them, so she confirms
    # it, while the same date with a cue or a hint is certain.
    bare = parse_stage(text, TODAY)
    assert not bare.empty and bare.needs_confirmation
    assert parse_stage(text, TODAY, "due" if bare.due_date else "birth").confidence >= 0.9
    cued = parse_stage(("预产期" if bare.due_date else "宝宝出生在") + text, TODAY)
    assert cued.confidence >= 0.9


def test_a_bare_due_date_is_confirmed_in_her_words() -> None:
    assert parse_stage("3月15号吧", TODAY).confirm_question() == (
        "您是孕24周左右，预产期大约2027年3月15日，对吗？"
    )


def test_the_confirmation_question_says_the_reading_in_her_words() -> None:
    assert (
        parse_stage("孕10周", TODAY).confirm_question()
        == "您是孕10周左右，预产期大约2027年6月23日，对吗？"
    )
    assert parse_stage("宝宝8个月", TODAY).confirm_question() == (
        "您是宝宝8个月左右，生日大约2026年3月25日，对吗？"
    )
    assert parse_stage("孕早期", TODAY).confirm_question() == "您现在是孕早期，对吗？"
    assert parse_stage("在备孕", TODAY).confirm_question() == "您在备孕，对吗？"
    assert parse_stage("宝宝还不到一岁", TODAY).confirm_question() == "您现在是婴儿期，对吗？"
    assert parse_stage("你好", TODAY).confirm_question() == ""


def test_a_reading_that_contradicts_an_earlier_one_is_noticed() -> None:
    from flows.stage import contradicts

    pregnant = parse_stage("孕20周", TODAY)
    assert not contradicts(pregnant, parse_stage("孕21周", TODAY))  # a week on: same answer
    assert contradicts(pregnant, parse_stage("孕30周", TODAY))
    assert contradicts(pregnant, parse_stage("备孕", TODAY))
    assert contradicts(pregnant, parse_stage("昨天刚生的", TODAY))  # at 20 weeks: not news
    near_term = parse_stage("孕38周", TODAY)
    assert not contradicts(near_term, parse_stage("昨天刚生的", TODAY))  # news, not a conflict
    baby = parse_stage("宝宝8个月", TODAY)
    assert contradicts(baby, parse_stage("孕20周", TODAY))
    assert contradicts(baby, parse_stage("宝宝3个月", TODAY))


def test_named_days_come_from_the_data_table(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import flows.stage as stage

    table = tmp_path / "named_days.tsv"
    table.write_text("names\tcalendar\tmonth\tday\n宝宝节\tsolar\t3\t3\n", encoding="utf-8")
    monkeypatch.setattr(stage, "NAMED_DAYS", table)
    stage.named_days.cache_clear()
    stage._named_day_pattern.cache_clear()
    try:
        assert parse_stage("宝宝是宝宝节出生的", TODAY).birth_date == date(2026, 3, 3)
        assert parse_stage("宝宝是国庆节出生的", TODAY).empty
    finally:
        monkeypatch.undo()
        stage.named_days.cache_clear()
        stage._named_day_pattern.cache_clear()
    assert parse_stage("宝宝是国庆节出生的", TODAY).birth_date == date(2026, 10, 1)


def test_a_solar_term_falls_on_its_own_day_each_year() -> None:
    # named_days.tsv: 清明 is the 5th of April, but the 4th in 2028
    assert parse_stage("清明出生的", date(2027, 11, 27)).birth_date == date(2027, 4, 5)
    assert parse_stage("清明出生的", date(2028, 11, 27)).birth_date == date(2028, 4, 4)


@pytest.mark.parametrize(
    "text",
    [
        "七个月",  # a baby of seven months or a pregnancy in its seventh: she says which
        "8个月",
        "3个月了",
        "三个多月",
        "五个月左右",
        "1.15",  # a due date or a birthday: nothing says which
        "大概12.20吧",
        "1-15",
        "8.15",
    ],
)
def test_an_answer_that_could_be_either_is_never_read_confidently(text: str) -> None:
    result = parse_stage(text, TODAY)
    assert result.empty or result.needs_confirmation


@pytest.mark.parametrize(
    ("text", "hint"),
    [("宝宝七个月", None), ("七个月大了", None), ("七个月", "birth"), ("1.15", "due")],
)
def test_the_same_answer_with_a_word_or_a_question_is_confident(text: str, hint: str) -> None:
    assert parse_stage(text, TODAY, hint).confidence >= 0.8  # type: ignore[arg-type]


def test_the_heldout_bench_counts_confidently_wrong_stages(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location("stage_heldout", REPO / "bench/stage_heldout.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "stage_heldout", bench)  # its dataclasses look it up
    spec.loader.exec_module(bench)
    table = tmp_path / "dev.tsv"
    null = "\tnull" * 5
    table.write_text(
        "text\thint\tstage\tdue_date\tbirth_date\tgestational_days\tbaby_age_days\tchildren\n"
        "# today: 2026-11-25\n"
        f"孕20周\t\t孕中期{null}\n"  # right
        f"宝宝8个月\t\t孕中期{null}\n"  # wrong, and confidently so
        f"七个月\t\t孕晚期{null}\n",  # wrong, but she is asked first
        encoding="utf-8",
    )
    line = bench.summary(bench.judge(bench.load(table)))
    assert line == (
        "stage held-out: 1/3 right (33.3%), wrong stage 2 (66.7%), no stage 0, "
        "confidently wrong 1 (33.3%)"
    )


# --------------------------------------------------------------------------- error classes
# Today 2026-11-27 (a Friday), as in the blind tables; each class also has rows in the table.
BLIND_TODAY = date(2026, 11, 27)


@pytest.mark.parametrize(
    ("text", "weeks"),
    [
        ("刚做完NT，12周", 12),  # prenatal care makes a bare N周 the pregnancy's
        ("宝宝20周，刚做完唐筛", 20),
        ("我是外婆，闺女27周了", 27),  # past 16 weeks a baby is counted in months
        ("宝宝18周了", 18),
    ],
)
def test_a_bare_week_count_by_a_pregnancy_is_never_a_baby(text: str, weeks: int) -> None:
    result = parse_stage(text, BLIND_TODAY)
    assert result.birth_date is None and result.gestational_days == 7 * weeks


@pytest.mark.parametrize(
    ("text", "days"),
    [("宝宝出生5周了", 35), ("宝宝6周大", 42), ("宝宝满8周了", 56), ("宝宝20周大了", 140)],
)
def test_a_born_babys_weeks_stay_a_babys(text: str, days: int) -> None:
    result = parse_stage(text, BLIND_TODAY)
    assert result.due_date is None and result.baby_age_days == days


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("移植后第10天，hcg 300", 10 + 19),  # embryo unnamed: a day-5 blastocyst
        ("移植囊胚后第12天，验血hcg翻倍很好", 12 + 19),
        ("移植三天胚后14天，抽血阳性", 14 + 17),  # a day-3 embryo
        ("试管移植后20天，hcg两千多", 20 + 19),
    ],
)
def test_days_after_a_transfer_that_took_are_gestation(text: str, days: int) -> None:
    result = parse_stage(text, BLIND_TODAY)
    assert result.stage == "孕早期" and result.gestational_days == days
    assert result.birth_date is None


@pytest.mark.parametrize(
    "text",
    [
        "移植后14天，hcg 0.5，没着床",  # a transfer that did not take
        "移植失败了，准备下个月再移植",
        "吃叶酸3个月了，还没动静",  # months of folic acid are no pregnancy
        "叶酸吃了两个月了，还没怀上",
        "这个月又没怀😭",  # 这个月 is no due date
        "验了还是一条杠",
        "刚做完孕前检查",
        "上个月停了避孕药",
    ],
)
def test_trying_without_the_word_is_preparing(text: str) -> None:
    result = parse_stage(text, BLIND_TODAY)
    assert result.stage == "备孕期" and result.due_date is None and result.birth_date is None


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("5天囊移植后第10天，测了两道杠", 10 + 19),  # the embryo's 5天 is no baby's age
        ("移植了一个五天囊胚，移植后第14天hcg翻倍很好", 14 + 19),
        ("移植后第28天，B超看到卵黄囊了，移植的是3天胚", 28 + 17),  # its age named later
        ("冻胚移植后已经第100天了", 100 + 19),  # nobody counts that long unless it took
        ("移植后第30天，看到胎芽了", 30 + 19),
        ("移植后第18天，b超看到卵黄囊了", 18 + 19),  # a scan finding says it took
    ],
)
def test_an_embryos_age_and_long_counts_after_a_transfer_are_gestation(
    text: str, days: int
) -> None:
    result = parse_stage(text, BLIND_TODAY)
    assert (result.gestational_days, result.birth_date) == (days, None)


@pytest.mark.parametrize(
    ("text", "age"),
    [
        ("34周早产的，现在出生20天", 20),
        ("宝宝今年1岁半，28周早产的", (BLIND_TODAY - add_months(BLIND_TODAY, -18)).days),
        ("生的时候35周，现在宝宝两个月了", (BLIND_TODAY - add_months(BLIND_TODAY, -2)).days),
        # the corrected age (纠正月龄, 纠正3个月) is not her age, nor a correction of it
        (
            "早产儿，30周出生的，现在5个月大，纠正3个月",
            (BLIND_TODAY - add_months(BLIND_TODAY, -5)).days,
        ),
        (
            "32周就生了，宝宝现在3个月，纠正月龄1个月",
            (BLIND_TODAY - add_months(BLIND_TODAY, -3)).days,
        ),
    ],
)
def test_a_premature_babys_weeks_at_birth_are_not_a_pregnancy(text: str, age: int) -> None:
    result = parse_stage(text, BLIND_TODAY)
    assert (result.baby_age_days, result.due_date) == (age, None)


@pytest.mark.parametrize(
    ("text", "birth"),
    [
        ("She's 3 months and 2 weeks", add_months(BLIND_TODAY, -3) - timedelta(weeks=2)),
        ("My daughter is 3 and a half", add_months(BLIND_TODAY, -42)),
        ("He is 7 months old", add_months(BLIND_TODAY, -7)),
        ("She is 5 weeks old", BLIND_TODAY - timedelta(weeks=5)),
    ],
)
def test_an_english_childs_age_is_a_baby(text: str, birth: date) -> None:
    result = parse_stage(text, BLIND_TODAY)
    assert (result.birth_date, result.due_date) == (birth, None)
    assert not result.needs_confirmation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("huaiyun 11 zhou le", {"gestational_days": 77}),
        ("yun 33 zhou + 2 tian", {"gestational_days": 233}),
        ("yu chan qi 2027 nian 3 yue 25 hao", {"due_date": date(2027, 3, 25)}),
        ("yuchanqi shi 2027.2.10", {"due_date": date(2027, 2, 10)}),
        ("bao bao chu sheng 9 tian", {"baby_age_days": 9}),
        ("yi sui ba ge yue", {"birth_date": add_months(BLIND_TODAY, -20)}),
        ("beiyun zhong", {"stage": "备孕期"}),
    ],
)
def test_pinyin_answers_are_read(text: str, expected: dict[str, Any]) -> None:
    result = parse_stage(text, BLIND_TODAY)
    assert {key: getattr(result, key) for key in expected} == expected


@pytest.mark.parametrize(
    "text",
    [
        "due in March",
        "baby is 10 days old",
        "wxid_abc123",
        "I'm 20 weeks pregnant",
        "宝宝3个月了，ba ba 很喜欢她",  # a Chinese answer keeps its latin words
    ],
)
def test_english_ids_and_chinese_are_not_read_as_pinyin(text: str) -> None:
    assert _pinyin(text.casefold()) == text.casefold()
