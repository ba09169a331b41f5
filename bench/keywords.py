"""Keyword matching speed as rules grow: our index against a naive loop over the rules.

For 10, 1,000 and 10,000 rules (mostly `contains`, some `word`, `exact` and `all` rules,
a few regexes) it matches the same stream of group messages, a quarter of which hit a
keyword, and prints one line per size:

    keywords: rules=<N> build <B> ms index=<X> matches/s naive=<Y> matches/s
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import KeywordRule
from bot.text import normalize, strip_punctuation, word_boundaries, words
from handlers.keywords import KeywordIndex

SYLLABLES = "宝妈孕期奶粉辅食睡觉湿疹黄疸疫苗尿布发烧咳嗽便秘腹泻吐奶出牙早教绘本玩具推车安全座椅月子产检胎动"
# Second keywords of the require="all" rules: common words, each shared by a few rules.
COMMON = [
    a + b
    for a in ("怎么", "是否", "多久", "哪里", "能不能", "需要")
    for b in ("办", "买", "用", "吃", "看", "换", "洗")
]
CHATTER = [
    "今天宝宝好乖，一觉睡到天亮",
    "有没有姐妹知道附近哪家儿童医院周末有号",
    "我家也是这样，晚上又醒了三次😭",
    "求推荐绘本，两岁左右看的",
    "太可爱了吧，这是几个月呀",
    "周末带娃去公园，人好多",
    "收到，谢谢群主",
]


def make_rules(n: int, rng: random.Random) -> tuple[list[KeywordRule], list[str]]:
    rules, keywords = [], []
    for i in range(n):
        kw = "".join(rng.choice(SYLLABLES) for _ in range(3)) + str(i)
        keywords.append(kw)
        fields: dict[str, object] = {"keywords": [kw]}
        if i % 20 == 0:
            fields["mode"] = "word"
        elif i % 20 == 1:
            fields["mode"] = "exact"
        elif i % 20 == 2:
            fields["keywords"] = [kw, rng.choice(COMMON)]
            fields["require"] = "all"
        elif i % 500 == 3:
            fields = {"mode": "regex", "pattern": rf"订单号?\s*{i}\d{{6,}}"}
        rules.append(KeywordRule(id=f"r{i}", replies=["ok"], **fields))  # type: ignore[arg-type]
    return rules, keywords


def make_messages(keywords: list[str], count: int, rng: random.Random) -> list[str]:
    out = []
    for i in range(count):
        text = rng.choice(CHATTER)
        if i % 4 == 0:
            text = f"请问{rng.choice(keywords)}{rng.choice(COMMON)}？{text}"
        out.append(text)
    return out


class NaiveMatcher:
    """What a first version would do: every rule, every message."""

    def __init__(self, rules: list[KeywordRule]) -> None:
        self.rules = [
            (
                r,
                [normalize(k) for k in r.keywords],
                re.compile(r.pattern, re.I) if r.pattern else None,
            )
            for r in rules
        ]

    def match(self, text: str) -> list[KeywordRule]:
        norm = normalize(text)
        edges: set[int] | None = None
        found = []
        for rule, keys, pattern in self.rules:
            if rule.mode == "regex":
                hit = pattern is not None and pattern.search(norm) is not None
            elif rule.mode == "exact":
                hit = strip_punctuation(norm) in keys
            elif rule.mode == "word":
                if edges is None:
                    edges = word_boundaries(norm)
                hit = any(whole_word(norm, k, edges) for k in keys)
            else:
                present = [k in norm for k in keys]
                hit = all(present) if rule.require == "all" else any(present)
            if hit:
                found.append(rule)
        return sorted(found, key=lambda r: -r.priority)


def whole_word(text: str, key: str, edges: set[int]) -> bool:
    start = text.find(key)
    while start >= 0:
        if start in edges and start + len(key) in edges:
            return True
        start = text.find(key, start + 1)
    return False


def rate(match: Callable[[str], object], messages: list[str], budget_s: float) -> float:
    """Messages matched per second, cycling through the stream for at least budget_s."""
    done, start = 0, time.perf_counter()
    while True:
        for text in messages[done % len(messages) :][:20]:
            match(text)
            done += 1
        elapsed = time.perf_counter() - start
        if elapsed >= budget_s:
            return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,1000,10000")
    parser.add_argument("--budget", type=float, default=1.0, help="seconds per measurement")
    args = parser.parse_args()
    rng = random.Random(7)
    words("预热结巴分词")  # load jieba's dictionary outside the measurements
    for n in (int(s) for s in args.sizes.split(",")):
        rules, keywords = make_rules(n, rng)
        messages = make_messages(keywords, 2_000, rng)
        start = time.perf_counter()
        index = KeywordIndex(rules)
        build_ms = (time.perf_counter() - start) * 1000
        naive = NaiveMatcher(rules)
        for text in messages[:200]:  # both must agree before we compare their speed
            assert {r.id for r in index.match(text)} == {r.id for r in naive.match(text)}, text
        ours = rate(index.match, messages, args.budget)
        theirs = rate(naive.match, messages, args.budget)
        print(
            f"keywords: rules={n} build {build_ms:.0f} ms index={ours:.0f} matches/s naive={theirs:.0f} matches/s"
        )


if __name__ == "__main__":
    main()
