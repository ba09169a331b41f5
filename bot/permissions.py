"""Who may command a group, and who the guard never acts on: one set of roles, by contact id.

A role is always decided by contact id (config, the channel's room facts, the allow list,
her tags), never by display name: a member renamed to the owner's name gets nothing.
Roles combine with OR, and are checked cheapest first, so the database is asked only when
the configuration and the room facts did not already answer.

Holding a role is not the same as having power. Anyone can pull the bot into a group of
her own and own it, so the owner and admins of a group command it only where the brand
lets them (`AppConfig.commands_allowed`: groups listed under [[rooms]]), and a command
that reaches beyond one group needs a super admin or a contact config.toml's [admin]
names for that `Scope`.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import Enum
from typing import TYPE_CHECKING

from storage import guard, people

if TYPE_CHECKING:
    from bot.config import AppConfig, RoomSection
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


class Scope(Enum):
    """What reaches beyond one group; the names are [admin]'s keys in config.toml."""

    BAN = "ban"  # #拉黑 / #解除拉黑: out of every group, kept out
    ALLOW = "allow"  # #白名单: the guard passes her in every group
    VIP = "vip"  # a protected tag: the same
    TEACH = "teach"  # #垃圾 / #正常: the model judges every group
    ASK = "ask"  # #问询 of someone in none of her groups: the bot DMs a stranger


# The roles of the people who command a group (and whom no admin may act on).
COMMANDERS = frozenset({Role.SUPER_ADMIN, Role.OWNER, Role.ADMIN})
# Whom the guard never warns or kicks.
PROTECTED = frozenset(_ORDER)


async def listed_by_name(ctx: Context, room: str, topic: str) -> bool:
    """Whether config lets the owner of this group, listed (or not) by its name, command
    it. Anyone can name a group of her own after a listed one: a name counts only for
    the group recorded first under it, never for a later copy. (List groups by id in
    [[rooms]] to be sure.)"""
    config = ctx.services.config
    return config.commands_allowed(room, topic) and await first_of_its_name(config, room, topic)


async def first_of_its_name(config: AppConfig, room: str, topic: str) -> bool:
    """Whether config's entry for this group may be trusted: it names the group by id, or
    by a name this group was the first recorded under (anyone can name a group of her own
    after a brand group; the copy gets nothing: no commands, no posts)."""
    if config.room_settings(room) is not None or not topic:
        return True  # listed by id, or unlisted (nothing to trust)
    first = await people.first_room_named(topic)
    return first is None or first == room


async def brand_group_tags(config: AppConfig, room_id: str, topic: str) -> list[str] | None:
    """The [[rooms]] tags of a brand group (listed, managed, and not a later copy of a
    listed name), None for any other group: posts and invitations go to brand groups only."""
    settings = config.room_settings(room_id, topic)
    if settings is None or not settings.managed:
        return None
    if not await first_of_its_name(config, room_id, topic):
        return None
    return list(settings.tags)


async def brand_group_named(config: AppConfig, group: str) -> str | None:
    """The brand group content names by id or exact name, or None."""
    for room_id, topic in await people.rooms_with(group):
        if await brand_group_tags(config, room_id, topic) is not None:
            return room_id
    return None


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
        """Whether her commands act in this group: a super admin's anywhere, the owner's
        and the configured admins' only in a group the brand lets them command."""
        if self.is_super_admin(ctx, contact):
            return True
        if not await self.commands_allowed(ctx, room):
            return False
        return await self.has_any(ctx, room, contact, (Role.OWNER, Role.ADMIN))

    async def commands_allowed(self, ctx: Context, room: str) -> bool:
        """Whether the group's own owner and admins may command it (config.toml)."""
        config = ctx.services.config
        by_id = config.room_settings(room)
        if by_id is not None:
            return by_id.managed
        info = await ctx.room_info(room)  # listed groups may be matched by name
        return await listed_by_name(ctx, room, info.topic if info else "")

    async def is_commander(self, ctx: Context, room: str, contact: str) -> bool:
        """Whether she holds a commanding role in the group (super admin, owner, configured
        admin), whether or not the brand lets her command it: nobody acts on her."""
        return await self.has_any(ctx, room, contact, COMMANDERS)

    @staticmethod
    def may_reach(ctx: Context, contact: str, scope: Scope) -> bool:
        """Whether she may act beyond one group in `scope`: a super admin, or named for it
        under [admin] in config.toml."""
        config = ctx.services.config
        return contact in config.bot.super_admins or contact in getattr(config.admin, scope.value)

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
