"""How many children her family has, from how mothers answer "家里是第几个宝宝呀？".

`family_size(text)` counts the children of the family the answer speaks of — born ones and
the one she is expecting — from the phrasings mothers use: the order of this child (二胎,
老二, 二宝, 第二个, 二孩), a count (两个, 俩娃, 仨宝, 2个), who they are (一儿一女, 一个男孩
一个女孩, 两个闺女, 儿女双全), twins (双胞胎, 龙凤胎: two at once), an older sibling (老大3岁,
上面有个哥哥) or an only child (独生, 就一个, 第一次当妈). It never guesses: an age (三个月,
两岁), a negation alone (不是第一个) or anything else gives None.

`family_choice(choices, size)` names the dialog's choice for that size, by its words
("二胎" or "2胎" means two; "三胎及以上" also takes four), so ops keep the values and tags
they chose (家庭:二胎).
"""

from __future__ import annotations

import re
import unicodedata

_DIGITS = {
    "一": 1,
    "二": 2,
    "两": 2,
    "俩": 2,
    "三": 3,
    "仨": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN = "一二三四五六七八九"
_TRADITIONAL = str.maketrans("個兩倆寶懷歲孕雙鳳兒閨們還沒", "个两俩宝怀岁孕双凤儿闺们还没")
_N = r"([1-9一二两俩三仨四五六七八九])"  # one child count, as a digit or a Chinese numeral

_KID = r"(?:孩子|小孩|宝宝|宝贝|宝|娃娃|娃|崽|孩|小朋友|小宝贝)"
_SON_DAUGHTER = r"(?:儿子|女儿|闺女|男孩子?|女孩子?|男宝|女宝|男娃|女娃|小子|丫头|公主|王子)"

# "不是第一个" says only what it is not; "不是第一个，是第二个" still says the second.
_NEGATION = re.compile(r"(?:不是|并不是|不算)[^，,。；;！!？?、是]{0,6}")
# A count followed by one of these is an age or something else: 三个月, 两个人, 一个多月.
_NOT_KIDS = re.compile(r"个?(?:多|半)?(?:月|岁|天|周|星期|礼拜|年|小时|人|钟|次|点)")
_ALONE = r"(?=都|了|啦|呀|哦|吧|噢|哈|$|[，,。.!！~～])"

# This child's place in the family: 二胎 / 第二胎 / 第二个 / 老二 / 二宝 / 二孩 / 2胎.
_ORDER = re.compile(
    rf"第{_N}(?:个|胎|孩|宝)|{_N}(?:胎|孩(?!子))|老{_N}|(?<![宝小大])([二三四五六七八九])宝(?!宝)"
)
_FIRST = re.compile(r"头胎|首胎|老大|大宝(?!贝)|第一次当妈|新手妈妈|新手宝妈|独生|独苗")
# Only one: 就一个 / 只有一个 / 就这一个 / 目前一个.
_ONLY_ONE = re.compile(r"(?:就|只|只有|就这|目前|现在|暂时)(?:一|1)个")
# A count of children: 两个孩子 / 俩娃 / 2个宝宝 / 两个 (alone) / 两宝妈 / 俩.
_COUNT = re.compile(
    rf"{_N}个(?=(?:{_KID}|{_SON_DAUGHTER}))|{_N}个{_ALONE}|{_N}{_KID}|(俩|仨){_ALONE}"
)
# Who they are: 一儿一女 / 一个男孩一个女孩 / 两个闺女 / 一男一女: summed.
_MEMBERS = re.compile(
    rf"{_N}个?(?:{_SON_DAUGHTER}|哥哥|姐姐|弟弟|妹妹|儿(?!童)|女(?![士人生性])|男(?![士人生性的]))"
)
_BOTH = re.compile(r"儿女双全|凑了个好字|凑成好字|凑成一个好字")
_TWINS = re.compile(r"双胞胎|双胞|双胎|龙凤胎|龙凤胞|双宝|(三胞胎)")
# An older sibling: 上面有个哥哥 / 老大3岁 / 大的上小学. Its count, if said, is group 1.
_SIBLING = r"(?:老大|大宝|大的|哥哥|姐姐)"
_OLDER = re.compile(
    rf"(?<!我)(?:上面|宝宝|他|她)?(?:有|还有)(?:{_N}个|个|一个)?(?:哥哥|姐姐)"
    rf"|{_SIBLING}(?:已经|都|今年)?(?:\d+|[{_CN}两十]+)岁"
    rf"|{_SIBLING}(?:已经|都)?(?:上|读)(?:小学|幼儿园|初中|高中|大学|学|[{_CN}]年级)"
)
# The eldest is named while she is expecting: "老大3岁，现在怀孕20周" is two.
_PREGNANT = re.compile(r"怀|孕|肚子里|还没生|预产期")


def _number(token: str) -> int:
    return int(token) if token.isdigit() else _DIGITS[token]


def _plain(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().translate(_TRADITIONAL)
    text = re.sub(r"\s+", "", text)[:200]
    return _NEGATION.sub("，", text)


def _first_group(match: re.Match[str]) -> int:
    return _number(next(g for g in match.groups() if g))


def family_size(text: str) -> int | None:
    """How many children the family she speaks of has (with the one she expects); None
    when the answer does not say."""
    t = _plain(text)
    orders = [_first_group(m) for m in _ORDER.finditer(t)]
    sizes = list(orders)
    if _FIRST.search(t) or _ONLY_ONE.search(t):
        sizes.append(1)
    sizes += [_first_group(m) for m in _COUNT.finditer(t)]
    members = [
        _number(m.group(1)) for m in _MEMBERS.finditer(t) if not _NOT_KIDS.match(t, m.end(1))
    ]
    if members:
        sizes.append(sum(members))
    if _BOTH.search(t):
        sizes.append(2)
    older = _OLDER.search(t)
    elder = 0  # children born before this one
    if older:
        elder = _number(older.group(1)) if older.group(1) else 1
        sizes.append(elder + 1)
    elif "老大" in t and _PREGNANT.search(t):
        elder = 1
        sizes.append(2)
    twins = _TWINS.search(t)
    if twins:
        # Two (three) at once, after the older ones: "老大5岁，二胎是双胞胎" is three.
        before = max([elder, *(o - 1 for o in orders)])
        sizes.append((3 if twins.group(1) else 2) + before)
    return max(sizes) if sizes else None


def family_choice(choices: dict[str, list[str]], size: int) -> str | None:
    """The choice value for a family of `size` children: the one whose value or words say
    that many (一胎/1胎, 二胎/2胎, ...); past the largest, the largest if it says so
    (三胎及以上); None when no choice fits."""
    by_size: dict[int, str] = {}
    for value, words in choices.items():
        for word in [value, *words]:
            w = unicodedata.normalize("NFKC", word).strip()
            m = re.fullmatch(r"([1-9一二两三四五六七八九])胎", w)
            if m:
                by_size.setdefault(_number(m.group(1)), value)
    if not by_size:
        return None
    if size in by_size:
        return by_size[size]
    largest = by_size[max(by_size)]
    open_ended = any(w in largest for w in ("以上", "及更多", "多胎", "+"))
    return largest if size > max(by_size) and open_ended else None
