"""Triggers: what happened to a mother that automation may start from.

Features publish (the stage job and the intake: a stage entered; the tag store: a tag added
or removed; the welcome: the channel code she came by; keywords: the rule that answered
her; tracked links: a click; later orders). Features subscribe (nurture sequences enrol and
end enrolments). Publishers and subscribers never import each other: both see this bus,
which the assembly puts in the services.

A subscriber that fails is logged and the rest still hear the trigger: a broken sequence
costs its own enrolment, never the message or the tag that fired it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

log = logging.getLogger(__name__)

# stage: value = the stage entered (detail "old": the one left, "" when none);
# tag / untag: value = the tag; channel: the code's name; keyword: the rule id;
# link: the link id; order: the product ("" when unknown).
TriggerKind = Literal["stage", "tag", "untag", "channel", "keyword", "link", "order"]


@dataclass(frozen=True, slots=True)
class Trigger:
    kind: TriggerKind
    contact_id: str
    value: str
    at: datetime
    # The account that talks to her, when the publisher knows it.
    account_id: str | None = None
    detail: Mapping[str, str] = field(default_factory=dict)


Subscriber = Callable[[Trigger], Awaitable[object]]


class Triggers:
    def __init__(self) -> None:
        self._subscribers: list[tuple[str, Subscriber]] = []

    def subscribe(self, name: str, subscriber: Subscriber) -> None:
        self._subscribers.append((name, subscriber))

    async def fire(self, trigger: Trigger) -> bool:
        """Tell every subscriber; False when one failed (the others still heard it). A
        publisher that can try again later (the daily stage job) does so on False."""
        heard = True
        for name, subscriber in self._subscribers:
            try:
                await subscriber(trigger)
            except Exception:
                log.exception("trigger %s: subscriber %s failed", trigger.kind, name)
                heard = False
        return heard
