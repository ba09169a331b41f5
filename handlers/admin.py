"""Group owners' and admins' commands, typed in the group chat or to the bot by DM.

Commands start with # or / and have a Chinese name and an English alias (#踢 / #kick).
The target is an @mention or a contact id. Permission is by contact id only: the room
owner (from the channel), the room's configured admins and the super admins; a member
renamed to the owner's name gets nothing. A non-admin gets one polite refusal, then her
tries are ignored. Every action is audited and answered where the command was typed.

Power only where it was given (bot.permissions): an owner commands her group only when
config.toml lists it under [[rooms]]; a ban, the allow list, a VIP tag, a lesson for the
model and #问询 of someone outside her groups reach every group, so they need a super
admin or a contact named for that scope under [admin].

By DM, the commands about one group (#踢 #警告 #撤销警告 #统计 #公告) take the group's name
or id first ("#统计 孕妈交流群"), unless she runs only one group; the others (#拉黑,
#垃圾, #重载...) need none. A warning and a notice are posted in the group itself.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, time, timedelta
from typing import Any

from bot.events import Event, MessageReceived, MessageType
from bot.features import Feature, On, Platform
from bot.handler import Context, Flow
from bot.permissions import Scope, brand_group_tags, listed_by_name
from flows.dialog import DialogEngine
from handlers.guard.classifier import HAM, SPAM
from handlers.guard.feature import GuardModel
from handlers.guard.handler import GuardHandler, audit
from handlers.guard.judge import KICK, Verdict
from storage import guard as records
from storage import people, stats
from storage.guard import warn_key
from storage.people import KnownRoom

log = logging.getLogger(__name__)

COMMANDS: dict[str, str] = {
    "帮助": "help",
    "help": "help",
    "踢": "kick",
    "kick": "kick",
    "警告": "warn",
    "warn": "warn",
    "撤销警告": "unwarn",
    "unwarn": "unwarn",
    "拉黑": "ban",
    "ban": "ban",
    "解除拉黑": "unban",
    "unban": "unban",
    "白名单": "allow",
    "allow": "allow",
    "垃圾": "spam",
    "spam": "spam",
    "正常": "ham",
    "ham": "ham",
    "统计": "stats",
    "stats": "stats",
    "公告": "notice",
    "notice": "notice",
    "标签": "tag",
    "tag": "tag",
    "重载": "reload",
    "reload": "reload",
    "问询": "ask",
    "ask": "ask",
    "我的id": "myid",
    "myid": "myid",
    "定时": "schedule",
    "schedule": "schedule",
    "停止培育": "stopnurture",
    "stopnurture": "stopnurture",
}

HELP = """群管家命令（只有群主和管理员可用）：
#踢 @某人 — 移出群聊
#警告 @某人 原因 — 警告一次，累计3次移出
#撤销警告 @某人
#拉黑 @某人 — 移出并拉黑，所有群都不能再进
#解除拉黑 @某人
#白名单 @某人 — 群管家不再处理她的消息
#垃圾 内容 / #正常 内容 — 教群管家认广告
#统计 — 今天和近7天的群数据
#公告 内容 — 发一条群公告
#标签 @某人 标签
#重载 — 重新加载内容配置
#问询 @某人 [对话名] — 私聊她完善资料（默认 intake）
#定时 列表 / #定时 暂停 ID / #定时 恢复 ID — 本群的定时群发
#停止培育 @某人 — 不再给她发培育内容
#我的ID — 私聊告诉你自己的ID（填配置用）"""

HELP_DM = """私聊我也可以用：#统计、#公告、#踢、#警告、#撤销警告 后面先写群名，比如：
#统计 孕妈交流群
#公告 孕妈交流群 今晚8点直播
#踢 孕妈交流群 微信ID
私聊时请写对方的微信ID（私聊里不能@人）。"""

