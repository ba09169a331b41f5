"""The guard in the chain: judge each group message, warn, kick, and keep the blacklist.

It runs right after the bookkeeping and stops the chain when it acts. It never acts on the
bot, the group owner, the group's admins, super admins, allowlisted contacts or contacts
with a protected tag (all by contact id: a display name never counts).

- warn: the member is @mentioned with the reason; the Nth warning (default 3) is a kick;
- kick: removed from the group, put on the cross-group blacklist, removed from every other
  managed group she is in, and removed again whenever she rejoins, until an admin lifts it;
- every action goes to the guard_audit table, and the owner and admins get a short DM.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from bot.config import GuardRules
from bot.events import Event, MemberJoined, MessageReceived, MessageType
from bot.handler import Context, Flow
from bot.permissions import Permissions
from handlers.guard import qr
from handlers.guard.judge import KICK, PASS, RULES_SEE, WARN, WEAK, Hit, Judge, Verdict
from handlers.guard.normalize import fold
from storage import guard as records
from storage import guard_standing
from storage.kv import KV

log = logging.getLogger(__name__)

MIN_REPEAT_CHARS = 6  # "好的" said three times is not spam
MIN_WAVE_CHARS = 12
NEWCOMER_TTL = 7 * 86400


def newcomer_keys(room: str, who: str) -> tuple[str, str]:
    """Her join in `room` (g:joined) and her messages there since (g:new), kept for
    NEWCOMER_TTL: the newcomer bonus reads them, and forgetting her deletes them."""
    return f"g:joined:{room}:{who}", f"g:new:{room}:{who}"


def remind_key(room: str, day: str) -> str:
    """The group's member-contact reminder of `day` (names nobody: one a day per group)."""
    return f"g:remind:{room}:{day}"


MEMBER_CONTACT_REMINDER = "温馨提醒：本群不建议群友私下互加好友，有问题欢迎在群里交流哦～"


def flood_key(room: str, who: str) -> str:
    return f"g:flood:{room}:{who}"


def repeat_key(who: str, folded: str) -> str:
    """Her repeats of one text: a digest of her id and the text, so the key names
    neither (it cannot be found to delete after she is forgotten; it expires within
    repeat_seconds)."""
    digest = hashlib.sha1(f"{who}\x00{folded}".encode()).hexdigest()[:20]
    return f"g:rep:{digest}"


async def forget_keys(contact: str, rooms: Iterable[str], kv: KV) -> int:
    """Delete her newcomer and flood keys in `rooms`; returns how many there were."""
    dropped = 0
    for room in rooms:
        for key in (*newcomer_keys(room, contact), flood_key(room, contact)):
            dropped += await kv.delete(key)
    return dropped


_IDS = re.compile(r"[0-9a-z]+")


def shape(folded: str) -> str:
    """What stays the same when an ad is copied with small changes: the folded text with
    every run of letters and digits (ids, links, prices, counters) as one mark. "加微信abc1
    领20元" and "加微信xy99领30元" have one shape."""
    return _IDS.sub("#", folded)


# What a mother reads about why she was warned: what she did, in her words. The audit
# keeps the detector's own reason (and score) for ops.
_PLAIN = (
    ("像广告", "内容像广告"),
    ("外部链接", "发了外部链接"),
    ("留微信号", "留了联系方式"),
    ("手机号", "留了手机号"),
    ("招揽加微信", "拉人加微信"),
    ("引导私下购买", "引导私下购买"),
    ("引导私聊", "引导私聊"),
    ("淘口令", "发了购物口令"),
    ("违禁词", "含有本群不允许的词"),
    ("刷屏", "刷屏"),
)


def plain_reason(reason: str) -> str:
    """The detector's reason in words a mother understands, never a score."""
    if reason.startswith("非管理员发"):  # a type the group allows only admins: 二维码, 小程序
        return "发了" + reason.removeprefix("非管理员发")
    for marker, plain in _PLAIN:
        if marker in reason:
            return plain
    return reason.split("（")[0].split("(")[0].strip() or "违反群规"


