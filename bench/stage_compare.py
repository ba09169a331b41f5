"""Our stage parser against two general time parsers, on the phrase table of the tests.

For every phrasing in tests/stage_cases.tsv whose expected result holds a date (a due date
or a birth date), each parser gets the text and today (2026-11-25, as in the table) and
scores when the date it finds is the expected one:

- mamabot: flows.stage.parse_stage (the hint the bot asked with, as in the table);
- JioNLP: jionlp.parse_time; right when the expected day lies in the time point or span it
  returns (so "明年五月初" read as 5/1-5/5 counts, whatever day we would pick in it);
- dateparser: dateparser.search.search_dates with languages=["zh"], the first date found.

The two libraries are not dependencies (JioNLP alone is a large download): install them in
the venv to run this (`.venv/bin/pip install jionlp dateparser`); a missing one is
reported and skipped. Prints one line per parser:

    <name>: <correct>/<cases> dates right (<pct>%; dates <a>/<n>, weeks and ages <b>/<m>), <µs> µs/phrase

and then the held-out table's totals (bench/stage_heldout.py without -v).

"dates" are phrasings that name a calendar date or month (2027年3月15日, 明年五月初,
3/15); "weeks and ages" are the rest (孕24周+3天, 宝宝8个月, 刚满月, 下个月就生了).
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flows.stage import parse_stage

REPO = Path(__file__).resolve().parent.parent
TODAY = date(2026, 11, 25)


def cases() -> list[tuple[str, str, date]]:
    """(text, hint, the expected date) for every row that expects a date."""
    out = []
    for line in (REPO / "tests" / "stage_cases.tsv").read_text("utf-8").splitlines()[1:]:
        if not line.strip() or line.startswith("#"):
            continue
        text, hint, _stage, due, birth, *_ = line.split("\t")
        expected = due if due != "null" else birth
        if expected != "null":
            out.append((text, hint, date.fromisoformat(expected)))
    return out


def ours(text: str, hint: str) -> date | None:
    result = parse_stage(text, TODAY, hint or None)  # type: ignore[arg-type]
    return result.due_date or result.birth_date


Parse = Callable[[str, str, date], bool]  # (text, hint, expected) -> right?


def jionlp_parser() -> Parse | None:
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            import jionlp
    except ImportError:
        return None
    base = time.mktime(datetime(2026, 11, 25, 12).timetuple())

    def right(text: str, hint: str, expected: date) -> bool:
        try:
            found = jionlp.parse_time(text, time_base=base)
            first, last = found["time"][0], found["time"][1]
            start = datetime.fromisoformat(first).date()
            end = datetime.fromisoformat(last).date()
        except Exception:  # no time in the text, a delta, or a date it cannot write
            return False
        return found.get("type") in ("time_point", "time_span") and start <= expected <= end

    return right


def dateparser_parser() -> Parse | None:
    try:
        from dateparser.search import search_dates
    except ImportError:
        return None
    settings = {"RELATIVE_BASE": datetime(2026, 11, 25, 12)}

    def right(text: str, hint: str, expected: date) -> bool:
        found = search_dates(text, languages=["zh"], settings=settings)  # type: ignore[arg-type]
        return bool(found) and found[0][1].date() == expected

    return right


def ours_right(text: str, hint: str, expected: date) -> bool:
    return ours(text, hint) == expected


_CALENDAR = re.compile(
    r"\d+\s*[-/.／]\s*\d+|[0-9〇零一二两三四五六七八九十]+\s*月(?!子)\s*(?:份|[0-9一二三四五六七八九十初中下上底末]|$)"
    r"|年|号|日"
)


def main() -> None:
    table = cases()
    verbose = "-v" in sys.argv[1:]
    parsers: list[tuple[str, Parse | None]] = [
        ("mamabot", ours_right),
        ("JioNLP", jionlp_parser()),
        ("dateparser", dateparser_parser()),
    ]
    calendar = [bool(_CALENDAR.search(text)) for text, _, _ in table]
    for name, right in parsers:
        if right is None:
            print(f"{name}: not installed, skipped")
            continue
        right(*table[0])  # warm: dictionaries, models
        hits = []
        start = time.perf_counter()
        for text, hint, expected in table:
            hits.append(right(text, hint, expected))
            if verbose and not hits[-1]:
                print(f"  {name} missed: {text} (expected {expected})")
        per = (time.perf_counter() - start) * 1e6 / len(table)
        dates = [h for h, c in zip(hits, calendar, strict=True) if c]
        ages = [h for h, c in zip(hits, calendar, strict=True) if not c]
        print(
            f"{name}: {sum(hits)}/{len(table)} dates right ({100 * sum(hits) / len(table):.0f}%; "
            f"dates {sum(dates)}/{len(dates)}, weeks and ages {sum(ages)}/{len(ages)}), "
            f"{per:.0f} µs/phrase"
        )


def heldout() -> None:
    """The held-out table (tests/stage_heldout.tsv, written blind): totals and misses by
    class only, never the rows, so that nobody tunes against it."""
    from collections import Counter

    import stage_heldout  # bench/stage_heldout.py, next to this script

    outcomes = stage_heldout.judge(stage_heldout.load())
    print(stage_heldout.summary(outcomes))
    misses = Counter(o.row.kind for o in outcomes if not o.right)
    print("  misses by class: " + ", ".join(f"{k} {n}" for k, n in misses.most_common()))


if __name__ == "__main__":
    main()
    heldout()
