"""The worst inputs we know, for the guard and for ops' keyword regexes: time per message.

A message must never freeze the bot. Each `guard worst` figure is one message judged by
the shipped guard (rules and model, no history), its caches emptied first so that every
run does the whole work; inputs are as long as the channel could deliver, and the guard's
budget (handlers/guard/judge.py) bounds what each stage reads. Each `keyword regex` figure
is one message matched by a KeywordIndex holding the catastrophic pattern of issue 11,
which now runs on RE2; the `python re` line shows what the same pattern cost before, on a
message shorter than the one that took 8 s.

Run: .venv/bin/python bench/guard_worst.py
"""

from __future__ import annotations

import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import KeywordRule, load_content
from handlers.guard import classifier
from handlers.guard.judge import Judge
from handlers.guard.normalize import fold
from handlers.keywords import KeywordIndex

REPO = Path(__file__).resolve().parent.parent
ORDINARY = "宝宝今天吃了辅食睡得很好谢谢大家"
WORST = {
    "a. x 2000 (host-like run)": "a." * 2000,
    "a. x 50000 (host-like run, 100 KB)": "a." * 50_000,
    "a- x 2000": "a-" * 2000,
    "http:// + 4000 chars": "http://" + "a" * 4000,
    "digits x 4000 (phone scan)": "1" * 4000,
    "加 x 2000": "加" * 2000,
    "emoji x 2000": "😊" * 2000,
    "? x 8000 + a (question check)": "?" * 8000 + "a",
    "？ x 100000 + 1 (question check)": "？" * 100_000 + "1",
    "不要刷单 x 2000 (negated blocked word)": "不要刷单" * 2000,
    "加v + 100000 spaces + x": "加v" + " " * 100_000 + "x",
    "4000 ordinary characters": ORDINARY * 250,
    "100 KB ordinary characters": ORDINARY * 6250,
    "1 MB, an ad at the start": "加我V❤信 mama88 " + ORDINARY * 62_500,
}
CATASTROPHIC = r"(\w+\s?)+吗$"  # `check` accepted it; Python's re took 8 s on 26 characters
REGEX_TEXTS = {
    "26 characters": "a" * 25 + "!",
    "4000 characters": "宝宝" * 1999 + "!!",
    "100 KB": "a" * 100_000 + "!",
}


def median_ms(run: Callable[[], object], reset: Callable[[], None], times: int = 5) -> float:
    samples = []
    for _ in range(times):
        reset()
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def empty_caches() -> None:
    fold.cache_clear()
    classifier._features.cache_clear()


def main() -> None:
    judge = Judge.for_content(REPO / "content")
    rules = load_content(REPO / "content").guard.guard
    judge.judge("warm up 宝宝", rules)
    for name, text in WORST.items():
        ms = median_ms(lambda text=text: judge.judge(text, rules), empty_caches)
        print(f"guard worst: {name}: median {ms:.1f} ms")
    index = KeywordIndex([KeywordRule(id="ask", mode="regex", pattern=CATASTROPHIC, tags=["x"])])
    for name, text in REGEX_TEXTS.items():
        ms = median_ms(lambda text=text: index.match(text), lambda: None)
        print(f"keyword regex {CATASTROPHIC} on RE2: {name}: median {ms:.3f} ms")
    python = re.compile(CATASTROPHIC)
    short = "a" * 19 + "!"
    ms = median_ms(lambda: python.search(short), lambda: None, times=1)
    print(f"keyword regex {CATASTROPHIC} on python re (before): 20 characters: {ms:.0f} ms")


if __name__ == "__main__":
    main()
