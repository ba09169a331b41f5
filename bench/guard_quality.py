"""The guard's quality on the project's corpus: precision and recall on a held-out quarter of
content/guard_examples.tsv, and the hard negatives in tests/guard_hard_negatives.txt that
the shipped model acts on. Prints one line:

    guard: precision <P> recall <R> on <N> held out; hard negatives acted on: <K>/<M>

The issue's gate is precision >= 0.99, recall >= 0.90 and no hard negative acted on; it
becomes a test once it holds with a margin (see the issue notes).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import load_content
from handlers.guard.classifier import SPAM, NaiveBayes
from handlers.guard.judge import PASS, Judge, read_examples

REPO = Path(__file__).resolve().parent.parent


def held_out(text: str) -> bool:
    return hashlib.sha1(text.encode()).digest()[0] < 64  # ~25%, stable across runs


def main() -> None:
    rows = read_examples(REPO / "content" / "guard_examples.tsv")
    rules = load_content(REPO / "content").guard.guard
    train = [r for r in rows if not held_out(r[1])]
    test = [r for r in rows if held_out(r[1])]
    judge = Judge(NaiveBayes().fit(train))
    tp = fp = fn = 0
    for label, text in test:
        acted = judge.judge(text, rules).verdict != PASS
        if acted and label == SPAM:
            tp += 1
        elif acted:
            fp += 1
            print(f"false alarm: {text}")
        elif label == SPAM:
            fn += 1
    shipped = Judge.from_examples(REPO / "content" / "guard_examples.tsv")
    hard = [
        t
        for t in (REPO / "tests" / "guard_hard_negatives.txt").read_text("utf-8").splitlines()
        if t.strip()
    ]
    acted_hard = [t for t in hard if shipped.judge(t, rules).verdict != PASS]
    for text in acted_hard:
        print(f"hard negative acted on: {text}")
    print(
        f"guard: precision {tp / max(1, tp + fp):.3f} recall {tp / max(1, tp + fn):.3f} "
        f"on {len(test)} held out; hard negatives acted on: {len(acted_hard)}/{len(hard)}"
    )


if __name__ == "__main__":
    main()
