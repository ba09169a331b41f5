"""A member's standing in a group, for the guard's rule that an established member is
warned before any kick (issue 12): whether she has been in the group since a given time
and whether she has said enough there. Read only for a message that would be kicked."""

from __future__ import annotations

from datetime import datetime

from storage.models import Interaction, RoomMembership


async def established(room_id: str, contact_id: str, since: datetime, messages: int) -> bool:
    """Whether she has been in `room_id` since `since` or before (an open stint that
    started then, or a message of hers there), or has sent at least `messages` messages
    there (0 switches that test off)."""
    present = await RoomMembership.filter(
        room_id=room_id, contact_id=contact_id, left_at__isnull=True, joined_at__lte=since
    ).exists()
    if present:
        return True
    mine = Interaction.filter(room_id=room_id, contact_id=contact_id, kind="message")
    if await mine.filter(at__lte=since).exists():
        return True
    if messages <= 0:
        return False
    return bool(await mine.order_by("id").offset(messages - 1).limit(1).values_list("id"))
