"""What a handler is, and the per-event context it acts through.

Handlers never import a channel. They read the event and call the context's actions; every
send goes to the outbox, every tag to the tag store, so the same handler runs unchanged in
the simulator, in tests and on WeChat.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from bot.events import Event, MessageReceived
from bot.triggers import Trigger, TriggerKind, Triggers
from storage import care, people

if TYPE_CHECKING:
    from bot.channels.base import RoomInfo
    from bot.clock import Clock
    from bot.config import AppConfig, Content, RoomSection
    from bot.links import LinkMaker
    from bot.marketing import MarketingGate
    from bot.media import Media
    from bot.outbox import Outbox
    from bot.rooms import RoomDirectory
    from bot.work import WorkQueue
    from storage.interactions import InteractionWriter
    from storage.kv import KV
    from storage.tags import TagStore


# Who someone is when neither we nor the platform know her name.
UNKNOWN_NAME = "这位成员"
# Handlers whose messages still go while staff have taken her chats over: care's safety
# answers, moderation in the group, staff's and admins' own commands, and the answers to
# her privacy requests (退订, 删除我的信息: she must hear they were done).
NOT_TAKEN_OVER = frozenset({"care", "guard", "admin", "roster", "privacy"})


class Flow(Enum):
    CONTINUE = "continue"
    STOP = "stop"


class Handler(Protocol):
    name: str

    async def handle(self, event: Event, ctx: Context) -> Flow | None:
        """Act on the event. Return Flow.STOP to end the chain; None means continue."""
        ...


class ContentSource(Protocol):
    @property
    def current(self) -> Content: ...


@dataclass
class Services:
    """Everything a handler may use, assembled once by bot.app."""

    config: AppConfig
    content: ContentSource
    clock: Clock
    kv: KV
    outbox: Outbox
    tags: TagStore
    rooms: RoomDirectory
    random: random.Random = field(default_factory=random.Random)
    # Written-behind interaction log; flushed before her data is forgotten.
    interactions: InteractionWriter | None = None
    # Files of messages (images), fetched from the channel that received them.
    media: Media | None = None
    # The durable work queue: what must happen later (reminders, welcome batches).
    work: WorkQueue | None = None
    # Forget a contact everywhere: every feature's forget hook, then every table.
    forget: Callable[[str], Awaitable[Mapping[str, int]]] | None = None
    # What automation starts from: stages entered, tags, channel codes, keywords, clicks.
    triggers: Triggers = field(default_factory=Triggers)
    # Tracked links in outgoing texts, and the guard rails of marketing sends.
    links: LinkMaker | None = None
    marketing: MarketingGate | None = None


@dataclass
class Context:
    """The actions available while handling one event."""

    event: Event
    services: Services
    handler_name: str = ""
    # Replies go to the sender by DM even when the event came from a group (an admin's
    # command: the group sees only what members need).
    private_replies: bool = False
    _seq: int = 0
    # Who has taken over her chats (staff id, "" for nobody), asked once per event.
    _taken_over_by: str | None = None

    @property
    def clock(self) -> Clock:
        return self.services.clock

    @property
    def content(self) -> Content:
        return self.services.content.current

    @property
    def kv(self) -> KV:
        return self.services.kv

    def _dedupe_key(self, action: str) -> str:
        # Derived from the event, so a re-delivered event enqueues the same keys and the
        # outbox ignores the repeats.
        self._seq += 1
        return f"{self.event.event_id}:{self.handler_name}:{action}:{self._seq}"

    async def reply(self, text: str, mentions: Sequence[str] = ()) -> None:
        """Answer where the event came from: in its room, or by DM to the contact (always
        by DM with `private_replies`)."""
        room = None if self.private_replies else self.event.room_id
        await self.say(
            room_id=room,
            contact_id=None if room else self.event.contact_id,
            text=text,
            mentions=mentions,
        )

    async def say(
        self,
        *,
        room_id: str | None = None,
        contact_id: str | None = None,
        text: str,
        mentions: Sequence[str] = (),
        account_id: str | None = None,
    ) -> None:
        """Send through `account_id` (an account that is in the group), by default the
        one that received the event. While staff have taken her chats over, what would
        have answered her goes to that staff member instead."""
        staff = await self._takeover(room_id, contact_id)
        if staff:
            name = await self.display_name(self.event.contact_id)
            room_id, contact_id = None, staff
            text = f"🤝 你接管中的 {name}，机器人本来会回复：\n{text}"
            mentions = ()
        await self.services.outbox.say(
            account_id=account_id or self.event.account_id,
            room_id=room_id,
            contact_id=contact_id,
            text=text,
            mentions=mentions,
            dedupe_key=self._dedupe_key("say"),
        )

    async def _takeover(self, room_id: str | None, contact_id: str | None) -> str:
        """The staff member to send this to instead of her ("" to send it as it is): when
        it answers her (by DM, or in the group her message came from) and she is taken
        over."""
        her = self.event.contact_id
        if self.handler_name in NOT_TAKEN_OVER or not her:
            return ""
        to_her = contact_id == her if room_id is None else room_id == self.event.room_id
        if not to_her:
            return ""
        if self._taken_over_by is None:
            staff = await care.taken_over_by(her, self.clock.now())
            self._taken_over_by = staff or ""
        return self._taken_over_by

    async def kick(
        self, room_id: str, contact_id: str, reason: str, account_id: str | None = None
    ) -> None:
        await self.services.outbox.kick(
            account_id=account_id or self.event.account_id,
            room_id=room_id,
            contact_id=contact_id,
            reason=reason,
            dedupe_key=self._dedupe_key("kick"),
        )

    async def accept_friend(self, contact_id: str, request_id: str = "") -> None:
        await self.services.outbox.accept_friend(
            account_id=self.event.account_id,
            contact_id=contact_id,
            request_id=request_id,
            dedupe_key=self._dedupe_key("accept"),
        )

    async def invite(self, room_id: str, contact_id: str) -> None:
        await self.services.outbox.invite(
            account_id=self.event.account_id,
            room_id=room_id,
            contact_id=contact_id,
            dedupe_key=self._dedupe_key("invite"),
        )

    async def add_tag(self, contact_id: str, tag: str, source: str, detail: str = "") -> bool:
        return await self.services.tags.add(contact_id, tag, source=source, detail=detail)

    async def remove_tag(self, contact_id: str, tag: str, source: str, detail: str = "") -> bool:
        return await self.services.tags.remove(contact_id, tag, source=source, detail=detail)

    async def trigger(
        self, kind: TriggerKind, value: str, contact_id: str | None = None, **detail: str
    ) -> None:
        """Tell automation what happened to her (default: the event's contact)."""
        await self.services.triggers.fire(
            Trigger(
                kind,
                contact_id or self.event.contact_id,
                value,
                self.clock.now(),
                self.event.account_id,
                detail,
            )
        )

    async def image(self) -> bytes | None:
        """The file of the image message being handled, or None."""
        if self.services.media is None or not isinstance(self.event, MessageReceived):
            return None
        return await self.services.media.image(self.event)

    async def display_name(self, contact_id: str) -> str:
        """How a person is named in text a person reads: her display name (stored, or asked
        of the channel), never her id."""
        name = await people.name_of(contact_id)
        if not name:
            info = await self.services.rooms.contact_info(self.event.account_id, contact_id)
            name = info.name if info else ""
        return name or UNKNOWN_NAME

    async def room_info(self, room_id: str) -> RoomInfo | None:
        return await self.services.rooms.info(self.event.account_id, room_id)

    async def room_settings(self, room_id: str) -> RoomSection | None:
        return await self.services.rooms.settings(self.event.account_id, room_id)
