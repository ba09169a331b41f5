"""Stage boundaries (where 孕早期 ends and 孕中期 begins, and so on) and the event of a
mother entering a stage.

The boundaries are configuration (`[stage]` in config.toml), so the core owns their shape;
the stage parser in flows/stage.py applies them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

# Every stage, in life order: profile.stage, the stage tags, content naming a stage.
STAGE_NAMES = ("备孕期", "孕早期", "孕中期", "孕晚期", "新生儿期", "婴儿期", "幼儿期", "学龄前期")


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
    account_id: str | None = None  # the account that talks to her, when known


StageListener = Callable[[StageEntered], Awaitable[object]]
