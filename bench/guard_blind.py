"""The guard on tests/guard_blind_issue12.tsv: group messages written blind (issue 12).

The set was written by someone who saw neither the guard nor its corpus. The brand's shop
(shop.babyjoy.cn, or the one `--shop DOMAIN` names: each table's writer invented one) is
added to the allowed domains, as its ops would. Rows of a class starting with owner_
(owner_notice, owner_tuangou_notice) come from the group's owner, whom the guard never
judges: they are left out. A ham row acted on (warned or kicked) is a false alarm; a spam
row acted on is caught.

    .venv/bin/python bench/guard_blind.py [TABLE] [--shop DOMAIN] [-v]
prints `guard blind: precision P recall R (ham acted on A/H, kicked K; spam caught C/S)`
and the misses by class; with -v each miss.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.config import load_content  # noqa: E402
from handlers.guard.judge import KICK, PASS, Judge  # noqa: E402

TABLE = REPO / "tests" / "guard_blind_issue12.tsv"
SHOP = "shop.babyjoy.cn"


def load(path: Path = TABLE) -> list[tuple[str, str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].split("\t") == ["label", "class", "text"], lines[0]
    rows = []
    for line in lines[1:]:
        if line.strip() and not line.startswith("#"):
            label, kind, text = line.split("\t")
            rows.append((label, kind, text))
    return rows


@dataclass
class Tally:
    hams: int = 0
    spams: int = 0
    ham_acted: int = 0
    kicked: int = 0
    caught: int = 0
    misses: Counter[str] = field(default_factory=Counter)
    lines: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        acted = self.caught + self.ham_acted
        return self.caught / acted if acted else 1.0

    @property
    def recall(self) -> float:
        return self.caught / self.spams if self.spams else 1.0


def evaluate(path: Path = TABLE, shop: str = SHOP) -> Tally:
    """The guard's verdicts on a table, as a regular member's messages (no history)."""
    rules = load_content(REPO / "content").guard.guard
    rules = rules.model_copy(update={"allowed_domains": [*rules.allowed_domains, shop]})
    judge = Judge.from_examples(REPO / "content" / "guard_examples.tsv")
    t = Tally()
    for label, kind, text in load(path):
        if kind.startswith("owner_"):
            continue
        verdict = judge.judge(text, rules)
        acted = verdict.verdict != PASS
        if label == "ham":
            t.hams += 1
            t.ham_acted += acted
            t.kicked += verdict.verdict == KICK
            if acted:
                t.misses[f"ham/{kind}"] += 1
                t.lines.append(f"false alarm [{kind}] {verdict.verdict} {verdict.reasons}: {text}")
        else:
            t.spams += 1
            t.caught += acted
            if not acted:
                t.misses[f"spam/{kind}"] += 1
                t.lines.append(f"missed [{kind}]: {text}")
    return t


def main(argv: list[str]) -> int:
    shop = argv[argv.index("--shop") + 1] if "--shop" in argv else SHOP
    argv = [a for a in argv if a not in ("--shop", shop)]
    paths = [a for a in argv if not a.startswith("-")]
    t = evaluate(Path(paths[0]) if paths else TABLE, shop)
    print(
        f"guard blind: precision {t.precision:.3f} recall {t.recall:.3f} "
        f"(ham acted on {t.ham_acted}/{t.hams}, kicked {t.kicked}; "
        f"spam caught {t.caught}/{t.spams})"
    )
    print("misses by class: " + ", ".join(f"{k} {n}" for k, n in t.misses.most_common()))
    if "-v" in argv:
        print("\n".join(t.lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
