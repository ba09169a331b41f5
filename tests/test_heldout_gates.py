"""The tables written blind (stage, guard, care) as gates: what the code reads on them now
is a floor that a change may not fall below.

Each table was written by someone who saw neither the code nor the earlier tables, and
measured once before anything was changed for it (docs/benchmarks.md has those first
figures). Since then the misses of most were fixed by class, so these floors are no longer
blind figures: they keep a later change from undoing what was learnt. They are floors, not
targets: nothing is ever tuned on a row of these tables. The floors allow one row of slack
where a class fix elsewhere may trade one reading for another; a kicked mother or a new
confidently wrong stage beyond them fails at once.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"


def bench(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # its dataclasses look it up
    spec.loader.exec_module(module)
    return module


# table: (right at least, confidently wrong at most, wrong stage at most)
STAGE_FLOORS = {
    "stage_heldout.tsv": (229, 4, 10),  # never tuned on: 230 right, 4 sure and wrong, 9 wrong
    "stage_blind2.tsv": (267, 1, 4),
    "stage_blind3.tsv": (282, 1, 4),
    "stage_blind4.tsv": (310, 1, 5),
    "stage_blind5.tsv": (307, 1, 8),
}


@pytest.mark.parametrize("table", sorted(STAGE_FLOORS))
def test_stage_tables_hold_their_floor(table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    b = bench("stage_heldout", monkeypatch)
    outcomes: list[Any] = b.judge(b.load(TESTS / table))
    right = sum(o.right for o in outcomes)
    sure = sum(o.confidently_wrong for o in outcomes)
    wrong = sum(o.wrong_stage for o in outcomes)
    least, most_sure, most_wrong = STAGE_FLOORS[table]
    assert (right >= least, sure <= most_sure, wrong <= most_wrong) == (True, True, True), (
        b.summary(outcomes)
    )


# table: (shop domain its writer invented, ham acted on at most, spam caught at least)
GUARD_FLOORS = {
    "guard_blind_issue12.tsv": ("shop.babyjoy.cn", 2, 120),
    "guard_blind2.tsv": ("shop.babyjoy.cn", 2, 110),
    "guard_blind3.tsv": ("shop.babyjoy.cn", 1, 127),
    "guard_blind4.tsv": ("shop.mamababy.cn", 2, 146),
    "guard_blind5.tsv": ("m.bebecare.cn", 3, 148),
}


@pytest.mark.parametrize("table", sorted(GUARD_FLOORS))
def test_guard_tables_hold_their_floor_and_kick_no_mother(
    table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop, most_ham, least_caught = GUARD_FLOORS[table]
    t = bench("guard_blind", monkeypatch).evaluate(TESTS / table, shop)
    assert t.kicked == 0, t.lines
    assert (t.ham_acted <= most_ham, t.caught >= least_caught) == (True, True), (
        t.ham_acted,
        t.caught,
        t.lines,
    )


# table: (risk rows found at least, everyday rows escalated at most)
CARE_FLOORS = {
    "care_blind.tsv": (163, 0),
    "care_blind2.tsv": (153, 1),
    "care_blind3.tsv": (136, 9),
    "care_blind4.tsv": (167, 13),
    "care_blind5.tsv": (168, 6),
}


@pytest.mark.parametrize("table", sorted(CARE_FLOORS))
def test_care_tables_hold_their_floor(table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    b = bench("care_phrases", monkeypatch)
    outcomes: list[Any] = b.judge(b.load(TESTS / table))
    found = sum(o.right for o in outcomes if o.row.label in b.RISKS)
    false = sum(o.read != "none" for o in outcomes if o.row.label == "none")
    least, most_false = CARE_FLOORS[table]
    assert (found >= least, false <= most_false) == (True, True), b.figures(outcomes)
