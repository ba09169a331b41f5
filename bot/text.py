"""Text helpers shared by the matchers: normalisation and jieba word boundaries.

Matching is done on normalised text so that full-width letters and digits, case and runs
of spaces do not decide whether a rule fires. Word segmentation uses one process-wide jieba
tokenizer, loaded on first use (about half a second), and never mutated: rules do not add
words to its dictionary, so every index can share it.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata

import jieba

jieba.setLogLevel(logging.WARNING)

_SPACES = re.compile(r"\s+")
_tokenizer: jieba.Tokenizer | None = None
_tokenizer_lock = threading.Lock()


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """Text both databases accept: no NUL (PostgreSQL refuses it in text and JSON) and no
    lone surrogate (neither encodes it as UTF-8), each replaced by U+FFFD."""
    return _UNSTORABLE.sub("\ufffd", text) if _UNSTORABLE.search(text) else text


def normalize(text: str) -> str:
    """NFKC (full-width to half-width), casefold, and collapse whitespace to one space."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def strip_punctuation(text: str) -> str:
    """Drop punctuation, symbols and spaces at both ends ("群规？" -> "群规")."""
    start, end = 0, len(text)
    while start < end and _is_edge(text[start]):
        start += 1
    while end > start and _is_edge(text[end - 1]):
        end -= 1
    return text[start:end]


def as_word(text: str) -> str:
    """A whole message as a word to compare: normalised, punctuation around it dropped
    ("跳过！" -> "跳过", "ＴＤ" -> "td")."""
    return strip_punctuation(normalize(text))


def _is_edge(char: str) -> bool:
    return char.isspace() or unicodedata.category(char)[0] in "PSZ"


def tokenizer() -> jieba.Tokenizer:
    global _tokenizer
    if _tokenizer is None:
        with _tokenizer_lock:
            if _tokenizer is None:
                tok = jieba.Tokenizer()
                tok.initialize()
                _tokenizer = tok
    return _tokenizer


def words(text: str, hmm: bool = True) -> list[str]:
    """jieba words of the text, spaces dropped. hmm=False skips the HMM pass for unknown
    words: about twice as fast, for callers that only need a stable segmentation."""
    return [w for w in tokenizer().lcut(text, HMM=hmm) if not w.isspace()]


def word_boundaries(text: str) -> set[int]:
    """Offsets in text where a jieba word starts or ends."""
    edges: set[int] = set()
    for _word, start, end in tokenizer().tokenize(text):
        edges.add(start)
        edges.add(end)
    return edges
