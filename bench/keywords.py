"""Keyword matching speed: our index against a plain loop and pyahocorasick, same texts.

For the rules of content/keywords.toml and for 1,000 and 10,000 generated rules (mostly
`contains`, some `word`, `exact` and `all` rules, a few regexes), the same group messages
(the realistic sentences of bench/pipeline.py, a quarter of them asking about a keyword)
are normalised once (bot.text.normalize), then matched by:

    index  KeywordIndex.match: the project's matcher, everything a rule needs (normalises
           again, exact lookup, regexes, one Aho-Corasick pass, jieba word boundaries only
           when a `word` keyword was found, require="all", priority order)
    loop   `for kw in keywords: kw in text` over every contains/word keyword (no word
           boundaries, no exact or regex rules): the plain baseline
    aho    a pyahocorasick automaton of the same keywords: the set of keywords found

One line per size:

    keywords: rules=<N> keywords=<K> index <X> msgs/s, loop <Y> msgs/s, aho <Z> msgs/s; index/loop <a>x, index/aho <b>x
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ahocorasick

from bench.pipeline import Sentences
from bot.config import KeywordRule, load_content
from bot.text import normalize, words
from handlers.keywords import KeywordIndex

REPO = Path(__file__).resolve().parent.parent
SYLLABLES = "宝妈孕期奶粉辅食睡觉湿疹黄疸疫苗尿布发烧咳嗽便秘腹泻吐奶出牙早教绘本玩具推车安全座椅月子产检胎动"
# Second keywords of the require="all" rules: common words, each shared by a few rules.
COMMON = [
    a + b
    for a in ("怎么", "是否", "多久", "哪里", "能不能", "需要")
    for b in ("办", "买", "用", "吃", "看", "换", "洗")
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


def generated_messages(
    keywords: list[str], count: int, sentences: Sentences, rng: random.Random
) -> list[str]:
    out = []
    for i in range(count):
        text = sentences.chat()
        if i % 4 == 0:
            text = f"请问{rng.choice(keywords)}{rng.choice(COMMON)}？{text}"
        out.append(text)
    return out


def content_messages(count: int, sentences: Sentences) -> list[str]:
    return [sentences.ask() if i % 4 == 0 else sentences.chat() for i in range(count)]


def loop_keywords(rules: list[KeywordRule]) -> list[str]:
    """Every keyword the Aho-Corasick pass of the index holds (contains and word rules)."""
    keys = {
        normalize(k)
        for rule in rules
        if rule.enabled and rule.mode in ("contains", "word")
        for k in rule.keywords
    }
    return sorted(k for k in keys if k)


def plain_loop(keywords: list[str]) -> Callable[[str], list[str]]:
    def match(text: str) -> list[str]:
        return [kw for kw in keywords if kw in text]

    return match


def aho(keywords: list[str]) -> Callable[[str], set[str]]:
    automaton = ahocorasick.Automaton()
    for kw in keywords:
        automaton.add_word(kw, kw)
    automaton.make_automaton()

    def match(text: str) -> set[str]:
        return {kw for _end, kw in automaton.iter(text)}

    return match


def rate(match: Callable[[str], object], texts: list[str], budget_s: float) -> float:
    """Texts matched per second: whole passes over the texts, for at least budget_s."""
    done, start = 0, time.perf_counter()
    while True:
        for text in texts:
            match(text)
        done += len(texts)
        elapsed = time.perf_counter() - start
        if elapsed >= budget_s:
            return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="content,1000,10000")
    parser.add_argument("--messages", type=int, default=2_000)
    parser.add_argument("--budget", type=float, default=1.0, help="seconds per measurement")
    args = parser.parse_args()
    rng = random.Random(7)
    sentences = Sentences(rng, REPO / "content")
    words("预热结巴分词")  # load jieba's dictionary outside the measurements
    for size in args.sizes.split(","):
        if size == "content":
            rules = list(load_content(REPO / "content").keywords.rules)
            texts = content_messages(args.messages, sentences)
        else:
            rules, keys = make_rules(int(size), rng)
            texts = generated_messages(keys, args.messages, sentences, rng)
        norm = [normalize(t) for t in texts]  # every matcher gets the same normalised text
        start = time.perf_counter()
        index = KeywordIndex(rules)
        build_ms = (time.perf_counter() - start) * 1000
        keywords = loop_keywords(rules)
        loop, automaton = plain_loop(keywords), aho(keywords)
        for text in norm[:200]:  # the two baselines must agree before we compare speeds
            assert set(loop(text)) == automaton(text), text
        hits = sum(1 for text in norm if index.match(text))
        ours = rate(index.match, norm, args.budget)
        plain = rate(loop, norm, args.budget)
        theirs = rate(automaton, norm, args.budget)
        print(
            f"keywords: rules={len(rules)} keywords={len(keywords)} build {build_ms:.0f} ms; "
            f"{hits}/{len(norm)} texts match; index {ours:.0f} msgs/s, loop {plain:.0f} msgs/s, "
            f"aho {theirs:.0f} msgs/s; index/loop {ours / plain:.1f}x, index/aho {ours / theirs:.2f}x"
        )
    per_s = rate(normalize, texts, args.budget)
    print(f"normalize alone: {per_s:.0f} msgs/s (bot.text.normalize, done once above)")


if __name__ == "__main__":
    main()
