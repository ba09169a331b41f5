"""Channel-neutral events. Channels turn platform callbacks into these; handlers see only these.

Ids are the platform's opaque contact and room ids. Every event carries the bot account it
arrived on, a unique `event_id` (used for dedupe across reconnects) and the time it happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class MessageType(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    LINK = "link"
    MINI_PROGRAM = "mini_program"
    CARD = "card"
    FILE = "file"
    VIDEO = "video"
    VOICE = "voice"
    EMOTICON = "emoticon"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, value: str | None) -> MessageType:
        if not value:
            return cls.TEXT
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN


@dataclass(frozen=True, slots=True)
class Event:
    event_id: str
    account_id: str
    at: datetime

    @property
    def room_id(self) -> str | None:
        return None

    @property
    def contact_id(self) -> str:
        raise NotImplementedError

    @property
    def order_key(self) -> str:
        """Events with the same key are handled one after another, in arrival order."""
        room = self.room_id
        return (
            f"{self.account_id}:room:{room}" if room else f"{self.account_id}:dm:{self.contact_id}"
        )


@dataclass(frozen=True, slots=True)
class MessageReceived(Event):
    sender_id: str
    text: str
    sender_name: str = ""
    room: str | None = None
    type: MessageType = MessageType.TEXT
    mentions: tuple[str, ...] = ()
    mentions_self: bool = False

    @property
    def room_id(self) -> str | None:
        return self.room

    @property
    def contact_id(self) -> str:
        return self.sender_id

    @property
    def is_dm(self) -> bool:
        return self.room is None


@dataclass(frozen=True, slots=True)
class MemberJoined(Event):
    room: str
    member_id: str
    member_name: str = ""
    inviter_id: str | None = None

    @property
    def room_id(self) -> str | None:
        return self.room

    @property
    def contact_id(self) -> str:
        return self.member_id


@dataclass(frozen=True, slots=True)
class MemberLeft(Event):
    room: str
    member_id: str
    remover_id: str | None = None

    @property
    def room_id(self) -> str | None:
        return self.room

    @property
    def contact_id(self) -> str:
        return self.member_id


@dataclass(frozen=True, slots=True)
class FriendRequest(Event):
    requester_id: str
    hello: str = ""
    requester_name: str = ""
    request_id: str = ""
    # WeCom contact-way state or similar channel marker, when the platform gives one.
    channel_state: str = ""

    @property
    def contact_id(self) -> str:
        return self.requester_id


@dataclass(frozen=True, slots=True)
class FriendAdded(Event):
    friend_id: str
    friend_name: str = ""

    @property
    def contact_id(self) -> str:
        return self.friend_id


@dataclass(frozen=True, slots=True)
class FriendRemoved(Event):
    """She is no longer a friend of this account. `by_her`: she deleted the bot (WeChat's
    "开启了朋友验证" notice after a send to her, or WeCom's deletion event); False when the
    account removed her (someone on the phone). Churn counts only hers."""

    friend_id: str
    by_her: bool = True

    @property
    def contact_id(self) -> str:
        return self.friend_id


@dataclass(frozen=True, slots=True)
class AccountStatus(Event):
    """Login, logout, ready... of the bot account itself."""

    status: str
    self_id: str = ""
    detail: dict[str, str] = field(default_factory=dict)

    @property
    def contact_id(self) -> str:
        return self.self_id or self.account_id