# The commands about one group: by DM they need to know which.
ROOM_COMMANDS = {"kick", "warn", "unwarn", "stats", "notice", "schedule"}
# ... except from a super admin by DM, where naming no group means every group.
EVERYWHERE_FOR_SUPER_ADMINS = {"schedule"}
SCHEDULE_CHANGES = {"暂停", "pause", "恢复", "resume"}
# What the on-duty staff ([bot] staff) may use by DM without running a group.
STAFF_COMMANDS = {"stopnurture"}

NOTHING = Verdict("pass", 0.0)
_COMMAND = re.compile(r"^[#/＃]\s*(\S+)\s*(.*)$", re.DOTALL)
_MENTION_TEXT = re.compile(r"@\S+[\s\u2005]?")
# "@小红 不要发广告" typed by hand: a name, then the words after it.
_TYPED_MENTION = re.compile(r"@([^\s\u2005]+)[\s\u2005]*(.*)", re.DOTALL)


UNTOUCHABLE = "不能对群主、管理员或超级管理员执行这个操作哦"
NOT_MANAGED = "这个群不归品牌管理，群管命令在这里用不了哦。需要的话请联系运营"
# Commands that reach every group: what each needs, and the refusal.
BEYOND_ONE_GROUP = "会影响所有群，只有超级管理员或运营指定的管理员可以用哦🙏"
# What someone named only under [admin] (running no group) may use, by scope.
SCOPE_COMMANDS = {
    Scope.BAN: {"ban", "unban"},
    Scope.ALLOW: {"allow"},
    Scope.VIP: {"tag"},
    Scope.TEACH: {"spam", "ham"},
    Scope.ASK: {"ask"},
}
SCOPE_WORDS = {
    Scope.BAN: "拉黑",
    Scope.ALLOW: "白名单",
    Scope.VIP: "受保护的标签",
    Scope.TEACH: "教群管家认广告",
    Scope.ASK: "私聊不在你群里的人",
}


