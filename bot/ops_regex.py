"""Regular expressions written by ops (keywords.toml `regex` rules), run on RE2.

Python's `re` backtracks: a pattern `mamabot check` accepts, such as `(\\w+\\s?)+吗$`, took
8 s on a 26-character message, and one such message froze every chat. RE2 (google-re2)
matches in time linear in the message whatever the pattern; the price is that it refuses
back-references, lookahead / lookbehind, atomic groups and possessive quantifiers.
`compile_ops` refuses those with a message that says what to change.

Ops write Python syntax and expect Python's meaning, so the pattern is translated first:
- `\\d`, `\\w`, `\\s` (and `\\D`, `\\W`, `\\S`) mean what they mean in Python, Unicode-wide
  (RE2's are ASCII-only: its `\\w` would not match 宝宝);
- `\\Z` is RE2's `\\z`, `\\uXXXX` / `\\UXXXXXXXX` are `\\x{...}`, `{,n}` is `{0,n}`.
`\\b` and `\\B` stay RE2's: only ASCII letters, digits and `_` count as word characters.
Patterns are case-insensitive and capture nothing (a rule only asks whether it matches).
"""

from __future__ import annotations

import re

import re2

# Python's Unicode classes, spelled for RE2.
_SPACE = r"\t-\r\x1c-\x1f\x{85}\p{Z}"  # str.isspace()
_WORD = r"\p{L}\p{N}_"  # str.isalnum() or "_"
_OUTSIDE = {
    "d": r"\p{Nd}",
    "D": r"\P{Nd}",
    "w": f"[{_WORD}]",
    "W": f"[^{_WORD}]",
    "s": f"[{_SPACE}]",
    "S": f"[^{_SPACE}]",
}
_INSIDE = {"d": r"\p{Nd}", "D": r"\P{Nd}", "w": _WORD, "s": _SPACE}
_HEX = re.compile(r"[0-9a-fA-F]+")

# The constructs RE2 refuses, as written in the pattern, and what ops should do instead.
_REFUSED = (
    (re.compile(r"\\[1-9]"), "back-references (\\1, \\2 ...) are not supported"),
    (re.compile(r"\(\?P="), "back-references by name ((?P=name)) are not supported"),
    (re.compile(r"\(\?="), "lookahead (?=...) is not supported: match the text itself instead"),
    (re.compile(r"\(\?!"), "negative lookahead (?!...) is not supported: narrow the pattern"),
    (re.compile(r"\(\?<="), "lookbehind (?<=...) is not supported: match the text itself"),
    (re.compile(r"\(\?<!"), "negative lookbehind (?<!...) is not supported: narrow the pattern"),
    (re.compile(r"\(\?>"), "atomic groups (?>...) are not supported: use a plain group (...)"),
    (re.compile(r"\(\?\("), "conditional groups (?(...)...) are not supported"),
)
# ... and as RE2 says it.
_RE2_SAYS = (
    ("bad repetition operator", "a quantifier may not follow a quantifier (*+, ++, ?+, **)"),
    ("invalid repetition size", "a repeat count {n,m} may not exceed 1000"),
    ("pattern too large", "the pattern is too large: use smaller repeat counts"),
)
_WHY = "regexes run on RE2, so that no message can freeze the bot"


class OpsPatternError(ValueError):
    """A pattern that cannot be used: `verdict` completes "pattern ..." ("is not a valid
    regular expression", "cannot be used") and `advice` says what to change."""

    def __init__(self, advice: str, verdict: str = "cannot be used") -> None:
        super().__init__(f"{verdict}: {advice}")
        self.verdict = verdict
        self.advice = advice


def options() -> re2.Options:
    opts = re2.Options()
    opts.case_sensitive = False
    opts.never_capture = True
    opts.log_errors = False  # the refusal is reported to ops, not logged to stderr
    return opts


def compile_ops(pattern: str) -> re2._Regexp:
    """The pattern compiled with RE2 (Python meaning, see the module docstring), or
    OpsPatternError saying what to change."""
    translated = translate(pattern)
    try:
        return re2.compile(translated, options())
    except re2.error as exc:
        raise explain(pattern, exc) from None


def explain(pattern: str, exc: Exception) -> OpsPatternError:
    """Why RE2 refused a pattern, for the ops person who wrote it."""
    detail = exc.args[0] if exc.args else exc
    detail = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
    for construct, advice in _REFUSED:
        if construct.search(pattern):
            return OpsPatternError(f"{advice}; {_WHY}")
    for marker, advice in _RE2_SAYS:
        if marker in detail:
            return OpsPatternError(f"{advice}; {_WHY}")
    try:
        re.compile(pattern)
    except re.error as py_exc:
        return OpsPatternError(str(py_exc), "is not a valid regular expression")
    return OpsPatternError(f"RE2 says {detail}; {_WHY}")


def translate(pattern: str) -> str:
    """Python's regex syntax and meaning, in RE2's spelling."""
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    class_open = -1  # where the current [...] started (a "]" right after it is literal)
    while i < n:
        char = pattern[i]
        if char == "\\" and i + 1 < n:
            code = pattern[i + 1]
            i += 2
            if in_class and code in "WS":
                raise OpsPatternError(
                    f"\\{code} inside [...] is not supported: write [^...] with what it "
                    f"must not match instead"
                )
            if code in _OUTSIDE:
                out.append(_INSIDE[code] if in_class else _OUTSIDE[code])
            elif code == "Z":
                out.append(r"\z")
            elif code in "uU":
                width = 4 if code == "u" else 8
                digits = pattern[i : i + width]
                if len(digits) != width or not _HEX.fullmatch(digits):
                    raise OpsPatternError(f"\\{code} needs {width} hexadecimal digits")
                out.append(f"\\x{{{digits}}}")
                i += width
            else:
                out.append("\\" + code)
            continue
        if in_class:
            if char == "]" and i > class_open:
                in_class = False
            out.append(char)
            i += 1
            continue
        if char == "[":
            in_class = True
            start = i + 1
            if pattern.startswith("^", start):
                start += 1
            class_open = start  # a "]" at `start` is a literal member
            out.append(pattern[i:start])
            i = start
            continue
        if char == "{" and pattern.startswith("{,", i):
            out.append("{0,")
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)
