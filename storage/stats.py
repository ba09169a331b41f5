"""Counts over a group for the admins' #统计: messages, active members, joins and leaves,
and the guard's warnings and removals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage import guard
from storage.models import Interaction


@dataclass(frozen=True, slots=True)
class RoomActivity:
    messages: int
    active: int  # members who sent at least one message
    joins: int
    leaves: int
    warnings: int
    kicks: int


async def room_activity(room: str, since: datetime) -> RoomActivity:
    """What happened in the group from `since` on."""
    messages = Interaction.filter(room_id=room, kind="message", at__gte=since)
    return RoomActivity(
        messages=await messages.count(),
        active=len(set(await messages.values_list("contact_id", flat=True))),
        # Join and leave events, not roster stints: a roster refreshed from the member
        # list opens and closes stints for what happened unseen, at the refresh.
        joins=await Interaction.filter(room_id=room, kind="join", at__gte=since).count(),
        leaves=await Interaction.filter(room_id=room, kind="leave", at__gte=since).count(),
        warnings=await guard.actions_since(room, since, "warn"),
        kicks=await guard.actions_since(room, since, "kick"),
    )
