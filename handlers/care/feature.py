"""The care feature (being built)."""

from __future__ import annotations

from bot.config import CareContent
from bot.features import Feature, Platform


def feature(p: Platform) -> Feature:
    return Feature(name="care", content={"care.toml": CareContent})
