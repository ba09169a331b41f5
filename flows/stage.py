"""Where a mother is: 备孕, pregnant (which week) or a baby of which age, from what she types.

`parse_stage(text, today)` reads the answers mothers actually give in WeChat and never
guesses: text without stage information gives an empty result. It reads in two steps.

1. Facts. What she says is split into facts, each with how sure it is and how strongly it
   speaks: the kind of statement (trying / pregnant / born / neither), a gestational age, a
   baby's age, a due date, a birth date, a relative date anchored on today (下个月就生,
   上周五生的), a festival or named day (flows/data/named_days.tsv, lunar ones through
   lunardate), a planned delivery (12月5号剖), a stage named outright, a kindergarten class.
   Chinese numerals go through cn2an; common typos of 个 / 月 / 周 are repaired first.
2. Resolution, with explicit precedence: an explicit gestational age, a baby's age or a date
   with its own cue (预产期…, …出生) beats a loose date (one only the question or another
   clause points at); a relative phrase about something else (下周去建档, 下周约了NT) is no
   fact at all; a baby already born beats an old due date unless she has several children.

The result carries a confidence in 0..1 (`CONFIRM_BELOW`: the dialog confirms below it). It
is high only when one reading is certain: an approximate fact (怀孕3个月, 春节前后, 上幼儿园了)
whose possible span crosses a stage boundary, conflicting facts, a repaired typo or a stage
named without a date all lower it.

`stage_for(today, due_date=..., birth_date=...)` turns stored dates into a stage with the
configured boundaries; the daily recompute uses it too.

Conventions (the test table in tests/stage_cases.tsv is the full specification):
- gestational age = 280 days − days until the due date;
- "怀孕N个月" is N four-week obstetric months: 4N weeks (see `_pregnancy_months`);
- a month-day without a year is the next such day for a due date and the last one for a
  birthday; with no cue or hint saying which, it counts only as the whole answer (3月15号吧,
  农历腊月十八): then it answers the intake's 预产期或者生日 question, so a next day far enough
  ahead for a known pregnancy is the due date and otherwise the last one is the birthday,
  read with a confidence that asks her to confirm (`_due_or_birthday`);
- a year-month without a day is the 15th (初/上旬 5th, 中旬 15th, 下旬 25th, 底/末 last day);
- a bare N周 is the pregnancy's unless a baby word is near it (see `_weeks_of_pregnancy`);
  next to prenatal care (NT, 大排畸, 产检) or past 16 weeks it is the pregnancy's unless the
  words say the baby was born (出生20周, 20周大);
- days after an embryo transfer that took are gestation (a day-5 blastocyst is 19 days old
  on the day of transfer, a day-3 embryo 17: `_ivf`); a failed transfer, a negative test
  and contraception stopped are 备孕; the embryo's own age (5天囊) is never a baby's, and a
  scan finding (卵黄囊, 胎芽) or a count past three weeks says the transfer took;
- N周 with 早产 / 出生 / 生的时候 is the gestation at the birth, not hers now; a corrected age
  (纠正月龄) never replaces the baby's actual age;
- pinyin (huaiyun 11 zhou, yu chan qi …) is read through flows/data/pinyin.tsv, only in an
  answer that is mostly latin and mostly pinyin syllables (`_pinyin`);
- a corrected value wins (不是12周，是16周; 打错了; 后来改成): `_corrected`; an age on a past day
  is older by the days since (上周五医生说6周+1: `_as_of_then`), a planned delivery with the
  age on that day gives the due date (`_planned_delivery`);
  N个月 is the pregnancy's with pregnancy words anywhere in the answer and no baby word (肚子
  很大了, 有了, 怀二胎), or answering the due-date question; with neither (七个月) it is read
  as a baby's age with a confidence that asks her to confirm (`_MonthsOf`);
- 不到N岁 is a bound, not an age: the stage of the year before N, and no birth date; an age
  still to come (明天就满一岁, 快满月) is that much younger;
- a month with a lunar day (二月初六, 三月廿二) is lunar without 农历; the last period
  (末次月经) gives the due date 280 days on; an older child's age beside a pregnancy she
  is in now (儿子3岁，现在孕20周) leaves the pregnancy her stage; another person's day
  (老公生日…) is nobody's stage.
"""

from __future__ import annotations

import calendar
import functools
import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

import cn2an
from lunardate import LunarDate

from bot.stages import STAGE_NAMES, StageBoundaries

Hint = Literal["due", "birth"] | None
About = Literal["due", "birth"]

PREPARING = "备孕期"
EARLY, MIDDLE, LATE = "孕早期", "孕中期", "孕晚期"
NEWBORN, INFANT, TODDLER, PRESCHOOL = "新生儿期", "婴儿期", "幼儿期", "学龄前期"
STAGES = (PREPARING, EARLY, MIDDLE, LATE, NEWBORN, INFANT, TODDLER, PRESCHOOL)
assert STAGES == STAGE_NAMES, "the parser's stages are the ones content names"

FULL_TERM = 280
MAX_GESTATION = 44 * 7  # past this, the baby has surely arrived: the stage is unknown
# Only the start of a text is read: an answer to "when is she due" is a line, and some
# cues (宝宝...生) cost time with the square of the length: 40,000 characters took 0.9 s.
MAX_ANSWER = 500
# Below this confidence the intake dialog confirms the reading with her before it becomes
# a tag (您是孕10周左右，预产期大约2027年6月22日，对吗？).
CONFIRM_BELOW = 0.8

NAMED_DAYS = Path(__file__).with_name("data") / "named_days.tsv"

DEFAULT_BOUNDARIES = StageBoundaries()


@dataclass(frozen=True)
class StageResult:
    stage: str | None = None
    due_date: date | None = None
    birth_date: date | None = None
    gestational_days: int | None = None
    baby_age_days: int | None = None
    children: int | None = None
    confidence: float = 0.0

    @property
    def empty(self) -> bool:
        return self == StageResult()

    @property
    def needs_confirmation(self) -> bool:
        return not self.empty and self.confidence < CONFIRM_BELOW

    def to_json(self) -> dict[str, Any]:
        """The `mamabot parse-stage` line, keys in contract order (confidence last)."""
        return {
            "stage": self.stage,
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "birth_date": self.birth_date.isoformat() if self.birth_date else None,
            "gestational_days": self.gestational_days,
            "baby_age_days": self.baby_age_days,
            "children": self.children,
            "confidence": self.confidence,
        }

    def summary(self) -> str:
        """The reading in her words, for a confirmation: 孕10周左右，预产期大约2027年6月22日."""
        if self.gestational_days is not None and self.due_date is not None:
            weeks, days = divmod(self.gestational_days, 7)
            when = f"孕{weeks}周" + (f"{days}天" if days and self.confidence >= 0.9 else "")
            return f"{when}左右，预产期大约{_chinese_date(self.due_date)}"
        if self.baby_age_days is not None and self.birth_date is not None:
            age, born = _age_words(self.baby_age_days), _chinese_date(self.birth_date)
            return f"宝宝{age}左右，生日大约{born}"
        if self.stage == PREPARING:
            return "在备孕"
        if self.stage is not None:
            return f"现在是{self.stage}"
        return ""

    def confirm_question(self) -> str:
        """您是孕10周左右，预产期大约2027年6月22日，对吗？ (empty for an empty reading)."""
        if self.empty:
            return ""
        said = self.summary()
        return f"您{'' if said.startswith(('现在', '在')) else '是'}{said}，对吗？"


def _chinese_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _age_words(days: int) -> str:
    if days < 28:
        return f"{days}天"
    months = round(days / 30.44)
    if months < 12:
        return f"{max(months, 1)}个月"
    years, months = divmod(months, 12)
    return f"{years}岁" + (f"{months}个月" if months else "")


def contradicts(before: StageResult, after: StageResult) -> bool:
    """Whether a new reading disagrees with what she said earlier (then the dialog asks her,
    never overwrites silently): pregnant then a different pregnancy, a baby then another
    birthday, or back from a baby to a pregnancy. Two weeks either way is the same answer;
    a pregnancy that turns into a baby is news, not a contradiction."""
    if before.empty or after.empty:
        return False
    if before.birth_date is not None:
        if after.due_date is not None and before.children is None:
            return True
        if after.birth_date is not None:
            return abs((after.birth_date - before.birth_date).days) > 14
        return after.stage in (PREPARING, EARLY, MIDDLE, LATE)
    if before.due_date is not None:
        if after.due_date is not None:
            return abs((after.due_date - before.due_date).days) > 14
        if after.birth_date is not None:
            return after.birth_date < before.due_date - timedelta(days=FULL_TERM - 22 * 7)
        return after.stage == PREPARING
    return before.stage != after.stage


# --------------------------------------------------------------------------- calendar


