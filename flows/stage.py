"""Where a mother is: 备孕, pregnant (which week) or a baby of which age, from what she types.

`parse_stage(text, today)` reads the answers mothers actually give in WeChat — dates in every
common shape, Chinese numerals, full-width digits and traditional characters, gestational
age, baby age, relative phrases, lunar dates, several children — and never guesses: text
without such information gives an empty result.

`stage_for(today, due_date=..., birth_date=...)` turns stored dates into a stage with the
configured boundaries; the daily recompute uses it too.

Conventions (the test table in tests/stage_cases.tsv is the full specification):
- gestational age = 280 days − days until the due date;
- "怀孕N个月" is the middle of the Nth month: (4N − 2) weeks;
- a month-day without a year is the next such day for a due date and the last one for a
  birthday; without a cue or hint saying which, it gives nothing;
- a year-month without a day is the 15th (初/上旬 5th, 中旬 15th, 下旬 25th, 底/末 last day).
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

import cn2an
from lunardate import LunarDate

from bot.stages import StageBoundaries

Hint = Literal["due", "birth"] | None

PREPARING = "备孕期"
EARLY, MIDDLE, LATE = "孕早期", "孕中期", "孕晚期"
NEWBORN, INFANT, TODDLER, PRESCHOOL = "新生儿期", "婴儿期", "幼儿期", "学龄前期"
STAGES = (PREPARING, EARLY, MIDDLE, LATE, NEWBORN, INFANT, TODDLER, PRESCHOOL)

FULL_TERM = 280
MAX_GESTATION = 44 * 7  # past this, the baby has surely arrived: the stage is unknown
# Only the start of a text is read: an answer to "when is she due" is a line, and some
# cues (宝宝...生) cost time with the square of the length: 40,000 characters took 0.9 s.
MAX_ANSWER = 500


DEFAULT_BOUNDARIES = StageBoundaries()


@dataclass(frozen=True)
class StageResult:
    stage: str | None = None
    due_date: date | None = None
    birth_date: date | None = None
    gestational_days: int | None = None
    baby_age_days: int | None = None
    children: int | None = None

    @property
    def empty(self) -> bool:
        return self == StageResult()

    def to_json(self) -> dict[str, Any]:
        """The `mamabot parse-stage` line, keys in contract order."""
        return {
            "stage": self.stage,
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "birth_date": self.birth_date.isoformat() if self.birth_date else None,
            "gestational_days": self.gestational_days,
            "baby_age_days": self.baby_age_days,
            "children": self.children,
        }


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
) -> StageResult:
    if due_date is not None:
        return StageResult(
            stage=stage_for(today, due_date=due_date, bounds=bounds),
            due_date=due_date,
            gestational_days=FULL_TERM - (due_date - today).days,
            children=children,
        )
    if birth_date is not None:
        return StageResult(
            stage=stage_for(today, birth_date=birth_date, bounds=bounds),
            birth_date=birth_date,
            baby_age_days=(today - birth_date).days,
            children=children,
        )
    if preparing:
        return StageResult(stage=PREPARING, children=children)
    return StageResult()


# --------------------------------------------------------------------------- normalising

_TRADITIONAL = str.maketrans(
    "預產寶個週歲農曆陰號還兩懷滿後剛經過來備媽雙龍鳳現準幾計檢臘們嗎這說沒會時間結齡剩賬歷陽見",
    "预产宝个周岁农历阴号还两怀满后刚经过来备妈双龙凤现准几计检腊们吗这说没会时间结龄剩账历阳见",
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


def _numerals(text: str) -> str:
    def convert(match: re.Match[str]) -> str:
        run = match.group(0)
        start, end = match.span()
        before = text[start - 1] if start else ""
        if not (_UNIT_AFTER.match(text, end) or before in ("月", "初")):
            return run
        run = run.replace("廿", "二十").replace("卅", "三十")
        try:
            value = cn2an.cn2an(run, "smart")
        except (ValueError, KeyError, TypeError):
            return match.group(0)
        return str(int(value))

    return _NUMERAL_RUN.sub(convert, text)


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_TRADITIONAL).casefold()
    text = re.sub(r"\s+", "", text)
    for word, marker in _FAMILY:
        text = text.replace(word, marker)
    text = (
        text.replace("正月", "1月")
        .replace("腊月", "12月")
        .replace("冬月", "11月")
        .replace("百天", "100天")
        .replace("半岁", "6个月")
        .replace("满周岁", "1岁")
        .replace("周岁", "岁")
    )
    return _numerals(text)


# --------------------------------------------------------------------------- reading

_PREPARING = re.compile(
    r"备孕|还没怀|没怀上|没有怀|准备要(?:宝宝|孩子|娃|⟨P\d⟩)|计划要(?:宝宝|孩子)"
)
_DUE_CUE = re.compile(
    r"预产|待产|要生|就生|快生|预计|生产|怀孕|怀|孕|⟨P\d⟩|胎|(?<![出医学先])生(?![的日完了过病活])"
)
_BIRTH_CUE = re.compile(r"出生|生日|生的|生于|已经生|生完|刚生|满月|出月子|宝宝.*生(?![产])")
_OWN_BIRTHDAY = re.compile(r"我(?:的)?(?:生日|阳历生日|农历生日)")
_CLAUSE = re.compile(r"[，,。;；!！?？、~～]+")
_FILLER = re.compile(
    r"[§\s是就哦噢啊吧了呀啦呢嘛哈约在的~～。.!！?？…]|左右|大概|应该|差不多|预计|估计"
    r"|[\U0001F300-\U0001FAFF\u2600-\u27BF]"
)
_BABY_CUE = re.compile(r"宝宝|孩子|娃|出生|生完|刚生|⟨K\d⟩|⟨T⟩|儿子|女儿|闺女")

_DAY_PART = r"(初|上旬|中旬|下旬|中|底|末)?"
_DAY_WORDS = {"前天": -2, "昨天": -1, "今天": 0, "明天": 1, "后天": 2}


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


def _lunar(today: date, month: int, day: int) -> tuple[date, date] | None:
    """The next and the last solar dates of a lunar month-day."""
    candidates = []
    for year in (today.year - 1, today.year, today.year + 1):
        try:
            candidates.append(LunarDate(year, month, day).to_solar_date())
        except ValueError:
            continue
    after = [d for d in candidates if d >= today]
    before = [d for d in candidates if d <= today]
    if not after or not before:
        return None
    return min(after), max(before)


def parse_stage(
    text: str,
    today: date,
    hint: Hint = None,
    bounds: StageBoundaries = DEFAULT_BOUNDARIES,
) -> StageResult:
    t = normalize(text[:MAX_ANSWER])
    if not t:
        return StageResult()
    due_cue = bool(_DUE_CUE.search(t))
    birth_cue = bool(_BIRTH_CUE.search(t))
    baby_cue = bool(_BABY_CUE.search(t))
    # When the text itself says which, it wins over what was asked.
    direction: Hint = "birth" if birth_cue else "due" if due_cue else hint

    due: list[date | None] = []
    ages: list[date] = []  # birth dates of the children mentioned
    rest = t

    def take(pattern: str) -> list[re.Match[str]]:
        nonlocal rest
        found = list(re.finditer(pattern, rest))
        if found:
            rest = re.sub(pattern, "§", rest)
        return found

    # ---- relative phrases about the due date or the birth
    for m in take(r"过了?预产期(\d+)(天|周)|预产期(?:已经)?过了?(\d+)(天|周)"):
        n, unit = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        due.append(_shift(today, -int(n), unit))
    for m in take(r"(今天|明天|后天)(?:就)?是预产期|预产期(?:就)?是?(今天|明天|后天)"):
        due.append(today + timedelta(days=_DAY_WORDS[m.group(1) or m.group(2)]))
    for m in take(r"(今天|昨天|前天)(?:刚|才)?(?:出)?生"):
        ages.append(today + timedelta(days=_DAY_WORDS[m.group(1)]))
    for _ in take(r"下下个?月(?:就|要)?生"):
        due.append(_month_day(*_ym(add_months(today, 2)), None))
    for _ in take(r"下个?月(?:就|要)?生"):
        due.append(_month_day(*_ym(add_months(today, 1)), None))
    if direction == "due" or not (baby_cue or birth_cue):
        for _ in take(r"(?:预产期(?:是|在)?)?下(?:个)?(?:周|星期|礼拜)(?:就|要)?生?"):
            due.append(today + timedelta(days=7))
    for m in take(r"还有(\d+)(个月|周|天)"):
        due.append(_shift(today, int(m.group(1)), m.group(2)))
    for m in take(r"(?:刚|才)?生完?(?:了)?(\d+)(天|周|个月)|生完(?:了)?(\d+)(天|周)"):
        n, unit = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        ages.append(_shift(today, -int(n), unit))
    for _ in take(r"(?:刚|才)?满月|出月子"):
        ages.append(add_months(today, -1))
    for _ in take(r"快1岁"):
        ages.append(add_months(today, -11))

    # ---- gestational age
    for m in take(r"(\d{1,2})\+(\d)周?"):
        due.append(_due_from_days(today, int(m.group(1)) * 7 + int(m.group(2))))
    for m in take(r"(?:怀孕|孕)?(\d{1,2})(?:周|w)(?:\+|加|又|零)?(\d)(?:天|d)"):
        due.append(_due_from_days(today, int(m.group(1)) * 7 + int(m.group(2))))
    for m in take(r"(?:怀孕|孕|怀|⟨P\d⟩)(\d{1,2})个?多?月"):
        months = int(m.group(1))
        if 1 <= months <= 10:
            due.append(_due_from_days(today, 7 * (4 * months - 2)))
    weeks_as_baby = (baby_cue or hint == "birth") and not due_cue
    if not weeks_as_baby:
        for m in take(r"(?:怀孕|孕|⟨P\d⟩)?(\d{1,2})(?:周|w)(?![岁])"):
            due.append(_due_from_days(today, int(m.group(1)) * 7))
    else:
        for m in take(r"(\d{1,2})(?:周|w)"):
            ages.append(today - timedelta(weeks=int(m.group(1))))

    # ---- dates
    clauses = []
    for clause in _CLAUSE.split(rest):
        if not clause or _OWN_BIRTHDAY.search(clause):
            clauses.append(clause)  # her own birthday says nothing about the baby
            continue
        local: Hint = (
            "birth"
            if _BIRTH_CUE.search(clause)
            else "due"
            if _DUE_CUE.search(clause)
            else direction
        )
        found_dates = _dates(clause, today, local)
        clauses.append(found_dates.rest)
        due += found_dates.due
        ages += found_dates.births
    rest = "，".join(clauses)

    # ---- baby ages
    for m in take(r"(\d{1,2})(?:岁|y)(?:(\d{1,2})个?(?:月|m)|(半))?"):
        months = 12 * int(m.group(1)) + (int(m.group(2)) if m.group(2) else 6 if m.group(3) else 0)
        ages.append(add_months(today, -months))
    for m in take(r"(\d{1,2})个半月"):
        ages.append(add_months(today, -int(m.group(1))) - timedelta(days=15))
    for m in take(r"(\d{1,2})(?:个多?月|m(?![a-z])|月龄)"):
        ages.append(add_months(today, -int(m.group(1))))
    if baby_cue or birth_cue or not due_cue:
        for m in take(r"(\d{1,3})天"):
            ages.append(today - timedelta(days=int(m.group(1))))

    # ---- sanity: never a guess outside what is possible
    dues = [d for d in due if d is not None and -42 <= (d - today).days <= FULL_TERM]
    ages = [d for d in ages if d <= today and d > add_years(today, -18)]
    preparing = bool(_PREPARING.search(t))
    several = bool(re.search(r"⟨[KPT]", t))
    if dues and ages and not several:
        dues = []  # "预产期本来是…，宝宝…就出生了": the baby came
    children = _children(t, len(ages), pregnant=bool(dues))
    if dues:
        return result_for(today, due_date=min(dues), children=children, bounds=bounds)
    if ages:
        return result_for(today, birth_date=max(ages), children=children, bounds=bounds)
    if preparing:
        return result_for(today, preparing=True, children=children, bounds=bounds)
    return StageResult()


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


@dataclass
class _Dates:
    rest: str
    due: list[date] = field(default_factory=list)
    births: list[date] = field(default_factory=list)


def _dates(text: str, today: date, direction: Hint) -> _Dates:
    out = _Dates(text)
    undirected: list[date] = []

    def place(candidates: tuple[date, date] | None, *, absolute: date | None = None) -> None:
        """Put a date where it belongs: due or birth, by direction; absolute dates with a
        year and no direction go by whether they are past or future."""
        if absolute is not None:
            if direction == "due":
                out.due.append(absolute)
            elif direction == "birth":
                out.births.append(absolute)
            else:
                undirected.append(absolute)
            return
        if candidates is None or direction is None:
            return  # a month-day with nothing saying which: never guess
        nxt, last = candidates
        (out.due if direction == "due" else out.births).append(nxt if direction == "due" else last)

    def sub(pattern: str, handler: Any) -> None:
        def replace(m: re.Match[str]) -> str:
            handler(m)
            return "§"

        out.rest = re.sub(pattern, replace, out.rest)

    # lunar month-day: 农历八月十五, 阴历2月初2
    sub(
        r"(?:农历|阴历)(\d{1,2})月(?:初)?(\d{1,2})[日号]?",
        lambda m: place(_lunar(today, int(m.group(1)), int(m.group(2)))),
    )

    # full dates: 2027年3月15日, 2027.3.15, 2027-3-15, 2027/3/15, 27年3月15号
    def full(m: re.Match[str]) -> None:
        year = int(m.group(1))
        year = year + 2000 if year < 100 else year
        day = _valid(year, int(m.group(2)), int(m.group(3)))
        if day is not None:
            place(None, absolute=day)

    sub(r"(\d{4}|\d{2})[年./-](\d{1,2})[月./-](\d{1,2})[日号]?", full)

    # year-month: 27年3月, 2027年3月底
    def year_month(m: re.Match[str]) -> None:
        year = int(m.group(1))
        year = year + 2000 if year < 100 else year
        day = _month_day(year, int(m.group(2)), m.group(3))
        if day is not None:
            place(None, absolute=day)

    sub(r"(\d{4}|\d{2})年(\d{1,2})月份?" + _DAY_PART, year_month)

    # 明年五月初, 今年3月, 后年1月
    def named_year(m: re.Match[str]) -> None:
        offset = {"今年": 0, "明年": 1, "后年": 2, "去年": -1}[m.group(1)]
        day = _month_day(today.year + offset, int(m.group(2)), m.group(3))
        if day is not None:
            place(None, absolute=day)

    def named_year_day(m: re.Match[str]) -> None:
        offset = {"今年": 0, "明年": 1, "后年": 2, "去年": -1}[m.group(1)]
        day = _valid(today.year + offset, int(m.group(2)), int(m.group(3)))
        if day is not None:
            place(None, absolute=day)

    sub(r"(今年|明年|后年|去年)(\d{1,2})月(\d{1,2})[日号]", named_year_day)
    sub(r"(今年|明年|后年|去年)(\d{1,2})月份?" + _DAY_PART, named_year)

    # 下个月底, 这个月中, 上个月初
    def named_month(m: re.Match[str]) -> None:
        offset = {"下下个月": 2, "下个月": 1, "下月": 1, "这个月": 0, "本月": 0, "上个月": -1}
        month = add_months(today, offset[m.group(1)])
        day = _month_day(month.year, month.month, m.group(2))
        if day is not None:
            place(None, absolute=day)

    def named_month_day(m: re.Match[str]) -> None:
        offset = {"下下个月": 2, "下个月": 1, "下月": 1, "这个月": 0, "本月": 0, "上个月": -1}
        month = add_months(today, offset[m.group(1)])
        day = _valid(month.year, month.month, int(m.group(2)))
        if day is not None:
            place(None, absolute=day)

    sub(r"(下下个月|下个月|下月|这个月|本月|上个月)(\d{1,2})[日号]", named_month_day)
    sub(r"(下下个月|下个月|下月|这个月|本月|上个月)" + _DAY_PART, named_month)

    # month-day: 3月15号, 3/15
    def month_day(m: re.Match[str]) -> None:
        month, day = int(m.group(1) or m.group(3)), int(m.group(2) or m.group(4))
        place(_next_and_last(today, month, day) if 1 <= month <= 12 else None)

    sub(r"(\d{1,2})月(\d{1,2})[日号]?|(?<![\d/])(\d{1,2})/(\d{1,2})(?![\d/])", month_day)

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
            (out.due if direction == "due" else out.births).append(day)

    sub(r"(?<![\d个])(\d{1,2})月份?" + _DAY_PART + r"(?!龄)", month_only)
    # A date with a year but no word saying what it is counts only when it is all the
    # clause says ("2027年3月15日", "明年五月初吧"), not in "我老公下个月出差".
    if undirected and not _FILLER.sub("", out.rest):
        for day in undirected:
            (out.due if day >= today else out.births).append(day)
    return out


def _children(text: str, ages: int, *, pregnant: bool) -> int | None:
    """Children already born, when the text says it; None otherwise (never a guess)."""
    counts: list[int] = []
    explicit = re.search(r"(\d)个(?:孩子|宝宝|娃|小孩)", text)
    if explicit:
        counts.append(int(explicit.group(1)))
    kids = {int(k) for k in re.findall(r"⟨K(\d)⟩", text)}
    if kids:
        unborn = re.search(r"怀(?:了|上)?⟨K(\d)⟩|⟨K(\d)⟩(?:的)?(?:预产|孕|\d+周)", text)
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
