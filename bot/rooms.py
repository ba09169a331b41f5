"""Room facts from the channel (topic, owner, members), cached, plus their config settings;
`selects` applies the one way content picks groups (bot.selector.RoomSelector)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.channels.base import Channel, ContactInfo, RoomInfo
from bot.selector import RoomSelector

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import AppConfig, RoomSection


class RoomDirectory:
    """Room facts come from the channel every time: the channel keeps the cache and drops
    it when the platform says a room changed (a new owner, admins, members), so a change
    of owner is seen at once. A second cache here would outlive those invalidations."""

    def __init__(self, config: AppConfig, clock: Clock, channels: dict[str, Channel]) -> None:
        self.config = config
        self.clock = clock
        self.channels = channels

    async def info(self, account_id: str, room_id: str) -> RoomInfo | None:
        channel = self.channels.get(account_id)
        return await channel.room_info(room_id) if channel else None

    async def contact_info(self, account_id: str, contact_id: str) -> ContactInfo | None:
        channel = self.channels.get(account_id)
        return await channel.contact_info(contact_id) if channel else None

    async def settings(self, account_id: str, room_id: str) -> RoomSection | None:
        info = await self.info(account_id, room_id)
        return self.config.room_settings(room_id, info.topic if info else "")

    async def is_managed(self, account_id: str, room_id: str) -> bool:
        settings = await self.settings(account_id, room_id)
        return settings.managed if settings else True

    async def selects(self, account_id: str, room_id: str, selector: RoomSelector) -> bool:
        """Whether the selector picks this group. The room facts are looked up only when
        the id alone does not decide (a group named by its id, no tags asked)."""
        if selector.empty:
            return False
        topic = ""
        if selector.names and room_id not in selector.names:
            info = await self.info(account_id, room_id)
            topic = info.topic if info else ""
        tags: Sequence[str] = ()
        if selector.tags:
            settings = await self.settings(account_id, room_id)
            tags = settings.tags if settings else ()
        return selector.selects(room_id, topic, tags)
