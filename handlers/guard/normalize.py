"""Undo the disguises advertisers use to get "加我V" past a filter.

`fold(text)` returns a canonical form for the contact and number detectors:
- full-width to half-width, lower case, traditional variants of the key characters;
- emoji, spaces and punctuation removed (加 我 ❤ 微 信 -> 加我微信);
- homophones and look-alikes folded: 薇/威/維/徽/徵 -> 微, 芯/❤信 -> 信, 扣扣/企鹅 -> qq,
  ➕/十/+ before a v -> 加, vx/wx/weixin/v信/v and the slang 绿泡泡 / 绿色软件 -> 微信;
- Chinese and circled digits to ASCII digits (一三八 -> 138, ① -> 1), so numbers written
  to dodge a regex become numbers again;
- inside a run of letters and digits, what is put between every character to break an id
  up: WeChat's emoji codes ([玫瑰], [苹果]) and strokes used as separators (丨, 丶, の), so
  "y[玫瑰]y[玫瑰]0丨7" is "yy07" (Unicode emoji and punctuation go with the rest of the noise).
"""

from __future__ import annotations

import functools
import re
import unicodedata

_CN_DIGITS = str.maketrans(
    {
        "零": "0",
        "〇": "0",
        "○": "0",
        "一": "1",
        "幺": "1",
        "壹": "1",
        "二": "2",
        "贰": "2",
        "两": "2",
        "三": "3",
        "叁": "3",
        "四": "4",
        "肆": "4",
        "五": "5",
        "伍": "5",
        "六": "6",
        "陆": "6",
        "七": "7",
        "柒": "7",
        "八": "8",
        "捌": "8",
        "九": "9",
        "玖": "9",
    }
)
_LOOKALIKES = str.maketrans(
    {
        "薇": "微",
        "威": "微",
        "維": "微",
        "维": "微",
        "徽": "微",
        "徵": "微",
        "溦": "微",
        "芯": "信",
        "訊": "信",
        "讯": "信",
        "伽": "加",
        "茄": "加",
        "嘉": "加",
        "➕": "加",
        "✚": "加",
        "╋": "加",
        "號": "号",
        "碼": "码",
        "電": "电",
        "話": "话",
        "鏈": "链",
        "開": "开",
        "🐧": "qq",
    }
)

# 维 is folded to 微 (维信 = 微信), except where mothers mean a vitamin: 维生素, 维D, 维AD,
# 维D3, 维C, alone or with a dose (维D 400IU, 维AD一天一粒). Only those letters, then
# nothing that could continue an id, so "维d abc123" is still an id.
_VITAMIN = re.compile(
    r"[维維](?=生素|(?:ad|a|d3|d|c|e|k[12]?|b(?:1[2]|[126])?)"
    r"(?:\s*\d+(?:\.\d+)?\s*(?:iu|国际单位|单位|mg|毫克|ug|μg|微克|滴|粒))?"
    r"(?![a-z0-9])(?!\s*[a-z][a-z0-9_-]{5,}))"
)

# Anything that is not a letter, digit or CJK character is dropped: spaces, punctuation,
# emoji, zero-width characters, decorations between the characters of 加微信.
_NOISE = re.compile(r"[^0-9a-z\u4e00-\u9fff]+")
_WECHAT = re.compile(r"(?<![a-z])(?:wei ?xin|wechat|v ?x|w ?x|v)(?![a-z])")
_WECHAT_JOINED = re.compile(r"v信|vx信|微x|微信信|微微信")
_QQ = re.compile(r"扣扣|企鹅号?|qq号?|q号")
# Slang for WeChat (绿泡泡, 绿色软件: its green icon), after the noise is gone.
_WECHAT_SLANG = re.compile(r"绿色?的?(?:聊天)?(?:泡泡|软件|app)|绿泡|小绿(?:泡|软件)|卫星号|微心")
_PLUS_V = re.compile(r"[+十]\s*(?=v|微)")
# Between two letters or digits (an id spelt out with a separator between its characters):
# a WeChat emoji code ([玫瑰]) or a stroke or kana used as a dot (丨, 丶, の), with a little
# noise around each. One way to split any run (the noise is never a separator), so a run
# of separators with no letter after it is read once: linear.
_IN_ID = re.compile(
    r"(?<=[0-9a-z])(?:[^0-9a-z\u4e00-\u9fff\[ノの]{0,3}(?:\[[\u4e00-\u9fff]{1,4}\]|[丨丶丿亅乀ノの]))+"
    r"[^0-9a-z\u4e00-\u9fff\[ノの]{0,3}(?=[0-9a-z])"
)


# Circled digits (①, ❶) as ASCII digits; ⑩ and above stay as they are.
_CIRCLED = str.maketrans(
    {
        chr(code): str(unicodedata.digit(chr(code)))
        for code in (*range(0x2460, 0x2474), *range(0x2776, 0x2780))
        if unicodedata.digit(chr(code), -1) >= 0
    }
)


def circled_digits(text: str) -> str:
    return text.translate(_CIRCLED)


@functools.lru_cache(maxsize=8192)
def fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = circled_digits(text)
    text = _PLUS_V.sub("加", text)
    text = _IN_ID.sub("", text)
    text = _VITAMIN.sub("vit", text)  # before 维 becomes 微
    text = text.translate(_LOOKALIKES)
    text = _WECHAT.sub("微信", text)  # while separators still mark where words end
    text = _NOISE.sub("", text)
    text = _WECHAT_JOINED.sub("微信", text)  # "v❤信" is only "v信" once the ❤ is gone
    text = _QQ.sub("qq", text)
    text = _WECHAT_SLANG.sub("微信", text)
    return text


def digits(text: str) -> str:
    """The folded text with Chinese digits as ASCII digits (for number detection only:
    一 in ordinary words becomes 1 too)."""
    return fold(text).translate(_CN_DIGITS)
