"""Health-risk detection (being built): a message in, a risk (or None) out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.config import CareContent

Severity = Literal["urgent", "crisis", "concern", "loss"]


@dataclass(frozen=True, slots=True)
class Risk:
    severity: Severity
    reason: str  # short, for the staff: what was read (高烧+抽搐, 见红 ...)


class Detector:
    def __init__(self, content: CareContent) -> None:
        self.content = content

    def detect(self, text: str) -> Risk | None:
        return None
