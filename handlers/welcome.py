"""Welcoming: new group members (batched into one message) and new friends.

A wave of joins must not flood the group: each join is parked in `pending_welcome` and puts
a `welcome_batch` row in the work queue, due when its batch window closes. The first of a
room's rows to run sends one message, @mentioning everyone parked in that room, and the
later ones find nothing left. Parked joins and the rows live in the database, so a restart
(or a second instance) in the middle of a window still welcomes them, once.

Friend requests are accepted (if configured), the hello text is matched against the channel
codes (活码) to tag where she came from, and she gets the greeting of that channel.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.config import ChannelCode, ChannelsContent, Content, WelcomeContent
from bot.events import Event, FriendRequest, MemberJoined
from bot.features import Feature, On, Platform
from bot.handler import ContentSource, Context, Flow
from bot.outbox import Outbox
from bot.rooms import RoomDirectory
from bot.selector import RoomSelector
from bot.templates import render
from bot.work import Defer, Work, WorkQueue, work_key
from storage import people
from storage import welcome as parked
from storage.kv import KV

WELCOME_BATCH = "welcome_batch"
_EMPTY_BRACKETS = re.compile(r"【\s*】|「\s*」|《\s*》|\[\s*\]")

log = logging.getLogger(__name__)


def match_channel_code(content: Content, hello: str, state: str = "") -> ChannelCode | None:
    text = hello.casefold()
    for code in content.channels.codes:
        if state and state in code.states:
            return code
        if any(p.casefold() in text for p in code.hello_contains if p):
            return code
    return None


def group_template(welcome: WelcomeContent, room_id: str, topic: str) -> str:
    for override in welcome.overrides:
        if RoomSelector(override.rooms).selects(room_id, topic):
            return override.template
    return welcome.group_template


def welcome_names(names: list[str], welcome: WelcomeContent) -> str:
    """The {names} of a welcome: the first `max_names` @mentioned, the wave counted after
    them ("@a @b 等35位新朋友"), so a join wave makes one message of bounded size."""
    shown = " ".join(f"@{name}" for name in names[: welcome.max_names])
    if len(names) <= welcome.max_names:
        return shown
    return f"{shown} {render(welcome.more_names, {'count': str(len(names))})}"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def batch_key(account_id: str, room_id: str, event_id: str) -> str:
    """The work row of one parked join, keyed by the event id as parked (cut to the column)."""
    return work_key("welcome", account_id, room_id, event_id[: parked.EVENT_ID_MAX])


async def schedule_batch(
    work: WorkQueue, account_id: str, room_id: str, event_id: str, contact_id: str, due: datetime
) -> bool:
    """A join's row: when it comes due, the room's parked joins are welcomed in one message."""
    return await work.schedule(
        WELCOME_BATCH,
        batch_key(account_id, room_id, event_id),
        due,
        account_id=account_id,
        contact_id=contact_id,  # her id is in the key (the join's event id): forgotten with her
        payload={"room": room_id},
    )


class WelcomeHandler:
    name = "welcome"

    def __init__(self, self_ids: set[str]) -> None:
        self.self_ids = self_ids

    async def handle(self, event: Event, ctx: Context) -> Flow | None:
        if isinstance(event, MemberJoined):
            await self._joined(event, ctx)
        elif isinstance(event, FriendRequest):
            await self._friend_request(event, ctx)
        return None

    async def _joined(self, event: MemberJoined, ctx: Context) -> None:
        if event.member_id in self.self_ids:
            return
        await self._room_channel(event, ctx)
        if not ctx.content.welcome.group_enabled:
            return
        if not await ctx.services.rooms.is_managed(event.account_id, event.room):
            return
        await parked.park(
            event.event_id,
            event.account_id,
            event.room,
            event.member_id,
            event.member_name or event.member_id,
            event.at,
        )
        work = ctx.services.work
        if work is not None:
            window = timedelta(seconds=ctx.content.welcome.batch_window_seconds)
            await schedule_batch(
                work,
                event.account_id,
                event.room,
                event.event_id,
                event.member_id,
                event.at + window,
            )

    async def _room_channel(self, event: MemberJoined, ctx: Context) -> None:
        """A group that is a channel code (e.g. a livestream fans group) tags who joins it.
        Her channel is the first one she came through: a later group does not change it."""
        codes = [c for c in ctx.content.channels.codes if c.rooms]
        if not codes:
            return
        info = await ctx.room_info(event.room)
        topic = info.topic if info else ""
        code = next((c for c in codes if RoomSelector(c.rooms).selects(event.room, topic)), None)
        if code is None:
            return
        for tag in code.tags:
            await ctx.add_tag(event.member_id, tag, source="channel", detail=code.name)
        contact = await people.upsert_contact(event.member_id, event.at, name=event.member_name)
        if contact.channel is None:
            await people.upsert_contact(event.member_id, event.at, channel=code.name)
        await ctx.trigger("channel", code.name, event.member_id)

    async def _friend_request(self, event: FriendRequest, ctx: Context) -> None:
        content = ctx.content
        if not content.welcome.accept_friends:
            return
        await ctx.accept_friend(event.requester_id, event.request_id)
        code = match_channel_code(content, event.hello, event.channel_state)
        await people.upsert_contact(
            event.requester_id,
            event.at,
            name=event.requester_name,
            is_friend=True,
            channel=code.name if code else None,
        )
        if code is not None:
            for tag in code.tags:
                await ctx.add_tag(event.requester_id, tag, source="channel", detail=code.name)
            await ctx.trigger("channel", code.name, event.requester_id)
        greeting = (
            code.greeting if code and code.greeting else ""
        ) or content.welcome.friend_greeting
        text = render(
            greeting,
            {"name": event.requester_name or "", "bot": ctx.services.config.bot.name},
        )
        if text.strip():
            await ctx.say(contact_id=event.requester_id, text=text)


class WelcomeBatcher:
    """Runs `welcome_batch` work: one welcome per room for the joins parked there."""

    def __init__(
        self,
        content: ContentSource,
        outbox: Outbox,
        rooms: RoomDirectory,
        kv: KV,
        clock: Clock,
        bot_name: str,
        work: WorkQueue,
    ) -> None:
        self.content = content
        self.outbox = outbox
        self.rooms = rooms
        self.kv = kv
        self.clock = clock
        self.bot_name = bot_name
        self.work = work

    def _window(self) -> timedelta:
        return timedelta(seconds=self.content.current.welcome.batch_window_seconds)

    async def plan(self) -> int:
        """Rows for joins parked before the queue held them (an upgrade): one per room."""
        added = 0
        for first in await parked.first_of_each_room():
            added += await schedule_batch(
                self.work,
                first.account_id,
                first.room_id,
                first.event_id,
                first.contact_id,
                first.joined_at + self._window(),
            )
        return added

    async def run(self, item: Work) -> None:
        account_id = item.account_id or ""
        room_id = str(item.payload.get("room", ""))
        # One instance at a time per room: two rows of one room running at once on two
        # instances would read the same parked joins.
        lock = f"welcome:{account_id}:{room_id}"
        token = await self.kv.acquire_lock(lock, ttl=60)
        if token is None:
            raise Defer(self.clock.now() + timedelta(seconds=5))
        try:
            await self._welcome_room(account_id, room_id, self.clock.now())
        finally:
            await self.kv.release_lock(lock, token)

    async def _welcome_room(self, account_id: str, room_id: str, now: datetime) -> None:
        members = await parked.waiting(account_id, room_id)
        if not members:
            return  # an earlier row of this room welcomed them
        if members[0].joined_at + self._window() > now:
            return  # a later wave: its own first row is due later
        welcome = self.content.current.welcome
        info = await self.rooms.info(account_id, room_id)
        present = set(info.member_ids) if info else None
        # Someone who joined and left again within the window is not welcomed.
        members_here = [m for m in members if present is None or m.contact_id in present]
        unique = list({m.contact_id: m for m in members_here}.values())
        if unique:
            topic = info.topic if info else ""
            named = unique[: welcome.max_names]
            text = render(
                group_template(welcome, room_id, topic),
                {
                    "names": welcome_names([m.name for m in unique], welcome),
                    "room": topic,
                    "rules": welcome.group_rules,
                    "bot": self.bot_name,
                },
            )
            if not topic:  # a group with no name: no empty 【】 around it
                text = _EMPTY_BRACKETS.sub("", text)
            await self.outbox.say(
                account_id=account_id,
                room_id=room_id,
                contact_id=None,
                text=text,
                mentions=[m.contact_id for m in named],
                # A digest: the event id of a join carries the member's id (wechaty), and
                # the key outlives her in the outbox.
                dedupe_key=f"welcome:{room_id}:{digest(members[0].event_id)}",
            )
        await self.outbox.persist()
        await parked.welcomed([m.id for m in members])
        if len(members) > 1:
            # The other joins of this batch each have a row; they would find nothing to do.
            # (The row running now is not pending, so it is not touched.)
            keys = [batch_key(account_id, room_id, m.event_id) for m in members]
            for chunk in parked.chunks(keys):
                await self.work.cancel(list(chunk))


def feature(p: Platform) -> Feature:
    """Welcomes: new friends at once, new group members in one batched message per room."""
    services = p.services
    assert services.work is not None
    batcher = WelcomeBatcher(
        services.content,
        services.outbox,
        services.rooms,
        services.kv,
        services.clock,
        services.config.bot.name,
        services.work,
    )
    return Feature(
        name="welcome",
        handlers=[(WelcomeHandler(p.self_ids), On((MemberJoined, FriendRequest)))],
        content={"welcome.toml": WelcomeContent, "channels.toml": ChannelsContent},
        work={WELCOME_BATCH: batcher.run},
        start=batcher.plan,
        exports={"batcher": batcher},
    )
