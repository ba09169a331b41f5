"""The guard on the worst inputs we know: how long one judgement takes.

A message must never freeze the bot: each figure here is one message judged by the
guard (rules and model, no history). Run: .venv/bin/python bench/guard_worst.py
"""

from __future__ import annotations

import statistics
import time

from bot.config import GuardRules
from handlers.guard.judge import Judge

WORST = {
    "a. x 2000 (host-like run)": "a." * 2000,
    "a- x 2000": "a-" * 2000,
    "http:// + 4000 chars": "http://" + "a" * 4000,
    "digits x 4000 (phone scan)": "1" * 4000,
    "加 x 2000": "加" * 2000,
    "emoji x 2000": "😊" * 2000,
    "4000 ordinary characters": "宝宝今天吃了辅食睡得很好谢谢大家" * 250,
}


def main() -> None:
    judge = Judge()
    rules = GuardRules()
    judge.judge("warm up", rules)
    for name, text in WORST.items():
        times = []
        for _ in range(5):
            start = time.perf_counter()
            judge.judge(text, rules)
            times.append(time.perf_counter() - start)
        print(f"guard worst: {name}: median {statistics.median(times) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
