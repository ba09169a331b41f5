"""Who may command a group, and who the guard never acts on: one set of roles, by contact id.

A role is always decided by contact id (config, the channel's room facts, the allow list,
her tags), never by display name: a member renamed to the owner's name gets nothing.
Roles combine with OR, and are checked cheapest first, so the database is asked only when
the configuration and the room facts did not already answer.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import Enum
from typing import TYPE_CHECKING

from storage import guard

if TYPE_CHECKING:
    from bot.config import RoomSection
    from bot.handler import Context


class Role(Enum):
    BOT = "bot"  # one of the bot's own accounts
    SUPER_ADMIN = "super_admin"  # [bot].super_admins: every group
    OWNER = "owner"  # the group's owner, from the channel's room facts
    ADMIN = "admin"  # the group's configured admins ([[rooms]] admins)
    ALLOWED = "allowed"  # on the guard's allow list (#白名单)
    VIP = "vip"  # carries one of the guard's protected tags


# Checked in this order: set lookups, then the (cached) room facts, then the database.
_ORDER = (Role.BOT, Role.SUPER_ADMIN, Role.OWNER, Role.ADMIN, Role.ALLOWED, Role.VIP)

# Who may type the admin commands in a group.
COMMANDERS = frozenset({Role.SUPER_ADMIN, Role.OWNER, Role.ADMIN})
# Whom the guard never warns or kicks.
PROTECTED = frozenset(_ORDER)


class Permissions:
    def __init__(self, self_ids: Collection[str]) -> None:
        self.self_ids = self_ids

    async def has_any(
        self,
        ctx: Context,
        room: str,
        contact: str,
        roles: Collection[Role],
        *,
        vip_tags: Collection[str] = (),
    ) -> bool:
        """Whether she holds one of `roles` in the group. VIP means one of `vip_tags`."""
        for role in _ORDER:
            if role in roles and await self._holds(ctx, room, contact, role, vip_tags):
                return True
        return False

    async def may_command(self, ctx: Context, room: str, contact: str) -> bool:
        """A super admin, the group's owner or one of its configured admins."""
        return await self.has_any(ctx, room, contact, COMMANDERS)

    async def is_protected(
        self, ctx: Context, room: str, contact: str, vip_tags: Collection[str]
    ) -> bool:
        """The bot, anyone who may command the group, the allow-listed and the VIPs."""
        return await self.has_any(ctx, room, contact, PROTECTED, vip_tags=vip_tags)

    @staticmethod
    def is_super_admin(ctx: Context, contact: str) -> bool:
        return contact in ctx.services.config.bot.super_admins

    @staticmethod
    def is_configured_admin(settings: RoomSection | None, contact: str) -> bool:
        return settings is not None and contact in settings.admins

    async def _holds(
        self, ctx: Context, room: str, contact: str, role: Role, vip_tags: Collection[str]
    ) -> bool:
        if role is Role.BOT:
            return contact in self.self_ids
        if role is Role.SUPER_ADMIN:
            return self.is_super_admin(ctx, contact)
        if role is Role.OWNER:
            info = await ctx.room_info(room)
            return info is not None and info.owner_id == contact
        if role is Role.ADMIN:
            return self.is_configured_admin(await ctx.room_settings(room), contact)
        if role is Role.ALLOWED:
            return await guard.is_allowed(contact)
        if not vip_tags:
            return False
        tags = await ctx.services.tags.tags_of(contact)
        return any(tag in tags for tag in vip_tags)
