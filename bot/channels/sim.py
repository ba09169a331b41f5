"""An in-process WeChat world for the simulator, replay and tests.

`SimWorld` holds contacts and rooms (topic, owner, members) shared by every simulated
account; each `SimChannel` is one bot account in it. The channel records every action it
performs and reacts as WeChat would: a kick makes the member leave (a leave event follows),
an invite makes her join.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.channels.base import Channel, ChannelError, ContactInfo, RoomInfo
from bot.clock import Clock
from bot.events import (
    Event,
    FriendRemoved,
    FriendRequest,
    MemberJoined,
    MemberLeft,
    MessageReceived,
    MessageType,
)

# "@名字" up to a space or WeChat's mention separator (U+2005).
_AT_NAME = re.compile(r"@([^\s\u2005@]+)")


@dataclass
class SimRoom:
    room_id: str
    topic: str
    owner_id: str | None
    members: list[str] = field(default_factory=list)


@dataclass
class SimWorld:
    contacts: dict[str, str] = field(default_factory=dict)  # id -> display name
    rooms: dict[str, SimRoom] = field(default_factory=dict)
    friends: set[tuple[str, str]] = field(default_factory=set)  # (account, contact)
    images: dict[str, bytes] = field(default_factory=dict)  # event id -> image file
    phones: dict[str, str] = field(default_factory=dict)  # id -> the phone her card shows

    def add_contact(self, contact_id: str, name: str = "") -> None:
        if name or contact_id not in self.contacts:
            self.contacts[contact_id] = name or self.contacts.get(contact_id, contact_id)

    def add_room(
        self, room_id: str, topic: str, owner_id: str | None, members: Sequence[str] = ()
    ) -> SimRoom:
        room = SimRoom(room_id, topic, owner_id, list(dict.fromkeys(members)))
        if owner_id and owner_id not in room.members:
            room.members.insert(0, owner_id)
        for member in room.members:
            self.add_contact(member)
        self.rooms[room_id] = room
        return room

    def picked_mentions(self, room_id: str | None, text: str) -> list[str]:
        """The mention ids WeChat attaches when "@名字" is picked from the member list:
        each "@name" that is exactly one member's display name (a name shared by several
        members, or nobody's, stays plain text, as when typed by hand)."""
        room = self.rooms.get(room_id) if room_id else None
        if room is None:
            return []
        picked: list[str] = []
        for name in _AT_NAME.findall(text):
            found = [m for m in room.members if self.contacts.get(m, m) == name]
            if len(found) == 1 and found[0] not in picked:
                picked.append(found[0])
        return picked

    def room_by_topic(self, topic: str) -> SimRoom | None:
        for room in self.rooms.values():
            if room.topic == topic:
                return room
        return None


