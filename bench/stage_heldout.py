"""The stage reader on tests/stage_heldout.tsv: phrasings written blind, never tuned against.

The table was written by someone who saw neither the parser nor tests/stage_cases.tsv,
with today = 2026-11-27. A row is right when the stage is the expected one and the due
date or birth date is within the row's tolerance (a null expected date asks for none; a
date the parser gives where none was expected is not held against it). "Wrong stage"
counts answers given a stage other than the right one, including a stage where the right
answer is none: the worst kind of error. "No stage" counts answers left unread.

    .venv/bin/python bench/stage_heldout.py [TABLE] [-v]
prints `stage held-out: N/M right (P%), wrong stage W (Q%), no stage U` and, with -v,
each miss.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from flows.stage import parse_stage  # noqa: E402

TODAY = date(2026, 11, 27)
TABLE = REPO / "tests" / "stage_heldout.tsv"


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


def _value(cell: str) -> str | None:
    return None if cell in ("", "null") else cell


def load(path: Path = TABLE) -> list[Row]:
    lines = path.read_text(encoding="utf-8").splitlines()
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


@dataclass(frozen=True)
class Outcome:
    row: Row
    stage: str | None
    due: date | None
    birth: date | None

    @property
    def wrong_stage(self) -> bool:
        return self.stage is not None and self.stage != self.row.stage

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
        result = parse_stage(row.text, TODAY, row.hint)  # type: ignore[arg-type]
        outcomes.append(Outcome(row, result.stage, result.due_date, result.birth_date))
    return outcomes


def summary(outcomes: list[Outcome]) -> str:
    total = len(outcomes)
    right = sum(o.right for o in outcomes)
    wrong = sum(o.wrong_stage for o in outcomes)
    unread = sum(o.unread for o in outcomes)
    return (
        f"stage held-out: {right}/{total} right ({100 * right / total:.1f}%), "
        f"wrong stage {wrong} ({100 * wrong / total:.1f}%), no stage {unread}"
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
                mark = "WRONG" if o.wrong_stage else "miss"
                print(
                    f"{mark} line {o.row.line} [{o.row.kind}] {o.row.text!r} hint={o.row.hint}: "
                    f"want {o.row.stage} {o.row.due or o.row.birth} ±{o.row.tolerance}, "
                    f"got {o.stage} {o.due or o.birth}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
