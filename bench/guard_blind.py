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


def main(argv: list[str]) -> int:
    shop = argv[argv.index("--shop") + 1] if "--shop" in argv else SHOP
    argv = [a for a in argv if a not in ("--shop", shop)]
    rules = load_content(REPO / "content").guard.guard
    rules = rules.model_copy(update={"allowed_domains": [*rules.allowed_domains, shop]})
    judge = Judge.from_examples(REPO / "content" / "guard_examples.tsv")
    ham_acted = kicked = caught = hams = spams = 0
    misses: Counter[str] = Counter()
    lines = []
    paths = [a for a in argv if not a.startswith("-")]
    for label, kind, text in load(Path(paths[0]) if paths else TABLE):
        if kind.startswith("owner_"):
            continue
        verdict = judge.judge(text, rules)
        acted = verdict.verdict != PASS
        if label == "ham":
            hams += 1
            ham_acted += acted
            kicked += verdict.verdict == KICK
            if acted:
                misses[f"ham/{kind}"] += 1
                lines.append(f"false alarm [{kind}] {verdict.verdict} {verdict.reasons}: {text}")
        else:
            spams += 1
            caught += acted
            if not acted:
                misses[f"spam/{kind}"] += 1
                lines.append(f"missed [{kind}]: {text}")
    precision = caught / (caught + ham_acted) if caught + ham_acted else 1.0
    recall = caught / spams if spams else 1.0
    print(
        f"guard blind: precision {precision:.3f} recall {recall:.3f} "
        f"(ham acted on {ham_acted}/{hams}, kicked {kicked}; spam caught {caught}/{spams})"
    )
    print("misses by class: " + ", ".join(f"{k} {n}" for k, n in misses.most_common()))
    if "-v" in argv:
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
