"""Room facts from the channel (topic, owner, members), cached, plus their config settings;
`selects` applies the one way content picks groups (bot.selector.RoomSelector)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.channels.base import Channel, ChannelError, ContactInfo, RoomInfo
from bot.selector import RoomSelector
from bot.text import storable
from storage import people

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import AppConfig, RoomSection

log = logging.getLogger(__name__)

MAX_ID = 128  # the contact_id column (storage/models.py)


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

    async def groups_of(self, contact_id: str) -> list[tuple[str, str]]:
        """Every recorded group she is in now, as (room id, account id) with the account
        that is in the group: by the channel's member list of each group (it names the
        members from before the bot arrived too), or by the roster when the channel
        cannot say."""
        roster = set(await people.rooms_of(contact_id))
        found = []
        for room_id, account_id in await people.all_rooms():
            try:
                info = await self.info(account_id, room_id)
            except ChannelError as exc:
                log.warning("member list of a group unavailable: %s", exc)
                info = None
            if info is not None and info.member_ids:
                if contact_id in info.member_ids:
                    found.append((room_id, self.member_account(account_id, info.member_ids)))
            elif room_id in roster:
                found.append((room_id, account_id))
        return found

    def member_account(self, recorded: str, members: Sequence[str]) -> str:
        """The account to act through in a group: the one recorded for it, unless the
        member list shows it gone (or it is no longer configured) and another of ours
        is there."""
        channel = self.channels.get(recorded)
        if channel is not None and (channel.self_id in members or not self._ours(members)):
            return recorded
        for account, other in self.channels.items():
            if other.self_id and other.self_id in members:
                return account
        return recorded

    def _ours(self, members: Sequence[str]) -> bool:
        return any(c.self_id and c.self_id in members for c in self.channels.values())

    async def refresh_roster(self, account_id: str, room_id: str) -> tuple[int, int]:
        """The roster of one group made to match its member list on the channel."""
        info = await self.info(account_id, room_id)
        if info is None:
            return 0, 0
        # Ids as the platform lists them: one that no column can hold is left out, never
        # allowed to fail the whole group's refresh.
        members = [m for m in info.member_ids if m and len(m) <= MAX_ID and storable(m) == m]
        if len(members) != len(info.member_ids):
            log.warning(
                "%d unusable ids left out of a member list", len(info.member_ids) - len(members)
            )
        changed = await people.sync_members(room_id, members, self.clock.now())
        await self._name_strangers(account_id, members)
        return changed

    async def _name_strangers(self, account_id: str, members: Sequence[str]) -> None:
        """A contact row, with her name, for each member the bot has none for (she only
        ever wrote, or was there before it came): ops find ids by name (`mamabot
        contacts`), and replies name people. Asked of the channel once per person."""
        now = self.clock.now()
        for member in await people.without_contact(members):
            try:
                info = await self.contact_info(account_id, member)
            except ChannelError as exc:
                log.warning("a member's name unavailable: %s", exc)
                return
            name = storable(info.name)[:255] if info else ""
            await people.upsert_contact(member, now, name=name)

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
