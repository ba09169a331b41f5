"""Stage boundaries: where 孕早期 ends and 孕中期 begins, and so on.

They are configuration (`[stage]` in config.toml), so the core owns their shape; the stage
parser in flows/stage.py applies them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StageBoundaries:
    """Stage limits; defaults are the usual Chinese maternal-care ones."""

    middle_from_weeks: int = 13
    late_from_weeks: int = 28
    infant_from_days: int = 28
    toddler_from_years: int = 1
    preschool_from_years: int = 3
    preschool_until_years: int = 6
