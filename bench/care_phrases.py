"""The care detector on a phrase table: what each label is read as, and how fast.

A table is `label<TAB>text<TAB>note` (a `label text note` header and `#` lines are skipped),
labels urgent, crisis, loss, concern, none. Recall counts urgent, crisis and loss rows read
as exactly their severity, or as a more serious one (crisis over urgent, urgent over loss);
a false escalation is a none row read as any severity. Concern rows read as concern or
higher are counted, not required.

    .venv/bin/python bench/care_phrases.py tests/care_phrases.tsv [-v]
prints one figure per line and, with -v, each miss and each false escalation.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.config import CareContent  # noqa: E402
from handlers.care.detect import RANK, Detector  # noqa: E402

LABELS = ("urgent", "crisis", "loss", "concern", "none")
RISKS = ("urgent", "crisis", "loss")
# What a risk row may be read as and still count: the right severity or a graver one
# that still sends her to a person at once.
ACCEPTED = {
    "urgent": {"urgent", "crisis"},
    "crisis": {"crisis"},
    "loss": {"loss", "crisis", "urgent"},
    "concern": {"concern", "loss", "urgent", "crisis"},
    "none": {"none"},
}


@dataclass(frozen=True)
class Row:
    line: int
    label: str
    text: str
    note: str


def load(path: Path) -> list[Row]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#") or line.startswith("label\t"):
            continue
        label, text, *rest = line.split("\t")
        if label not in LABELS:
            raise ValueError(f"{path}:{number}: unknown label {label!r}")
        rows.append(Row(number, label, text, rest[0] if rest else ""))
    return rows


@dataclass(frozen=True)
class Outcome:
    row: Row
    read: str
    reason: str
    seconds: float

    @property
    def right(self) -> bool:
        return self.read in ACCEPTED[self.row.label]


def judge(rows: list[Row], detector: Detector | None = None) -> list[Outcome]:
    detector = detector or Detector(CareContent())
    detector.detect("宝宝发烧39度")  # load jieba before timing
    outcomes = []
    for row in rows:
        began = time.perf_counter()
        risk = detector.detect(row.text)
        spent = time.perf_counter() - began
        read, reason = (risk.severity, risk.reason) if risk else ("none", "")
        outcomes.append(Outcome(row, read, reason, spent))
    return outcomes


def figures(outcomes: list[Outcome]) -> list[str]:
    lines = []
    for label in LABELS:
        mine = [o for o in outcomes if o.row.label == label]
        if not mine:
            continue
        read = Counter(o.read for o in mine)
        spread = ", ".join(f"{sev} {read[sev]}" for sev in LABELS if read[sev])
        lines.append(f"{label}: {len(mine)} rows, read as {spread}")
    risky = [o for o in outcomes if o.row.label in RISKS]
    if risky:
        found = sum(o.right for o in risky)
        lines.append(
            f"recall urgent+crisis+loss: {found}/{len(risky)} ({100 * found / len(risky):.1f}%)"
        )
    for label in RISKS:
        mine = [o for o in outcomes if o.row.label == label]
        if mine:
            exact = sum(o.read == label for o in mine)
            lines.append(f"{label} read exactly: {exact}/{len(mine)}")
    concern = [o for o in outcomes if o.row.label == "concern"]
    if concern:
        lines.append(
            f"concern read as concern or higher: {sum(o.right for o in concern)}/{len(concern)}"
        )
    none = [o for o in outcomes if o.row.label == "none"]
    if none:
        false = sum(o.read != "none" for o in none)
        lines.append(f"false escalations of none rows: {false}/{len(none)}")
    times = sorted(o.seconds * 1e6 for o in outcomes)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    lines.append(f"time per message: median {statistics.median(times):.0f} us")
    lines.append(f"time per message: p99 {p99:.0f} us")
    return lines


def misses(outcomes: list[Outcome]) -> list[str]:
    lines = []
    for o in outcomes:
        if o.right:
            continue
        graver = RANK.get(o.read, 0) > RANK.get(o.row.label, 0)
        mark = "FALSE" if o.row.label == "none" else "higher" if graver else "MISS"
        lines.append(
            f"{mark} line {o.row.line} [{o.row.label}] {o.row.text!r}: read {o.read} {o.reason}"
        )
    return lines


def main(argv: list[str]) -> int:
    paths = [a for a in argv if not a.startswith("-")]
    if len(paths) != 1:
        print(__doc__)
        return 2
    outcomes = judge(load(Path(paths[0])))
    print("\n".join(figures(outcomes)))
    if "-v" in argv:
        print("\n".join(misses(outcomes)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