def add_months(day: date, months: int) -> date:
    """Calendar months, clamped to the month's last day (1-31 + 1 month = 2-28)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def add_years(day: date, years: int) -> date:
    return add_months(day, 12 * years)


def stage_for(
    today: date,
    *,
    due_date: date | None = None,
    birth_date: date | None = None,
    bounds: StageBoundaries = DEFAULT_BOUNDARIES,
) -> str | None:
    if birth_date is not None:
        if birth_date > today:
            return None
        if (today - birth_date).days < bounds.infant_from_days:
            return NEWBORN
        if today < add_years(birth_date, bounds.toddler_from_years):
            return INFANT
        if today < add_years(birth_date, bounds.preschool_from_years):
            return TODDLER
        if today < add_years(birth_date, bounds.preschool_until_years):
            return PRESCHOOL
        return None
    if due_date is not None:
        days = FULL_TERM - (due_date - today).days
        if days < 0 or days > MAX_GESTATION:
            return None  # not pregnant yet by these dates, or the birth went unreported
        if days < bounds.middle_from_weeks * 7:
            return EARLY
        if days < bounds.late_from_weeks * 7:
            return MIDDLE
        return LATE
    return None


def result_for(
    today: date,
    *,
    due_date: date | None = None,
    birth_date: date | None = None,
    children: int | None = None,
    preparing: bool = False,
    bounds: StageBoundaries = DEFAULT_BOUNDARIES,
    confidence: float = 1.0,
) -> StageResult:
    if due_date is not None:
        return StageResult(
            stage=stage_for(today, due_date=due_date, bounds=bounds),
            due_date=due_date,
            gestational_days=FULL_TERM - (due_date - today).days,
            children=children,
            confidence=confidence,
        )
    if birth_date is not None:
        return StageResult(
            stage=stage_for(today, birth_date=birth_date, bounds=bounds),
            birth_date=birth_date,
            baby_age_days=(today - birth_date).days,
            children=children,
            confidence=confidence,
        )
    if preparing:
        return StageResult(stage=PREPARING, children=children, confidence=confidence)
    return StageResult()


# --------------------------------------------------------------------------- normalising

_TRADITIONAL = str.maketrans(
    "預產寶個週歲農曆陰號還兩懷滿後剛經過來備媽雙龍鳳現準幾計檢臘們嗎這說沒會時間結齡剩賬歷陽見剖術診幼兒園節慶聖誕國陳禮拜剩離約預",
    "预产宝个周岁农历阴号还两怀满后刚经过来备妈双龙凤现准几计检腊们吗这说没会时间结龄剩账历阳见剖术诊幼儿园节庆圣诞国陈礼拜剩离约预",
)

# Family words become markers before numerals are converted, so 老二五个月 stays
# "second child, five months" and does not become "老25个月".
_FAMILY = [
    ("双胞胎", "⟨T⟩"),
    ("龙凤胎", "⟨T⟩"),
    ("双胎", "⟨T⟩"),
    ("老大", "⟨K1⟩"),
    ("老二", "⟨K2⟩"),
    ("老三", "⟨K3⟩"),
    ("大宝", "⟨K1⟩"),
    ("二宝", "⟨K2⟩"),
    ("三宝", "⟨K3⟩"),
    ("头胎", "⟨P1⟩"),
    ("一胎", "⟨P1⟩"),
    ("二胎", "⟨P2⟩"),
    ("三胎", "⟨P3⟩"),
]

_NUMERAL_RUN = re.compile(r"[零〇一二两三四五六七八九十百廿卅]+")
_UNIT_AFTER = re.compile(r"\s*(?:个|岁|周|天|年|月|日|号|w|d|\+|加|又|多|半)")

# Typos of the pinyin and stroke input methods in an age ("8各月", "3个越", "孕12州"), repaired
# before numerals are read; a repaired text is read with less confidence.
_NUM = r"(?:\d{1,3}|[零〇一二两三四五六七八九十廿]{1,3})"
_TYPOS = [
    (
        re.compile(rf"({_NUM})(?:各|箇|哥|格|歌|g)(?=多?(?:月|越|曰|阅|约|悦|钥|朋|跃|乐)|半月)"),
        r"\1个",
    ),
    (re.compile(rf"({_NUM}个多?)(?:越|曰|阅|约|悦|钥|朋|跃|粤|岳|乐)"), r"\1月"),
    (re.compile(rf"({_NUM}个)个(?=多?月)"), r"\1"),
    (re.compile(rf"((?:孕|怀孕){_NUM})(?:州|粥|舟|洲|zhou)"), r"\1周"),
    (re.compile(rf"(?:运|韵|晕|孪)({_NUM}(?:周|w|个月))"), r"孕\1"),
    (re.compile(rf"({_NUM})(?:碎|睡|随|穗|虽|遂)(?![觉眠着])"), r"\1岁"),
    (re.compile(r"(?<![\d])(\d{1,2})(?:州|粥|舟)(?=[+\d]|了|啦|$|，|,)"), r"\1周"),
    (re.compile(r"(?:预产|预惨|遇产|与产|预残)(?:其|欺|旗|气|七|起|奇)"), "预产期"),
    (re.compile(r"(?:与|遇|预残|预惨|宇|雨|语|玉|育|鱼|誉)产期"), "预产期"),
    (re.compile(r"(?<![a-z])(?:宇|雨|语|玉|育|鱼|誉)产(?:其|欺|旗|气|七|起|奇)"), "预产期"),
    # 出身 (one's background) typed for 出生 next to a date or an age
    (
        re.compile(
            r"(?<=[\d号日天月年后前刚才])出身"
            r"|出身(?=的|了|于|在|日期|那|\d|时|[一二两三四五六七八九十半]{1,3}个?(?:天|周|月|岁))"
        ),
        "出生",
    ),
    # 满越 typed for 满月 (刚满越, 宝宝满越了)
    (re.compile(r"满(?:越|曰|阅|悦|钥|跃)(?=了|啦|$|[，,。!！~]|的|后|那|没|还)"), "满月"),
    (re.compile(rf"({_NUM})月(?=大|龄)"), r"\1个月"),
    (re.compile(r"(岁|个)(?:伴|办|拌|扮)"), r"\1半"),
    (re.compile(rf"((?:周|w|\+|加){_NUM})(?:填|田|添)"), r"\1天"),
]


def _repair(text: str) -> tuple[str, bool]:
    repaired = text
    for pattern, replacement in _TYPOS:
        repaired = pattern.sub(replacement, repaired)
    return repaired, repaired != text


# Two adjacent counting numerals are a rough number (一两周, 两三个月, 七八周): the upper
# one, never the two digits joined (两三个月 was read as 23 months).
_ROUGH = re.compile(
    r"(?<![一二两三四五六七八九十])([一两二三四五六七八])([两二三四五六七八九])(?=[个周天月岁年多])"
)
_ROUGH_PAIRS = {"一两", "一二", "两三", "二三", "三四", "四五", "五六", "六七", "七八", "八九"}


def _rough(text: str) -> str:
    def upper(match: re.Match[str]) -> str:
        pair = match.group(1) + match.group(2)
        return match.group(2) if pair in _ROUGH_PAIRS else pair

    return _ROUGH.sub(upper, text)


def _numerals(text: str) -> str:
    text = _rough(text)

    def convert(match: re.Match[str]) -> str:
        run = match.group(0)
        start, end = match.span()
        before = text[start - 1] if start else ""
        if not (_UNIT_AFTER.match(text, end) or before in ("月", "初")) or run in ("零", "〇"):
            return run  # not a number here; or 零 joining two (5个月零10天)
        joined = run[0] if run[0] in "零〇" else ""  # 一岁零十天: 零 joins, 十 is the number
        run = run[len(joined) :]
        run = run.replace("廿", "二十").replace("卅", "三十")
        try:
            value = cn2an.cn2an(run, "smart")
        except (ValueError, KeyError, TypeError):
            return match.group(0)
        return joined + str(int(value))

    return _NUMERAL_RUN.sub(convert, text)


# A plus written as an emoji or a heavy cross (孕20➕3): NFKC leaves these alone.
# A keycap digit (4⃣️, 2⃣️0⃣️) is the digit with a combining keycap: the digit stays.
_PLUSES = str.maketrans({"➕": "+", "✚": "+", "✙": "+", "\ufe0f": None, "\u20e3": None})

# English a mother may mix in (due date 3/15, EDD, baby 8 months): the Chinese she means.
# Applied to the casefolded text before spaces go, so words keep their boundaries.
_ENGLISH_MONTHS = (
    "jan",
    "feb",
    "mar",
    "apr",
    "may",
    "jun",
    "jul",
    "aug",
    "sep",
    "oct",
    "nov",
    "dec",
)
_ENGLISH = [
    (r"(?<![a-z])(?:due\s*date|edd|due|expected)(?:\s*(?:is|on|in|date|:))*(?![a-z])", "预产期"),
    (r"(?<![a-z])lmp(?![a-z])", "末次月经"),
    (r"(?<![a-z])(?:ttc|trying\s*to\s*conceive|trying)(?![a-z])", "备孕"),
    (r"(?<![a-z])pregnant(?![a-z])", "怀孕"),
    (r"(?<![a-z])(?:born|dob|birthday)(?:\s*(?:on|in|is|:))*(?![a-z])", "出生"),
    # a child: she's 3 months, my daughter is 3 and a half, baby is 10 days old
    (
        r"(?<![a-z])(?:my\s*|our\s*|the\s*)?(?:little\s*one|baby|son|daughter|boy|girl|kid|lo"
        r"|she|he)(?:\s*(?:is|'s|’s|turned|turns))?(?![a-z])",
        "宝宝",
    ),
    (r"(\d{1,2})\s*(?:and\s*a\s*half|½)\s*(?:months?|mos?)(?![a-z])", r"\1个半月"),
    (r"(\d{1,2})\s*(?:and\s*a\s*half|½)(?:\s*(?:years?|yrs?|y/?o))?", r"\1岁半"),
    (r"(\d{1,2})\s*(?:years?|yrs?)\s*(?:and\s*)?(\d{1,2})\s*(?:months?|mos?)", r"\1岁\2个月"),
    (r"(\d{1,3})\s*(?:months?|mos?)\s*(?:and\s*)?(\d)\s*(?:weeks?|wks?)", r"\1个月\2周"),
    (r"(\d{1,3})\s*(?:weeks?|wks?)\s*old(?![a-z])", r"\1周大"),
    (r"(\d{1,3})\s*(?:months?|mos?)(?:\s*old)?(?![a-z])", r"\1个月"),
    (r"(\d{1,3})\s*(?:weeks?|wks?)(?![a-z])", r"\1周"),
    (r"(\d{1,3})\s*days?(?:\s*old)?(?![a-z])", r"\1天"),
    (r"(\d{1,2})\s*(?:years?|yrs?|y/?o)(?:\s*old)?(?![a-z])", r"\1岁"),
]


def _english(text: str) -> str:
    if not re.search(r"[a-z]{2}", text):
        return text
    for pattern, replacement in _ENGLISH:
        text = re.sub(pattern, replacement, text)
    months = "|".join(_ENGLISH_MONTHS)
    text = re.sub(
        rf"(?<![a-z])({months})[a-z]*\.?\s*(\d{{1,2}})(?:st|nd|rd|th)?(?![\d:])",
        lambda m: f"{_ENGLISH_MONTHS.index(m.group(1)) + 1}月{m.group(2)}号",
        text,
    )
    return re.sub(
        rf"(?<![a-z])({months})[a-z]*(?![a-z])",
        lambda m: f"{_ENGLISH_MONTHS.index(m.group(1)) + 1}月",
        text,
    )


PINYIN = Path(__file__).with_name("data") / "pinyin.tsv"


@functools.cache
def _pinyin_table() -> tuple[dict[tuple[str, ...], str], frozenset[str]]:
    """flows/data/pinyin.tsv: phrases (as syllable tuples) and every syllable in them."""
    phrases: dict[tuple[str, ...], str] = {}
    for line in PINYIN.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith(("#", "pinyin\t")):
            continue
        pinyin, chinese = line.split("\t")
        phrases[tuple(pinyin.split())] = chinese
    return phrases, frozenset(syllable for phrase in phrases for syllable in phrase)


def _syllables(run: str, known: frozenset[str]) -> list[str] | None:
    """A run of letters as the fewest known syllables (yunzhongqi: yun zhong qi), or None."""
    best: list[list[str] | None] = [[]] + [None] * len(run)
    for end in range(1, len(run) + 1):
        for start in range(max(0, end - 6), end):
            before, current = best[start], best[end]
            fewer = current is None or (before is not None and len(before) + 1 < len(current))
            if before is not None and run[start:end] in known and fewer:
                best[end] = [*before, run[start:end]]
    return best[len(run)]


# Pinyin is read only in an answer this much latin (letters, digits, signs), and only when
# this share of its letter runs are pinyin syllables: English words mostly are not.
PINYIN_LATIN_SHARE = 0.8
PINYIN_RUN_SHARE = 0.6


def _pinyin(text: str) -> str:
    """huaiyun 11 zhou le, yu chan qi 2027 nian 3 yue 25 hao: the Chinese she meant."""
    plain = "".join(
        c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn"
    ).replace("ü", "v")
    visible = [c for c in plain if not c.isspace()]
    if not visible or sum(c.isascii() for c in visible) < PINYIN_LATIN_SHARE * len(visible):
        return text
    phrases, known = _pinyin_table()
    parts = re.findall(r"[a-z]+|[^a-z]+", plain)
    runs = [part for part in parts if part[0].isalpha()]
    split = {run: _syllables(run, known) for run in runs}
    if not runs or sum(split[run] is not None for run in runs) < PINYIN_RUN_SHARE * len(runs):
        return text
    tokens: list[str] = []  # syllables, and other text as one token each
    for part in parts:
        syllables = split.get(part) if part[0].isalpha() else None
        if syllables is not None:
            tokens += syllables
        elif part.strip() or not tokens:
            tokens.append(part if part[0].isalpha() or part.strip() else "")
    longest = max(len(phrase) for phrase in phrases)
    out, i = [], 0
    while i < len(tokens):
        for size in range(min(longest, len(tokens) - i), 0, -1):
            if (chinese := phrases.get(tuple(tokens[i : i + size]))) is not None:
                out.append(chinese)
                i += size
                break
        else:
            out.append(tokens[i] if not tokens[i].isalpha() else f" {tokens[i]} ")
            i += 1
    return "".join(out)


# A lunar day is written 初N, 廿N or 三十 (二月初六, 三月廿二): with a month, that is the lunar
# calendar even without 农历 (a Gregorian date is 2月6号). Read before numerals lose 初 / 廿.
_LUNAR_DAY = re.compile(
    r"(?<![历闰\d一二三四五六七八九十])((?:[一二三四五六七八九十]{1,2}|\d{1,2})月)"
    r"(?=初(?:[一二三四五六七八九十]|\d(?!\d))|廿|卅)"
)


def _normalize(text: str) -> tuple[str, bool]:
    text = unicodedata.normalize("NFKC", text).translate(_TRADITIONAL).casefold()
    text = _english(_pinyin(text.translate(_PLUSES)))
    text = re.sub(r"\s+", "", text)
    for word, marker in _FAMILY:
        text = text.replace(word, marker)
    text, repaired = _repair(text)
    # 老历 and 旧历 are what older relatives call 农历; 阴历 is the same calendar too.
    text = re.sub(r"老历|旧历|阴历", "农历", text)
    text = re.sub(r"农历(?:的)?生日(?:是|在)?", "生日农历", text)
    text = re.sub(r"农历(?:的|是|为)+", "农历", text)
    text = _LUNAR_DAY.sub(r"农历\1", text)
    # 正月, 腊月, 冬月 and a leap month are lunar whether or not she writes 农历.
    text = re.sub(
        r"(?<!农历)((?<![纠矫])正月|腊月|冬月|闰(?=[\d正一二三四五六七八九十冬腊]{1,3}月))",
        r"农历\1",
        text,
    )
    text = (
        re.sub("(?<![纠矫])正月", "1月", text)
        .replace("腊月", "12月")
        .replace("冬月", "11月")
        .replace("百天", "100天")
        .replace("半岁", "6个月")
        .replace("满周岁", "1岁")
        .replace("周岁", "岁")
    )
    text = re.sub(r"(?<![\d个一二三四五六七八九十两])半个月", "15天", text)
    # 避孕 (contraception) is written 避妊, so that its 孕 says no pregnancy
    text = text.replace("避孕", "避妊")
    text = re.sub("俩(?=月)", "两个", text).replace("俩", "两").replace("仨", "三")
    text = re.sub(r"个(?:星期|礼拜)", "周", text)
    text = re.sub(r"(?<=[\d一二三四五六七八九十两])(?:个)?来(?=月|周|天)", "个多", text)
    text = text.replace("个多天", "多天").replace("个多周", "多周")
    text = _numerals(text)
    # 6+月: six months and more
    text = re.sub(r"(?<![\d+])(\d{1,2})\+个?月", r"\1个多月", text)
    # 孕25加3, 20周加4天: weeks plus days, however the plus is written
    text = re.sub(r"(?<![\d.])([1-4]?\d)(周|w)?加([0-6])(?![\d.个月岁周年])", r"\1\2+\3", text)
    # 前年年底, 去年底: the last month of that year
    text = re.sub(rf"({_REL_YEAR})(?:的)?年?(底|末)", r"\g<1>12月\2", text)
    text = re.sub(rf"({_REL_YEAR})(?:的)?年?初", r"\g<1>1月初", text)
    # 去年春节除夕夜: the eve of that 春节, the day before it
    text = re.sub(r"(?:春节|过年)(?:的|前的?)?(?:除夕|大年三十|年三十|大年夜)", "春节前1天", text)
    # 今年除夕 is the eve ending this lunar year (a due date in February), but a baby born
    # 今年除夕 was born on the eve that fell in this calendar year, before its 春节
    text = re.sub(
        r"今年(?:的)?(?:除夕|大年三十|年三十|大年夜)(?=(?:晚上|夜里|当天|那天|那晚)?的?(?:出)?生)",
        "今年春节前1天",
        text,
    )
    # 上个月最后一天 is the month's last day (底); 这个月第一天 its 1st
    text = re.sub(r"(月|年)(?:的)?最后(?:1|一)天", r"\1底", text)
    text = re.sub(r"(?<=月)(?:的)?第(?:1|一)天", "1号", text)
    # 快满一岁 is 快一岁: not reached yet
    text = re.sub(r"(?:快要|马上就?要?|就快|快)满(?=\d)", "快", text)
    return _lunar_after(text), repaired


def _lunar_after(text: str) -> str:
    """二月初八农历, 2月8号出生的阴历: 农历 written after the date moves before it.
    大年初三 is the third of the first lunar month; 年前 / 年后 (生) are before and after
    the Spring Festival."""
    text = re.sub(r"大年初(\d{1,2})(?![\d月])", r"农历1月初\1", text)
    text = re.sub(
        r"(?<![\d今明去后前多半几个一两])年(前|后)(?=(?:就|要|才|再)?(?:生|出生|卸货|剖)|吧|左右|$|[，,。])",
        r"春节\1",
        text,
    )
    text = re.sub(
        r"(?<![\d年农历闰])(\d{1,2}月(?:初)?\d{1,2}[日号]?)(出生|生日|生)?(?:的|是)?\(?农历\)?",
        r"农历\1\2",
        text,
    )
    return re.sub(_FESTIVAL_THEN_LUNAR, _lunar_of_festival, text)


# 去年春节后出生的，正月初十: the lunar day is in the lunar year of that 春节 (腊月 before it:
# the lunar year before), which the year word says; the festival only led up to it.
_FESTIVAL_THEN_LUNAR = (
    r"(今年|去年|前年|明年|\d{4}年)(?:的)?过?(?:春节|过年)(?:之|以)?(?:前|后)?"
    r"([^，,。农§]{0,6})[，,。]?农历(\d{1,2})月"
)
_YEAR_BEFORE = {"明年": "今年", "今年": "去年", "去年": "前年", "前年": "大前年"}


def _lunar_of_festival(m: re.Match[str]) -> str:
    year, words, month = m.group(1), m.group(2), int(m.group(3))
    if month >= 10:
        year = _YEAR_BEFORE.get(year) or f"{int(year[:-1]) - 1}年"
    return f"{words}，{year}农历{month}月"


def normalize(text: str) -> str:
    return _normalize(text)[0]


@functools.cache
def named_days() -> tuple[tuple[str, str, int, str], ...]:
    """(name, calendar, month, day) from flows/data/named_days.tsv, longest name first."""
    rows = []
    for line in NAMED_DAYS.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith(("#", "names\t")):
            continue
        names, kind, month, day = line.split("\t")
        for name in names.split("|"):
            rows.append((normalize(name), kind, int(month), day))
    return tuple(sorted(rows, key=lambda row: -len(row[0])))


@functools.cache
def _named_day_pattern() -> str:
    names = "|".join(re.escape(name) for name, *_ in named_days())
    # 十一 and 五一 are also numbers: 十一点, 五一个; 520 and 618 also amounts: 520天.
    return rf"(?:{names})(?![\d点个块元岁周天月号年次份斤克])节?"


def _named_day(name: str, year: int) -> date | None:
    """The solar date of a named day in a year (a lunar one: in that lunar year)."""
    for key, kind, month, day in named_days():
        if key != name:
            continue
        try:
            if kind == "solar":
                return date(year, month, int(day))
            if kind == "term":
                return date(year, month, _term_day(day, year))
            if kind == "lunar":
                return LunarDate(year, month, int(day)).to_solar_date()
            if kind == "eve":
                return LunarDate(year + 1, 1, 1).to_solar_date() - timedelta(days=1)
            if kind == "weekday":
                nth, weekday = (int(part) for part in day.split("/"))
                first = date(year, month, 1)
                offset = (weekday - first.isoweekday()) % 7
                return first + timedelta(days=offset + 7 * (nth - 1))
        except ValueError:
            return None
    return None


def _term_day(day: str, year: int) -> int:
    """A solar term's day: "5,2028=4" is the 5th, but the 4th in 2028."""
    usual, *years = day.split(",")
    exceptions = dict(part.split("=") for part in years)
    return int(exceptions.get(str(year), usual))