def ladder(count: int, kick_at: int) -> str:
    """Where she stands on the warning ladder, as it works: the last warning says the
    next time means removal."""
    if count >= kick_at - 1:
        return f"第{count}次提醒，再违规将被移出群聊"
    return f"第{count}次提醒，累计{kick_at}次将被移出群聊"


class GuardHandler:
    name = "guard"

    def __init__(self, judge: Judge, self_ids: set[str]) -> None:
        self.judge = judge
        self.self_ids = self_ids
        # Shared with the admin commands, which reach it through this handler.
        self.permissions = Permissions(self_ids)
        self._decoding = asyncio.Semaphore(2)  # images decoded at once, off the event loop

    async def handle(self, event: Event, ctx: Context) -> Flow | None:
        if isinstance(event, MemberJoined):
            return await self._joined(event, ctx)
        if not isinstance(event, MessageReceived) or event.is_dm or event.room is None:
            return None
        room = event.room
        if not await ctx.services.rooms.is_managed(event.account_id, room):
            return None
        info = await ctx.room_info(room)
        rules = ctx.content.guard.for_room(room, info.topic if info else "")
        if not rules.enabled:
            return None
        # Judge first (CPU and the key-value store only); the database is asked who is
        # protected only for the few messages that would be acted on.
        history = await self._history(event, ctx, rules)
        newcomer = await self._newcomer(event, ctx, rules)
        asked = False  # whether she is protected has been asked (and she is not)
        if event.type is MessageType.IMAGE and rules.types.get("qr_image", "allow") != "allow":
            # Fetching and decoding cost more than asking who is protected: ask first.
            if await self.protected(ctx, room, event.sender_id, rules):
                return None
            asked = True
            history += await self._qr_codes(ctx, rules)
        verdict = self.judge.judge(
            event.text, rules, type=event.type, history=history, newcomer=newcomer
        )
        if verdict.verdict == PASS:
            if verdict.contact_exchange and rules.member_contact == "remind":
                await self._remind(ctx, room, event, rules)
            return None
        if not asked and await self.protected(ctx, room, event.sender_id, rules):
            return None
        if verdict.verdict == KICK and not newcomer and await self._established(ctx, event, rules):
            # She has been here a while: warned before any kick, unless the text is an
            # unmistakable commercial ad with a contact or a link (Judge.judge).
            verdict = self.judge.judge(
                event.text, rules, type=event.type, history=history, established=True
            )
        if verdict.verdict == KICK:
            await self.kick(ctx, room, event.sender_id, verdict, event.text, by="guard")
            return Flow.STOP
        await self.warn(ctx, room, event, rules, verdict)
        return Flow.STOP

    # ------------------------------------------------------------------ who is safe

    async def protected(self, ctx: Context, room: str, contact: str, rules: GuardRules) -> bool:
        return await self.permissions.is_protected(ctx, room, contact, rules.protected_tags)

    # ------------------------------------------------------------------ history

    async def _history(self, event: MessageReceived, ctx: Context, rules: GuardRules) -> list[Hit]:
        kv, room, who = ctx.kv, event.room, event.sender_id
        hits: list[Hit] = []
        if rules.flood:
            # The event is the window's member: handling it again (after a store outage)
            # does not count it twice.
            count = await kv.window_hit(
                flood_key(room or "", who), rules.flood_seconds, member=event.event_id
            )
            if count >= rules.flood_messages:
                hits.append(Hit(0.7, f"刷屏（{count}条/{rules.flood_seconds:.0f}秒）"))
        folded = fold(event.text[:RULES_SEE])  # the judge's budget: a huge text is cut
        if event.type is MessageType.TEXT and len(folded) >= MIN_REPEAT_CHARS:
            # Her own repeats compare the text itself: a mother correcting her 接龙 line
            # ("3号楼 要2份" -> "要3份") is not repeating herself. Waves compare the shape.
            digest = hashlib.sha1(shape(folded).encode()).hexdigest()[:16]
            if rules.repeats:
                repeats = await kv.window_hit(
                    repeat_key(who, folded), rules.repeat_seconds, member=event.event_id
                )
                if repeats >= rules.repeat_times:
                    hits.append(Hit(0.75, f"重复发送同一内容{repeats}次"))
            if rules.waves and len(folded) >= MIN_WAVE_CHARS:
                rooms = await kv.window_hit(f"g:wave:{digest}", rules.wave_seconds, member=room)
                if rooms >= rules.wave_rooms:
                    # Weak alone (mothers ask the same question in several groups); with
                    # a link or a contact it tips the message over.
                    hits.append(Hit(0.55, f"同一内容在{rooms}个群发送"))
        return hits

    async def _qr_codes(self, ctx: Context, rules: GuardRules) -> list[Hit]:
        """A hit for an image holding a code to reach or pay someone (a personal, group or
        WeCom code, a payment code), by the group's qr_image policy."""
        data = await ctx.image()
        if not data:
            return []
        async with self._decoding:
            payloads = await asyncio.to_thread(qr.decode, data)
        if not payloads:
            return []
        kinds = [qr.describe(payload) for payload in payloads]
        soliciting = [kind for kind in kinds if kind in qr.SOLICITING]
        if not soliciting:
            # A code to a page (a hospital report, a parcel label): a weak sign only, that
            # never acts alone.
            log.info("image with a QR code to %s: a weak sign", ", ".join(kinds))
            return [Hit(WEAK, f"图片含二维码（{kinds[0]}）")]
        score = 0.95 if rules.types.get("qr_image") == "kick" else 0.7
        return [Hit(score, f"非管理员发二维码图片（{soliciting[0]}）")]

    @staticmethod
    async def _established(ctx: Context, event: MessageReceived, rules: GuardRules) -> bool:
        """Present for established_days, or established_messages messages, in the group."""
        if not rules.established_days and not rules.established_messages:
            return False
        if ctx.services.interactions is not None:
            await ctx.services.interactions.flush()  # her messages so far are counted
        since = ctx.clock.now() - timedelta(days=rules.established_days)
        return await guard_standing.established(
            event.room or "", event.sender_id, since, rules.established_messages
        )

    async def _remind(
        self, ctx: Context, room: str, event: MessageReceived, rules: GuardRules
    ) -> None:
        """In a group that forbids members adding each other: one gentle reminder a day
        (the group's day), which is no warning and counts for nothing."""
        today = ctx.clock.now().date().isoformat()
        if not await ctx.kv.set_if_absent(remind_key(room, today), "1", ttl=2 * 86400):
            return
        if await self.protected(ctx, room, event.sender_id, rules):
            return
        name = event.sender_name or await ctx.display_name(event.sender_id)
        log.info("guard: member-contact reminder in %s", room)
        await ctx.reply(f"@{name} {MEMBER_CONTACT_REMINDER}", mentions=[event.sender_id])

    @staticmethod
    async def _newcomer(event: MessageReceived, ctx: Context, rules: GuardRules) -> bool:
        """Whether this is one of her first messages since she joined (in the last week)."""
        if not rules.newcomer_messages:
            return False
        joined, new = newcomer_keys(event.room or "", event.sender_id)
        if await ctx.kv.get(joined) is None:
            return False
        said = await ctx.kv.incr(new, ttl=NEWCOMER_TTL)
        return said <= rules.newcomer_messages

    # ------------------------------------------------------------------ actions

    async def warn(
        self,
        ctx: Context,
        room: str,
        event: MessageReceived,
        rules: GuardRules,
        verdict: Verdict,
    ) -> None:
        who = event.sender_id
        ttl = rules.warning_memory_days * 86400
        count = await records.add_warning(ctx.kv, room, who, event.event_id, ttl)
        if count >= rules.warnings_before_kick:
            verdict = Verdict(KICK, verdict.score, [*verdict.reasons, f"第{count}次警告"])
            await self.kick(ctx, room, who, verdict, event.text, by="guard")
            return
        await audit(ctx.clock.now(), room, who, WARN, "guard", verdict, event.text)
        reason = "、".join(dict.fromkeys(plain_reason(r) for r in verdict.reasons[:2]))
        name = event.sender_name or await ctx.display_name(who)
        await ctx.reply(
            f"@{name} 温馨提醒：{reason}。本群不允许广告和引流哦，"
            f"{ladder(count, rules.warnings_before_kick)}",
            mentions=[who],
        )

    async def kick(
        self,
        ctx: Context,
        room: str | None,
        who: str,
        verdict: Verdict,
        text: str | None,
        *,
        by: str,
    ) -> list[str]:
        """Kick her from `room` and blacklist her: she is also removed from every other
        managed group she is in (all of them when `room` is None, for a ban by DM), each
        through the account that is in that group. Returns the groups she was removed
        from."""
        reason = "、".join(verdict.reasons[:3]) or "违反群规"
        now = ctx.clock.now()
        removed: list[tuple[str, str]] = []
        if room is not None:
            await ctx.kick(room, who, reason)
            await audit(now, room, who, KICK, by, verdict, text)
            removed.append((room, ctx.event.account_id))
        await records.ban(who, reason, now)
        # The blacklist follows her: out of every other managed group she is in, by the
        # groups' member lists (she may never have spoken there).
        rooms = ctx.services.rooms
        if ctx.services.interactions is not None:
            await ctx.services.interactions.flush()  # groups seen so far are recorded
        for other, account in await rooms.groups_of(who):
            if other != room and await rooms.is_managed(account, other):
                await ctx.kick(other, who, f"黑名单：{reason}", account_id=account)
                await audit(now, other, who, KICK, by, verdict, None)
                removed.append((other, account))
        name = await ctx.display_name(who)  # a name, never an id
        for where, account in removed:  # each group's owner learns why she is gone
            await self.notify(ctx, where, f"已将 {name} 移出群聊，原因：{reason}", by, account)
        return [where for where, _ in removed]

    async def _joined(self, event: MemberJoined, ctx: Context) -> Flow | None:
        banned = await records.ban_reason(event.member_id)
        if banned is None or event.member_id in self.self_ids:
            joined, new = newcomer_keys(event.room, event.member_id)
            await ctx.kv.set(joined, "1", ttl=NEWCOMER_TTL)
            await ctx.kv.delete(new)
            return None
        if not await ctx.services.rooms.is_managed(event.account_id, event.room):
            return None
        await ctx.kick(event.room, event.member_id, f"黑名单：{banned}")
        verdict = Verdict(KICK, 1.0, ["黑名单成员重新入群"])
        await audit(ctx.clock.now(), event.room, event.member_id, KICK, "guard", verdict, None)
        name = event.member_name or await ctx.display_name(event.member_id)
        await self.notify(ctx, event.room, f"黑名单成员 {name} 重新入群，已移出")
        return Flow.STOP  # no welcome for her

    async def notify(
        self, ctx: Context, room: str, text: str, skip: str = "", account: str | None = None
    ) -> None:
        """A short DM to the group's owner and admins (not to `skip`, who did it), from
        `account` (one that is in the group; by default the event's)."""
        account = account or ctx.event.account_id
        info = await ctx.services.rooms.info(account, room)
        rules = ctx.content.guard.for_room(room, info.topic if info else "")
        if not rules.notify_admins:
            return
        settings = await ctx.services.rooms.settings(account, room)
        admins = {info.owner_id} if info and info.owner_id else set()
        admins |= set(settings.admins if settings else [])
        topic = info.topic if info and info.topic else "群聊"
        for admin in sorted(a for a in admins if a and a != skip and a not in self.self_ids):
            await ctx.say(
                contact_id=admin, text=f"【群管家】「{topic}」：{text}", account_id=account
            )


async def audit(
    now: datetime,
    room: str | None,
    contact: str,
    action: str,
    by: str,
    verdict: Verdict,
    text: str | None,
) -> None:
    """Record a guard or admin action with the verdict behind it."""
    await records.audit(now, room, contact, action, by, verdict.reasons, verdict.score, text)
