"""Bookkeeping of who is who and who is where: contacts, rooms and memberships.

First in the chain and never stops it. Plain messages cost nothing here (a group first seen
through a message is recorded after the interaction log's next flush, see
storage/interactions.py); joins, leaves and friend events touch the database.
"""

from __future__ import annotations

from bot.events import Event, FriendAdded, FriendRequest, MemberJoined, MemberLeft
from bot.features import Feature, On, Platform
from bot.handler import Context, Flow
from storage import people


class RosterHandler:
    name = "roster"

    async def handle(self, event: Event, ctx: Context) -> Flow | None:
        now = event.at
        if isinstance(event, MemberJoined):
            await self._record_room(event.room, ctx)
            await people.upsert_contact(event.member_id, now, name=event.member_name)
            await people.member_joined(
                event.room, event.member_id, now, inviter_id=event.inviter_id
            )
        elif isinstance(event, MemberLeft):
            await people.member_left(event.room, event.member_id, now, remover_id=event.remover_id)
        elif isinstance(event, FriendRequest):
            await people.upsert_contact(event.requester_id, now, name=event.requester_name)
        elif isinstance(event, FriendAdded):
            await people.upsert_contact(
                event.friend_id, now, name=event.friend_name, is_friend=True
            )
        return None

    @staticmethod
    async def _record_room(room: str, ctx: Context) -> None:
        info = await ctx.room_info(room)
        await people.upsert_room(
            room,
            ctx.event.account_id,
            ctx.event.at,
            topic=info.topic if info else "",
            owner_id=info.owner_id if info else None,
        )


def feature(p: Platform) -> Feature:
    """First in the chain: who is who and who is where."""
    on = On((MemberJoined, MemberLeft, FriendRequest, FriendAdded))
    return Feature(name="roster", handlers=[(RosterHandler(), on)])