# --------------------------------------------------------------------------- facts

# How strongly a fact speaks. A loose fact (a date only the question or another clause
# points at) counts only when nothing stronger was said.
EXPLICIT, RELATIVE, LOOSE = 3, 2, 1


@dataclass(frozen=True)
class Fact:
    """One thing she said: the due date or a child's birth date it implies."""

    about: About
    day: date
    weight: float  # how sure the reading of this phrase is, 0..1
    strength: int = EXPLICIT
    # The true date may lie this many days before / after `day` (孕24周 is 24+0 .. 24+6).
    spread: tuple[int, int] = (0, 0)
    # False for a bound, not a date (宝宝还不到一岁): it gives a stage and no birth date.
    dated: bool = True


@dataclass
class Reading:
    facts: list[Fact] = field(default_factory=list)
    trying: bool = False
    named: str | None = None  # a stage she named without a date (孕早期, 刚测出两道杠)
    named_weight: float = 0.0
    repaired: bool = False
    not_pregnant: bool = False  # 还没怀上, 一条杠, 移植失败: no due date is hers

    def due(self, day: date | None, weight: float, strength: int = EXPLICIT, spread=(0, 0)) -> None:
        if day is not None:
            self.facts.append(Fact("due", day, weight, strength, spread))

    def birth(
        self, day: date | None, weight: float, strength: int = EXPLICIT, spread=(0, 0)
    ) -> None:
        if day is not None:
            self.facts.append(Fact("birth", day, weight, strength, spread))


_PREPARING = re.compile(
    r"备孕|还没怀|没怀上|没有怀上|还没有怀|没怀孕|没有怀孕|(?<![不没])准备要(?:宝宝|孩子|娃|⟨P\d⟩|⟨K\d⟩)"
    r"|(?<![不没])(?:计划|打算|想|准备)(?:明年|今年|年后|后年|过年后|\d+月份?)?(?:再)?要(?:个)?"
    r"(?:宝宝|孩子|娃|小孩|⟨P\d⟩|⟨K\d⟩)"
    r"|试管|促排|取卵|移植|冻胚|胚胎|人工授精|ivf|进周|降调|夜针|养囊|调理身体|备⟨P\d⟩|备⟨K\d⟩"
    r"|在(?:努力|造人)|造人|(?<![不没])(?:准备|计划|打算|想)(?:明年|今年|年后|后年|过年后|下半年|上半年)?"
    r"(?:怀孕|怀⟨|要了|怀上|怀个)"
    # trying without the word: ovulation, waiting for good news, trying again after a loss
    r"|排卵|同房|(?:等|求|盼|接)好孕|求子|怀不上|助孕|好孕试纸"
    r"|(?<![不没])(?:准备|计划|打算|想)(?:再)?要(?:1个|个|了|⟨)"
    r"|(?<![不没])(?:准备|计划|打算)(?:明年|今年|年后|后年|过年后|下半年|上半年)(?:再)?要(?=$|[，,。!！~])"
    r"|(?:流产|小产|清宫|胎停|生化)(?:了|后|之后|以后)?.{0,8}(?:再要|再怀|要|怀|备|调理|养身体)"
    # no more contraception, checks and conditioning before a pregnancy, a negative test
    r"|停(?:了|掉)?(?:吃)?(?:避妊|短效)|不(?:再)?避妊|取(?:了|完)?环|摘(?:了|完)?环"
    r"|孕前(?:检查|体检|检|优生|调理)|调理(?:多囊|卵巢|输卵管|激素|内分泌)|多囊"
    r"|(?:吃)?叶酸(?:吃|已经|了|都|有)*\d+(?:个多?月|年|周)|吃(?:了)?\d+个多?月(?:的)?叶酸"
    r"|一条杠|一条线|单杠|白板|又没怀|没怀(?!疑)|(?:测|验)(?:了|出来)?(?:还是|是|都是|又是)?阴"
    # her period came (this cycle did not take), the premarital check, starting to try
    r"|(?:大姨妈|姨妈|例假|月经)(?:又|还是|准时|按时)*(?:来了|报到|光顾)|又没中|没(?:有)?中|白等"
    r"|婚检|婚前检查|开始(?:备孕|要(?:个)?(?:宝宝|孩子|娃|小孩|⟨P\d⟩))"
)
# A transfer or a cycle that did not take, a negative test: she is not pregnant (now).
_FAILED = re.compile(
    r"失败|没成功|不成功|没有成功|没(?:有)?着床|未着床|没怀上|一条杠|一条线|单杠|白板|生化(?:了|妊娠)"
    r"|(?:测|验|抽血|验血|试纸|结果|hcg)[^，,。]{0,6}阴|再战|再移植|下次移植|重新移植"
)
_NOT_PREGNANT = re.compile(
    r"还没怀|没怀上|没有怀上|还没有怀|没怀孕|没有怀孕|又没怀|没怀(?!疑)|又没中|没(?:有)?中"
    r"|(?:大姨妈|姨妈|例假|月经)(?:又|还是|准时|按时)*(?:来了|报到|光顾)"
)
HCG_PREGNANT = 5.0
_HCG = r"hcg(?:值)?(?:是|有|:|=|到了?|都|才|已经|翻倍到)*"
_CN_DIGITS = "零〇一二两三四五六七八九十百千万"


def _hcg(t: str) -> float | None:
    """The hcg value she gives (hcg 300, hcg两千多), if any."""
    m = re.search(rf"{_HCG}(\d+(?:\.\d+)?|[{_CN_DIGITS}]+)", t)
    if m is None:
        return None
    try:
        return float(cn2an.cn2an(m.group(1).replace("两", "二"), "smart"))
    except (ValueError, KeyError, TypeError):
        return None


