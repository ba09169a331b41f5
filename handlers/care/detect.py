"""Health-risk detection: a message in, a risk (or None) out.

It runs on every group message before the keywords, so it reads plain text with bounded
regular expressions and touches jieba only for the few short signs that need word edges.

How a message is read:
1. Prepared: cut to its first `HEAD_CHARS` and last `TAIL_CHARS`, NFKC and casefold
   (full-width, case), format characters dropped, traditional variants of the relevant
   characters simplified, Cantonese and pinyin read as the words (啱啱 -> 刚刚, 冇 -> 没,
   wo xiang si -> 我想死), Chinese numerals before a unit made digits (三十九度八 -> 39度8,
   两个月 -> 2个月).
2. Masked: phrases that hold a risk word but are no risk (退烧贴, 红烧, 暖宝宝, 想死你们了,
   跳楼价, 腿抽筋, ops' `ignore`) are blanked out, so no sign can match inside them.
3. Split into sentences and clauses; each clause is scanned with the sign table (`SIGNS`)
   and for temperatures. A sign is dropped when the clause negates it (没有发烧, 不是破水),
   when the sentence makes it a hypothetical, a worry or a dream (万一, 我怕宝宝会, 梦到),
   a question about knowledge or a product with nothing saying it is happening now
   (胎动一般几周开始, 发烧贴哪个牌子好), long ago (小时候, 流产过), or someone else's loss.
   A fever or a symptom that the message says is over (烧退了, 现在没事了) drops a level.
4. The most serious sign wins: crisis > urgent > loss > concern.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bot.config import CareContent
from bot.text import word_boundaries
from handlers.guard.normalize import fold

Severity = Literal["urgent", "crisis", "concern", "loss"]

# A long message is read at its start and its end (where a story opens and where it
# comes to the point), never in full: the scan stays bounded whatever she pastes.
HEAD_CHARS = 300
TAIL_CHARS = 200
# A sign repeated in one clause says nothing new; reading a few keeps a flood cheap.
MATCHES_PER_SIGN = 3
RANK: dict[str, int] = {"concern": 1, "loss": 2, "urgent": 3, "crisis": 4}
_DOWN: dict[str, str | None] = {"urgent": "concern", "concern": None}


@dataclass(frozen=True, slots=True)
class Risk:
    severity: Severity
    reason: str  # short, for the staff: what was read (高烧+抽搐, 见红 ...)
    # Other severities read in the same message (a loss with bleeding is urgent first,
    # and still a loss for the marketing stop).
    also: frozenset[str] = field(default_factory=frozenset)


# --- preparation -------------------------------------------------------------------

# Traditional variants of the characters the signs and filters use.
_TRADITIONAL = str.maketrans(
    dict(
        zip(
            "燒發熱寶兒嬰歲個幾週動減無沒來後產見紅黃疸嗆呼吸氣紫臉腦醫院"
            "驚厥搐嘔吐瀉尿脫傷燙誤吞電鈕殺輕絕希義離開這讓們麼該還"
            "會請問預題說話買賣貼藥夢過過頭痛視線壓縮陣規則緊蟲單鐘滿時間"
            "並從體溫計測邊樓跳斷腦經歷胎停護監遠憂鬱顧難過",
            "烧发热宝儿婴岁个几周动减无没来后产见红黄疸呛呼吸气紫脸脑医院"
            "惊厥搐呕吐泻尿脱伤烫误吞电钮杀轻绝希义离开这让们么该还"
            "会请问预题说话买卖贴药梦过过头痛视线压缩阵规则紧虫单钟满时间"
            "并从体温计测边楼跳断脑经历胎停护监远忧郁顾难过",
            strict=True,
        )
    )
)
_CN_VALUES = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_CN_VALUES |= {"六": 6, "七": 7, "八": 8, "九": 9}
_CN_NUM = "零〇一二两三四五六七八九十"
_UNIT = r"(?:度|°|℃|个半月|个多月|个月|月龄|天|周|岁|个礼拜|个星期|礼拜|星期)"
# 三十九度 / 两个月: a numeral right before a unit, with an optional 点 decimal.
_CN_BEFORE_UNIT = re.compile(rf"([{_CN_NUM}]{{1,3}})(?:点([{_CN_NUM[:-1]}]))?(?={_UNIT})")
# 烧到三十九 / 体温三十八点五: a numeral after a reading word, with no unit.
_CN_READING = re.compile(rf"(?<=烧到|体温|量了|测了)([{_CN_NUM}]{{2,3}})(?:点([{_CN_NUM[:-1]}]))?")
# 三十九度八: the decimal after 度.
_CN_AFTER_DEGREE = re.compile(rf"(?<=度)([{_CN_NUM[:-1]}])(?![个天周岁次小分{_CN_NUM}])")
_FORMAT = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\u00ad]")
# Homophone typos of a sign word a tired mother's input method picks (胎东, 抽疯, 发绕).
_TYPOS = re.compile(r"胎(?:东|洞)|抽疯|发绕(?=了|\d|到|得|一|两|三|几|好几)")
_TYPO_FIX = {"抽疯": "抽风"}
# Cantonese characters read as their Mandarin words (冇 = 没, 咗 = 了, 唔 = 不 ...).
_DIALECT = str.maketrans("冇咗唔嘅佢瞓", "没了不的他睡")
# Cantonese words read as their Mandarin words (啱啱 = 刚刚, 先至 = 才, 点算好 = 怎么办).
_DIALECT_WORDS = re.compile(r"啱啱|先至|点算好|点算|成身")
_DIALECT_WORD_FIX = {"啱啱": "刚刚", "先至": "才", "点算好": "怎么办", "点算": "怎么办"}
_DIALECT_WORD_FIX["成身"] = "全身"
# Shorthand and pinyin a mother types for a sign word (td = 胎动, ps了 = 破水了,
# wen du = 体温, bxhl = 不想活了, wo xiang si = 我想死); ps only before a 了 that no
# picture follows; xiang si ni (想死你) is missing someone.
_SHORTHAND = re.compile(
    r"(?<![a-z])(?:td|ps(?=了(?![一张个图]))|wen\s?du|ti\s?wen|bxhl|(?:wo\s?)?xiang\s?si(?!\s?n)|"
    r"bu\s?xiang\s?huo(?:\s?le)?)(?![a-z])"
)
_SHORTHAND_FIX = {"td": "胎动", "ps": "破水", "bxhl": "不想活了"}
_PINYIN_FIX = (("bu", "不想活了"), ("wo", "我想死"), ("xiang", "想死"))


def _cn_int(numeral: str) -> int | None:
    if "十" not in numeral:
        if len(numeral) != 1:
            return None
        return _CN_VALUES.get(numeral)
    tens, _, ones = numeral.partition("十")
    if len(tens) > 1 or len(ones) > 1:
        return None
    high = _CN_VALUES.get(tens, -1) if tens else 1
    low = _CN_VALUES.get(ones, -1) if ones else 0
    return None if high < 0 or low < 0 else high * 10 + low


def _cn_number(match: re.Match[str]) -> str:
    whole = _cn_int(match.group(1))
    if whole is None:
        return match.group(0)
    decimal = match.group(2) if match.lastindex and match.lastindex >= 2 else None
    if decimal:
        return f"{whole}.{_CN_VALUES.get(decimal, 0)}"
    return str(whole)


def _shorthand_fixed(match: re.Match[str]) -> str:
    found = match.group(0)
    for start, word in _PINYIN_FIX:
        if found.startswith(start):
            return word
    return _SHORTHAND_FIX.get(found, "体温")


def _typo_fixed(match: re.Match[str]) -> str:
    typo = match.group(0)
    return _TYPO_FIX.get(typo, "胎动" if typo[0] == "胎" else "发烧")


def prepare(text: str) -> str:
    """The text as the signs read it (see the module docstring, step 1)."""
    if len(text) > HEAD_CHARS + TAIL_CHARS:
        text = text[:HEAD_CHARS] + "。" + text[-TAIL_CHARS:]
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _FORMAT.sub("", text).translate(_TRADITIONAL)
    text = _DIALECT_WORDS.sub(lambda m: _DIALECT_WORD_FIX[m.group(0)], text)
    text = text.translate(_DIALECT)
    text = _SHORTHAND.sub(_shorthand_fixed, text)
    text = _TYPOS.sub(_typo_fixed, text)
    text = _CN_BEFORE_UNIT.sub(_cn_number, text)
    text = _CN_READING.sub(_cn_number, text)
    return _CN_AFTER_DEGREE.sub(lambda m: str(_CN_VALUES.get(m.group(1), m.group(1))), text)


# --- the tables ------------------------------------------------------------------

DATA = Path(__file__).parent / "data"
_C = r"[^，。!?！？]"  # one character inside the same clause
# A gap that cannot cross a negator: 嘴唇没有发紫 is not 嘴唇...发紫.
_G = r"[^，。!?！？没不未无]"
_BABY = (
    r"(?:宝宝|孩子|宝贝|娃|小孩|新生儿|儿子|女儿|胎儿|小宝|二宝|三宝|老二|老三|bb|"
    r"囡囡|男宝|女宝)"
)
# Words that place the message in a pregnancy (孕30周, 怀孕, 这胎, 双胎; 32周 alone, not a
# baby's 12周大); 备孕 and 避孕 are not one.
_PREG = (
    r"(?:(?<![避备不])孕(?![育酮])|怀孕|怀了|这胎|这一胎|二胎|三胎|双胎|双胞胎|瘢痕子宫|"
    r"疤痕子宫|妊娠|妊糖|(?<![\d.])[1-4]\d(?:\+\d)?周(?!大|岁|的?" + _BABY + r"))"
)
_END = r"(?=$|[\s，。!?！？~…]|啊|呜|哎|唉)"


@dataclass(frozen=True, slots=True)
class Sign:
    severity: Severity
    reason: str
    pattern: re.Pattern[str]
    word_edges: bool  # must start and end on jieba word edges
    jokable: bool  # also said as a joke: a laugh right after it drops it
    resolvable: bool  # a later 烧退了 / 没事了 drops it a level
    literal: bool = False  # said as an if (如果他还在的话): read even in a hypothetical


def _table_lines(name: str) -> list[str]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def _expand(pattern: str) -> str:
    for name, value in (
        ("{C}", _C),
        ("{G}", _G),
        ("{BABY}", _BABY),
        ("{END}", _END),
        ("{PREG}", _PREG),
    ):
        pattern = pattern.replace(name, value)
    return pattern


@functools.cache
def signs() -> tuple[Sign, ...]:
    """data/signs.tsv, compiled: severity, reason, flags, pattern per line."""
    table = []
    for number, line in enumerate(_table_lines("signs.tsv"), start=1):
        severity, reason, flags, pattern = line.split("\t")
        if severity not in RANK:
            raise ValueError(f"signs.tsv row {number}: unknown severity {severity!r}")
        compiled = re.compile(_expand(pattern))
        sign = Sign(
            severity,  # type: ignore[arg-type]
            reason,
            compiled,
            "b" in flags,
            "j" in flags,
            "r" in flags,
            "h" in flags,
        )
        table.append(sign)
    return tuple(table)


@dataclass(frozen=True, slots=True)
class Combo:
    severity: Severity
    reason: str
    first: re.Pattern[str]
    second: re.Pattern[str]
    third: re.Pattern[str] | None = None


@functools.cache
def combos() -> tuple[Combo, ...]:
    """data/combos.tsv, compiled: two (or three) signs that together are a danger."""
    table = []
    for number, line in enumerate(_table_lines("combos.tsv"), start=1):
        severity, reason, *parts = line.split("\t")
        if severity not in RANK:
            raise ValueError(f"combos.tsv row {number}: unknown severity {severity!r}")
        if len(parts) not in (2, 3):
            raise ValueError(f"combos.tsv row {number}: two or three patterns, not {len(parts)}")
        compiled = [re.compile(_expand(part)) for part in parts]
        table.append(Combo(severity, reason, *compiled))  # type: ignore[arg-type]
    return tuple(table)


@functools.cache
def no_risk() -> re.Pattern[str]:
    """data/no_risk.txt: phrases that hold a sign's words but are never a risk."""
    return re.compile("|".join(_expand(line) for line in _table_lines("no_risk.txt")))


