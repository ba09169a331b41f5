"""A small multinomial naive Bayes over jieba words and character bigrams.

Features come from the folded text (handlers/guard/normalize.py), so "加 薇 ❤ 信" and
"加微信" look the same to the model. It is trained at start from content/guard_examples.tsv
plus the admins' #垃圾 / #正常 feedback, in well under a second for a few thousand rows, and
holds a few hundred kilobytes of counts. (scikit-learn's MultinomialNB would give the same
model at the cost of numpy, scipy and about a second of imports; see the issue notes.)
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Iterable

from bot.text import words
from handlers.guard.normalize import fold

SPAM, HAM = "spam", "ham"


def features(text: str) -> frozenset[str]:
    """The distinct features of a text. Group chat repeats itself (收到, 谢谢, 好的好的), so
    the last few thousand texts' features are kept: jieba is most of the model's cost."""
    return _features(fold(text))


@functools.lru_cache(maxsize=4096)
def _features(folded: str) -> frozenset[str]:
    grams = [folded[i : i + 2] for i in range(len(folded) - 1)]
    tokens = [f"w:{w}" for w in words(folded, hmm=False) if len(w) > 1]
    if not grams and folded:
        grams = [folded]
    return frozenset(grams + tokens)


class NaiveBayes:
    """Multinomial naive Bayes over feature presence with Laplace smoothing `alpha`.

    Per feature it keeps log(ham count + alpha) - log(spam count + alpha), updated for the
    features of each text learned, so judging a text is one dictionary lookup and one
    addition per feature; the denominators are two numbers computed once per call.
    """

    def __init__(self, alpha: float = 0.5) -> None:
        self.alpha = alpha
        self.counts: dict[str, Counter[str]] = {SPAM: Counter(), HAM: Counter()}
        self.totals = {SPAM: 0, HAM: 0}
        self.docs = {SPAM: 0, HAM: 0}
        self.ratio: dict[str, float] = {}  # the vocabulary, with each feature's log ratio

    def learn(self, text: str, label: str) -> None:
        feats = features(text)  # presence, not counts: a repeated word is no proof
        counts = self.counts[label]
        counts.update(feats)
        self.totals[label] += len(feats)
        self.docs[label] += 1
        spam, ham, alpha = self.counts[SPAM], self.counts[HAM], self.alpha
        for feat in feats:
            self.ratio[feat] = math.log(ham[feat] + alpha) - math.log(spam[feat] + alpha)

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
        ratio = self.ratio
        known = [ratio[f] for f in features(text) if f in ratio]
        if not known:
            return 0.0
        vocabulary = len(ratio)
        denominators = math.log(self.totals[HAM] + self.alpha * vocabulary) - math.log(
            self.totals[SPAM] + self.alpha * vocabulary
        )
        prior = math.log(self.docs[HAM] / self.docs[SPAM])
        diff = (prior + sum(known) - len(known) * denominators) / math.sqrt(len(known))
        return 1.0 / (1.0 + math.exp(max(-50.0, min(50.0, diff))))
