"""Bookkeeping of who is who and who is where: contacts, rooms and memberships.

First in the chain and never stops it. Plain messages cost nothing here (a group first seen
through a message is recorded after the interaction log's next flush, see
storage/interactions.py); joins, leaves and friend events touch the database.

Events alone would miss everyone who was in a group before the bot arrived, and what
happened while it was down, so the roster is also refreshed from the channels' member
lists: a group's whole list when it is first recorded at a join, and every group's once
a day (work kind `roster_sync`, at ROSTER_AT local time, or at start when today's run
is still to do).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from bot.channels.base import ChannelError
from bot.events import (
    Event,
    FriendAdded,
    FriendRemoved,
    FriendRequest,
    MemberJoined,
    MemberLeft,
    MessageReceived,
)
from bot.features import Feature, On, Platform
from bot.handler import Context, Flow, Handler
from bot.work import CronSchedule, Work, WorkQueue, work_key
from storage import people
from storage.orders import normalize_phone

if TYPE_CHECKING:
    from bot.rooms import RoomDirectory

log = logging.getLogger(__name__)

ROSTER_SYNC = "roster_sync"
ROSTER_AT = "04:30"  # a quiet hour: one member-list lookup per group


CARD_LOOKUPS = 500  # contact cards the daily sync reads at most (one per contact)
MAX_PHONE_DIGITS = 20  # more is not a phone number (flows/orders.py refuses it too)
_CARD_KEYS = ("phone", "unionid", "external_id")  # what a card may show (ContactInfo.extra)


async def record_card(
    rooms: RoomDirectory, account_id: str, contact_id: str, now: datetime
) -> bool | None:
    """The ids her contact card shows (phone, unionid, WeCom external id), recorded for
    the orders that name her by them; True when one was new. None when this account has
    no card of her. A card the platform cannot give now raises (ChannelError)."""
    info = await rooms.contact_info(account_id, contact_id)
    if info is None:
        return None
    shown = {key: (info.extra.get(key) or "").strip() for key in _CARD_KEYS}
    phone = normalize_phone(shown["phone"])
    return await people.set_ids(
        contact_id,
        now,
        phone=phone if phone and len(phone) <= MAX_PHONE_DIGITS else None,
        unionid=shown["unionid"][:128] or None,
        external_id=shown["external_id"][:128] or None,
    )


class RosterHandler:
    name = "roster"

    async def handle(self, event: Event, ctx: Context) -> Flow | None:
        now = event.at
        if isinstance(event, MemberJoined):
            if await self._record_room(event.room, ctx):
                await self._sync(ctx.services.rooms, event.account_id, event.room)
            await people.upsert_contact(event.member_id, now, name=event.member_name)
            await people.member_joined(
                event.room, event.member_id, now, inviter_id=event.inviter_id
            )
        elif isinstance(event, MemberLeft):
            await people.member_left(event.room, event.member_id, now, remover_id=event.remover_id)
        elif isinstance(event, FriendRequest):
            await people.upsert_contact(event.requester_id, now, name=event.requester_name)
            await self._record_phone(event.requester_id, ctx)
        elif isinstance(event, FriendAdded):
            await people.upsert_contact(
                event.friend_id, now, name=event.friend_name, is_friend=True
            )
            await self._record_phone(event.friend_id, ctx)
        elif isinstance(event, FriendRemoved) and await people.friend_lost(event.friend_id, now):
            who = "she deleted the bot" if event.by_her else "the account removed her"
            log.info("roster: a contact is no longer a friend (%s)", who)
        return None

    @staticmethod
    async def _record_phone(contact_id: str, ctx: Context) -> None:
        """Her card's ids. A card the platform cannot give now costs nothing but the
        match: the daily sync reads it again."""
        try:
            await record_card(ctx.services.rooms, ctx.event.account_id, contact_id, ctx.event.at)
        except Exception:
            log.warning("roster: her contact card could not be read for her ids", exc_info=True)

    @staticmethod
    async def _record_room(room: str, ctx: Context) -> bool:
        """Record the group; True when it was not recorded before."""
        known = await people.room_known(room)
        info = await ctx.room_info(room)
        await people.upsert_room(
            room,
            ctx.event.account_id,
            ctx.event.at,
            topic=info.topic if info else "",
            owner_id=info.owner_id if info else None,
        )
        return not known

    @staticmethod
    async def _sync(rooms: RoomDirectory, account_id: str, room_id: str) -> None:
        try:
            opened, closed = await rooms.refresh_roster(account_id, room_id)
        except ChannelError as exc:
            log.warning("roster of a group not refreshed: %s", exc)
            return
        if opened or closed:
            log.info("roster refreshed from the member list: %d in, %d out", opened, closed)


class RosterSync:
    """Once a day, every recorded group's roster from its account's member list."""

    def __init__(self, rooms: RoomDirectory, work: WorkQueue) -> None:
        self.rooms = rooms
        self.work = work
        self.schedule = CronSchedule(ROSTER_AT, rooms.clock.tz)

    async def plan(self) -> bool:
        return await self._schedule(self.schedule.first_today(self.rooms.clock.now()))

    async def _schedule(self, fire: datetime, after: str = "") -> bool:
        return await self.work.schedule(
            ROSTER_SYNC,
            work_key(ROSTER_SYNC, fire.date().isoformat()),
            fire,
            payload={"cards_after": after},
        )

    async def run_work(self, item: Work) -> None:
        # Tomorrow first; it goes on reading cards where today's run stops.
        tomorrow = self.schedule.next_after(item.due_at)
        await self._schedule(tomorrow, await self._cards(str(item.payload.get("cards_after", ""))))
        for room_id, account_id in await people.all_rooms():
            if account_id in self.rooms.channels:
                await RosterHandler._sync(self.rooms, account_id, room_id)

    async def _cards(self, after: str) -> str:
        """Read the contact cards of up to CARD_LOOKUPS friends of whom an id is missing,
        after `after` by contact id (friends from before orders were matched, or whose
        card changed): one lookup per friend a day, each account tried until one knows
        her. Returns where tomorrow's run goes on ("" to start over)."""
        accounts = list(self.rooms.channels)
        budget = CARD_LOOKUPS
        last = after
        for contact_id in await people.friends_to_look_up(after, CARD_LOOKUPS):
            for account_id in list(accounts):
                if budget == 0:
                    return last
                budget -= 1
                now = self.rooms.clock.now()
                try:
                    if await record_card(self.rooms, account_id, contact_id, now) is not None:
                        break  # her card (None: this account has none of her, try the next)
                except Exception as exc:
                    # The account cannot give cards now: not asked again in this run.
                    log.warning("roster: contact cards of %s unreadable: %s", account_id, exc)
                    accounts.remove(account_id)
            if not accounts:
                return last  # no account gives cards today: from her on tomorrow
            last = contact_id
        return last if budget == 0 else ""


class FriendBack:
    """A direct message from a mother recorded as gone (she deleted or blocked the bot):
    she is a friend again. No event says so when she unblocks it, or re-adds it while the
    bot still has her."""

    name = "roster_dm"

    async def handle(self, event: Event, ctx: Context) -> Flow | None:
        if await people.friend_back(event.contact_id, event.at):
            log.info("roster: a contact recorded as gone wrote directly: a friend again")
        return None


def feature(p: Platform) -> Feature:
    """First in the chain: who is who and who is where."""
    on = On((MemberJoined, MemberLeft, FriendRequest, FriendAdded, FriendRemoved), every_copy=True)
    handlers: list[tuple[Handler, On]] = [
        (RosterHandler(), on),
        (FriendBack(), On((MessageReceived,), chat="dm")),
    ]
    work = p.services.work
    if work is None:
        return Feature(name="roster", handlers=handlers)
    sync = RosterSync(p.services.rooms, work)
    return Feature(
        name="roster",
        handlers=handlers,
        work={ROSTER_SYNC: sync.run_work},
        start=sync.plan,
    )
