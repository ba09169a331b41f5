"""Welcoming: new group members (batched into one message) and new friends.

A wave of joins must not flood the group: each join is parked in `pending_welcome`, and the
`WelcomeBatcher` job sends one message per room, @mentioning everyone who joined within the
batch window of the first of them. Parked joins live in the database, so a restart in the
middle of a window still welcomes them.

Friend requests are accepted (if configured), the hello text is matched against the channel
codes (活码) to tag where she came from, and she gets the greeting of that channel.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.config import ChannelCode, Content, WelcomeContent
from bot.events import Event, FriendRequest, MemberJoined
from bot.handler import ContentSource, Context, Flow
from bot.outbox import Outbox
from bot.rooms import RoomDirectory
from storage import people
from storage.kv import KV
from storage.models import PendingWelcome

log = logging.getLogger(__name__)


def render(template: str, values: dict[str, str]) -> str:
    """Fill {placeholders} without str.format, so ops text may contain other braces."""
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


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
        if room_id in override.rooms or (topic and topic in override.rooms):
            return override.template
    return welcome.group_template


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
        await PendingWelcome.get_or_create(
            event_id=event.event_id[:191],
            defaults={
                "account_id": event.account_id,
                "room_id": event.room,
                "contact_id": event.member_id,
                "name": event.member_name or event.member_id,
                "joined_at": event.at,
            },
        )

    async def _room_channel(self, event: MemberJoined, ctx: Context) -> None:
        """A group that is a channel code (e.g. a livestream fans group) tags who joins it.
        Her channel is the first one she came through: a later group does not change it."""
        codes = [c for c in ctx.content.channels.codes if c.rooms]
        if not codes:
            return
        info = await ctx.room_info(event.room)
        topic = info.topic if info else ""
        code = next((c for c in codes if event.room in c.rooms or topic in c.rooms), None)
        if code is None:
            return
        for tag in code.tags:
            await ctx.add_tag(event.member_id, tag, source="channel", detail=code.name)
        contact = await people.upsert_contact(event.member_id, event.at, name=event.member_name)
        if contact.channel is None:
            await people.upsert_contact(event.member_id, event.at, channel=code.name)

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
    """Job: send the batched group welcomes whose window has closed."""

    name = "welcome_batches"

    def __init__(
        self,
        content: ContentSource,
        outbox: Outbox,
        rooms: RoomDirectory,
        kv: KV,
        clock: Clock,
        bot_name: str,
    ) -> None:
        self.content = content
        self.outbox = outbox
        self.rooms = rooms
        self.kv = kv
        self.clock = clock
        self.bot_name = bot_name

    def _window(self) -> timedelta:
        return timedelta(seconds=self.content.current.welcome.batch_window_seconds)

    async def next_due(self) -> datetime | None:
        first = await PendingWelcome.all().order_by("joined_at").first()
        return first.joined_at + self._window() if first else None

    async def run(self, now: datetime) -> None:
        # One instance at a time, so a batch is never welcomed twice.
        token = await self.kv.acquire_lock("job:welcome_batches", ttl=60)
        if token is None:
            return
        try:
            await self._run(now)
        finally:
            await self.kv.release_lock("job:welcome_batches", token)

    async def _run(self, now: datetime) -> None:
        rows = await PendingWelcome.all().order_by("id")
        batches: dict[tuple[str, str], list[PendingWelcome]] = defaultdict(list)
        for row in rows:
            batches[(row.account_id, row.room_id)].append(row)
        window = self._window()
        welcome = self.content.current.welcome
        for (account_id, room_id), members in batches.items():
            if min(m.joined_at for m in members) + window > now:
                continue
            info = await self.rooms.info(account_id, room_id)
            present = set(info.member_ids) if info else None
            # Someone who joined and left again within the window is not welcomed.
            members_here = [m for m in members if present is None or m.contact_id in present]
            unique = list({m.contact_id: m for m in members_here}.values())
            if unique:
                topic = info.topic if info else ""
                text = render(
                    group_template(welcome, room_id, topic),
                    {
                        "names": " ".join(f"@{m.name}" for m in unique),
                        "room": topic,
                        "rules": welcome.group_rules,
                        "bot": self.bot_name,
                    },
                )
                await self.outbox.say(
                    account_id=account_id,
                    room_id=room_id,
                    contact_id=None,
                    text=text,
                    mentions=[m.contact_id for m in unique],
                    dedupe_key=f"welcome:{room_id}:{members[0].event_id}",
                )
            await self.outbox.persist()
            await PendingWelcome.filter(id__in=[m.id for m in members]).delete()
