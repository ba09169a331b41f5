"""The guard's corpus. The precision / recall gate itself is measured by
bench/guard_quality.py until it holds with a margin (issue 4 is open on it)."""

from __future__ import annotations

from pathlib import Path

from handlers.guard.classifier import SPAM
from handlers.guard.judge import read_examples
from tests.harness import REPO

EXAMPLES = REPO / "content" / "guard_examples.tsv"
HARD = Path(__file__).with_name("guard_hard_negatives.txt")


def test_the_corpus_is_large_and_balanced() -> None:
    rows = read_examples(EXAMPLES)
    spam = sum(1 for label, _ in rows if label == SPAM)
    assert len(rows) >= 1500
    assert 0.4 <= spam / len(rows) <= 0.6
    assert len({text for _, text in rows}) == len(rows)  # no duplicates to memorise


def test_the_hard_negatives_are_not_in_the_training_data() -> None:
    corpus = {text for _, text in read_examples(EXAMPLES)}
    hard = [t for t in HARD.read_text(encoding="utf-8").splitlines() if t.strip()]
    assert len(hard) >= 100 and not corpus & set(hard)
