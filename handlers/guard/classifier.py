"""A small multinomial naive Bayes over jieba words and character bigrams.

Features come from the folded text (handlers/guard/normalize.py), so "加 薇 ❤ 信" and
"加微信" look the same to the model. It is trained at start from content/guard_examples.tsv
plus the admins' #垃圾 / #正常 feedback, in well under a second for a few thousand rows, and
holds a few hundred kilobytes of counts. (scikit-learn's MultinomialNB would give the same
model at the cost of numpy, scipy and about a second of imports; see the issue notes.)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

from bot.text import words
from handlers.guard.normalize import fold

SPAM, HAM = "spam", "ham"


def features(text: str) -> list[str]:
    folded = fold(text)
    grams = [folded[i : i + 2] for i in range(len(folded) - 1)]
    tokens = [f"w:{w}" for w in words(folded, hmm=False) if len(w) > 1]
    if not grams and folded:
        grams = [folded]
    return grams + tokens


class NaiveBayes:
    def __init__(self, alpha: float = 0.5) -> None:
        self.alpha = alpha
        self.counts: dict[str, Counter[str]] = {SPAM: Counter(), HAM: Counter()}
        self.totals = {SPAM: 0, HAM: 0}
        self.docs = {SPAM: 0, HAM: 0}
        self.vocabulary: set[str] = set()

    def learn(self, text: str, label: str) -> None:
        feats = set(features(text))  # presence, not counts: a repeated word is no proof
        self.counts[label].update(feats)
        self.vocabulary.update(feats)
        self.totals[label] += len(feats)
        self.docs[label] += 1

    def fit(self, rows: Iterable[tuple[str, str]]) -> NaiveBayes:
        for label, text in rows:
            self.learn(text, label)
        return self

    @property
    def trained(self) -> bool:
        return self.docs[SPAM] > 0 and self.docs[HAM] > 0

    def spam_probability(self, text: str) -> float:
        """P(spam | text). The log-odds are divided by the square root of the number of
        features: naive Bayes otherwise grows over-confident on long messages, which is
        where mothers' stories live."""
        if not self.trained:
            return 0.0
        feats = [f for f in set(features(text)) if f in self.vocabulary]
        if not feats:
            return 0.0
        vocabulary = len(self.vocabulary)
        docs = self.docs[SPAM] + self.docs[HAM]
        scores = {}
        for label in (SPAM, HAM):
            score = math.log(self.docs[label] / docs)
            denominator = self.totals[label] + self.alpha * vocabulary
            counts = self.counts[label]
            for feat in feats:
                score += math.log((counts.get(feat, 0) + self.alpha) / denominator)
            scores[label] = score
        diff = (scores[HAM] - scores[SPAM]) / math.sqrt(len(feats))
        return 1.0 / (1.0 + math.exp(max(-50.0, min(50.0, diff))))
