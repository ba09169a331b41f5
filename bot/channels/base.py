"""The Channel interface every transport implements (simulator, Wechaty puppet service...)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.events import Event, MessageReceived


@dataclass(frozen=True, slots=True)
class RoomInfo:
    room_id: str
    topic: str
    owner_id: str | None
    member_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ContactInfo:
    contact_id: str
    name: str
    extra: dict[str, str] = field(default_factory=dict)


class ChannelError(Exception):
    """A send or lookup failed. `retryable` says whether the outbox should try again."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class OutcomeUnknown(ChannelError):
    """The request reached the platform (or may have), and no answer came back: the
    connection dropped mid-call or the call timed out. The action may have happened, so it
    is not retried blindly; the outbox waits for the platform's echo instead."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class Channel(ABC):
    """One bot account on one platform.

    Every method that changes the world takes a `dedupe_key`: the outbox's key for the
    logical send. A channel that can remember keys lets `already_done` answer after a
    crash, so a message is never sent twice.
    """

    account_id: str
    self_id: str

    @abstractmethod
    def events(self) -> AsyncIterator[Event]:
        """The stream of incoming events; ends when the channel stops."""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect. The default does nothing."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """End the event stream. Actions must keep working: the outbox drains after this."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release the connection, after the outbox has drained. The default does nothing."""

    @abstractmethod
    async def say(
        self,
        *,
        room_id: str | None,
        contact_id: str | None,
        text: str,
        mentions: Sequence[str] = (),
        dedupe_key: str,
    ) -> str | None:
        """Send a text to a room (with optional @mentions) or to a contact."""

    @abstractmethod
    async def kick(self, *, room_id: str, contact_id: str, dedupe_key: str) -> None: ...

    @abstractmethod
    async def accept_friend(
        self, *, contact_id: str, request_id: str = "", dedupe_key: str
    ) -> None: ...

    @abstractmethod
    async def invite(self, *, room_id: str, contact_id: str, dedupe_key: str) -> None: ...

    @abstractmethod
    async def room_info(self, room_id: str) -> RoomInfo | None: ...

    @abstractmethod
    async def contact_info(self, contact_id: str) -> ContactInfo | None: ...

    async def image(self, message: MessageReceived) -> bytes | None:
        """The bytes of an image message (the guard looks for QR codes in it); None when
        the channel cannot fetch it. May raise ChannelError."""
        return None

    def can_send(self) -> bool:
        """Whether the account can act now. A logged-out account cannot: its sends wait
        (without spending attempts) until it is logged in again, never failed for it."""
        return True

    async def already_done(self, dedupe_key: str) -> bool | None:
        """Whether the action with this key already happened; None when the channel cannot tell."""
        return None

    async def echoed(
        self,
        *,
        room_id: str | None,
        contact_id: str | None,
        text: str,
        mentions: Sequence[str] = (),
        since: datetime,
    ) -> bool | None:
        """Whether the platform echoed a message of this account with this chat and text
        since `since` (a send whose outcome was unknown went out after all). True takes
        that echo: it confirms one send only. False: not seen (yet). None: this channel
        sees no echoes, so waiting for one is pointless."""
        return None

    def watch_echoes(self, seen: Callable[[], None]) -> None:  # noqa: B027 - optional hook
        """Call `seen` whenever an echo of this account's own message arrives."""