# After IVF or trying: she is pregnant now.
_CONCEIVED = re.compile(
    r"成功|阳性|怀上了|两道杠|两条杠|两条线|着床|胎心|孕囊|胎芽|卵黄囊|hcg翻倍|确认怀孕|\d+周"
    r"|⟨K\d⟩.*\d+个月"
)
# Trying for another child while naming the ones she has: 老大3岁，在备孕二胎.
_TRYING_AGAIN = re.compile(r"备孕|备⟨|要⟨[PK]|(?:再|还|准备|打算|计划|想)要")
_TRYING_SPAN = re.compile(
    r"(备孕|备⟨P\d⟩|试管|促排|调理|努力|尝试|造人|要孩子|要宝宝|排卵|好孕|求子|同房|叶酸|避妊药?|环)"
    r"[了中都已经快有差不多大概将近第吃掉]{0,4}(?:\d+个多?月|\d+年|半年|\d+周|\d+天|\d+次)"
)
_DUE_CUE = re.compile(
    r"预产|待产|要生|就生|快生|预计|生产|怀孕|怀|孕|⟨P\d⟩|胎|卸货|剖|催产|催生|引产"
    r"|(?<![出医学先])生(?![的日完了过病活])"
)
# A birth that has happened, told as a story (终于卸货了, 当天就剖了, 顺产生下来).
_DELIVERED = re.compile(
    r"卸货了|终于生|生了|生下|生完|剖了|剖完|剖出来|顺下来|顺产了|顺产生|出生了|顺利生"
)
_BIRTH_CUE = re.compile(
    r"出生|生日|生的|生于|已经生|生完|刚生|满月|出月子|剖完|剖了|剖的|顺的|顺产|产后|术后"
    r"|宝宝.*生(?![产])"
)
_OWN_BIRTHDAY = re.compile(r"我(?:自己|本人)?(?:的)?(?:生日|阳历生日|农历生日)")
# Someone else's day (老公生日3月5号, 婆婆生日在腊月, 结婚纪念日): not the baby's, not hers.
_SOMEONE_ELSE = re.compile(
    r"(?:老公|爱人|先生|对象|男朋友|孩子(?:他|的)?爸|宝爸|他爸|我爸|我妈|爸爸|妈妈|婆婆|公公|奶奶"
    r"|爷爷|外婆|外公|姥姥|姥爷|姐姐|妹妹|哥哥|弟弟|嫂子|小姑子?|大姑姐|闺蜜|朋友|同事|老人|家里人)"
    r"(?:自己|本人)?(?:的)?.{0,8}?(?:生日|纪念日)|纪念日"
)
_CHILD_WORD = re.compile(
    r"宝宝|宝贝|孩子(?!他|的爸)|娃|⟨[KT]|儿子|女儿|闺女|小孩|baby|bb|小家伙|崽"
)
_CLAUSE = re.compile(r"[，,。;；!！?？、~～]+")
_FILLER = re.compile(
    r"[§\s是就哦噢啊吧了呀啦呢嘛哈约在的~～。.!！?？…]|左右|大概|应该|差不多|预计|估计|前后|附近"
    r"|样子|那天"
    r"|[\U0001F300-\U0001FAFF\u2600-\u27BF]"
)
_BABY_CUE = re.compile(
    r"宝宝|宝贝|孩子|娃|出生|生完|刚生|⟨K\d⟩|⟨T⟩|儿子|女儿|闺女|小孩|baby|bb|小家伙|崽|满月|月子"
)
# Something done on a day that is not the birth: 下周去建档, 下周约了nt, 12月3号大排畸.
_ACTIVITY = re.compile(
    r"建档|建卡|建册|产检|检查|复查|复诊|体检|孕检|nt|唐筛|无创|羊穿|四维|三维|排畸|糖耐|b超|彩超"
    r"|胎心监护|疫苗|打针|上班|出差|回来|回家|回老家|开学|上学|旅游|搬家|面试|考试|报名|抽血|验血"
    r"|医生|拍照|写真|买|囤|发货|到货|快递|聚会|满月酒|体检|上课|开会|休假|产假|见面|结婚|办"
    r"|放假|假期|快乐|旅行|出去玩|团圆|回娘家|走亲戚|拜年|礼物|红包|加班|值班"
)
# Words that make a bare N周 a baby's age; the family markers (二宝, 双胞胎) do not, since
# she may be carrying them.
_BABY_WORD = re.compile(
    r"宝宝|宝贝|孩子|娃|出生|生完|刚生|生了|儿子|女儿|闺女|小孩|baby|bb|小家伙|崽|满月|月子|大了|周大"
)
# Words that say she is pregnant now, anywhere in a short answer (肚子很大了, 有了, 怀二胎).
_EXPECTING = re.compile(
    r"怀孕|怀上|怀了|怀着|怀⟨|(?<!备)孕(?!婴)|预产|待产|肚子|显怀|胎动|产检|建档|建卡|又有了"
    r"|(?:^|[，,。!！])有了(?=[，,。!！~]|$)"
    # the birth still to come: 随时准备卸货, 快生了 (a born baby's months are no such thing)
    r"|卸货|快(?:要)?生了|马上(?:就|要)?生|就要生|临产|随时(?:准备|可能|会|都)?(?:生|发动)"
)
# A pregnancy she is in now, next to an older child's age (老大3岁，现在又怀上了，5个月).
_CARRYING = re.compile(
    r"(?:又|现在|目前|正在|已经|刚)(?:怀|有了(?=[，,。!！~]|$))|怀(?:上了|了⟨|⟨|着)|怀孕了|⟨P\d⟩孕"
    r"|肚子里"
)
_AN_AGE = re.compile(r"\d+(?:岁|个多?月|周|天)")
# 肚子里这个26周, 肚子快8个月了: the belly says the age is the pregnancy's.
_BELLY = r"肚子(?:里)?(?:的)?(?:宝宝|宝贝|这个|这胎|娃|小家伙)?"
_BIRTH_WORD = re.compile(r"预产|生(?!日)|出生|剖|顺产|卸货|分娩|待产|催产|催生|引产|发动")
_WEEKDAY = r"[1-7一二三四五六日天]"
_WHEN = re.compile(
    rf"(?:下下|下|这|本|上)个?(?:周|星期|礼拜|月){_WEEKDAY}?"
    rf"|(?<![预\d])(?:周|星期|礼拜){_WEEKDAY}|明天|后天|大后天|今天|(?:今|明|后)年"
    r"|\d{1,4}[年./-]\d{1,2}(?:[月./-]\d{1,2}[日号]?)?|\d{1,2}月(?:\d{1,2}[日号]?)?|\d{1,2}[日号]"
    r"|\d+(?:天|周|个月)(?:后|以后|之后)"
)
_WEEKDAYS = {"1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "6": 6, "7": 7, "一": 1, "二": 2, "三": 3}
_WEEKDAYS |= {"四": 4, "五": 5, "六": 6, "日": 7, "天": 7}

_DAY_PART = r"(初|上旬|中旬|下旬|中|底|末)?"
_DAY_WORDS = {"大前天": -3, "前天": -2, "昨天": -1, "今天": 0, "明天": 1, "后天": 2, "大后天": 3}
# A named stage, or a word that says the stage without a date, and how sure it is.
_NAMED_STAGES = [
    (re.compile(r"孕早期|怀孕早期|孕初期|怀孕初期|早孕期|孕早"), EARLY, 0.7),
    (re.compile(r"孕中期|怀孕中期"), MIDDLE, 0.7),
    (re.compile(r"孕晚期|怀孕晚期|孕后期|怀孕后期|孕末期"), LATE, 0.7),
    (re.compile(r"新生儿期"), NEWBORN, 0.7),
    (re.compile(r"(?:是|还是|还在)新生儿|新生儿(?:阶段|啦|了|$)|刚出生不久"), NEWBORN, 0.65),
    (re.compile(r"婴儿期"), INFANT, 0.7),
    (re.compile(r"幼儿期"), TODDLER, 0.7),
    (re.compile(r"学龄前期?"), PRESCHOOL, 0.7),
    (re.compile(r"(?:坐|在|还在)月子|月子(?:里|中|期间)"), NEWBORN, 0.6),
    (
        re.compile(
            r"早孕反应|孕吐|害喜|刚怀上|刚怀孕|刚知道(?:自己)?怀|刚测出|刚查出|两道杠|验孕棒|hcg|孕酮"
            r"|刚发现|两条杠|两条线|强阳|测出来|测出怀孕|确认怀孕|看到胎心|有胎心|孕囊|胎芽"
            r"|(?:测|验)(?:了|出|出来)?(?:是)?(?:阳|怀孕|怀上)|早孕试纸|早孕(?!反应|试纸)"
            r"|怀孕.{0,4}(?:还没(?:去)?(?:医院|检查|建档|建卡|做b超)|不知道(?:几|多少)周)"
        ),
        EARLY,
        0.6,
    ),
    (
        re.compile(
            r"快(?:要)?生了|马上(?:就|要)?生|临产|待产|随时(?:可能|会)?(?:生|发动)"
            r"|快到预产期|预产期快到"
        ),
        LATE,
        0.6,
    ),
]


def parse_stage(
    text: str,
    today: date,
    hint: Hint = None,
    bounds: StageBoundaries = DEFAULT_BOUNDARIES,
) -> StageResult:
    t, repaired = _normalize(text[:MAX_ANSWER])
    if not t:
        return StageResult()
    reading = read_facts(t, today, hint)
    reading.repaired = repaired
    return resolve(reading, t, today, bounds)


# A correction: what follows replaces the value before (不是12周，是16周; 3月15号，打错了，是
# 3月25号; 本来是4月10号，后来b超改成了4月2号).
_CORRECTION = re.compile(
    r"(?:(?<=[，,。!！])|^)(?:啊|呃|哦|哎呀)?"
    r"(?:打错了?|写错了?|说错了?|搞错了?|记错了?|不对|更正(?:一下)?|纠正(?:一下)?(?![月年胎的后是才\d]))"
    r"(?:了|啊|呀)?"
    r"(?:[，,。!！]*(?:应该|其实)?是)?"
    r"|(?:后来|现在|又|但是?)?[^，,。]{0,6}?(?:改成|改为|改到|调成|调整为|调整到|变成|推到|提前到)了?"
    r"|(?<![是还])不是(?:[^，,。是]{0,12}\d[^，,。是]{0,8})?[，,]?(?:而)?是(?=[^，,。]*\d)"
)
# The values a correction replaces: dates and ages, not the words that say what they are.
_VALUE = re.compile(
    r"\d+(?:\.\d+)?(?:个半|个多|个)?(?:[年月周天号日岁w+d./-]|个月)?(?:\d+(?:[天号日d]|个月)?)*"
)


def _corrected(t: str) -> str:
    """The answer as she corrected it: the values before the last correction go, the words
    that say what they were (预产期, 宝宝, 孕) stay for the new value."""
    last = None
    for m in _CORRECTION.finditer(t):
        last = m
    new_value = r"[，,。!！]*(?:应该|其实|正确的?)?(?:是|为)?(?:孕|怀孕|宝宝|预产期|生日)?(?:是)?\d"
    if last is None or not re.match(new_value, t[last.end() :]):
        return t
    return _VALUE.sub("", t[: last.start()]) + "，" + t[last.end() :]


_GA = r"(\d{1,2})(?:周|w)(?:\+|加|又|零)?(?:(\d)(?:天|d)?)?"
# What may stand between a planned age and the operation: 36周就要剖, 35周就得剖.
_MODAL = r"(?:就|再|要|得|可以|需要|准备|安排|计划|会|才)*"
# The gestational age she will be on the day of a planned delivery: 到时候正好39周, 那天38周+2,
# 39周剖 (with the day named elsewhere).
_GA_THEN = re.compile(
    rf"(?:到时候?|那天|那时候?|当天|届时|那会儿?)(?:正好|刚好|就|是|才|已经|都|差不多|满|孕)*{_GA}"
    rf"|{_GA}(?:的时候|时|左右|前后)?{_MODAL}(?=剖|催产|催生|引产|住院|入院)"
)
_PLANNED = re.compile(r"剖|催产|催生|引产|住院|入院|生")
_GA_AT = r"\d{1,2}(?:周|w)(?:\+?\d(?:天|d)?)?"
_AT_BIRTH = (
    rf"(?:孕)?{_GA_AT}(?:的时候|时)?(?:就|才)?(?:早产|出生|生的|生下|生了|剖的|剖出来|顺的|顺产的)"
    rf"|早产(?:儿)?(?:的)?[，,]?(?:孕)?{_GA_AT}|(?:生的时候|出生时|出生的时候|生时|出生孕周)"
    rf"(?:才|只有|是|孕|就)*{_GA_AT}"
    r"|(?:纠正|矫正)(?:月龄|年龄|胎龄)?(?:是|才|只有|为|的话|后)*\d+(?:个多?月|周|天|岁)(?:\d+(?:天|个月))?"
)


def _planned_delivery(t: str, today: date, hint: Hint) -> Reading | None:
    """约了下周三剖，到时候正好39周: the planned day and the age on it give the due date,
    the planned day + (280 − that age); the planned day alone is no due date."""
    m = _GA_THEN.search(t)
    if m is None or not _PLANNED.search(t):
        return None
    weeks, days = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
    then = int(weeks) * 7 + int(days or 0)
    rest = t[: m.start()] + "§" + t[m.end() :]
    if re.search(r"\d(?:周|w|个月|天)", rest) or not 24 * 7 <= then <= 42 * 7:
        return None  # 孕37周，39周剖: today's age is said; the plan adds nothing
    dues = [f for f in read_facts(rest, today, "due").facts if f.about == "due"]
    if not dues:
        return None
    day = max(dues, key=lambda f: (f.strength, f.weight)).day + timedelta(days=FULL_TERM - then)
    r = Reading()
    r.due(day, 0.9, EXPLICIT)
    return r


_PAST_ANCHOR = re.compile(
    rf"(\d{{1,3}})(天|周|个月)(?:以)?前|(上上|上)个?(?:周|星期|礼拜)({_WEEKDAY})?"
    r"|(大前天|前天|昨天)|(上个?月|(?<![\d年])\d{1,2}月)(\d{1,2})[号日]"
)
_NOW = re.compile(r"现在|目前|今天|如今|这会")
_THEN = re.compile(r"当时|那时|那会|那天")
_BORN_THEN = re.compile(r"(?<![医先学卫])生(?!日)|剖|顺产|分娩|卸货")


def _anchor_day(m: re.Match[str], today: date) -> date | None:
    n, unit, week, weekday, day_word, month, day = m.groups()
    if n:
        return _shift(today, -int(n), unit)
    if week:
        return _week_day(today, week, weekday)
    if day_word:
        return today + timedelta(days=_DAY_WORDS[day_word])
    if month.startswith("上"):
        last = add_months(today, -1)
        return _valid(last.year, last.month, int(day))
    candidates = _next_and_last(today, int(month[:-1]), int(day)) if int(month[:-1]) <= 12 else None
    return candidates[1] if candidates else None


def _as_of_then(t: str, today: date) -> str:
    """上周五医生说6周+1, 20天前测出来，当时4周: an age on a past day is that much older
    today. The age is rewritten as today's (孕7周1天) and the past day goes."""
    clauses = _CLAUSE.split(t)
    for i, clause in enumerate(clauses):
        ga = re.search(rf"(?:怀孕|孕)?{_GA}(?!\d|后|以后|之后|前|剖|催|引产|住院|入院)", clause)
        if ga is None or _NOW.search(clause):
            continue
        anchor = _PAST_ANCHOR.search(clause, 0, ga.start())
        where = i
        if anchor is None and _THEN.search(clause):
            for j in range(i - 1, -1, -1):
                if anchor := _PAST_ANCHOR.search(clauses[j]):
                    where = j
                    break
        if anchor is None or _BORN_THEN.search(clauses[where][anchor.end() :]):
            continue
        day = _anchor_day(anchor, today)
        if day is None or not 0 < (today - day).days <= 120:
            continue
        days = int(ga.group(1)) * 7 + int(ga.group(2) or 0) + (today - day).days
        clauses[i] = clause[: ga.start()] + f"孕{days // 7}周{days % 7}天" + clause[ga.end() :]
        anchored = clauses[where]
        clauses[where] = anchored[: anchor.start()] + "§" + anchored[anchor.end() :]
        return "，".join(clauses)
    return t


def read_facts(t: str, today: date, hint: Hint = None) -> Reading:
    """Every fact in a normalised text (see the module docstring)."""
    t = _as_of_then(_corrected(t), today)
    if (planned := _planned_delivery(t, today, hint)) is not None:
        return planned
    r = Reading()
    # hcg 300 is a blood value, no date or age; 5 mIU/ml and more says pregnant
    hcg = _hcg(t)
    embryo = _EMBRYO_AGE.search(t)
    embryo_day = int(embryo.group(1)) if embryo else 5
    t = _EMBRYO_AGE.sub("囊胚", t)
    t = re.sub(rf"({_HCG})(?:\d+(?:\.\d+)?|[{_CN_DIGITS}]+)多?", r"\1§", t)
    # 上次移植失败，这次成功了 is a pregnancy; 移植后14天，hcg 0.5 and 一条杠 are not
    conceived = bool(_CONCEIVED.search(_FAILED.sub("§", t))) or (hcg or 0) >= HCG_PREGNANT
    failed = bool(_FAILED.search(t)) and not conceived
    r.trying = bool(_PREPARING.search(t)) and not conceived
    r.not_pregnant = not conceived and bool(_NOT_PREGNANT.search(t))
    # How long she has been trying is no baby's age: 备孕3个月了, 试管两次.
    t = _TRYING_SPAN.sub(r"\1§", t)
    t = re.sub(r"吃(?:了)?\d+(?:个多?月|年|周|天)(?:的)?叶酸", "吃§叶酸", t)
    t = re.sub(r"(推迟|延迟|晚了|没来)(?:了)?\d+(?:天|周|个月)", r"\1§", t)
    # 一天喝多少奶, 1天睡几个小时: a day as a rate, no baby's age
    t = re.sub(
        r"(?<![\d生满第了有])1天(?=[^，,。!！?？]{0,6}?(?:喝|吃|睡|拉|便|尿|喂|几|多少|多久|要|大概))",
        "每日",
        t,
    )
    t = _someone_elses_days(t)
    t = _last_period(r, t, today)
    t = _around_a_day(t)
    t, coming = _age_to_come(t, today)
    first_age = len(r.facts)
    # A date or a relative day in a clause about something else (下周去建档) is no fact.
    t = "，".join(
        re.sub(_named_day_pattern(), "§", _WHEN.sub("§", clause))
        if _ACTIVITY.search(clause) and not _BIRTH_WORD.search(clause)
        else clause
        for clause in _CLAUSE.split(t)
    )
    due_cue = bool(_DUE_CUE.search(t))
    birth_cue = bool(_BIRTH_CUE.search(t))
    baby_cue = bool(_BABY_CUE.search(t))
    # When the text itself says which, it wins over what was asked.
    direction: Hint = "birth" if birth_cue else "due" if due_cue else hint
    rest = t

    def take(pattern: str) -> list[re.Match[str]]:
        nonlocal rest
        found = list(re.finditer(pattern, rest))
        if found:
            rest = re.sub(pattern, "§", rest)
        return found

    _compound_ages(r, take, today)
    _relative_birth(r, take, today)
    # A bare 上周三 or 前天 answering "when was the baby born?" is the birthday.
    past = rf"(上上|上)个?(?:周|星期|礼拜)({_WEEKDAY})?|(大前天|前天|昨天)"
    if direction == "birth" and not _FILLER.sub("", re.sub(past, "", rest, count=1)):
        for m in take(past):
            if m.group(3):
                r.birth(today + timedelta(days=_DAY_WORDS[m.group(3)]), 0.85, LOOSE)
            else:
                spread = (0, 0) if m.group(2) else (-3, 3)
                r.birth(_week_day(today, m.group(1), m.group(2)), 0.85, LOOSE, spread)
    _relative_due(r, take, t, today, direction)

    # ---- gestational age
    # a planned delivery at 39周 says nothing about today (医生说可能36周就要剖了)
    take(rf"(\d{{1,2}})周(?:的时候|时|左右|前后)?{_MODAL}(?:剖|催产|引产|住院|入院|手术)")
    # a premature baby's weeks are the pregnancy's at the birth, not hers now (34周早产的,
    # 生的时候35周); a corrected age (纠正月龄1个月) is not the baby's age
    take(_AT_BIRTH)
    for m in take(r"(\d{1,2})(?:周|w)?\+(\d)(?:天|d|周)?"):
        r.due(_due_from_days(today, int(m.group(1)) * 7 + int(m.group(2))), 0.95)
    for m in take(r"(?:怀孕|孕|孕周)?(?:第)?(\d{1,2})(?:周|w)(?:\+|加|又|零)?(\d)(?:天|d)"):
        r.due(_due_from_days(today, int(m.group(1)) * 7 + int(m.group(2))), 0.95)
    _pregnancy_months(r, take, today)
    # 怀孕45天, 孕50天了: days of gestation (多 adds a few)
    for m in take(
        r"(?:怀孕|怀上|怀了|(?<!备)孕)(?:⟨[KP]\d⟩)?(?:了|已经|有|才|刚|都|刚好|快|差不多|大概|现在)*"
        r"(?:第)?(\d{1,3})(多)?天"
    ):
        days = int(m.group(1)) + (3 if m.group(2) else 0)
        if days <= MAX_GESTATION:
            r.due(_due_from_days(today, days), 0.9, EXPLICIT, (0, 6) if m.group(2) else (0, 0))
    _ivf(r, take, today, conceived and not failed, embryo_day)
    for m in take(
        rf"({_BELLY}(?:现在|目前|已经|都|有|才)*)?(?:怀孕|孕|⟨P\d⟩|孕周|孕期)?(?:第)?"
        r"(?<![\d后])(?<!(?<!目)前)(\d{1,2})(?:周|w)(多|\+)?(?![岁前后])"
    ):
        weeks = int(m.group(2))
        if bool(m.group(1)) or _weeks_of_pregnancy(m, weeks, due_cue, baby_cue, hint):
            r.due(_due_from_days(today, weeks * 7), 0.95, spread=(-6, 0))
        else:
            r.birth(today - timedelta(weeks=weeks), 0.9, spread=(-6, 0))

    _kindergarten(r, take, t, today)

    # ---- dates, clause by clause: a date speaks strongly only with its own cue
    clauses = []
    bare: list[Fact] = []
    # 终于卸货了…结果11月18号半夜肚子疼…生下来: in a story of a birth that happened, a past
    # date is the birth's as firmly as one with its own cue (and beats the old due date)
    delivered = bool(_DELIVERED.search(t))
    dates_from = len(r.facts)
    for clause in _CLAUSE.split(rest):
        if not clause or _OWN_BIRTHDAY.search(clause):
            clauses.append(clause)  # her own birthday says nothing about the baby
            continue
        own: Hint = (
            "birth" if _BIRTH_CUE.search(clause) else "due" if _DUE_CUE.search(clause) else None
        )
        found = _dates(clause, today, own or direction, own_cue=own is not None)
        strength = EXPLICIT if own else LOOSE
        clauses.append(found.rest)
        bare += found.bare
        for fact in found.facts:
            firm = strength
            if delivered and own is None and fact.about == "birth" and fact.day <= today:
                firm = EXPLICIT
            r.facts.append(
                Fact(fact.about, fact.day, fact.weight, min(firm, fact.strength), fact.spread)
            )
    dates = range(dates_from, len(r.facts))
    rest = "，".join(clauses)
    # 3月15号吧 answers the question; 3月15号去医院 and 我3月15号有空 say something else.
    if not _FILLER.sub("", _CLAUSE.sub("", rest)):
        r.facts += bare

    # ---- baby ages
    expecting = bool(_EXPECTING.search(t))
    # With nothing saying a baby, months answering "when are you due?" or said next to a
    # pregnancy anywhere in the answer (肚子很大了，七个月) are the pregnancy's.
    whose = _MonthsOf(
        pregnant=(expecting or hint == "due") and not (baby_cue or birth_cue),
        carrying=bool(_CARRYING.search(t)),
        ambiguous=not (expecting or baby_cue or birth_cue or hint),
    )
    _baby_ages(r, take, today, whose)
    if baby_cue or birth_cue or not due_cue:
        # 那两天, 这两天, 前几天 are times, not ages
        for m in take(r"(?<![那这前同])(\d{1,3})天"):
            r.birth(today - timedelta(days=int(m.group(1))), 0.95)
    if coming is not None:
        # 明天就满一岁: the age she gives is the one still to come; a birth date she gives
        # beside it (今年2月5号生的，还差两个多月就一岁了) is exact and the countdown goes
        ahead, spread = coming
        born_on = any(
            r.facts[i].about == "birth" and r.facts[i].strength == EXPLICIT for i in dates
        )
        r.facts[first_age:] = [
            f if i in dates else replace(f, day=f.day + timedelta(days=ahead), spread=spread)
            for i, f in enumerate(r.facts[first_age:], start=first_age)
            if i in dates or not (born_on and f.about == "birth")
        ]

    for pattern, stage, weight in _NAMED_STAGES:
        if pattern.search(t):
            r.named, r.named_weight = stage, weight
            break
    return r


def _someone_elses_days(t: str) -> str:
    """老公生日3月5号, 我自己生日是5月1号: a clause about another person's day (or her own
    birthday) with no child in it says nothing about her stage."""
    return "，".join(
        "§"
        if (_SOMEONE_ELSE.search(clause) or _OWN_BIRTHDAY.search(clause))
        and not _CHILD_WORD.search(clause)
        else clause
        for clause in _CLAUSE.split(t)
    )


_LAST_PERIOD = re.compile(
    r"(?:末次|最后一次|上一?次|上个月)(?:来)?(?:的)?(?:月经|例假|大姨妈|姨妈)(?:的)?(?:时间|日期)?"
    r"(?:是|在|为|:)*|末次"
)


def _last_period(r: Reading, t: str, today: date) -> str:
    """末次月经9月20号: obstetrics counts a pregnancy from the first day of her last period,
    the due date 280 days on (Naegele's rule)."""
    clauses = []
    for clause in _CLAUSE.split(t):
        m = _LAST_PERIOD.search(clause)
        if m:
            found = _dates(clause[: m.start()] + clause[m.end() :], today, "birth", own_cue=True)
            for fact in found.facts:
                day = fact.day + timedelta(days=FULL_TERM)
                r.due(day, min(fact.weight, 0.9), EXPLICIT, fact.spread)
            if found.facts:
                clause = "§"
        clauses.append(clause)
    return "，".join(clauses)


def _around_a_day(t: str) -> str:
    """国庆那两天, 中秋节前几天: days around a festival are a date near it, not a baby's age;
    around some other event (搬家那两天) they say nothing at all."""
    named = _named_day_pattern()
    t = re.sub(rf"({named})(?:的)?(?:那|这)(?:2|3|几)天", r"\1前后", t)
    t = re.sub(rf"({named})(?:的)?(前|后)(?:2|3|几)天", r"\1\g<2>3天左右", t)
    return re.sub(rf"(?:{_ACTIVITY.pattern})(?:的)?(?:那|这|前|后)(?:2|3|几)天", "§", t)


_AGE_TO_COME = re.compile(
    rf"(?:(明天|后天|大后天)|下个?(?:周|星期|礼拜)({_WEEKDAY})?|下个?(月)|过(几|2)天"
    r"|(?:还有|还差|还剩|再过|过)(\d{1,2})(天|周|个月|个多月|多天))"
    r"(?:就|才|要|就要|才能|能|会|可以)*(?=满|\d{1,3}(?:岁|个多?月|天|周))"
)


# An age reached on a past day: 上个月底刚满月, 昨天刚满百天, 今年三月满的两岁.
_AGE_REACHED = re.compile(
    rf"(?:(今年|去年|前年|大前年|\d{{4}}年)?(?<![\d个])(\d{{1,2}})月份?{_DAY_PART}|上个?月{_DAY_PART}"
    rf"|(上上|上)个?(?:周|星期|礼拜)({_WEEKDAY})?|(大前天|前天|昨天)|(\d{{1,3}})(天|周|个月)(?:以)?前)"
    r"(?:的时候|时)?(?:就|刚|才|已经|刚好|正好)*(?=满)"
)


def _age_reached(m: re.Match[str], today: date) -> tuple[int, tuple[int, int]] | None:
    """How many days ago (negative) the age she gives was reached, and its spread."""
    year, month, part, last_part, week, weekday, day_word, n, unit = m.groups()
    if month:
        if year:
            day = _month_day(_year_of(year, today), int(month), part)
        else:
            day = _month_day(today.year, int(month), part)
            if day is not None and day > today:
                day = _month_day(today.year - 1, int(month), part)
        spread = _part_spread(part)
    elif week:
        day = _week_day(today, week, weekday)
        spread = (0, 0) if weekday else (-3, 3)
    elif day_word:
        day, spread = today + timedelta(days=_DAY_WORDS[day_word]), (0, 0)
    elif n:
        day, spread = _shift(today, -int(n), unit), (0, 0)
    else:
        last = add_months(today, -1)
        day, spread = _month_day(last.year, last.month, last_part), _part_spread(last_part)
    if day is None or day > today:
        return None
    return (day - today).days, spread


def _age_to_come(t: str, today: date) -> tuple[str, tuple[int, tuple[int, int]] | None]:
    """明天就满一岁, 下周就满月, 还有3天满百天: an age not reached yet (and 上个月底刚满月:
    one reached on a past day). Returns the text without the time words and how many days
    ahead the age falls (with its spread)."""
    m = _AGE_TO_COME.search(t)
    if m is None:
        past = _AGE_REACHED.search(t)
        reached = _age_reached(past, today) if past else None
        if past is None or reached is None:
            return t, None
        return t[: past.start()] + t[past.end() :], reached
    day_word, weekday, month, few, n, unit = m.groups()
    if day_word:
        ahead, spread = _DAY_WORDS[day_word], (0, 0)
    elif m.group(0).startswith("下") and not month:
        if weekday:
            ahead, spread = (_week_day(today, "下", weekday) - today).days, (0, 0)
        else:
            ahead, spread = 7, (-3, 3)
    elif month:
        ahead, spread = (add_months(today, 1) - today).days, (-14, 14)
    elif few:
        ahead, spread = (3, (-2, 4)) if few == "几" else (2, (0, 0))
    else:
        more = "多" in unit
        ahead = (_shift(today, int(n), unit.replace("多", "")) - today).days + (7 if more else 0)
        spread = (-7, 7) if more else (0, 0)
    return t[: m.start()] + t[m.end() :], (ahead, spread)


# Past the first months a baby's age is given in months: a bare N周 from here on is the
# pregnancy's, unless the words say the baby was born (出生20周, 20周大).
BABY_WEEKS_UNTIL = 17
# A born baby's age in weeks said outright.
_BORN_WEEKS = re.compile(r"出生|生完|生了|刚生|生下|满月|月子|周大|产后|剖完|顺完")
# Prenatal care: a bare N周 next to these (刚做完NT，12周; 宝宝20周，刚做完唐筛) is a pregnancy.
_PRENATAL = re.compile(
    r"(?<![a-z])nt(?![a-z])|唐筛|无创|羊穿|四维|三维|排畸|糖耐|产检|孕检|建档|建卡|胎动|胎心|胎儿"
    r"|孕酮|保胎|孕妇|孕吐"
)


def _weeks_of_pregnancy(
    m: re.Match[str], weeks: int, due_cue: bool, baby_cue: bool, hint: Hint
) -> bool:
    """Whether a bare N周 is how far along she is rather than a baby's age.

    Words that a baby was born (出生5周, 6周大; 满8周 below `BABY_WEEKS_UNTIL`) make it a
    baby's; prenatal care
    anywhere in the answer (NT, 大排畸, 产检) or a count past `BABY_WEEKS_UNTIL` weeks (a
    grandmother's 闺女27周了) make it the pregnancy's.

    A baby word in the same clause (宝宝3周, 出生2周, 12周大了) or a question about the birth
    makes it a baby. Past ten weeks a baby is counted in months, so there only a baby word
    that belongs to no other child's age counts: 二宝现在18周 and 双胞胎，32周了 are
    pregnancies, and 老大3岁 is the older child's age, not this one's."""
    if due_cue:
        return True
    clause = _clause_at(m.string, m.start(), m.end())
    if _BORN_WEEKS.search(clause):
        return False  # 出生5周, 6周大: a born baby's age in weeks
    if re.search(r"满$", m.string[: m.start(2)]) and weeks < BABY_WEEKS_UNTIL:
        return False  # 满8周 is a baby's; 刚满20周 is how far along she is
    if weeks >= BABY_WEEKS_UNTIL or _PRENATAL.search(m.string):
        return True  # 20周 of a baby is not how mothers count; NT at 12周 is a pregnancy
    if _BABY_WORD.search(clause) or hint == "birth":
        return False
    if weeks < 10:
        return not baby_cue
    return not any(
        _BABY_WORD.search(clause) and not _AN_AGE.search(clause)
        for clause in _CLAUSE.split(m.string)
    )


def _clause_at(text: str, start: int, end: int) -> str:
    before = max((m.end() for m in _CLAUSE.finditer(text, 0, start)), default=0)
    after = _CLAUSE.search(text, end)
    return text[before : after.start() if after else len(text)]


def _relative_due(r: Reading, take: Any, t: str, today: date, direction: Hint) -> None:
    """下个月就生, 还有两个月, 预产期过了两天, 下周三剖: phrases about the birth to come."""
    for m in take(r"过了?预产期(\d+)(天|周)|预产期(?:已经)?过了?(\d+)(天|周)"):
        n, unit = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        r.due(_shift(today, -int(n), unit), 0.95, RELATIVE)
    if direction == "due" and not _BABY_CUE.search(t):
        # 已经过了3天了, answering "when are you due?": the due date has passed
        for m in take(r"(?<![再还])(?:已经)?过(?:了)?(\d+)(天|周)(?!后|以后|之后)"):
            r.due(_shift(today, -int(m.group(1)), m.group(2)), 0.85, RELATIVE)
    days = r"(大前天|前天|昨天|今天|明天|后天|大后天)"
    for m in take(rf"{days}(?:就)?是预产期|预产期(?:就|本来|原本|应该)?是?{days}"):
        r.due(today + timedelta(days=_DAY_WORDS[m.group(1) or m.group(2)]), 0.95, RELATIVE)
    # 预产期是上周五，还没生: overdue, a due date in the past
    last_week = rf"(上上|上)个?(?:周|星期|礼拜)({_WEEKDAY})?"
    for m in take(rf"预产期(?:就|本来|原本|应该)?(?:是|在)?{last_week}|{last_week}(?:就)?是预产期"):
        which, weekday = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        r.due(_week_day(today, which, weekday), 0.9, RELATIVE, (0, 0) if weekday else (-3, 3))
    plan = r"(?:就|要|准备|计划|安排|约了?|定了?|去|住院|入院|到|可能|会)*"
    birth_to_come = r"(?:生|剖|剖腹产|剖宫产|催产|催生|引产|卸货|待产|预产)"
    for m in take(rf"(明天|后天|大后天){plan}{birth_to_come}"):
        r.due(today + timedelta(days=_DAY_WORDS[m.group(1)]), 0.9, RELATIVE)
    for m in take(
        rf"(下下|下|这|本)个?(?:周|星期|礼拜)({_WEEKDAY})?{plan}{birth_to_come}(?![的完])"
    ):
        r.due(_week_day(today, m.group(1), m.group(2)), 0.85, RELATIVE, (-3, 3))
    for m in take(
        rf"(?:预产期|{birth_to_come}[^，§]{{0,4}})(?:就|是|在|定在|约在|约的|安排在)*"
        rf"(下下|下|这|本)个?(?:周|星期|礼拜)({_WEEKDAY})?"
    ):
        r.due(_week_day(today, m.group(1), m.group(2)), 0.9, RELATIVE, (-3, 3))
    for m in take(rf"(?<![\d个上下这本])月(初|中|底|末)(?:旬)?{plan}{birth_to_come}(?![的完])"):
        day = _month_day(today.year, today.month, m.group(1))
        r.due(day if day and day >= today else add_months(day or today, 1), 0.85, RELATIVE, (-5, 5))
    for _ in take(
        rf"(这2天|这几天|近几天|最近|这两天)(?:可能|应该)*{plan}{birth_to_come}(?![的完])"
    ):
        r.due(today + timedelta(days=2), 0.8, RELATIVE, (-2, 5))
    for _ in take(rf"下下个?月{plan}{birth_to_come}"):
        r.due(_month_day(*_ym(add_months(today, 2)), None), 0.85, RELATIVE, (-14, 14))
    for _ in take(rf"下个?月{plan}{birth_to_come}"):
        r.due(_month_day(*_ym(add_months(today, 1)), None), 0.85, RELATIVE, (-14, 14))
    for m in take(
        r"(?:还有|还剩|还差|离(?:预产期|生产|生|卸货|分娩)?还有|距离?(?:预产期|生产|生|卸货|分娩)?(?:还有)?"
        r"|再过|再有|倒计时)"
        r"(不到|差不多|大概|将近|快|约)?(\d+)(个多?月|多?周|多?天)(?:左右)?(?!.*(?:满月|100天|岁|断奶|幼儿园))"
    ):
        n, unit = int(m.group(2)), m.group(3).replace("多", "")
        fuzzy = m.group(1) or "多" in m.group(3) or unit == "个月"
        more = (3 if unit == "天" else 7 if unit == "个月" else 0) if "多" in m.group(3) else 0
        r.due(
            _shift(today, n, unit) + timedelta(days=more),
            0.85 if fuzzy else 0.95,
            RELATIVE,
            (-14, 14) if fuzzy else (0, 0),
        )
    for m in take(rf"(\d{{1,2}})(天|周|个月)(?:后|以后|之后){plan}{birth_to_come}(?![的完])"):
        r.due(_shift(today, int(m.group(1)), m.group(2)), 0.85, RELATIVE, (-7, 7))
    # A bare 下周, 明天 or 下周五 answering "when are you due?" is the due date; in any other
    # sentence it is about something else.
    if direction == "due" and not _FILLER.sub("", re.sub(r"下个?(?:周|星期|礼拜)", "", t)):
        for _ in take(r"下个?(?:周|星期|礼拜)"):
            r.due(today + timedelta(days=7), 0.8, LOOSE, (-3, 3))
    day_word = rf"(明天|后天|大后天)|(下下|下|这|本)个?(?:周|星期|礼拜)({_WEEKDAY})"
    if direction == "due" and not _FILLER.sub("", re.sub(day_word, "", t, count=1)):
        for m in take(day_word):
            day = (
                today + timedelta(days=_DAY_WORDS[m.group(1)])
                if m.group(1)
                else _week_day(today, m.group(2), m.group(3))
            )
            r.due(day, 0.85, LOOSE)


def _relative_birth(r: Reading, take: Any, today: date) -> None:
    """昨天刚生的, 上周五出生, 半个月前生的, 剖腹产一周了, 刚满月: phrases about a birth.

    A birth on a named past day (上周五就生了) is as firm as a date: it beats the due date
    she had (预产期本来是12月10号), so those facts are EXPLICIT."""
    born = r"(?:就|已经|刚|才)*(?:出生|生(?![日病气活意])|剖|顺(?!利)|生产|分娩)"
    hour = (
        r"(?:早上|上午|中午|下午|晚上|凌晨|夜里|半夜)?"
        r"(?:(?:\d{1,2}|[一二三四五六七八九十两]{1,3})点(?:多|半|\d{1,2}分?)?)?"
    )
    for m in take(rf"(大前天|今天|昨天|前天){hour}{born}"):
        r.birth(today + timedelta(days=_DAY_WORDS[m.group(1)]), 0.95, EXPLICIT)
    for m in take(rf"(这|本)个?(?:周|星期|礼拜)({_WEEKDAY})(?:早上|晚上|凌晨)?{born}(?![产])"):
        day = _week_day(today, m.group(1), m.group(2))
        if day <= today:
            r.birth(day, 0.85, EXPLICIT)
        else:
            r.due(day, 0.85, RELATIVE)
    for m in take(rf"(?<![\d个上下这本])月(初|中|底|末)(?:旬)?{born}(?=的|完)"):
        this_month = _month_day(today.year, today.month, m.group(1))
        if this_month is not None:
            day = this_month if this_month <= today else add_months(this_month, -1)
            r.birth(day, 0.85, RELATIVE, (-5, 5))
    for m in take(rf"(上上|上)个?(?:周|星期|礼拜)({_WEEKDAY})?(?:早上|晚上|凌晨)?{born}"):
        r.birth(
            _week_day(today, m.group(1), m.group(2)),
            0.9,
            EXPLICIT,
            (0, 0) if m.group(2) else (-3, 3),
        )
    for m in take(rf"(?<![下这上本])(?:周|星期|礼拜)({_WEEKDAY})(?:早上|晚上|凌晨)?{born}"):
        back = (today.isoweekday() - _WEEKDAYS[m.group(1)]) % 7
        r.birth(today - timedelta(days=back), 0.85, EXPLICIT)
    for _ in take(rf"(?:前2天|前几天|这2天|这几天){born}"):
        r.birth(today - timedelta(days=3), 0.8, RELATIVE, (-3, 2))
    for _ in take(rf"上(?:个)?(?:周末|礼拜天|星期天){born}"):
        r.birth(_week_day(today, "上", "6"), 0.85, EXPLICIT, (0, 1))
    for m in take(rf"(\d{{1,3}})(天|周|个月)(?:以)?前{born}"):
        r.birth(_shift(today, -int(m.group(1)), m.group(2)), 0.95, EXPLICIT)
    done = (
        r"(?:剖腹产|剖宫产|剖|顺产|顺|生产|分娩|生|产)(?:完|了|后|好)|(?:剖腹产|剖宫产|术后|产后)"
    )
    for m in take(
        rf"(?:{done})(?:了|已经|才|刚|都|快|有)*(?:第)?(\d{{1,3}})(天|周|个月)(?!后|以后|之后)"
    ):
        r.birth(_shift(today, -int(m.group(1)), m.group(2)), 0.9, RELATIVE)
    for m in take(r"(?:刚|才)?生完?(?:了)?(\d+)(天|周|个月)|生完(?:了)?(\d+)(天|周)"):
        n, unit = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        r.birth(_shift(today, -int(n), unit), 0.95, RELATIVE)
    for m in take(
        r"(?:离|距离?)?满月(?:还差|还有|还剩|差)(\d{1,2})(天|周)|(?:离|距离?)满月(?:还差|还剩)?(\d{1,2})(天|周)"
    ):
        # 满月还差一个礼拜: a 满月 of 28 days, that much short of it
        n, unit = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        short = int(n) * (7 if unit == "周" else 1)
        if short < 28:
            r.birth(today - timedelta(days=28 - short), 0.85, RELATIVE, (-2, 2))
    for _ in take(r"(?:快要|马上就?要?|就快|快)满月"):
        # about to be a month old: three or four weeks
        r.birth(add_months(today, -1) + timedelta(days=7), 0.85, RELATIVE, (-6, 3))
    for _ in take(r"(?:刚|才)?满月|出月子"):
        r.birth(add_months(today, -1), 0.9, RELATIVE, (-7, 0))
    for m in take(r"(?:今天|刚刚?|才)(?:出生|生了|生的|生完|剖完|顺完|剖了|生下)"):
        r.birth(
            today if m.group(0).startswith("今") else today - timedelta(days=1),
            0.8,
            RELATIVE,
            (-3, 0),
        )


def _compound_ages(r: Reading, take: Any, today: date) -> None:
    """一岁六个月零五天, 5个月零一周, 出生一周零两天, 一岁多点: every part of an age, read
    before a week count in it can pass for a pregnancy's."""
    for m in take(
        r"(\d{1,2})岁(?:零|又)?(?:(\d{1,2})个?多?月|(半))?(?:零|又|加)?(\d{1,2})(天|周)(?!前|后|以前|以后)"
    ):
        months = int(m.group(2) or 0) + (6 if m.group(3) else 0)
        back = add_months(today, -12 * int(m.group(1)) - months)
        r.birth(_shift(back, -int(m.group(4)), m.group(5)), 0.95)
    for m in take(r"(\d{1,2})个多?月(?:零|又|加)?(\d{1,2})周(?!前|后|以前|以后)"):
        r.birth(add_months(today, -int(m.group(1))) - timedelta(weeks=int(m.group(2))), 0.95)
    for m in take(
        r"(?:出生|生下来|生完|刚生|生了)(?:了|已经|才|刚|有|都)*(\d{1,2})周(?:零|又|加|\+)?(\d)天"
    ):
        r.birth(today - timedelta(days=7 * int(m.group(1)) + int(m.group(2))), 0.95)
    for m in take(r"(\d{1,2})岁(?:多(?:一)?点|出头)"):
        # a little over N: a month or two
        r.birth(add_months(today, -12 * int(m.group(1)) - 1), 0.9, EXPLICIT, (-30, 30))


def _pregnancy_months(r: Reading, take: Any, today: date) -> None:
    """怀孕N个月: N obstetric months of four weeks completed since her last period, 4N weeks.

    Obstetrics counts from the first day of the last period (末次月经) in weeks, and "每四周
    为一个妊娠月份" (four weeks make a pregnancy month, 40 weeks the 怀胎十月 of the saying;
    e.g. meili43.com/health/2016/1201/64224_5.html, and the 孕期月份对照表 of the pregnancy
    apps: 孕3月 = 9–12周, 孕7月 = 25–28周). A mother who says 怀孕N个月 has lived N of them:
    4N weeks. That also keeps the stage every mother knows by month: 前三个月 is 孕早期,
    4–6个月 孕中期, 7个月起 孕晚期. The old rule read the middle of the Nth month (4N−2
    weeks), two weeks short; calendar months since the period (4.35N weeks) would run 1–3
    weeks long. Both neighbours lie within the reading's spread, so 怀孕3个月 and 怀孕7个月
    (a stage boundary either way) come out with a low confidence and are confirmed with her.
    多 and 半 add two weeks; 不到 / 快 take ten days off; 第N个月 is the middle of the Nth
    month (4N−2 weeks); 怀孕十个月 is at term, 39 weeks."""
    quals = r"(?:还|才|刚|已经|有|了|都|差不多|大概|刚好|现在|目前)*"
    for m in take(
        rf"(?:(?:怀孕|孕|怀上|怀了|怀|{_BELLY}){quals}(不到|没到|还没到|不满|快|将近|第)?{quals}|⟨P\d⟩)"
        r"(\d{1,2})(个半|个多|个)?月(?!份|\d|初|中|底|末|上旬|下旬)"
    ):
        months = int(m.group(2))
        if 1 <= months <= 10:
            days = _obstetric_days(months, m.group(3) or "", m.group(1) or "")
            r.due(_due_from_days(today, days), 0.85, EXPLICIT, (-14, 14))


def _obstetric_days(months: int, unit: str, qualifier: str) -> int:
    """Days of gestation in N pregnancy months (see `_pregnancy_months`)."""
    days = 28 * months + (14 if unit in ("个半", "个多") else 0)
    if qualifier == "第":
        days = 28 * months - 14
    elif qualifier:
        days -= 10
    return min(days, 39 * 7)  # 怀胎十月: at term, not past it


_EMBRYO = r"(?:囊胚|冻胚|鲜胚|胚胎)"
# The embryo's own age (5天囊, 五天囊胚, 3天的鲜胚): never a baby's age in days.
_EMBRYO_AGE = re.compile(r"([3-7])天(?:的)?(?:囊胚?|胚胎?|鲜胚|冻胚|冻囊)")
_TRANSFER = re.compile(
    rf"(?:{_EMBRYO}移植|移植(?:了)?(?:的)?(?:1个|一个|2个|两个)?{_EMBRYO}?)(?:后|了|以后|之后)*"
    r"(?:[，,]?(?:今天|现在|已经|目前)*(?:是)?(?=第))?(?:第)?(\d{1,3})(天|周)(?!前)"
)
# Past this many days after a transfer nobody counts on unless it took.
IVF_COUNTING_DAYS = 21


def _ivf(r: Reading, take: Any, today: date, took: bool, embryo_day: int) -> None:
    """移植囊胚后第12天，hcg 300: gestation is counted from a period two weeks before
    fertilisation, so a day-5 blastocyst is 19 days old on the day of transfer and a day-3
    embryo 17 (an embryo of unnamed age: a blastocyst, the usual transfer; its age may be
    named anywhere: 移植的是5天囊). Days after the transfer are a pregnancy once it took (hcg,
    阳性, 胎芽, 卵黄囊) or when counted past `IVF_COUNTING_DAYS` (已经第100天); a failed one
    is trying again."""
    for m in take(_TRANSFER.pattern):
        days = int(m.group(1)) * (7 if m.group(2) == "周" else 1)
        if not (took or days >= IVF_COUNTING_DAYS) or days > MAX_GESTATION:
            continue
        r.due(_due_from_days(today, days + 14 + embryo_day), 0.85, EXPLICIT, (-2, 2))
        r.trying = False


@dataclass(frozen=True)
class _MonthsOf:
    """Whose an "N个月" is. `pregnant`: the pregnancy's (nothing says a baby); `carrying`:
    she is pregnant now, so months in a clause naming no child are the pregnancy's;
    `ambiguous`: nothing says either (七个月), a baby's age she is asked to confirm."""

    pregnant: bool = False
    carrying: bool = False
    ambiguous: bool = False

    def of_pregnancy(self, m: re.Match[str]) -> bool:
        if self.pregnant:
            return True
        if not self.carrying:
            return False
        clause = re.sub(r"怀(?:了|上|着)?⟨[KPT]\d?⟩", "", _clause_at(m.string, m.start(), m.end()))
        return not (_CHILD_WORD.search(clause) or _BIRTH_CUE.search(clause))

    def baby_weight(self, m: re.Match[str], weight: float) -> float:
        """A bare N个月 could be either: a confidence low enough to be confirmed (N个月大
        and N月龄 are a baby's)."""
        if self.ambiguous and not re.search(r"大|龄", m.string[m.end() : m.end() + 1]):
            return min(weight, 0.7)
        return weight


def _baby_ages(r: Reading, take: Any, today: date, whose: _MonthsOf) -> None:
    """宝宝8个月, 两岁半, 5个月零10天, 快3岁了, 2岁多: ages in calendar months and years."""
    for m in take(r"(\d{1,2})(?:个多?月|m)(?:零|又|加)?(\d{1,2})(?:天|d)"):
        r.birth(add_months(today, -int(m.group(1))) - timedelta(days=int(m.group(2))), 0.95)
    for m in take(r"(?:不到|不满|不足|未满|(?:还)?没(?:有)?(?:到|满)?)(\d{1,2})岁(半)?"):
        # younger than N: most likely in the year before it (还不到两岁 is one and a bit)
        under = add_months(today, -12 * int(m.group(1)) - (6 if m.group(2) else 0))
        r.facts.append(Fact("birth", under + timedelta(days=1), 0.75, EXPLICIT, (0, 364), False))
    for m in take(r"虚岁(\d{1,2})岁?"):
        # 虚岁 counts one at birth and one more each lunar new year: one or two more
        r.birth(add_months(today, -12 * int(m.group(1)) + 18), 0.7, EXPLICIT, (-183, 183))
    for m in take(r"(\d{1,2})岁差(\d{1,2})个月"):
        r.birth(add_months(today, -12 * int(m.group(1)) + int(m.group(2))), 0.9)
    for m in take(r"快(\d{1,2})岁"):
        r.birth(add_months(today, -12 * int(m.group(1)) + 1), 0.85, EXPLICIT, (0, 30))
    for m in take(r"(\d{1,2})岁多"):
        r.birth(add_months(today, -12 * int(m.group(1)) - 5), 0.85, EXPLICIT, (-150, 150))
    for m in take(r"(\d{1,2})(?:岁|y)(?:零|又)?(?:(\d{1,2})个?多?(?:月|m)|(半))?"):
        months = 12 * int(m.group(1)) + (int(m.group(2)) if m.group(2) else 6 if m.group(3) else 0)
        r.birth(add_months(today, -months), 0.95, EXPLICIT, (-27, 0))
    for m in take(r"(\d{1,2})个半月"):
        r.birth(add_months(today, -int(m.group(1))) - timedelta(days=15), 0.95)
    for m in take(r"快(\d{1,2})个月"):
        if whose.of_pregnancy(m):
            # 快8个月了 answering "when are you due?": the pregnancy's eighth month
            r.due(
                _due_from_days(today, _obstetric_days(int(m.group(1)), "", "快")),
                0.75,
                spread=(-14, 14),
            )
            continue
        day = add_months(today, -int(m.group(1))) + timedelta(days=7)
        r.birth(day, whose.baby_weight(m, 0.9), EXPLICIT, (-7, 7))
    for m in take(r"(不到|没到|不满)?(\d{1,2})(个多?月|m(?![a-z])|月龄)"):
        if whose.of_pregnancy(m):
            # "孕早期，还不到3个月": with only pregnancy cues, months are the pregnancy's.
            unit = "个多" if "多" in m.group(3) else ""
            days = _obstetric_days(int(m.group(2)), unit, m.group(1) or "")
            r.due(_due_from_days(today, days), 0.75, EXPLICIT, (-14, 14))
            continue
        if m.group(1):  # 不到1个月 is a newborn: younger than N months, not N
            day = add_months(today, -int(m.group(2))) + timedelta(days=10)
            r.birth(day, whose.baby_weight(m, 0.9), spread=(0, 20))
            continue
        day = add_months(today, -int(m.group(2)))
        r.birth(day, whose.baby_weight(m, 0.95), EXPLICIT, (-27, 0))


# Kindergarten classes by the age a child starts them; the school year starts in September.
_CLASSES = {"托班": 2, "托儿所": 2, "小班": 3, "中班": 4, "大班": 5}


def _kindergarten(r: Reading, take: Any, t: str, today: date) -> None:
    """读小班, 上幼儿园了: a cohort born from September to August, read at its middle."""
    school_year = today.year if today.month >= 9 else today.year - 1
    if re.search(r"幼儿园(?:的)?(?:老师|上班|工作)|当老师", t):
        return
    child = re.search(r"孩子|宝宝|宝贝|儿子|女儿|闺女|娃|⟨K\d⟩|小朋友|幼儿园|读", t)
    if not child and not re.match(r"(?:托班|小班|中班|大班)", t):
        return  # 上中班 is also a work shift
    # 刚上了3个月, 才去了两个月: how long she has gone, not her age
    take(
        r"(?:已经|才|刚|都)*(?:上|读|去|念|入园)(?:了)?(?:已经|才|刚|都|有)*\d+(?:个多?月|周|天|学期)"
    )
    for m in take(r"幼儿园(托班|小班|中班|大班)|(托班|托儿所|小班|中班|大班)"):
        start = _CLASSES[m.group(1) or m.group(2)]
        r.birth(date(school_year - start, 3, 1), 0.85, EXPLICIT, (-181, 183))
    for _ in take(r"(?:明年|快|马上|准备|要|快要|就要)(?:\d+月份?)?(?:就)?(?:要)?上幼儿园"):
        # starts next September, at three
        r.birth(date(school_year + 1 - 3, 3, 1), 0.6, EXPLICIT, (-181, 183))
    for _ in take(r"(?:上|读|在)幼儿园|幼儿园了"):
        r.birth(date(school_year - 4, 3, 1), 0.6, EXPLICIT, (-546, 548))


def resolve(r: Reading, t: str, today: date, bounds: StageBoundaries) -> StageResult:
    """The reading that the facts support, with explicit precedence, and how sure it is."""
    several = bool(re.search(r"⟨[KPT]", t))
    facts = [
        f
        for f in r.facts
        if (f.about == "due" and -42 <= (f.day - today).days <= FULL_TERM)
        or (f.about == "birth" and add_years(today, -18) < f.day <= today)
    ]
    if facts:
        # Loose facts count only when nothing stronger was said.
        top = max(f.strength for f in facts)
        facts = [f for f in facts if f.strength >= min(top, RELATIVE)]
    dues = [f for f in facts if f.about == "due"]
    births = [f for f in facts if f.about == "birth"]
    doubt = 1.0
    older = 0
    if dues and births:
        # 儿子3岁，我现在孕20周: a child born before this pregnancy began is an older one;
        # the pregnancy is her stage.
        began = min(f.day for f in dues) - timedelta(days=FULL_TERM)
        if all(f.day + timedelta(days=f.spread[1]) < began for f in births):
            older, births = len(births), []
    if dues and births and not several:
        # "预产期本来是…，宝宝…就出生了": the baby came, unless the birth is the weaker fact.
        if max(f.strength for f in births) >= max(f.strength for f in dues):
            dues = []
        else:
            births = []
        doubt = 0.85
    if r.trying and r.not_pregnant:
        dues = []  # 这个月又没怀: whatever date she gives is no pregnancy's
    if r.trying and births and not dues and not (_CHILD_WORD.search(t) or _BIRTH_CUE.search(t)):
        # 在备孕，已经七个月了: how long she has tried, no child's age
        births = []
    if r.trying and (dues or births):
        if births and not dues and several and _TRYING_AGAIN.search(t):
            # 老大3岁，在备孕二胎: she is trying again.
            children = _children(t, len(births), pregnant=True)
            return result_for(
                today, preparing=True, children=children, bounds=bounds, confidence=0.6
            )
        doubt = min(doubt, 0.9)
    if r.repaired:
        doubt *= 0.9
    children = _children(t, len(births), pregnant=bool(dues))
    if children is None and older:
        children = older
    chosen: Fact | None = None
    if dues:
        # An explicit gestational age beats a relative phrase (孕35周，医生说下周可能就生).
        chosen = min(dues, key=lambda f: (-f.strength, f.day, -f.weight))
        others = [f for f in dues if abs((f.day - chosen.day).days) > 14]
    elif births:
        # Several children: the youngest; one: the strongest fact about her.
        chosen = max(births, key=lambda f: (0 if several else f.strength, f.day, f.weight))
        others = [] if several else [f for f in births if abs((f.day - chosen.day).days) > 30]
    if chosen is not None:
        if others:
            doubt *= 0.7
        result = result_for(
            today,
            due_date=chosen.day if chosen.about == "due" else None,
            birth_date=chosen.day if chosen.about == "birth" else None,
            children=children,
            bounds=bounds,
        )
        confidence = chosen.weight * doubt
        if _crosses_boundary(chosen, today, bounds, result.stage):
            confidence = min(confidence, 0.6)
        if r.named is not None and r.named != result.stage and result.stage is not None:
            confidence = min(confidence, 0.5)
        if result.stage is None:
            confidence = min(confidence, 0.7)
        if not chosen.dated:
            result = StageResult(stage=result.stage, children=children)
        return _with_confidence(result, confidence)
    if r.trying:
        children = _children(t, 0, pregnant=True)
        return result_for(
            today, preparing=True, children=children, bounds=bounds, confidence=0.9 * doubt
        )
    if r.named is not None:
        return StageResult(
            stage=r.named, children=children, confidence=round(r.named_weight * doubt, 2)
        )
    return StageResult()


def _with_confidence(result: StageResult, confidence: float) -> StageResult:
    return StageResult(
        **{**result.__dict__, "confidence": round(max(0.0, min(1.0, confidence)), 2)}
    )


def _crosses_boundary(fact: Fact, today: date, bounds: StageBoundaries, stage: str | None) -> bool:
    """Whether the date's possible span reaches into another stage."""
    for offset in fact.spread:
        day = fact.day + timedelta(days=offset)
        other = (
            stage_for(today, due_date=day, bounds=bounds)
            if fact.about == "due"
            else stage_for(today, birth_date=day, bounds=bounds)
        )
        if other != stage:
            return True
    return False


def _week_day(today: date, which: str, weekday: str | None) -> date:
    """下周三, 这周五, 上周一; without a weekday, the same weekday that week."""
    weeks = {"下下": 2, "下": 1, "这": 0, "本": 0, "上": -1, "上上": -2}[which]
    monday = today - timedelta(days=today.isoweekday() - 1) + timedelta(weeks=weeks)
    if weekday is None:
        return today + timedelta(weeks=weeks)
    return monday + timedelta(days=_WEEKDAYS[weekday] - 1)


def _ym(day: date) -> tuple[int, int]:
    return day.year, day.month


def _shift(today: date, n: int, unit: str) -> date:
    if unit == "个月":
        return add_months(today, n)
    if unit == "周":
        return today + timedelta(weeks=n)
    return today + timedelta(days=n)


def _due_from_days(today: date, gestational_days: int) -> date | None:
    if not 0 < gestational_days <= 44 * 7:
        return None
    return today + timedelta(days=FULL_TERM - gestational_days)


def _month_day(year: int, month: int, part: str | None) -> date | None:
    if not 1 <= month <= 12:
        return None
    last = calendar.monthrange(year, month)[1]
    day = {"初": 5, "上旬": 5, "中旬": 15, "中": 15, "下旬": 25, "底": last, "末": last}.get(
        part or "", 15
    )
    return date(year, month, day)


def _valid(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _nearest(today: date, candidates: list[date]) -> tuple[date | None, date | None] | None:
    """The next (on or after today) and the last (on or before today) of some dates."""
    after = [d for d in candidates if d >= today]
    before = [d for d in candidates if d <= today]
    if not after and not before:
        return None
    return min(after, default=None), max(before, default=None)


def _next_and_last(today: date, month: int, day: int) -> tuple[date, date] | None:
    this_year = _valid(today.year, month, day)
    if this_year is None:
        # 2-29: the nearest years that have it.
        nxt = next((d for y in range(1, 5) if (d := _valid(today.year + y, month, day))), None)
        lst = next((d for y in range(1, 5) if (d := _valid(today.year - y, month, day))), None)
        return (nxt, lst) if nxt and lst else None
    nxt = this_year if this_year >= today else _valid(today.year + 1, month, day)
    lst = this_year if this_year <= today else _valid(today.year - 1, month, day)
    if nxt is None or lst is None:
        return None
    return nxt, lst


def _lunar_day(year: int, month: int, day: int, leap: bool = False) -> date | None:
    """A lunar date in a lunar year; the 30th of a short month is its last day. A leap
    month (闰六月) exists only in some years: elsewhere there is no such day."""
    for d in (day, day - 1) if day == 30 else (day,):
        try:
            return LunarDate(year, month, d, leap).to_solar_date()
        except ValueError:
            continue
    return None


def _lunar(
    today: date, month: int, day: int, leap: bool = False
) -> tuple[date | None, date | None] | None:
    """The next and the last solar dates of a lunar month-day (a leap month comes back
    only every few years, so it looks further)."""
    reach = 4 if leap else 1
    years = range(today.year - reach, today.year + reach + 1)
    return _nearest(today, [d for y in years if (d := _lunar_day(y, month, day, leap))])


# 春节前后, 过年那几天, 国庆期间: a week either side of the day
_AROUND = r"前后|左右|附近|那几天|那段时间|那阵子?|那会儿?|期间|的时候"
_LUNAR_PART = {"初": 5, "上旬": 5, "中旬": 15, "中": 15, "下旬": 25, "底": 28, "末": 28}
_REL_YEAR = r"大前年|大后年|今年|明年|后年|去年|前年"
_YEAR_WORD = rf"({_REL_YEAR}|\d{{4}}年|(?<!\d)\d{{2}}年)"


def _year_of(word: str, today: date) -> int:
    offsets = {"今年": 0, "明年": 1, "后年": 2, "大后年": 3, "去年": -1, "前年": -2, "大前年": -3}
    if word in offsets:
        return today.year + offsets[word]
    year = int(word[:-1])
    return year + 2000 if year < 100 else year


@dataclass
class _Dates:
    rest: str
    facts: list[Fact] = field(default_factory=list)
    # Month-days nothing says the meaning of: facts only if they are the whole answer.
    bare: list[Fact] = field(default_factory=list)


# A due date she knows means a pregnancy already confirmed, four weeks at the least; a
# month-day that near a year ahead is more likely a baby's birthday a few months back.
KNOWN_PREGNANCY_DAYS = 28
# A due date this far past is still a pregnancy (an overdue one; 42 weeks is post-term).
OVERDUE_DAYS = 21
# A month-day answering "due date or birthday?" is a guess between the two: she confirms it.
BARE_WEIGHT = 0.7


def _due_or_birthday(
    today: date, candidates: tuple[date | None, date | None], weight: float, spread: tuple[int, int]
) -> Fact | None:
    """The bare month-day of an answer to 预产期是哪天，或者宝宝生日是哪天: the next such day
    if a pregnancy could be due then, else the last one, a birthday."""
    upcoming, past = candidates
    if upcoming is not None and (upcoming - today).days <= FULL_TERM - KNOWN_PREGNANCY_DAYS:
        return Fact("due", upcoming, min(weight, BARE_WEIGHT), LOOSE, spread)
    if past is not None:
        return Fact("birth", past, min(weight, BARE_WEIGHT), LOOSE, spread)
    return None


def _dates(text: str, today: date, direction: Hint, own_cue: bool = False) -> _Dates:
    out = _Dates(text)
    undirected: list[tuple[date, float, tuple[int, int]]] = []

    def place(
        candidates: tuple[date | None, date | None] | None,
        *,
        absolute: date | None = None,
        weight: float = 0.95,
        spread: tuple[int, int] = (0, 0),
    ) -> None:
        """Put a date where it belongs: due or birth, by direction; absolute dates with a
        year and no direction go by whether they are past or future."""
        if absolute is not None:
            if direction is None:
                undirected.append((absolute, weight, spread))
            else:
                out.facts.append(Fact(direction, absolute, weight, EXPLICIT, spread))
            return
        if candidates is not None and direction is None:
            if (fact := _due_or_birthday(today, candidates, weight, spread)) is not None:
                out.bare.append(fact)
            return
        if candidates is None or direction is None:
            return
        day = candidates[0] if direction == "due" else candidates[1]
        last = candidates[1]
        # 预产期11月20号，还没生: a due date a few weeks past, not one too far ahead
        if (
            direction == "due"
            and day is not None
            and last is not None
            and (day - today).days > FULL_TERM
            and (today - last).days <= OVERDUE_DAYS
        ):
            day = last
        if day is not None:
            out.facts.append(Fact(direction, day, weight, EXPLICIT, spread))

    def sub(pattern: str, handler: Any) -> None:
        def replace(m: re.Match[str]) -> str:
            handler(m)
            return "§"

        out.rest = re.sub(pattern, replace, out.rest)

    # festivals and named days: 春节前后, 去年中秋节, 国庆节那天, 元旦前一周
    def named(m: re.Match[str]) -> None:
        name = m.group(3)
        if name not in {key for key, *_ in named_days()}:
            name = name.removesuffix("节")
        around, n, unit = m.group(4) or "", m.group(5), m.group(6)
        shift = int(n) * (7 if unit == "周" else 1) if n and unit else 0
        if around in ("前", "之前", "以前"):
            shift = -shift
        spread = (
            (-7, 7)
            if re.fullmatch(_AROUND, around) or m.group(7)
            else (-14, 0)
            if around in ("前", "之前", "以前") and not shift
            else (0, 14)
            if around in ("后", "之后", "以后") and not shift
            else (0, 0)
        )
        weight = 0.9 if spread == (0, 0) else 0.8
        if m.group(1):
            day = _named_day(name, _year_of(m.group(1), today))
            if day is not None:
                place(None, absolute=day + timedelta(days=shift), weight=weight, spread=spread)
            return
        years = (today.year - 1, today.year, today.year + 1)
        found = [d + timedelta(days=shift) for y in years if (d := _named_day(name, y))]
        place(_nearest(today, found), weight=weight, spread=spread)

    sub(
        rf"{_YEAR_WORD}?(农历)?({_named_day_pattern()})(?:当天|那天|那一天)?"
        rf"({_AROUND}|之前|以前|之后|以后|前|后)?(?:(\d{{1,2}})(天|周))?(左右)?",
        named,
    )

    # lunar with a year: 明年农历三月初三, 农历2027年正月初十
    def lunar_year(m: re.Match[str]) -> None:
        year = _year_of(m.group(1) or m.group(2), today)
        leap, month, day = bool(m.group(3)), int(m.group(4)), m.group(5)
        solar = _lunar_day(year, month, int(day) if day else 15, leap)
        if solar is not None:
            place(
                None,
                absolute=solar,
                weight=0.9 if day else 0.8,
                spread=(0, 0) if day else (-14, 14),
            )

    sub(
        rf"(?:{_YEAR_WORD}(?:的)?农历|农历{_YEAR_WORD})(闰)?(\d{{1,2}})月(?:初)?(\d{{1,2}})?[日号]?",
        lunar_year,
    )

    # lunar month-day: 农历八月十五, 阴历2月初2, 闰六月初十
    sub(
        r"农历(闰)?(\d{1,2})(?:月(?:初)?|[./-])(\d{1,2})[日号]?",
        lambda m: place(
            _lunar(today, int(m.group(2)), int(m.group(3)), bool(m.group(1))), weight=0.9
        ),
    )

    # lunar month alone: 预产期农历腊月, 农历七月底出生
    def lunar_month(m: re.Match[str]) -> None:
        day = _LUNAR_PART.get(m.group(3) or "", 15)
        span = (-14, 14) if m.group(3) is None else (-5, 5)
        place(_lunar(today, int(m.group(2)), day, bool(m.group(1))), weight=0.85, spread=span)

    sub(r"农历(闰)?(\d{1,2})月份?" + _DAY_PART, lunar_month)

    # full dates: 2027年3月15日, 2027.3.15, 2027-3-15, 2027/3/15, 27年3月15号
    def full(m: re.Match[str]) -> None:
        year = int(m.group(1))
        year = year + 2000 if year < 100 else year
        day = _valid(year, int(m.group(2)), int(m.group(3)))
        if day is not None:
            place(None, absolute=day)

    sub(r"(\d{4}|\d{2})[年./-](\d{1,2})[月./-](\d{1,2})[日号]?", full)
    # 20270305: eight digits that make a date of this century
    sub(r"(?<!\d)(20\d\d)(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?!\d)", full)

    # year-month: 27年3月, 2027年3月底
    def year_month(m: re.Match[str]) -> None:
        year = int(m.group(1))
        year = year + 2000 if year < 100 else year
        day = _month_day(year, int(m.group(2)), m.group(3))
        if day is not None:
            place(None, absolute=day, weight=0.9, spread=_part_spread(m.group(3)))

    sub(r"(\d{4}|\d{2})年(\d{1,2})月份?" + _DAY_PART, year_month)

    # 明年五月初, 今年3月, 后年1月
    def named_year(m: re.Match[str]) -> None:
        day = _month_day(_year_of(m.group(1), today), int(m.group(2)), m.group(3))
        if day is not None:
            place(None, absolute=day, weight=0.9, spread=_part_spread(m.group(3)))

    def named_year_day(m: re.Match[str]) -> None:
        day = _valid(_year_of(m.group(1), today), int(m.group(2)), int(m.group(3)))
        if day is not None:
            place(None, absolute=day)

    sub(
        rf"({_REL_YEAR})(?:的)?(\d{{1,2}})[月./-](\d{{1,2}})(?:[日号]|(?![\d.个天周岁斤]))",
        named_year_day,
    )
    sub(rf"({_REL_YEAR})(?:的)?(\d{{1,2}})月份?" + _DAY_PART, named_year)

    # 下个月底, 这个月中, 上个月初
    months = {
        "上上个月": -2,
        "上上月": -2,
        "下下个月": 2,
        "下个月": 1,
        "下月": 1,
        "这个月": 0,
        "本月": 0,
        "上个月": -1,
        "上月": -1,
    }

    def named_month(m: re.Match[str]) -> None:
        month = add_months(today, months[m.group(1)])
        day = _month_day(month.year, month.month, m.group(2))
        if day is not None:
            place(None, absolute=day, weight=0.9, spread=_part_spread(m.group(2)))

    def named_month_day(m: re.Match[str]) -> None:
        month = add_months(today, months[m.group(1)])
        day = _valid(month.year, month.month, int(m.group(2)))
        if day is not None:
            place(None, absolute=day)

    which = r"(上上个月|上上月|下下个月|下个月|下月|这个月|本月|上个月|上月)"
    sub(which + r"(?:的)?(\d{1,2})[日号]", named_month_day)
    sub(which + _DAY_PART, named_month)

    # month-day: 3月15号, 3/15
    def month_day(m: re.Match[str]) -> None:
        month, day = int(m.group(1) or m.group(3)), int(m.group(2) or m.group(4))
        place(_next_and_last(today, month, day) if 1 <= month <= 12 else None)

    # 3月5号到10号, 3月5-10号: the middle of the span
    def month_range(m: re.Match[str]) -> None:
        first = _valid(today.year, int(m.group(1)), int(m.group(2)))
        last = _valid(today.year, int(m.group(3) or m.group(1)), int(m.group(4)))
        if first is None or last is None or not 0 < (last - first).days <= 31:
            return
        half = (last - first).days // 2
        middle = first + timedelta(days=half)
        place(_next_and_last(today, middle.month, middle.day), weight=0.9, spread=(-half, half))

    sub(
        r"(\d{1,2})月(\d{1,2})[日号]?(?:到|至|-|~)(?:(\d{1,2})月)?(\d{1,2})[日号]",
        month_range,
    )
    sub(r"(\d{1,2})月(\d{1,2})[日号]?|(?<![\d/])(\d{1,2})/(\d{1,2})(?![\d/])", month_day)
    # 3-15: a dashed month-day; 3-5个月 and 8-9点 are ranges
    sub(
        r"(?<![\d/.月-])(\d{1,2})-(\d{1,2})"
        r"(?![\d/.-]|个|周|天|岁|月|年|号|日|斤|kg|公斤|cm|ml|度|点|次|w|元|块|g|%)",
        lambda m: place(_next_and_last(today, int(m.group(1)), int(m.group(2)))),
    )
    _dotted(out, today, own_cue, direction is not None, place)

    day_alone = r"(?<![\d月/.])(\d{1,2})[日号](?!楼)"
    if direction is not None and (own_cue or not _FILLER.sub("", re.sub(day_alone, "", out.rest))):
        # 预产期28号, or 28号 answering the question: the next (for a birthday the last) 28th
        def day_only(m: re.Match[str]) -> None:
            n = int(m.group(1))
            months = range(0, 3) if direction == "due" else range(0, -3, -1)
            for offset in months:
                first = add_months(today.replace(day=1), offset)
                day = _valid(first.year, first.month, n)
                if day and (day >= today if direction == "due" else day <= today):
                    out.facts.append(Fact(direction, day, 0.85, EXPLICIT))
                    return

        sub(day_alone, day_only)

    # a month alone with a direction: 预产期3月, 宝宝是5月出生的
    def month_only(m: re.Match[str]) -> None:
        month = int(m.group(1))
        if not 1 <= month <= 12 or direction is None:
            return
        this_year = _month_day(today.year, month, m.group(2))
        assert this_year is not None
        if direction == "due":
            day = this_year if this_year >= today else _month_day(today.year + 1, month, m.group(2))
        else:
            day = this_year if this_year <= today else _month_day(today.year - 1, month, m.group(2))
        if day is not None:
            out.facts.append(Fact(direction, day, 0.9, EXPLICIT, _part_spread(m.group(2))))

    sub(r"(?<![\d个])(\d{1,2})月份?" + _DAY_PART + r"(?!龄)", month_only)
    # A date with a year but no word saying what it is counts only when it is all the
    # clause says ("2027年3月15日", "明年五月初吧"), not in "我老公下个月出差".
    # 24年6月的宝宝: a month with its year, of a child
    if undirected and not _FILLER.sub("", re.sub(r"的(?:宝宝|宝贝|娃|孩子|小孩)$", "", out.rest)):
        for day, weight, spread in undirected:
            about: About = "due" if day >= today else "birth"
            out.facts.append(Fact(about, day, weight * 0.85, LOOSE, spread))
    return out


_DOTTED = (
    r"(?<![\d.])(\d{1,2})\.(\d{1,2})([日号])?(?![\d.]|斤|kg|公斤|cm|个|ml|度|米|段|元|块|岁|g|%)"
)


def _dotted(out: _Dates, today: date, own_cue: bool, asked: bool, place: Any) -> None:
    """预产期4.10, 3.15号: a dotted month-day. 7.5斤 is a weight and 3.5 may be months, so
    without its own cue it counts only with 号, or as a whole answer with a two-digit day,
    or as a whole answer to a question that said which date it asked for (12.8, 11.3)."""
    bare = not _FILLER.sub("", re.sub(_DOTTED, "", out.rest))

    def replace(m: re.Match[str]) -> str:
        if own_cue or m.group(3) or (bare and len(m.group(2)) == 2):
            place(_next_and_last(today, int(m.group(1)), int(m.group(2))))
            return "§"
        if bare and asked and 1 <= int(m.group(1)) <= 12 and m.group(2) != "5":
            # N.5 stays a half (3.5个月); a reading from the question alone is confirmed
            place(_next_and_last(today, int(m.group(1)), int(m.group(2))), weight=0.75)
            return "§"
        return m.group(0)

    out.rest = re.sub(_DOTTED, replace, out.rest)


def _part_spread(part: str | None) -> tuple[int, int]:
    """How far a month read without its day may be off: a whole month, or a third of one."""
    return (-14, 14) if not part else (-5, 5)


def _children(text: str, ages: int, *, pregnant: bool) -> int | None:
    """Children already born, when the text says it; None otherwise (never a guess)."""
    counts: list[int] = []
    explicit = re.search(r"(\d)个(?:孩子|宝宝|娃|小孩)", text)
    if explicit:
        counts.append(int(explicit.group(1)))
    kids = {int(k) for k in re.findall(r"⟨K(\d)⟩", text)}
    if kids:
        unborn = re.search(
            r"怀(?:了|上)?⟨K(\d)⟩|⟨K(\d)⟩(?:的)?(?:现在|目前|已经|才|都)*(?:预产|孕|\d+周)", text
        )
        if pregnant and unborn:
            counts.append(int(unborn.group(1) or unborn.group(2)) - 1)
        else:
            counts.append(max(max(kids), len(kids)))
    pregnancy = re.search(r"⟨P(\d)⟩", text)
    if pregnancy:
        order = int(pregnancy.group(1))
        counts.append(order - 1 if pregnant else order)
    if "⟨T⟩" in text and not pregnant:
        counts.append(2 + max(0, ages - 1))
    return max(counts) if counts else None