class SimChannel(Channel):
    def __init__(self, account_id: str, world: SimWorld, clock: Clock, self_id: str = "") -> None:
        self.account_id = account_id
        self.self_id = self_id or f"bot-{account_id}"
        self.world = world
        self.clock = clock
        self.actions: list[dict[str, Any]] = []
        self._done_keys: set[str] = set()
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._ids = itertools.count(1)
        # Event ids must not repeat across runs on one database (`mamabot sim --db`): the
        # outbox derives its dedupe keys from them.
        self._run = secrets.token_hex(4)
        self._failures: list[ChannelError] = []
        self.online = True  # False: logged out (tests of sends waiting for the account)
        world.add_contact(self.self_id, "小助手")

    # ------------------------------------------------------------------ events in

    async def events(self) -> AsyncIterator[Event]:
        while True:
            event = await self._queue.get()
            if event is None:
                return
            yield event

    async def stop(self) -> None:
        self._queue.put_nowait(None)

    def push(self, event: Event) -> Event:
        self._queue.put_nowait(event)
        return event

    def take_pending(self) -> list[Event]:
        """Events waiting in the stream (driven mode reads them directly)."""
        out: list[Event] = []
        while not self._queue.empty():
            event = self._queue.get_nowait()
            if event is not None:
                out.append(event)
        return out

    def has_pending(self) -> bool:
        return not self._queue.empty()

    def next_event_id(self) -> str:
        return f"sim-{self.account_id}-{self._run}-{next(self._ids)}"

    def message(
        self,
        sender_id: str,
        text: str,
        *,
        room_id: str | None = None,
        type: MessageType = MessageType.TEXT,
        mentions: Sequence[str] = (),
        event_id: str | None = None,
        image: bytes | None = None,
    ) -> MessageReceived:
        """A message; `image` is the file of an image message (its type becomes image)."""
        self.world.add_contact(sender_id)
        event_id = event_id or self.next_event_id()
        if image is not None:
            self.world.images[event_id] = image
            type = MessageType.IMAGE
        return MessageReceived(
            event_id=event_id,
            account_id=self.account_id,
            at=self.clock.now(),
            sender_id=sender_id,
            sender_name=self.world.contacts.get(sender_id, sender_id),
            text=text,
            room=room_id,
            type=type,
            mentions=tuple(mentions),
            mentions_self=self.self_id in mentions,
        )

    def join(
        self, room_id: str, contact_id: str, name: str = "", inviter_id: str | None = None
    ) -> MemberJoined:
        self.world.add_contact(contact_id, name)
        room = self.world.rooms[room_id]
        if contact_id not in room.members:
            room.members.append(contact_id)
        return MemberJoined(
            event_id=self.next_event_id(),
            account_id=self.account_id,
            at=self.clock.now(),
            room=room_id,
            member_id=contact_id,
            member_name=self.world.contacts[contact_id],
            inviter_id=inviter_id,
        )

    def leave(self, room_id: str, contact_id: str, remover_id: str | None = None) -> MemberLeft:
        room = self.world.rooms[room_id]
        if contact_id in room.members:
            room.members.remove(contact_id)
        return MemberLeft(
            event_id=self.next_event_id(),
            account_id=self.account_id,
            at=self.clock.now(),
            room=room_id,
            member_id=contact_id,
            remover_id=remover_id,
        )

    def friend_request(self, contact_id: str, name: str = "", hello: str = "") -> FriendRequest:
        self.world.add_contact(contact_id, name)
        return FriendRequest(
            event_id=self.next_event_id(),
            account_id=self.account_id,
            at=self.clock.now(),
            requester_id=contact_id,
            requester_name=self.world.contacts[contact_id],
            hello=hello,
            request_id=f"fr-{contact_id}",
        )

    def friend_removed(self, contact_id: str, *, by_her: bool = True) -> FriendRemoved:
        """She deleted the bot (what wechaty learns from the bounce notice of the next
        message to her, told here at once)."""
        self.world.add_contact(contact_id, "")
        return FriendRemoved(
            event_id=self.next_event_id(),
            account_id=self.account_id,
            at=self.clock.now(),
            friend_id=contact_id,
            by_her=by_her,
        )

    # ------------------------------------------------------------------ actions out

    def fail_next(self, times: int = 1, *, retryable: bool = True) -> None:
        """Make the next `times` actions fail (tests of retry and backoff)."""
        self._failures.extend(
            ChannelError("simulated failure", retryable=retryable) for _ in range(times)
        )

    def _record(self, dedupe_key: str, action: dict[str, Any]) -> None:
        if self._failures:
            raise self._failures.pop(0)
        self._done_keys.add(dedupe_key)
        self.actions.append({**action, "at": self.clock.now().isoformat()})

    async def say(
        self,
        *,
        room_id: str | None,
        contact_id: str | None,
        text: str,
        mentions: Sequence[str] = (),
        dedupe_key: str,
    ) -> str | None:
        if room_id is not None and room_id not in self.world.rooms:
            raise ChannelError(f"no such room {room_id}", retryable=False)
        self._record(
            dedupe_key,
            {
                "action": "say",
                "room": room_id,
                "to": contact_id,
                "text": text,
                "mentions": list(mentions),
            },
        )
        return dedupe_key

    async def kick(self, *, room_id: str, contact_id: str, dedupe_key: str) -> None:
        room = self.world.rooms.get(room_id)
        if room is None:
            raise ChannelError(f"no such room {room_id}", retryable=False)
        self._record(dedupe_key, {"action": "kick", "room": room_id, "contact": contact_id})
        if contact_id in room.members:
            self.push(self.leave(room_id, contact_id, remover_id=self.self_id))

    async def accept_friend(
        self, *, contact_id: str, request_id: str = "", dedupe_key: str
    ) -> None:
        self._record(dedupe_key, {"action": "accept_friend", "contact": contact_id})
        self.world.friends.add((self.account_id, contact_id))

    async def invite(self, *, room_id: str, contact_id: str, dedupe_key: str) -> None:
        room = self.world.rooms.get(room_id)
        if room is None:
            raise ChannelError(f"no such room {room_id}", retryable=False)
        self._record(dedupe_key, {"action": "invite", "room": room_id, "contact": contact_id})
        if contact_id not in room.members:
            self.push(self.join(room_id, contact_id, inviter_id=self.self_id))

    async def image(self, message: MessageReceived) -> bytes | None:
        return self.world.images.get(message.event_id)

    async def room_info(self, room_id: str) -> RoomInfo | None:
        room = self.world.rooms.get(room_id)
        if room is None:
            return None
        return RoomInfo(room.room_id, room.topic, room.owner_id, tuple(room.members))

    async def contact_info(self, contact_id: str) -> ContactInfo | None:
        name = self.world.contacts.get(contact_id)
        if name is None:
            return None
        phone = self.world.phones.get(contact_id)
        return ContactInfo(contact_id, name, {"phone": phone} if phone else {})

    def can_send(self) -> bool:
        return self.online

    async def already_done(self, dedupe_key: str) -> bool | None:
        return dedupe_key in self._done_keys
