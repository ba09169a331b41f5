"""How well the guard tells ads from mothers, measured on the project's own corpus.

`cross_validate` splits content/guard_examples.tsv into k parts by a stable hash of the
text, trains a fresh model on k-1 parts and judges every row of the part left out, so each
row is judged once by a model that never saw it. Used by the quality gate in
tests/test_guard_quality.py and by bench/guard_quality.py, which prints the figures.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.config import GuardRules
from handlers.guard.classifier import SPAM, NaiveBayes
from handlers.guard.judge import PASS, Judge


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    false_alarms: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / max(1, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return self.tp / max(1, self.tp + self.fn)

    @property
    def judged(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    def add(self, label: str, acted: bool, text: str) -> None:
        if label == SPAM and acted:
            self.tp += 1
        elif label == SPAM:
            self.fn += 1
            self.missed.append(text)
        elif acted:
            self.fp += 1
            self.false_alarms.append(text)
        else:
            self.tn += 1


def part_of(text: str, k: int) -> int:
    """The part a row falls in: stable across runs and machines, whatever the row order."""
    return hashlib.sha1(text.encode("utf-8")).digest()[0] % k


def cross_validate(
    rows: Sequence[tuple[str, str]], rules: GuardRules, k: int = 4
) -> tuple[Score, list[Score]]:
    """The score over all rows and the score of each part."""
    parts = [Score() for _ in range(k)]
    for held in range(k):
        judge = Judge(NaiveBayes().fit(r for r in rows if part_of(r[1], k) != held))
        for label, text in rows:
            if part_of(text, k) == held:
                parts[held].add(label, judge.judge(text, rules).verdict != PASS, text)
    total = Score()
    for part in parts:
        total.tp += part.tp
        total.fp += part.fp
        total.fn += part.fn
        total.tn += part.tn
        total.false_alarms += part.false_alarms
        total.missed += part.missed
    return total, parts