def _blank(match: re.Match[str]) -> str:
    return "_" * len(match.group(0))


# --- context around a sign ---------------------------------------------------------

_NEGATOR = re.compile(
    r"没有|没|未|无|不是|并非|并不|不(?!停|止|断|退|住|行|对|舒服|好|少|醒|出|到)"
)
# Words holding a negator that negate nothing after them (是不是破水, 恨不得掐死).
_NOT_NEGATION = re.compile(
    r"是不是|会不会|要不要|有没有|不知道|不确定|不清楚|没想到|没几天|没多久|没过多久|没一会|"
    r"恨不得|巴不得|不得不|不由得|忍不住|受不了|控制不住|止不住|不停|不止|不断|不住|差不多|不一会|不久|不小心|"
    r"不注意|没注意|不留神|没留神|没看住|没看好|没盯住"
)
# 不想回家了也不想活了: a 也 starts a new phrase the earlier negator does not reach.
_NEGATION_BREAK = re.compile(r"就|又|却|但|可|结果|然后|才|后来|突然|一直|还是|也")
# Hypotheticals hold for the whole sentence, even with a 了 (万一破水了怎么办).
# A story on a screen is as far from her as a dream (电视剧里那个孕妇破水了).
_HYPOTHETICAL = re.compile(
    r"如果|万一|要是|假如|假设|若是|以为|梦见|梦到|做梦|做了个梦|噩梦|"
    r"电视剧|剧里|电影里|小说里|视频里|看了个视频|看了一个视频|短视频|新闻|文章|公众号|"
    r"纪录片|动画片里|动画里|那一?集|绘本|故事里|帖子|朋友圈|看到有人|有人说|"
    r"过家家|洋娃娃|布娃娃|玩偶|公仔|"
    # hearsay: a friend's friend, a colleague's child (听同事说她家宝宝 ...)
    r"听(?:朋友|同事|闺蜜|邻居|别人|人)说|(?:朋友|同事|闺蜜|邻居|亲戚)的(?:朋友|同事|闺蜜|邻居|亲戚)|"
    r"(?:朋友|同事|闺蜜|邻居|亲戚|别人)(?:跟我)?说(?:她|他)(?:家)?(?:的)?(?:孩子|宝宝|娃|儿子|女儿|孕|怀|老婆)"
)
# Learning or just asking, said anywhere in the message (学习了, 记住了, 我就问问).
_HYPOTHETICAL_MESSAGE = re.compile(
    r"提前学|提前了解|以防万一|备着|备用|先问问|想了解|想学|预防|防止|避免|"
    r"学习了|学到了|记住了|涨知识|收藏了|就问问|只是问问|随便问问|问问而已|提前问|"
    r"收藏一下|(?:请|应|需|务必)(?:及时|尽快|立即)就医|【[^】]{0,8}(?:知识|科普|分享)】|"
    r"就是好奇|只是好奇|纯好奇|好奇问一?下"
)
# A claim read somewhere, asked about (书上写发烧40度会烧坏脑子 是真的吗): the sign
# follows the source in its clause, and the message asks whether it is true.
_SOURCE_BEFORE = re.compile(r"书上|书里|网上|百科|听说|(?:有人|别人|老人)(?:说|讲)")
_IS_IT_TRUE = re.compile(r"是真的吗|是这样吗|是不是真的|靠谱吗|有道理吗|对不对|对吗")
# Someone else's advice, told before the sign and followed by what to do about it
# (婆婆说发烧要捂汗, 医生说胎动减少要...); 医生说胎心没了 is a diagnosis, not advice.
_REPORTED = re.compile(
    r"听说|(?:婆婆|我妈|老人|长辈|医生|护士|老师|别人|大家|网上|书上|他们)(?:都|也|就)?(?:说|讲)"
)
_ADVICE_AFTER = re.compile(r"^(?:的话|时|了)?(?:要|需要|应该|得|就要|一定要|用|不能|可以)")
# What it is like, after the sign (破水了是什么感觉): asked about, even with a 了.
_WHAT_LIKE_AFTER = re.compile(r"^了?(?:是|会是)?(?:什么|啥|怎样的?)(?:感觉|样子|颜色|样|体验)")
_WORRY = re.compile(r"怕|担心|害怕|恐怕")
_WILL = re.compile(r"会|要|再|以后|将来|到时候")
_GENERIC_AFTER = re.compile(r"^(?:的时候|的话|时候|时|会不会)")
# 宝宝出牙会发烧吗: a modal before the sign asks whether it can happen.
_MODAL_BEFORE = re.compile(r"(?:会|容易|可能会|能不能|会不会)$")
# Asking how to tell, about the clause itself (怎么判断是不是破水了).
_HOW_TO_TELL = re.compile(r"怎么判断|如何判断|怎么知道|怎么区分|怎么看出|算不算|怎样才算|什么算")
_KNOWLEDGE = re.compile(
    r"一般|通常|几周|多少周|多少次|多少度|什么时候|是什么|什么意思|什么样|什么感觉|征兆|前兆|"
    r"症状|原因|怎么区分|区别|怎么判断|科普|知识|课上|讲座|课程|书上|网上|急救方法|"
    r"物理降温|多久会|多久要|多久去|多久退|一样吗|有什么不同|有啥不同|差别|"
    r"危险吗|很危险|有多危险|危害"
)
_PRODUCT = re.compile(
    r"牌子|品牌|哪个好|哪款|哪种|推荐|买哪|好用|链接|多少钱|价格|有卖|囤货|常备|准不准|比较准"
)
# Something saying it is happening: a 了 right after the sign, or a time word before it.
_NOW_BEFORE = re.compile(r"刚才|刚刚|现在|突然|一直|又|正在|已经|还在|今早|今天早上|昨晚")
_LONG_AGO = re.compile(
    r"小时候|以前|从前|去年|前年|几年前|那年|那时候|曾经|上次|之前|当年|那会儿|生我的时候|"
    r"那个年代|生{C}{0,3}那天|(?:\d{1,2}|[一两二三四五六七八九十几]{1,3})年前|"
    r"生(?:老大|大宝|头胎|第一胎)的时候|"
    r"(?<![\d.])\d{1,2}岁(?:半)?(?:的)?(?:时候|时|那年)".replace("{C}", _C)
)
# An episode named by when it happened, after the sign (抽风那次, 大出血那会儿).
_LONG_AGO_AFTER = re.compile(
    r"^[^，。!?！？\s]{0,4}?的?(?:那次|那回|那会|那阵|那段|那天|那年|那时)"
)
# A sign laughed off or taken back right after it is said (呼吸困难😂, 见红了！！不是 是红墨水).
_LAUGH_AFTER = re.compile(r"^[了啊呀吧]?[!！~]{0,3}(?:😂|🤣|😆|😹|哈哈|hhh)")
_RETRACTED_AFTER = re.compile(
    r"^了?[!！。，,\s~]{1,4}(?:不是(?=$|[\s，,。!！]|是)|开玩笑|逗你|骗你|假的)"
)
_GOING_ON = re.compile(r"还在|现在还|到现在|至今|一直没")
_THIRD_PARTY = re.compile(
    r"朋友|闺蜜|同事|邻居|表姐|表妹|堂姐|堂妹|姐姐|妹妹|嫂子|弟媳|亲戚|别人|她家|他家|隔壁|"
    r"听说|新闻|有个"
)
_RESOLVED = re.compile(
    r"(?:完全|都|已经|现在|今天)好了|退烧了|烧退了|退了|不烧了|已经好了|今天好了|现在好了|好多了|没事了|恢复正常|体温正常|"
    r"正常了|退下来了|降下来了|出院了|全好了|一切都好|一切正常|不用担心|不用管|正常范围|"
    r"(?:上|读)(?:小学|初中|高中|大学)了|"
    r"医生说{C}{0,4}(?:正常|没事|没关系|不要紧)".replace("{C}", _C)
)
# The sign itself said to be over (便秘好了, 发烧好多了).
_RESOLVED_AT = re.compile(r"[^，。!?！？\s]{1,4}(?:好了|好多了|好转了)")
# A normal reading later in the message (烧了一晚上, 早上36.9了) settles a fever.
_NORMAL_READING = re.compile(r"(?<![\d.])(?:3[56](?:\.\d|度\d?)|37(?:\.[0-2]|度[0-2]?))(?![\d.])")
# 37度5算发烧吗: asking whether a reading counts, about a reading that is not high.
_COUNTS_AS = re.compile(r"算(?:是)?(?:发烧|高烧|低烧|发热)|算不算|就算(?:吗|呢|$)")
_PERSISTENT = re.compile(r"反复|又开始|还是")
_PAST_EPISODE = re.compile(r"那次|那回|上次|上周|上个月|那会儿|那阵子")


