"""Scheduled posts' state per group (`post_state`): paused or not, and the variant sent last.

A row's room_id "" stands for every group: a pause there (a super admin's, by DM) holds
wherever the post goes. A group's own row also carries its rotation, so a group never gets
the same variant twice in a row, across restarts and instances.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from storage.models import PostState

EVERYWHERE = ""


async def _update_or_create(post_id: str, room_id: str, now: datetime, **values: Any) -> None:
    """Set these values on the (post, group) row, creating it if needed. Two instances may
    create it at the same moment: the loser of that race updates the winner's row."""
    updated = await PostState.filter(post_id=post_id, room_id=room_id).update(
        updated_at=now, **values
    )
    if updated:
        return
    try:
        await PostState.create(post_id=post_id, room_id=room_id, updated_at=now, **values)
    except IntegrityError:
        await PostState.filter(post_id=post_id, room_id=room_id).update(updated_at=now, **values)


async def is_paused(post_id: str, room_id: str) -> bool:
    """Paused in this group, or everywhere."""
    return await PostState.filter(
        post_id=post_id, room_id__in=[room_id, EVERYWHERE], paused=True
    ).exists()


async def set_paused(post_id: str, room_id: str, paused: bool, now: datetime) -> None:
    """Pause or resume in one group (room_id "" = the everywhere switch)."""
    await _update_or_create(post_id, room_id, now, paused=paused)


async def resume_everywhere(post_id: str, now: datetime) -> int:
    """Lift every pause of the post, the groups' own ones included. Returns how many."""
    return int(
        await PostState.filter(post_id=post_id, paused=True).update(paused=False, updated_at=now)
    )


async def paused_rooms(post_id: str) -> set[str]:
    """The groups where the post is paused ("" among them: paused everywhere)."""
    rows = await PostState.filter(post_id=post_id, paused=True).values_list("room_id", flat=True)
    return {str(r) for r in rows}


async def last_variant(post_id: str, room_id: str) -> int | None:
    row = await PostState.get_or_none(post_id=post_id, room_id=room_id)
    return row.last_variant if row else None


async def set_last_variant(post_id: str, room_id: str, index: int, now: datetime) -> None:
    await _update_or_create(post_id, room_id, now, last_variant=index)