class AdminHandler:
    name = "admin"

    def __init__(
        self,
        guard: GuardHandler,
        model: GuardModel,
        self_ids: set[str],
        dialogs: DialogEngine | None = None,
        posts: Any = None,
        nurture: Any = None,
    ) -> None:
        self.guard = guard
        # The scheduled posts' and nurture sequences' own objects (flows/posts.py,
        # flows/nurture.py); None in an app built without them.
        self.posts = posts
        self.nurture = nurture
        self.model = model  # #垃圾 / #正常 teach it, for every instance
        self.self_ids = self_ids
        self.dialogs = dialogs
        self.permissions = guard.permissions

    async def handle(self, event: Event, ctx: Context) -> Flow | None:
        assert isinstance(event, MessageReceived)  # a text message: the feature's filter
        match = _COMMAND.match(event.text.strip())
        if match is None:
            return None
        word, rest = match.group(1), match.group(2).strip()
        command = COMMANDS.get(word.casefold())
        if event.room is None:
            return await self._private(event, ctx, word, command, rest)
        room = event.room
        if command == "myid":
            return await self._myid(event, ctx)
        if not await self.is_admin(ctx, room, event.sender_id):
            if command is not None and await self.permissions.is_commander(
                ctx, room, event.sender_id
            ):
                return await self._refuse(event, ctx, command, room, NOT_MANAGED)
            return await self._refuse(event, ctx, command, room)
        # Confirmations, help, stats and errors are for her, not for every mother in the
        # group: what members need (a warning, a notice) is posted to the group explicitly.
        ctx.private_replies = True
        if command is None:
            await ctx.reply(f"没有“{word}”这个命令，发 #帮助 看看能用的命令～")
            return Flow.STOP
        await getattr(self, f"_{command}")(event, ctx, room, rest)
        return Flow.STOP

    async def _refuse(
        self,
        event: MessageReceived,
        ctx: Context,
        command: str | None,
        where: str,
        why: str = "抱歉，这个命令只有群主和管理员可以用哦🙏",
    ) -> Flow | None:
        if command is None:
            return None  # "#话题" from a member is just a message
        key = f"admin:refused:{where}:{event.sender_id}"
        if await ctx.kv.set_if_absent(key, "1", ttl=86400):
            await ctx.reply(why, [event.sender_id])
        return Flow.STOP

    async def _beyond_one_group(self, ctx: Context, sender: str, scope: Scope) -> bool:
        """Whether the sender may act in `scope` (every group); tells her when not."""
        if self.permissions.may_reach(ctx, sender, scope):
            return True
        await ctx.reply(f"{SCOPE_WORDS[scope]}{BEYOND_ONE_GROUP}")
        return False

    async def _private(
        self, event: MessageReceived, ctx: Context, word: str, command: str | None, rest: str
    ) -> Flow | None:
        """A command typed to the bot by DM: allowed to the super admins and to whoever runs
        at least one group; the commands about one group name it first."""
        if command == "myid":
            return await self._myid(event, ctx)
        if ctx.services.interactions is not None:
            await ctx.services.interactions.flush()  # groups seen so far are in the room table
        rooms = await self.rooms_run_by(ctx, event.sender_id)
        if not rooms and not self.permissions.is_super_admin(ctx, event.sender_id):
            # Named under [admin] but running no group: her scopes' commands only.
            allowed = {"help"}.union(
                *(
                    SCOPE_COMMANDS[scope]
                    for scope in Scope
                    if self.permissions.may_reach(ctx, event.sender_id, scope)
                )
            )
            if event.sender_id in ctx.services.config.bot.staff:
                allowed |= STAFF_COMMANDS
            if allowed == {"help"} or (command is not None and command not in allowed):
                return await self._refuse(event, ctx, command, "dm")
        if command is None:
            await ctx.reply(f"没有“{word}”这个命令，发 #帮助 看看能用的命令～")
            return Flow.STOP
        room: str | None = None
        if command in ROOM_COMMANDS:
            # Any group of this account named first; one she does not run is refused, never
            # mistaken for a target in her only group.
            named = self._named(rest, _by_name(await people.rooms_on(event.account_id)))
            if named is not None and all(r.room_id != named[0] for r in rooms):
                await ctx.reply("你不是这个群的群主或管理员，不能用命令管理它哦🙏")
                return Flow.STOP
            everywhere = command in EVERYWHERE_FOR_SUPER_ADMINS and (
                self.permissions.is_super_admin(ctx, event.sender_id)
            )
            if named is not None:
                room, rest = named
            elif everywhere:
                room = None
            elif len(rooms) == 1:
                room = rooms[0].room_id
            if room is None and not everywhere:
                names = "、".join(r.topic or r.room_id for r in rooms[:20]) or "（还没有）"
                await ctx.reply(
                    f"请在命令后面先写群名，比如：#{word} {rooms[0].topic if rooms else '群名'}"
                    f"\n你管理的群：{names}"
                )
                return Flow.STOP
        await getattr(self, f"_{command}")(event, ctx, room, rest)
        return Flow.STOP

    async def rooms_run_by(self, ctx: Context, contact: str) -> list[KnownRoom]:
        """The groups of this account she may command: all of them for a super admin, else
        those the brand lets their owners command (bot.permissions) that she owns or is a
        configured admin of. By name, longest first. The recorded owner may be out of
        date (a group handed over): each group found by it is checked again against the
        channel's room facts."""
        config = ctx.services.config
        permissions = self.permissions
        everything = permissions.is_super_admin(ctx, contact)
        mine = []
        for room in await people.rooms_on(ctx.event.account_id):
            if not everything and not await listed_by_name(ctx, room.room_id, room.topic):
                continue
            settings = config.room_settings(room.room_id, room.topic)
            configured = permissions.is_configured_admin(settings, contact)
            owner = room.owner_id == contact and await self.is_admin(ctx, room.room_id, contact)
            if everything or configured or owner:
                mine.append(room)
        return _by_name(mine)

    @staticmethod
    def _named(rest: str, rooms: list[KnownRoom]) -> tuple[str, str] | None:
        """The group named at the start of `rest` (name or id, 「」 allowed) and the words
        after it; None when `rest` does not start with one."""
        text = rest.strip()
        for room in rooms:
            for name in (f"「{room.topic}」", room.topic, room.room_id):
                if name and text.startswith(name) and text[len(name) : len(name) + 1].strip() == "":
                    return room.room_id, text[len(name) :].strip()
        return None

    async def is_admin(self, ctx: Context, room: str, contact: str) -> bool:
        return await self.permissions.may_command(ctx, room, contact)

    def _target(self, event: MessageReceived, rest: str) -> tuple[str | None, str]:
        """The @mentioned contact (or a contact id written first), and the words after.
        A hand-typed "@名字" (no mention id) gives no target here: see `_named_target`."""
        others = [m for m in event.mentions if m not in self.self_ids]
        text = _MENTION_TEXT.sub(" ", rest).strip()
        if others:
            return others[0], text
        if _TYPED_MENTION.match(rest.strip()):
            return None, text
        parts = text.split(maxsplit=1)
        if parts:
            return parts[0], parts[1] if len(parts) > 1 else ""
        return None, ""

    async def _need_target(
        self, event: MessageReceived, ctx: Context, rest: str
    ) -> tuple[str | None, str]:
        """The target and the words after it; asks for an @mention when there is none."""
        target, words = self._target(event, rest)
        if target is None:
            await ctx.reply(
                "请写要处理的人的微信ID，比如：#拉黑 wxid_abc"
                if event.room is None
                else "请@要处理的人，比如：#踢 @某某"
            )
        return target, words

    async def _named_target(
        self, event: MessageReceived, ctx: Context, room: str | None, rest: str
    ) -> tuple[str | None, str]:
        """The target of a command about one group's member, and the words after it.

        Mention ids win. A hand-typed "@名字" is looked up among the group's members by
        display name; a word written first is read as a contact id. Either way she must be
        a member of the group: the reason is never read as the target, and nobody outside
        the group is acted on. Replies (and gives None) when that fails."""
        target, words = self._target(event, rest)
        typed = _TYPED_MENTION.match(rest.strip()) if target is None else None
        if target is None and typed is None:
            await self._need_target(event, ctx, rest)  # asks for an @mention
            return None, words
        mentioned = any(m not in self.self_ids for m in event.mentions)
        if room is None or mentioned:
            return target, words  # the platform's mention ids are members by construction
        info = await ctx.room_info(room)
        members = list(info.member_ids) if info else []
        if typed is not None:
            name = typed.group(1)
            found = [m for m in members if await ctx.display_name(m) == name]
            if len(found) != 1:
                await ctx.reply(
                    f"群里没有叫“{name}”的人，请在群里@她"
                    if not found
                    else f"群里有{len(found)}个人都叫“{name}”，请在群里直接@选择要处理的人"
                )
                return None, words
            return found[0], typed.group(2).strip()
        if target is not None and target not in members:
            await ctx.reply("她不在这个群里，请在群里@要处理的人")
            return None, words
        return target, words

    async def _member_of(
        self, event: MessageReceived, ctx: Context, room: str | None, rest: str
    ) -> tuple[str, str, str] | None:
        """For #踢 #警告 #撤销警告: the group (always known: one of ROOM_COMMANDS), the target
        (a member of it) and the words after it; None when there is none (she was told)."""
        assert room is not None
        target, words = await self._named_target(event, ctx, room, rest)
        if target is None:
            return None
        return room, target, words

    # ------------------------------------------------------------------ commands

    @staticmethod
    async def _myid(event: MessageReceived, ctx: Context) -> Flow:
        """Anyone may ask for her own contact id (ops need theirs for config.toml); the
        answer goes by DM, never to the group."""
        ctx.private_replies = True
        await ctx.reply(
            f"你的ID：{event.sender_id}\n（填在 config.toml 的 super_admins 或 admins 里）"
        )
        return Flow.STOP

    async def _help(
        self, event: MessageReceived, ctx: Context, room: str | None, rest: str
    ) -> None:
        await ctx.reply(HELP if event.room is not None else f"{HELP}\n\n{HELP_DM}")

    async def _refuse_untouchable(self, ctx: Context, rooms: list[str], target: str) -> bool:
        """Nobody acts on a super admin, or on the owner or an admin of a group the action
        reaches (DESIGN: admin power). True, with a reply, when the target is one."""
        untouchable = self.permissions.is_super_admin(ctx, target)
        for room in rooms:
            if untouchable:
                break
            # Power, not a title: the owner of a group of her own is no one's to protect.
            untouchable = await self.permissions.may_command(ctx, room, target)
        if untouchable:
            await ctx.reply(UNTOUCHABLE)
        return untouchable

    async def _kick(
        self, event: MessageReceived, ctx: Context, room: str | None, rest: str
    ) -> None:
        found = await self._member_of(event, ctx, room, rest)
        if found is None:
            return
        room, target, reason = found
        if await self._refuse_untouchable(ctx, [room], target):
            return
        now = ctx.clock.now()
        verdict = Verdict(KICK, 1.0, [reason or "管理员移出"])
        await ctx.kick(room, target, reason or "管理员移出")
        await audit(now, room, target, "kick", event.sender_id, verdict, None)
        who = await ctx.display_name(target)  # a name, never an id
        await ctx.reply(f"已将 {who} 移出{await self._group(ctx, event, room)}")
        if event.room is not None:  # the group sees that she left, never why
            await ctx.say(room_id=room, text=f"已将 {who} 移出群聊")

    async def _warn(
        self, event: MessageReceived, ctx: Context, room: str | None, rest: str
    ) -> None:
        found = await self._member_of(event, ctx, room, rest)
        if found is None:
            return
        room, target, reason = found
        if await self._refuse_untouchable(ctx, [room], target):
            return
        info = await ctx.room_info(room)  # a group's rules may name it, not its id
        rules = ctx.content.guard.for_room(room, info.topic if info else "")
        ttl = rules.warning_memory_days * 86400
        count = await records.add_warning(ctx.kv, room, target, event.event_id, ttl)
        verdict = Verdict("warn", 1.0, [reason or "管理员警告"])
        await audit(ctx.clock.now(), room, target, "warn", event.sender_id, verdict, None)
        if count >= rules.warnings_before_kick:
            await self.guard.kick(ctx, room, target, verdict, None, by=event.sender_id)
            where = await self._group(ctx, event, room)
            who = await ctx.display_name(target)  # a name, never an id
            await ctx.reply(f"{who} 已累计{count}次警告，已移出{where}")
            return
        allowed = rules.warnings_before_kick - 1
        warning = f"⚠️ 警告：{reason or '请遵守群规'}（第{count}次，共{allowed}次）"
        await ctx.say(room_id=room, text=warning, mentions=[target])
        if event.room is None:
            where = await self._group(ctx, event, room)
            who = await ctx.display_name(target)  # a name, never an id
            await ctx.reply(f"已在{where}警告 {who}（第{count}次，共{allowed}次）")

    async def _unwarn(
        self, event: MessageReceived, ctx: Context, room: str | None, rest: str
    ) -> None:
        found = await self._member_of(event, ctx, room, rest)
        if found is None:
            return
        room, target, _ = found
        await ctx.kv.delete(warn_key(room, target))
        await audit(
            ctx.clock.now(), room, target, "unwarn", event.sender_id, Verdict("pass", 0), None
        )
        who = await ctx.display_name(target)  # a name, never an id
        await ctx.reply(f"已撤销 {who} 在{await self._group(ctx, event, room)}的警告")

    async def _ban(self, event: MessageReceived, ctx: Context, room: str | None, rest: str) -> None:
        if not await self._beyond_one_group(ctx, event.sender_id, Scope.BAN):
            return
        target, reason = await self._need_target(event, ctx, rest)
        if target is None:
            return
        # A ban reaches every group she is in: she must command none of them.
        rooms = {*([room] if room else []), *await people.rooms_of(target)}
        if await self._refuse_untouchable(ctx, sorted(rooms), target):
            return
        verdict = Verdict(KICK, 1.0, [reason or "管理员拉黑"])
        await records.ban(target, reason or "管理员拉黑", ctx.clock.now())
        await audit(ctx.clock.now(), room, target, "ban", event.sender_id, verdict, None)
        removed = await self.guard.kick(ctx, room, target, verdict, None, by=event.sender_id)
        who = await ctx.display_name(target)  # a name, never an id
        await ctx.reply(
            f"已将 {who} 拉黑，所有群都不能再进"
            + (f"（已从{len(removed)}个群移出）" if event.room is None else "")
        )

    async def _unban(
        self, event: MessageReceived, ctx: Context, room: str | None, rest: str
    ) -> None:
        if not await self._beyond_one_group(ctx, event.sender_id, Scope.BAN):
            return
        target, _ = await self._need_target(event, ctx, rest)
        if target is None:
            return
        lifted = await records.lift_ban(target)
        await audit(
            ctx.clock.now(), room, target, "unban", event.sender_id, Verdict("pass", 0), None
        )
        who = await ctx.display_name(target)  # a name, never an id
        await ctx.reply(f"已解除 {who} 的拉黑" if lifted else f"{who} 不在黑名单里")

    async def _allow(
        self, event: MessageReceived, ctx: Context, room: str | None, rest: str
    ) -> None:
        if not await self._beyond_one_group(ctx, event.sender_id, Scope.ALLOW):
            return
        target, _ = await self._need_target(event, ctx, rest)
        if target is None:
            return
        await records.allow(target, ctx.clock.now())
        await audit(
            ctx.clock.now(), room, target, "allow", event.sender_id, Verdict("pass", 0), None
        )
        who = await ctx.display_name(target)  # a name, never an id
        await ctx.reply(f"已把 {who} 加入白名单")

    async def _learn(self, event: MessageReceived, ctx: Context, rest: str, label: str) -> None:
        if not await self._beyond_one_group(ctx, event.sender_id, Scope.TEACH):
            return
        text = rest.strip()
        if not text:
            await ctx.reply("请在命令后面附上内容，比如：#垃圾 加我V看朋友圈")
            return
        await self.model.teach(label, text, event.sender_id, ctx.clock.now())
        await audit(ctx.clock.now(), event.room, "", label, event.sender_id, NOTHING, text)
        await ctx.reply(
            "收到，已经记住这类内容是广告了" if label == SPAM else "收到，以后不会再误判这类内容"
        )

    async def _spam(
        self, event: MessageReceived, ctx: Context, room: str | None, rest: str
    ) -> None:
        await self._learn(event, ctx, rest, SPAM)

    async def _ham(self, event: MessageReceived, ctx: Context, room: str | None, rest: str) -> None:
        await self._learn(event, ctx, rest, HAM)

    async def _notice(
        self, event: MessageReceived, ctx: Context, room: str | None, rest: str
    ) -> None:
        if not rest:
            await ctx.reply("请在命令后面写公告内容，比如：#公告 今晚8点直播")
            return
        assert room is not None  # one of ROOM_COMMANDS
        await ctx.say(room_id=room, text=f"📢 群公告\n{rest}")
        await audit(ctx.clock.now(), room, "", "notice", event.sender_id, NOTHING, rest)
        if event.room is None:
            await ctx.reply(f"已在{await self._group(ctx, event, room)}发布公告")

    async def _tag(self, event: MessageReceived, ctx: Context, room: str | None, rest: str) -> None:
        if not rest.strip() and not event.mentions:
            await ctx.reply("用法：#标签 @某人 标签")
            return
        target, tag = await self._named_target(event, ctx, event.room, rest)
        if target is None:
            return
        if not tag:
            await ctx.reply("用法：#标签 @某人 标签")
            return
        guard_rules = ctx.content.guard
        protected = {*guard_rules.guard.protected_tags}
        for rules in guard_rules.rooms:
            protected.update(rules.protected_tags)
        if tag in protected and not await self._beyond_one_group(ctx, event.sender_id, Scope.VIP):
            return
        # By DM the target can be anyone: only members of her groups, unless she may tag
        # beyond them.
        if (
            event.room is None
            and not self.permissions.may_reach(ctx, event.sender_id, Scope.VIP)
            and not await self._in_her_groups(ctx, event.sender_id, target)
        ):
            await ctx.reply("她不在你管理的群里，不能给她打标签哦")
            return
        await ctx.add_tag(target, tag, source="admin", detail=event.sender_id)
        await audit(ctx.clock.now(), event.room, target, "tag", event.sender_id, NOTHING, tag)
        who = await ctx.display_name(target)  # a name, never an id
        await ctx.reply(f"已给 {who} 打上标签「{tag}」")

    async def _reload(
        self, event: MessageReceived, ctx: Context, room: str | None, rest: str
    ) -> None:
        reload = getattr(ctx.services.content, "reload_and_tell", None)
        problems = await reload() if reload else ["reload is not available"]
        outcome = Verdict("pass", 0.0, problems[:1])
        await audit(ctx.clock.now(), event.room, "", "reload", event.sender_id, outcome, None)
        await ctx.reply(
            "内容已重新加载✅" if not problems else "内容有错误，仍在用旧内容：\n" + problems[0]
        )

    async def _private_target(
        self, event: MessageReceived, ctx: Context, rest: str, usage: str
    ) -> tuple[str | None, str]:
        """The target of a command that makes the bot write to her privately (#问询,
        #停止培育), and the words after it. In a group she is one of its members; by DM the
        target can be anyone, so one outside the sender's groups needs someone trusted with
        every group."""
        if not rest.strip() and not event.mentions:
            await ctx.reply(usage)
            return None, ""
        target, words = await self._named_target(event, ctx, event.room, rest)
        if target is None:
            return None, words
        if (
            event.room is None
            and not await self._in_her_groups(ctx, event.sender_id, target)
            and not await self._beyond_one_group(ctx, event.sender_id, Scope.ASK)
        ):
            return None, words
        return target, words

    async def _ask(self, event: MessageReceived, ctx: Context, room: str | None, rest: str) -> None:
        """Start a dialog with her by DM (the intake unless another dialog id is given)."""
        target, dialog_id = await self._private_target(
            event, ctx, rest, "用法：#问询 @某人 [对话名]"
        )
        if target is None:
            return
        spec = ctx.content.dialogs.get(dialog_id or "intake")
        if spec is None or self.dialogs is None:
            await ctx.reply(f"没有叫“{dialog_id or 'intake'}”的对话，请检查 dialogs.toml")
            return
        started = await self.dialogs.start_from_job(spec, target, event.account_id, ctx.clock.now())
        await audit(ctx.clock.now(), room, target, "ask", event.sender_id, NOTHING, spec.id)
        who = await ctx.display_name(target)  # a name, never an id
        await ctx.reply(
            f"已私聊 {who} 完善资料" if started else f"{who} 已经在对话中，或者资料已经齐全"
        )

    async def _schedule(
        self, event: MessageReceived, ctx: Context, room: str | None, rest: str
    ) -> None:
        """#定时 列表 / 暂停 ID / 恢复 ID: in one group, or (a super admin by DM naming no
        group) everywhere."""
        if self.posts is None:
            await ctx.reply("这个机器人没有开启定时群发")
            return
        info = await ctx.room_info(room) if room is not None else None
        answer = await self.posts.command(room, info.topic if info else "", rest)
        if rest.split(maxsplit=1)[:1] and rest.split()[0].casefold() in SCHEDULE_CHANGES:
            await audit(ctx.clock.now(), room, "", "schedule", event.sender_id, NOTHING, rest)
        await ctx.reply(answer)

    async def _stopnurture(
        self, event: MessageReceived, ctx: Context, room: str | None, rest: str
    ) -> None:
        """#停止培育 @x: end her nurture sequences (no more of their messages)."""
        if not await self._may_stop_nurture(event, ctx):
            return
        if not rest.strip() and not event.mentions:
            await ctx.reply("用法：#停止培育 @某人（私聊时写她的微信ID）")
            return
        target, _words = await self._named_target(event, ctx, event.room, rest)
        if target is None:
            return
        if self.nurture is None:
            await ctx.reply("这个机器人没有开启培育内容")
            return
        ended = await self.nurture.stop(target, event.sender_id)
        await audit(
            ctx.clock.now(), room, target, "nurture_stop", event.sender_id, NOTHING, ",".join(ended)
        )
        who = await ctx.display_name(target)
        await ctx.reply(
            f"已停止给 {who} 发培育内容（{'、'.join(ended)}）"
            if ended
            else f"{who} 现在没有进行中的培育内容"
        )

    async def _may_stop_nurture(self, event: MessageReceived, ctx: Context) -> bool:
        """Ending her sequences reaches beyond one group (they are the brand's, by DM):
        in a group, only in a brand group (never one opened to its owner by
        commands_in_unlisted_groups), on one of its members; by DM, a super admin or the
        on-duty staff."""
        config = ctx.services.config
        if event.room is None:
            sender = event.sender_id
            if self.permissions.is_super_admin(ctx, sender) or sender in config.bot.staff:
                return True
            await ctx.reply(
                "私聊停止培育只有超级管理员和值班顾问可以用，请在她所在的品牌群里用哦🙏"
            )
            return False
        info = await ctx.room_info(event.room)
        if await brand_group_tags(config, event.room, info.topic if info else "") is None:
            await ctx.reply("停止培育只能在品牌群里用哦🙏")
            return False
        return True

    async def _stats(
        self, event: MessageReceived, ctx: Context, room: str | None, rest: str
    ) -> None:
        assert room is not None  # one of ROOM_COMMANDS
        if ctx.services.interactions is not None:
            await ctx.services.interactions.flush()
        now = ctx.clock.now()
        today = datetime.combine(now.date(), time(0), tzinfo=now.tzinfo)
        week = today - timedelta(days=6)
        lines = [
            "📊 群数据"
            if event.room is not None
            else f"📊 {await self._group(ctx, event, room)}数据"
        ]
        for label, start in (("今天", today), ("近7天", week)):
            seen = await stats.room_activity(room, start)
            lines.append(
                f"{label}：消息{seen.messages}条，活跃{seen.active}人，进群{seen.joins}人，"
                f"退群{seen.leaves}人，警告{seen.warnings}次，移出{seen.kicks}人"
            )
        await ctx.reply("\n".join(lines))

    async def _in_her_groups(self, ctx: Context, commander: str, target: str) -> bool:
        """Whether `target` is a member of one of the groups `commander` may command."""
        for room in await self.rooms_run_by(ctx, commander):
            info = await ctx.room_info(room.room_id)
            if info is not None and target in info.member_ids:
                return True
        return False

    @staticmethod
    async def _group(ctx: Context, event: MessageReceived, room: str) -> str:
        """How a reply names the group: 群聊 in the group itself, its name by DM."""
        if event.room is not None:
            return "群聊"
        info = await ctx.room_info(room)
        return f"「{info.topic if info and info.topic else room}」"


def _by_name(rooms: list[KnownRoom]) -> list[KnownRoom]:
    """Longest name first, so "宝妈群2" is matched before "宝妈群"."""
    return sorted(rooms, key=lambda r: (-len(r.topic), r.topic, r.room_id))


def feature(p: Platform) -> Feature:
    """Group owners' and admins' # commands, in the group or by DM."""
    handler = AdminHandler(
        p.need("guard", "handler"),
        p.need("guard", "model"),
        p.self_ids,
        p.need("dialogs", "engine"),
        _optional(p, "posts", "posts"),
        _optional(p, "nurture", "nurture"),
    )
    return Feature(
        name="admin",
        handlers=[(handler, On((MessageReceived,), types=(MessageType.TEXT,)))],
    )


def _optional(p: Platform, feature: str, export: str) -> Any:
    """Another feature's export, or None when this app is built without it."""
    try:
        return p.need(feature, export)
    except KeyError:
        return None
