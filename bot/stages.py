"""Stage boundaries (where 孕早期 ends and 孕中期 begins, and so on) and the event of a
mother entering a stage.

The boundaries are configuration (`[stage]` in config.toml), so the core owns their shape;
the stage parser in flows/stage.py applies them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class StageBoundaries:
    """Stage limits; defaults are the usual Chinese maternal-care ones."""

    middle_from_weeks: int = 13
    late_from_weeks: int = 28
    infant_from_days: int = 28
    toddler_from_years: int = 1
    preschool_from_years: int = 3
    preschool_until_years: int = 6


@dataclass(frozen=True)
class StageEntered:
    """A mother's stage changed: from the daily recompute, or from her own answer in a
    dialog. Nurture sequences start from it."""

    contact_id: str
    old: str | None
    new: str | None
    at: datetime


StageListener = Callable[[StageEntered], None]
