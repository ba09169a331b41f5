"""The care feature: its handler (text in groups and DMs, before the admin commands), its
content (content/care.toml), the `care_remind` work, and the detector for the content in
force (rebuilt when ops edit care.toml)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.config import CareContent
from bot.events import MessageReceived, MessageType
from bot.features import Feature, On, Platform
from bot.handler import ContentSource
from bot.permissions import Permissions
from handlers.care.detect import Detector
from handlers.care.handler import (
    CARE_REMIND,
    TAKEOVER_ENDS,
    Alerts,
    CareHandler,
    Detects,
    Reminders,
    StaffCommands,
    TakeoverEnds,
)
from storage import care
from storage.kv import KV

DetectorFactory = Callable[[CareContent], Detects]


class CurrentDetector:
    """The detector for the content in force: built again only when care.toml changed."""

    def __init__(self, make: DetectorFactory, content: ContentSource) -> None:
        self.make = make
        self.content = content
        self._for: CareContent | None = None
        self._detector: Detects | None = None

    def __call__(self) -> Detects:
        care = self.content.current.care
        if self._detector is None or care is not self._for:
            self._detector, self._for = self.make(care), care
        return self._detector


def _nurture(p: Platform) -> Any | None:
    """Nurture's object (an app built without nurture has none)."""
    try:
        return p.need("nurture", "nurture")
    except KeyError:
        return None


def feature(p: Platform, detector: DetectorFactory = Detector) -> Feature:
    """`detector`: how a detector is made from the content (tests give a fake one)."""
    s = p.services
    assert s.work is not None
    reminders = Reminders(s, s.work)
    handler = CareHandler(
        CurrentDetector(detector, s.content),
        Alerts(reminders, _nurture(p)),
        StaffCommands(p.self_ids),
        Permissions(p.self_ids),
    )

    async def forget(contact: str, _kv: KV | None) -> dict[str, int]:
        return await care.forget_messages(contact, CARE_REMIND, s.clock.now())

    return Feature(
        name="care",
        forget=forget,
        handlers=[(handler, On((MessageReceived,), types=(MessageType.TEXT,)))],
        content={"care.toml": CareContent},
        work={CARE_REMIND: reminders.run, TAKEOVER_ENDS: TakeoverEnds(s).run},
        exports={"handler": handler},
    )
