"""What storage needs of a clock: "now", as an aware datetime.

Storage expires keys and stamps rows on the clock it is given, never on the wall clock. It
declares the little it uses here instead of importing the core's clock, so the layer below
stays below; `bot.clock`'s clocks satisfy this protocol as they are.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Protocol


class Clock(Protocol):
    @property
    def tz(self) -> tzinfo: ...

    def now(self) -> datetime:
        """An aware datetime in the clock's timezone."""
        ...
