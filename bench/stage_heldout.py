"""The stage reader on tests/stage_heldout.tsv: phrasings written blind, never tuned against.

The table was written by someone who saw neither the parser nor tests/stage_cases.tsv,
with today = 2026-11-27. A row is right when the stage is the expected one and the due
date or birth date is within the row's tolerance (a null expected date asks for none; a
date the parser gives where none was expected is not held against it). "Wrong stage"
counts answers given a stage other than the right one, including a stage where the right
answer is none: the worst kind of error. "No stage" counts answers left unread.
"Confidently wrong" counts the wrong stages read with a confidence at or above
flows.stage.CONFIRM_BELOW (0.8): those become a tag without the intake confirming them
with her, so they are the figure that must stay near zero.

    .venv/bin/python bench/stage_heldout.py [TABLE] [-v]
prints `stage held-out: N/M right (P%), wrong stage W (Q%), no stage U, confidently wrong
C (R%)` and, with -v, each miss. TABLE may also be the dev table tests/stage_cases.tsv
(its own columns and `# today:` lines; its dates must match exactly).
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from flows.stage import CONFIRM_BELOW, parse_stage  # noqa: E402

TODAY = date(2026, 11, 27)
TABLE = REPO / "tests" / "stage_heldout.tsv"
DEV_HEADER = [
    "text",
    "hint",
    "stage",
    "due_date",
    "birth_date",
    "gestational_days",
    "baby_age_days",
    "children",
]


@dataclass(frozen=True)
class Row:
    line: int
    text: str
    hint: str | None
    stage: str | None
    due: date | None
    birth: date | None
    tolerance: int
    kind: str
    today: date = TODAY


def _value(cell: str) -> str | None:
    return None if cell in ("", "null") else cell


def load(path: Path = TABLE) -> list[Row]:
    lines = path.read_text(encoding="utf-8").splitlines()
    if lines[0].split("\t") == DEV_HEADER:
        return _load_dev(lines)
    assert lines[0].split("\t") == [
        "text",
        "hint",
        "stage",
        "due_date",
        "birth_date",
        "tolerance_days",
        "class",
    ], lines[0]
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip() or line.startswith("#"):
            continue
        text, hint, stage, due, birth, tolerance, kind = line.split("\t")
        rows.append(
            Row(
                number,
                text,
                _value(hint),
                _value(stage),
                date.fromisoformat(due) if _value(due) else None,
                date.fromisoformat(birth) if _value(birth) else None,
                int(tolerance) if tolerance.strip().isdigit() else 0,
                kind,
            )
        )
    return rows


def _load_dev(lines: list[str]) -> list[Row]:
    """tests/stage_cases.tsv: today is 2026-11-25 until a `# today: YYYY-MM-DD` line."""
    today, rows = date(2026, 11, 25), []
    for number, line in enumerate(lines[1:], start=2):
        if line.startswith("# today:"):
            today = date.fromisoformat(line.removeprefix("# today:").strip())
            continue
        if not line.strip() or line.startswith("#"):
            continue
        text, hint, stage, due, birth, *_ = line.split("\t")
        rows.append(
            Row(
                number,
                text,
                _value(hint),
                _value(stage),
                date.fromisoformat(due) if _value(due) else None,
                date.fromisoformat(birth) if _value(birth) else None,
                0,
                "dev",
                today,
            )
        )
    return rows


@dataclass(frozen=True)
class Outcome:
    row: Row
    stage: str | None
    due: date | None
    birth: date | None
    confidence: float = 0.0

    @property
    def wrong_stage(self) -> bool:
        return self.stage is not None and self.stage != self.row.stage

    @property
    def confidently_wrong(self) -> bool:
        """A wrong stage the intake would tag without asking her (see CONFIRM_BELOW)."""
        return self.wrong_stage and self.confidence >= CONFIRM_BELOW

    @property
    def unread(self) -> bool:
        return self.stage is None and self.row.stage is not None

    @property
    def right(self) -> bool:
        if self.stage != self.row.stage:
            return False
        for want, got in ((self.row.due, self.due), (self.row.birth, self.birth)):
            if want is not None and (got is None or abs((got - want).days) > self.row.tolerance):
                return False
        return True


def judge(rows: list[Row]) -> list[Outcome]:
    outcomes = []
    for row in rows:
        result = parse_stage(row.text, row.today, row.hint)  # type: ignore[arg-type]
        outcomes.append(
            Outcome(row, result.stage, result.due_date, result.birth_date, result.confidence)
        )
    return outcomes


def summary(outcomes: list[Outcome]) -> str:
    total = len(outcomes)
    right = sum(o.right for o in outcomes)
    wrong = sum(o.wrong_stage for o in outcomes)
    unread = sum(o.unread for o in outcomes)
    sure = sum(o.confidently_wrong for o in outcomes)
    return (
        f"stage held-out: {right}/{total} right ({100 * right / total:.1f}%), "
        f"wrong stage {wrong} ({100 * wrong / total:.1f}%), no stage {unread}, "
        f"confidently wrong {sure} ({100 * sure / total:.1f}%)"
    )


def main(argv: list[str]) -> int:
    paths = [a for a in argv if not a.startswith("-")]
    outcomes = judge(load(Path(paths[0]) if paths else TABLE))
    print(summary(outcomes))
    misses = Counter(o.row.kind for o in outcomes if not o.right)
    print("misses by class: " + ", ".join(f"{k} {n}" for k, n in misses.most_common()))
    if "-v" in argv:
        for o in outcomes:
            if not o.right:
                mark = "WRONG!" if o.confidently_wrong else "WRONG" if o.wrong_stage else "miss"
                print(
                    f"{mark} line {o.row.line} [{o.row.kind}] {o.row.text!r} hint={o.row.hint}: "
                    f"want {o.row.stage} {o.row.due or o.row.birth} ±{o.row.tolerance}, "
                    f"got {o.stage} {o.due or o.birth} ({o.confidence:.2f})"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