@dataclass(frozen=True, slots=True)
class Hit:
    severity: Severity
    reason: str
    position: int  # offset in the prepared message, for ordering reasons
    resolvable: bool = False
    fever: str = ""  # "reading" (38.5度) or "word" (发烧 alone): a reading says it better


@dataclass(frozen=True, slots=True)
class Clause:
    text: str
    start: int  # offset in the prepared message
    sentence: str  # the sentence holding the clause
    before: str  # the sentence up to the clause


def _negated(clause: str, start: int) -> bool:
    before = _NOT_NEGATION.sub(_blank, clause[max(0, start - 10) : start])[-6:]
    found = _last(_NEGATOR, before)
    return found is not None and not _NEGATION_BREAK.search(before[found.end() :])


def _last(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    found = None
    for found in pattern.finditer(text):  # noqa: B007 - the last one is wanted
        pass
    return found


def _negated_after(clause: str, end: int) -> bool:
    """发烧倒是没有: the sign, then a 没有 that ends the clause."""
    return (
        re.fullmatch(r"(?:的)?(?:倒是|倒|是|也|都)?(?:没有|没)", clause[end : end + 5]) is not None
    )


def _happening(clause: Clause, start: int, end: int) -> bool:
    after = clause.text[end : end + 3]
    return "了" in after or _NOW_BEFORE.search(clause.text[max(0, start - 6) : start]) is not None


def _hypothetical(clause: Clause, start: int, end: int, message: str) -> bool:
    prefix = clause.before + clause.text[:start]
    if _HYPOTHETICAL.search(clause.sentence) or _HYPOTHETICAL_MESSAGE.search(message):
        return True
    if _SOURCE_BEFORE.search(clause.text[:start]) and _IS_IT_TRUE.search(message):
        return True
    worry = _last(_WORRY, prefix)
    if worry is not None:
        between = prefix[worry.end() :]
        if _WILL.search(between) or not _happening(clause, start, end):
            return True
    if _HOW_TO_TELL.search(clause.text) or _WHAT_LIKE_AFTER.match(clause.text[end:]):
        return True
    if _REPORTED.search(clause.text[:start]) and _ADVICE_AFTER.match(clause.text[end:]):
        return True
    asking = _GENERIC_AFTER.match(clause.text[end:]) or _MODAL_BEFORE.search(clause.text[:start])
    return bool(asking) and not _happening(clause, start, end)


def _question_only(clause: Clause, start: int, end: int, severity: str, reading: bool) -> bool:
    """A question about knowledge or products, with nothing saying it is happening."""
    if _PRODUCT.search(clause.sentence) and severity == "concern" and not reading:
        return True
    if not (_KNOWLEDGE.search(clause.sentence) or _PRODUCT.search(clause.sentence)):
        return False
    return not (reading or _happening(clause, start, end))


def _long_ago(clause: Clause, start: int, end: int, message: str) -> bool:
    if clause.text[end : end + 1] == "过":
        return True
    past = _LONG_AGO_AFTER.match(clause.text[end:]) or _LONG_AGO.search(
        clause.before + clause.text[:start]
    )
    # 生完那天大出血 现在还在icu: told from the day it began, and not over.
    return past is not None and not _GOING_ON.search(message, clause.start + end)


def _on_edges(clause: str, start: int, end: int) -> bool:
    """The sign ends a word (破水 is not in 破水杯), and starts one or follows a glue
    character the segmenter reads as part of it (34周见红, 刚破水了)."""
    edges = _edges(clause)
    if end not in edges:
        return False
    return start in edges or clause[start - 1 : start] in _GLUE_BEFORE


_GLUE_BEFORE = frozenset("0123456789周天刚又就也都还才已")


@functools.lru_cache(maxsize=256)
def _edges(clause: str) -> frozenset[int]:
    return frozenset(word_boundaries(clause))


# --- temperatures and ages ---------------------------------------------------------

_DEGREE = re.compile(
    r"(?<![\d.])(3[5-9]|4[0-3])(?:\.(\d))?\s*(?:度|°c?|℃|摄氏度)"
    r"(?:\s*(\d)(?![\d.]|\s*(?:天|个|周|次|小时|岁|分|斤)))?"
)
_READ_WORD = (
    r"体温|烧到|烧了|发烧|发热|高烧|低烧|量了?|测了?|腋温|耳温|额温|肛温|早上|晚上|现在|"
    r"热度"
)
_BARE = re.compile(
    rf"(?:{_READ_WORD})\s*(?:是|有|到|了|在)?\s*(3[5-9]|4[0-2])(?:\.(\d))?"
    r"(?![\d.]|\s*(?:天|个|周|次|小时|岁|斤|元|块|%|度|°|℃))"
)
_DECIMAL = re.compile(
    r"(?<![\d.])(3[5-9]|4[0-2])\.(\d)(?![\d]|\s*(?:元|块|kg|斤|公斤|cm|ml|%|周|天|个|度|°|℃))"
)
_FEVER = re.compile(
    r"发烧|发热|高烧|低烧|高热|低热|烧到|烧得|烧起来|(?:又|还|在|一直|反复|老是|持续)烧|"
    r"烧(?:了)?(?:\d|一|两|三|几|好几|整)|"
    # Shanghainese 热度, and hot to the touch with no thermometer (摸着烫, 额头滚烫)
    rf"(?:发|有|{_BABY})热度|摸着?(?:有点|很|好|挺|特别)?(?:滚)?烫|"
    r"(?:身上|额头|脑门|身子|身体|后背|小手|头)(?:摸着?|摸起来)?(?:有点|很|好|挺|特别)?(?:滚烫|发烫|烫)"
)
# 全身好热 / 身上很热: hot to the touch, said of a body (no weather then, whatever else).
_BODY_HOT = re.compile(
    r"(?:身上|全身|身子|身体|额头|脑门)(?:摸着?)?(?:有点|很|好|挺|特别)?(?:热|烫)"
)
_PERSON = re.compile(rf"{_BABY}|我|他|她|老公|宝|\d岁")
_TEMPERATURE_WORD = re.compile(r"体温|量|测|腋下|耳温|额温|肛温|热度")
_WEATHER = re.compile(
    r"天气|气温|室外|室内|外面|户外|高温|最高|(?<!喝)水(?!多|少)|奶温|泡奶|冲奶|空调|暖气|热|晒|太阳"
)
_LETHARGY = re.compile(
    r"精神(?:很|特别|非常)?差|没(?:什么)?精神|叫不醒|嗜睡|蔫|软绵绵|软软的|不吃奶|不吃不喝|昏昏沉沉"
)
_PLAYING = re.compile(r"玩得|在玩|精神(?:还|挺|很|都)(?:好|可以|不错)")
_NEWBORN = re.compile(r"新生儿|刚出生|满月|月子里的?(?:宝宝|孩子)|满月没几天")
_WEEK = r"(?:周|个礼拜|个星期|礼拜|星期)"
# A baby's age: 2个月的宝宝, 宝宝才50天, 出生20天, 1岁半 (not 孕12周: a pregnancy).
_AGE = (
    re.compile(
        rf"{_BABY}(?:才|刚刚|刚|已经|今天|现在|快)?(\d{{1,2}})(个半月|个多月|个月|{_WEEK}|岁)"
    ),
    re.compile(rf"(?<![孕怀])(\d{{1,2}})(个半月|个多月|个月|{_WEEK}|岁)(?:大)?的?{_BABY}"),
    re.compile(
        rf"(?:{_BABY}|出生)(?:才|刚满|刚|满|已经|今天|现在)?第?(\d{{1,3}})多?(天)"
        r"(?=了|大|的|，|,|\s|$)"
    ),
    re.compile(rf"(\d{{1,3}})多?(天)的?{_BABY}"),
    # 才40天 / 刚满20天: two digits of days are a baby's age, not how long a fever lasted
    re.compile(r"(?:才|刚满|刚刚|满)([1-9]\d)多?(天)(?![^，。!?！？\s]{0,3}(?:就|才|了就))"),
    re.compile(r"(?<![孕怀\d])(\d{1,2})(月龄)"),
    # An age said on its own: 才1个半月 / a bare clause "3个月" (never 周 or 天, which
    # are weeks of pregnancy and how long a fever has lasted).
    re.compile(r"(?:才|刚|刚满|满)(\d{1,2})(个半月|个多月|个月)"),
    re.compile(r"(?:^|[\s，,。])(\d{1,2})(个半月|个多月|个月)(?:大|了|的)?(?=$|[\s，,。])"),
    # 2个月零10天 said anywhere
    re.compile(r"(?<![孕怀\d])(\d{1,2})(个月)零\d{1,2}天"),
)
_MONTHS_PER = {"天": 1 / 30, "周": 1 / 4.3, "岁": 12.0, "个月": 1.0, "个多月": 1.0, "个半月": 1.0}
_MONTHS_PER["月龄"] = 1.0
_MONTHS_PER |= dict.fromkeys(("个礼拜", "个星期", "礼拜", "星期"), 1 / 4.3)
_JAUNDICE = re.compile(r"黄疸(?:值)?(?:是|有|到|测|查|都)?(?:了)?(\d{1,2}(?:\.\d)?)")


def _age_months(message: str) -> float | None:
    if _NEWBORN.search(message):
        return 0.5
    for pattern in _AGE:
        m = pattern.search(message)
        if m:
            half = 0.5 if m.group(2) == "个半月" else 0.0
            return int(m.group(1)) * _MONTHS_PER[m.group(2)] + half
    return None


def _readings(clause: str, message: str) -> Iterator[tuple[int, float]]:
    fever = _FEVER.search(message) is not None
    unit_ok = fever or _TEMPERATURE_WORD.search(message) or _PERSON.search(message)
    weather = not fever and _WEATHER.search(message) is not None and not _BODY_HOT.search(message)
    if weather:
        return
    for m in _DEGREE.finditer(clause):
        if unit_ok:
            yield m.start(), float(f"{m.group(1)}.{m.group(2) or m.group(3) or 0}")
    for m in _BARE.finditer(clause):
        yield m.start(1), float(f"{m.group(1)}.{m.group(2) or 0}")
    if fever or unit_ok:
        for m in _DECIMAL.finditer(clause):
            yield m.start(), float(f"{m.group(1)}.{m.group(2)}")


def fever_risk(
    value: float | None, months: float | None, message: str
) -> tuple[Severity, str] | None:
    """A fever (a reading, or None for the word alone) for a baby of that age."""
    if value is not None and value < 36 and months is not None and months <= 3:
        return "urgent", "体温过低"
    if value is not None and value < 37.3:
        return None
    # Under three months 37.8 is a doctor's visit (an armpit reads low).
    if months is not None and months <= 3 and (value is None or value >= 37.8):
        return "urgent", "小月龄发烧"
    if value is None:
        return "concern", "发烧"
    high = "高烧" if value >= 39 else "发烧"
    if value >= 40:
        return "urgent", "高烧"
    if value >= 39 and _LETHARGY.search(message) and not _PLAYING.search(message):
        return "urgent", "高烧+精神差"
    return "concern", high


# --- the detector ------------------------------------------------------------------

_SENTENCE = re.compile(r"[^。!?！？\n]+")
_CLAUSE = re.compile(r"(?:[^，,;；:：、~～…\s.]|(?<=\d)\.(?=\d))+")


def _clauses(message: str) -> Iterator[Clause]:
    for s in _SENTENCE.finditer(message):
        sentence = s.group(0)
        for c in _CLAUSE.finditer(sentence):
            yield Clause(c.group(0), s.start() + c.start(), sentence, sentence[: c.start()])


def _first_chars(pattern: str) -> frozenset[str] | None:
    """The characters a match of the pattern can start with, or None when that is not
    known (an empty match, a class of characters that is not a plain list, a parser this
    Python does not have): the answer only speeds the search, it never narrows it."""
    try:
        from re import _constants as sre  # type: ignore[attr-defined]
        from re import _parser  # type: ignore[attr-defined]

        return _starts(list(_parser.parse(pattern)), sre)
    except Exception:  # any surprise means no guard, never a wrong one
        return None


def _starts(items: list[tuple[Any, Any]], sre: Any) -> frozenset[str] | None:
    found: set[str] = set()
    for op, arg in items:
        if op is sre.LITERAL:
            return frozenset(found | {chr(arg)})
        if op is sre.IN:
            for kind, value in arg:
                if kind is sre.LITERAL:
                    found.add(chr(value))
                elif kind is sre.RANGE and value[1] - value[0] < 200:
                    found |= {chr(c) for c in range(value[0], value[1] + 1)}
                elif kind is sre.CATEGORY and value is sre.CATEGORY_DIGIT:
                    found |= set("0123456789")  # the text is NFKC: only ASCII digits
                else:
                    return None
            return frozenset(found)
        if op is sre.SUBPATTERN or op is sre.BRANCH:
            branches = [arg[3]] if op is sre.SUBPATTERN else arg[1]
            for branch in branches:
                first = _starts(list(branch), sre)
                if first is None:
                    return None
                found |= first
            return frozenset(found)
        if op is sre.MAX_REPEAT or op is sre.MIN_REPEAT:
            low, _, sub = arg
            first = _starts(list(sub), sre)
            if first is None:
                return None
            found |= first
            if low > 0:
                return frozenset(found)
            continue
        if op is sre.ASSERT or op is sre.ASSERT_NOT or op is sre.AT:
            continue
        return None
    return None  # the pattern can match the empty string


class Detector:
    def __init__(self, content: CareContent) -> None:
        self.content = content
        self.signs = signs()
        # Most clauses hold no sign: one pass of the union rules them out at once. A
        # lookahead for the characters a sign can start with skips the other places fast.
        union = "|".join(f"(?:{s.pattern.pattern})" for s in self.signs)
        starts = _first_chars(union)
        guard = f"(?=[{''.join(re.escape(c) for c in sorted(starts))}])" if starts else ""
        self._any_sign = re.compile(f"{guard}(?:{union})")
        # Each sign, with the characters it can start with: a clause holding none of them
        # is not searched for it (None: not known, always searched).
        self._guarded = [(sign, _first_chars(sign.pattern.pattern)) for sign in self.signs]
        self.combos = combos()
        # The combos' parts, each once ({PREG} and a fever open many): a message is
        # searched for a part only when a combo needs it, and at most once.
        self._parts: list[re.Pattern[str]] = []
        self._plan: list[tuple[Combo, tuple[int, ...]]] = []
        for combo in self.combos:
            parts = [p for p in (combo.first, combo.second, combo.third) if p is not None]
            for part in parts:
                if part not in self._parts:
                    self._parts.append(part)
            self._plan.append((combo, tuple(self._parts.index(p) for p in parts)))
        self._part_starts = [_first_chars(part.pattern) for part in self._parts]
        self.no_risk = no_risk()
        ignore = [prepare(p).replace(" ", "") for p in content.ignore if p.strip()]
        self._ignore = [p for p in ignore if p]
        self._ops = [
            (severity, fold(phrase))
            for severity, phrases in content.words.items()
            for phrase in phrases
            if fold(phrase)
        ]

    def detect(self, text: str) -> Risk | None:
        if not text or not text.strip():
            return None
        message = self._masked(prepare(text))
        return _verdict(list(self._hits(message)), message)

    def _masked(self, message: str) -> str:
        for phrase in self._ignore:
            message = message.replace(phrase, "_" * len(phrase))
        return self.no_risk.sub(_blank, message)

    def _hits(self, message: str) -> Iterator[Hit]:
        months = _age_months(message)
        clauses = list(_clauses(message))
        for clause in clauses:
            yield from self._signs_in(clause, message, months)
            yield from self._ops_in(clause, message)
        yield from self._combos_in(clauses, message)

    def _combos_in(self, clauses: list[Clause], message: str) -> Iterator[Hit]:
        present: list[bool | None] = [None] * len(self._parts)  # searched once, when asked
        chars = frozenset(message)
        kept: dict[tuple[int, str], int | None] = {}
        for combo, indexes in self._plan:
            for i in indexes:
                if present[i] is None:
                    starts = self._part_starts[i]
                    present[i] = (starts is None or not starts.isdisjoint(chars)) and (
                        self._parts[i].search(message) is not None
                    )
                if not present[i]:
                    break
            else:
                at: list[int | None] = []
                for i in indexes:
                    key = (i, combo.severity)
                    if key not in kept:
                        kept[key] = _kept_at(self._parts[i], clauses, combo.severity, message)
                    at.append(kept[key])
                    if at[-1] is None:
                        break
                else:
                    first = at[0] or 0
                    yield Hit(combo.severity, combo.reason, first, combo.severity == "urgent")

    def _signs_in(self, clause: Clause, message: str, months: float | None) -> Iterator[Hit]:
        text = clause.text
        taken = bytearray(len(text))  # a character read by one sign is not read again
        guarded = self._guarded if self._any_sign.search(text) else ()
        chars = frozenset(text)
        for sign, starts in guarded:
            if starts is not None and starts.isdisjoint(chars):
                continue
            if sign.pattern.search(text) is None:
                continue
            for m in itertools.islice(sign.pattern.finditer(text), MATCHES_PER_SIGN):
                start, end = m.start(), m.end()
                if any(taken[start:end]):
                    continue
                if sign.word_edges and not _on_edges(text, start, end):
                    continue
                taken[start:end] = b"\x01" * (end - start)
                if sign.jokable and _laughed_off(message, clause.start + end):
                    continue
                if _kept(clause, start, end, sign.severity, message, literal=sign.literal):
                    yield Hit(sign.severity, sign.reason, clause.start + start, sign.resolvable)
        yield from _fever_in(clause, message, months)
        yield from _jaundice_in(clause, message)

    def _ops_in(self, clause: Clause, message: str) -> Iterator[Hit]:
        folded = fold(clause.text)
        for severity, phrase in self._ops:
            at = folded.find(phrase)
            if at < 0:
                continue
            view = Clause(folded, clause.start, fold(clause.sentence), fold(clause.before))
            if _kept(view, at, at + len(phrase), severity, message):
                yield Hit(severity, f"关注词:{phrase}"[:20], clause.start + at)


def _kept(
    clause: Clause,
    start: int,
    end: int,
    severity: str,
    message: str,
    *,
    reading: bool = False,
    literal: bool = False,
) -> bool:
    """Whether a sign read at clause.text[start:end] is about something happening to her."""
    text = clause.text
    if _negated(text, start) or _negated_after(text, end):
        return False
    if literal:
        return not _THIRD_PARTY.search(clause.before + text[:start])
    if severity == "crisis":
        return not (_dreamt(clause) or _past_and_over(clause, start, message))
    if _RETRACTED_AFTER.match(message[clause.start + end : clause.start + end + 12]):
        return False
    if _hypothetical(clause, start, end, message) or _long_ago(clause, start, end, message):
        return False
    if _question_only(clause, start, end, severity, reading):
        return False
    return not (severity == "loss" and _THIRD_PARTY.search(clause.before + text[:start]))


def _kept_at(
    pattern: re.Pattern[str], clauses: list[Clause], severity: str, message: str
) -> int | None:
    """Where the pattern is first read and kept in the message, if anywhere."""
    for clause in clauses:
        for m in itertools.islice(pattern.finditer(clause.text), MATCHES_PER_SIGN):
            if _kept(clause, m.start(), m.end(), severity, message):
                return clause.start + m.start()
    return None


def _laughed_off(message: str, end: int) -> bool:
    if _INSISTED.search(message):
        return False
    return _LAUGH_AFTER.match(message[end : end + 8]) is not None


# 不想活了哈哈 不是开玩笑: a laugh she says is no joke.
_INSISTED = re.compile(r"不是(?:在)?开玩笑|没(?:有|在)?开玩笑|我是认真的|说真的|认真的")


def _past_and_over(clause: Clause, start: int, message: str) -> bool:
    """刚生完那会儿我也有过不想活的念头 现在好多了: a crisis told as over, not now."""
    prefix = clause.before + clause.text[:start]
    if not (_LONG_AGO.search(prefix) or prefix.endswith("有过")):
        return False
    later = message[clause.start + start :]
    return _RESOLVED.search(later) is not None and not _STILL.search(message)


_STILL = re.compile(r"反复|又开始|还是|最近|这几天|现在又|今天又|又有")


def _dreamt(clause: Clause) -> bool:
    return re.search(r"梦见|梦到|做梦|噩梦|新闻|听说", clause.sentence) is not None


_BELOW = re.compile(r"(?:不到|低于|没到|不足|不够)$")


def _fever_in(clause: Clause, message: str, months: float | None) -> Iterator[Hit]:
    text = clause.text
    for at, value in itertools.islice(_readings(text, message), MATCHES_PER_SIGN):
        if value <= 36.5 and _BELOW.search(text[max(0, at - 4) : at]):
            value -= 0.1  # 体温不到36度: under the reading, for a cold baby
        risk = fever_risk(value, months, message)
        if 37.3 <= value < 38.5 and _asks_if_counts(clause, months):
            continue
        if risk and _kept(clause, at, at + 1, risk[0], message, reading=True):
            yield Hit(risk[0], risk[1], clause.start + at, True, "reading")
    if _asks_if_counts(clause, months):
        return
    for m in itertools.islice(_FEVER.finditer(text), MATCHES_PER_SIGN):
        risk = fever_risk(None, months, message)
        if risk and _kept(clause, m.start(), m.end(), risk[0], message):
            yield Hit(risk[0], risk[1], clause.start + m.start(), True, "word")


def _asks_if_counts(clause: Clause, months: float | None) -> bool:
    """38度算发烧吗 还是37度5就算: asking where a fever starts, for a baby past 3 months
    (for a younger one 38 is a doctor's visit whatever she asks)."""
    young = months is not None and months <= 3
    return not young and _COUNTS_AS.search(clause.sentence) is not None


def _jaundice_in(clause: Clause, message: str) -> Iterator[Hit]:
    for m in itertools.islice(_JAUNDICE.finditer(clause.text), MATCHES_PER_SIGN):
        value = float(m.group(1))
        if value < 12:
            continue
        severity: Severity = "urgent" if value >= 20 else "concern"
        if _kept(clause, m.start(), m.end(), severity, message, reading=True):
            yield Hit(severity, "黄疸偏高", clause.start + m.start(), resolvable=True)


def _settled(hit: Hit, message: str) -> Hit | None:
    """A fever or a symptom the message later says is over drops a level."""
    if not hit.resolvable:
        return hit
    later = message[hit.position :]
    over = (
        (hit.reason + "好了") in later
        or _RESOLVED.search(later)
        or _NORMAL_READING.search(later[1:])
        or _RESOLVED_AT.match(later)
    )
    if not over or _PERSISTENT.search(message):
        return hit
    if _PAST_EPISODE.search(message):
        return None  # 上周抽风那次 ... 现在都好了: a story of an episode that is over
    lower = _DOWN.get(hit.severity)
    return Hit(lower, hit.reason, hit.position) if lower else None  # type: ignore[arg-type]


def _verdict(hits: list[Hit], message: str) -> Risk | None:
    if any(h.fever == "reading" for h in hits):
        hits = [h for h in hits if h.fever != "word"]
    settled = [h for h in (_settled(h, message) for h in hits) if h is not None]
    if not settled:
        return None
    top = max(RANK[h.severity] for h in settled)
    winners = sorted((h for h in settled if RANK[h.severity] == top), key=lambda h: h.position)
    others = sorted((h for h in settled if RANK[h.severity] < top), key=lambda h: h.position)
    chosen = winners if len({h.reason for h in winners}) > 1 else winners[:1] + others[:1]
    parts: list[str] = []
    for hit in sorted(chosen, key=lambda h: h.position):
        parts += [p for p in hit.reason.split("+") if p not in parts]
    also = frozenset(h.severity for h in settled) - {winners[0].severity}
    return Risk(winners[0].severity, "+".join(parts[:3]), also)
