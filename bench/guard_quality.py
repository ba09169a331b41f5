"""The guard's quality on the project's corpus, the figures behind the gate in
tests/test_guard_quality.py: precision and recall by 4-fold cross-validation over
content/guard_examples.tsv (every row judged once by a model that never saw it), and the
hard negatives in tests/guard_hard_negatives.txt that the shipped model acts on.

With -v it lists the false alarms and the missed ads. Last line:

    guard: precision <P> recall <R> over <N> rows (4 folds, worst fold P <p> R <r>);
    hard negatives acted on: <K>/<M>; blind ads acted on: <B>/<C>
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import load_content
from handlers.guard.evaluate import cross_validate
from handlers.guard.judge import PASS, Judge, read_examples

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    verbose = "-v" in sys.argv[1:]
    rows = read_examples(REPO / "content" / "guard_examples.tsv")
    rules = load_content(REPO / "content").guard.guard
    total, parts = cross_validate(rows, rules)
    shipped = Judge.from_examples(REPO / "content" / "guard_examples.tsv")
    hard = [
        t
        for t in (REPO / "tests" / "guard_hard_negatives.txt").read_text("utf-8").splitlines()
        if t.strip()
    ]
    acted_hard = [t for t in hard if shipped.judge(t, rules).verdict != PASS]
    blind = [
        t
        for t in (REPO / "tests" / "guard_blind_ads.txt").read_text("utf-8").splitlines()
        if t.strip() and not t.startswith("#")
    ]
    blind_caught = sum(shipped.judge(t, rules).verdict != PASS for t in blind)
    for text in total.false_alarms:
        print(f"false alarm: {text}")
    for text in acted_hard:
        print(f"hard negative acted on: {text}")
    if verbose:
        for text in total.missed:
            print(f"missed: {text}")
    worst_p = min(p.precision for p in parts)
    worst_r = min(p.recall for p in parts)
    print(
        f"guard: precision {total.precision:.3f} recall {total.recall:.3f} over {total.judged} "
        f"rows ({len(parts)} folds, worst fold P {worst_p:.3f} R {worst_r:.3f}); "
        f"hard negatives acted on: {len(acted_hard)}/{len(hard)}; "
        f"blind ads acted on: {blind_caught}/{len(blind)}"
    )


if __name__ == "__main__":
    main()
