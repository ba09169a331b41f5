"""Scheduled group posts (content/posts.toml): the brand's groups get ops' texts on a cron.

Every fire of a post is a `post_fire` row in the work queue, keyed by post and fire time;
it plans the next fire first, then fans out one `post_send` row per target group, keyed by
post, group and fire time. The keys make a fire happen once across restarts and with two
instances; the outbox paces the sends per account, so 300 groups are spread out.

- Planning (at start and after a content reload) adds each enabled post's next fire. A
  fire missed while the bot was down is the row already waiting in the queue: it runs when
  the bot is back and is sent if that is within [marketing] missed_post_grace_minutes of
  its time, else skipped and logged; a fire a later one overtook is skipped too (no burst).
- Targets are the brand's groups only (recorded, listed under [[rooms]] and managed: a
  group a friend pulled the bot into gets no brand posts), narrowed by the post's room
  selector.
- Each group gets the variants in turn, never the same twice in a row (post_state), can be
  paused alone or everywhere (`#定时 暂停 ID`), and each send is written in the marketing
  ledger so conversion counts what was sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.channels.base import ChannelError
from bot.clock import Clock
from bot.config import AppConfig, PostsContent, PostSpec
from bot.cron import CronSchedule, crontab_weekdays
from bot.features import Feature, Platform
from bot.handler import ContentSource
from bot.links import LinkMaker
from bot.outbox import Outbox
from bot.permissions import brand_group_tags
from bot.rooms import RoomDirectory
from bot.templates import render
from bot.work import Work, WorkQueue, work_key
from storage import marketing, people
from storage import posts as store

log = logging.getLogger(__name__)

POST_FIRE = "post_fire"
POST_SEND = "post_send"
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Target:
    room_id: str
    account_id: str
    topic: str


def targets_group(post: PostSpec, room_id: str, topic: str, tags: list[str]) -> bool:
    """A post without a selector goes to every brand group."""
    selector = post.selector
    return selector.empty or selector.selects(room_id, topic, tags)


def next_variant(count: int, last: int | None) -> int:
    """The variants in turn, from the first; with two or more, never `last` again."""
    if last is None or count <= 1:
        return 0
    return (last + 1) % count


MIN_GRACE = timedelta(minutes=2)


class Posts:
    """Plans fires, fans them out to groups, and sends each group its text."""

    def __init__(
        self,
        config: AppConfig,
        content: ContentSource,
        clock: Clock,
        work: WorkQueue,
        outbox: Outbox,
        rooms: RoomDirectory,
        links: LinkMaker,
    ) -> None:
        self.config = config
        self.content = content
        self.clock = clock
        self.work = work
        self.outbox = outbox
        self.rooms = rooms
        self.links = links
        # A fire is never "missed" for the moments the queue takes to claim it (a grace of
        # 0 would otherwise skip every post in live mode).
        self.grace = max(timedelta(minutes=config.marketing.missed_post_grace_minutes), MIN_GRACE)

    def cron(self, post: PostSpec) -> CronSchedule:
        return CronSchedule(post.schedule, self.clock.tz)

    # ------------------------------------------------------------------ planning

    async def plan(self) -> int:
        """Each enabled post's next fire. Rows are keyed by fire time, so a restart or a
        second instance adds nothing twice. Returns how many rows were added.

        A fire missed while the bot was down needs nothing here: the fire before it left
        its row in the queue, which runs late when the bot is back (`fire` decides between
        the grace and a skip). A post seen for the first time is not backfilled: a bot
        first started at 09:00 does not send the 08:00 post at once."""
        now = self.clock.now()
        added = 0
        for post in self.content.current.posts.posts:
            if not post.enabled:
                continue
            try:
                added += await self._schedule_fire(post.id, self.cron(post).next_after(now))
            except ValueError as exc:  # a schedule that never fires again
                log.warning("post %s not planned: %s", post.id, exc)
        return added

    async def reloaded(self, _problems: list[str]) -> None:
        await self.plan()  # a new post, a new schedule, a post enabled again

    async def _schedule_fire(self, post_id: str, fire: datetime) -> bool:
        return await self.work.schedule(
            POST_FIRE,
            work_key("post", post_id, fire.isoformat()),
            fire,
            payload={"post": post_id, "fire": fire.isoformat()},
        )

    # ------------------------------------------------------------------ post_fire

    async def fire(self, item: Work) -> None:
        """Runs `post_fire`: the next fire first (so a failure here never ends the chain),
        then one `post_send` row per target group."""
        post_id = str(item.payload.get("post", ""))
        # The fire time lives in the payload: a retried row's due_at has moved.
        fire = datetime.fromisoformat(str(item.payload["fire"]))
        post = self.content.current.posts.get(post_id)
        if post is None or not post.enabled:
            log.info("post %s: gone or disabled, fire at %s dropped", post_id, fire.isoformat())
            return
        cron = self.cron(post)
        now = self.clock.now()
        # After a long outage, fires the grace cannot save get no rows of their own.
        upcoming = cron.first_from(max(fire + _TICK, now - self.grace))
        await self._schedule_fire(post.id, upcoming)
        if cron.first_from(fire) != fire:
            log.info("post %s: its schedule no longer fires at %s", post.id, fire.isoformat())
            return
        if self._skipped(post.id, fire, now, upcoming):
            return
        targets = await self.targets(post)
        for target in targets:
            await self._schedule_send(post.id, fire, target, now)
        log.info("post %s: fire at %s to %d groups", post.id, fire.isoformat(), len(targets))

    def _skipped(self, post_id: str, fire: datetime, now: datetime, upcoming: datetime) -> bool:
        late = now - fire
        if late > self.grace:
            minutes = int(late.total_seconds() // 60)
            log.info("post %s: fire at %s skipped: missed by %d min", post_id, fire, minutes)
            return True
        if upcoming <= now:
            # Back after an outage with two fires inside the grace: only the later goes.
            log.info("post %s: fire at %s skipped: %s came since", post_id, fire, upcoming)
            return True
        return False

    async def _schedule_send(
        self, post_id: str, fire: datetime, target: Target, now: datetime
    ) -> None:
        await self.work.schedule(
            POST_SEND,
            work_key("post", post_id, target.room_id, fire.isoformat()),
            now,
            payload={"post": post_id, "room": target.room_id, "topic": target.topic},
            account_id=target.account_id,
        )

    async def targets(self, post: PostSpec) -> list[Target]:
        """The brand groups the post goes to, each with the account to send through."""
        recorded = await people.all_rooms()
        topics = await self._recorded_topics({account for _, account in recorded})
        found = []
        for room_id, account_id in recorded:
            target = await self._target(room_id, account_id, topics.get(room_id, ""))
            if target is None:
                continue
            tags = await brand_group_tags(self.config, room_id, target.topic)
            if tags is not None and targets_group(post, room_id, target.topic, tags):
                found.append(target)
        return found

    @staticmethod
    async def _recorded_topics(accounts: set[str]) -> dict[str, str]:
        topics: dict[str, str] = {}
        for account in accounts:
            topics.update({room.room_id: room.topic for room in await people.rooms_on(account)})
        return topics

    async def _target(self, room_id: str, recorded: str, topic: str) -> Target | None:
        """The group with its current name (the recorded one when the channel cannot say)
        and the account that is in it."""
        try:
            info = await self.rooms.info(recorded, room_id)
        except ChannelError as exc:
            log.warning("post target: a group's facts unavailable: %s", exc)
            info = None
        account = recorded
        if info is not None:
            topic = info.topic or topic
            if info.member_ids:
                account = self.rooms.member_account(recorded, info.member_ids)
        if account not in self.rooms.channels:
            return None  # no account of this instance's config can send there
        return Target(room_id, account, topic)

    # ------------------------------------------------------------------ post_send

    async def send(self, item: Work) -> None:
        """Runs `post_send`: one group's text of one fire, unless paused there."""
        post_id = str(item.payload.get("post", ""))
        room_id = str(item.payload.get("room", ""))
        if await marketing.recorded(item.key):
            return  # sent before a restart cut this row short
        post = self.content.current.posts.get(post_id)
        if post is None or not post.enabled:
            log.info("post %s: gone or disabled before its send to a group", post_id)
            return
        if await store.is_paused(post.id, room_id):
            log.info("post %s: paused, a group skipped", post.id)
            return
        index = next_variant(len(post.texts), await store.last_variant(post.id, room_id))
        values = {"bot": self.config.bot.name, "room": str(item.payload.get("topic", ""))}
        text = render(post.texts[index], values).strip()
        if not text:
            # Ops' text, not our bug: one line saying which post, and that post alone.
            log.error("post %s: variant %d is empty once filled in; not sent", post.id, index)
            return
        await self._send(item, post, room_id, index, text)

    async def _send(self, item: Work, post: PostSpec, room_id: str, index: int, text: str) -> None:
        account = item.account_id or ""
        source = f"post:{post.id}"
        text = await self.links.render(
            text, post.links, source, room_id=room_id, account_id=account
        )
        await self.outbox.say(
            account_id=account, room_id=room_id, contact_id=None, text=text, dedupe_key=item.key
        )
        # Stored before the ledger and the rotation move on: a crash between them sends the
        # same variant again, and the outbox's dedupe key drops it.
        await self.outbox.stored()
        now = self.clock.now()
        await marketing.record(item.key, source, now, room_id=room_id)
        await store.set_last_variant(post.id, room_id, index, now)


# ---------------------------------------------------------------------- #定时 command

_LIST = ("列表", "list", "")
_PAUSE = ("暂停", "pause")
_RESUME = ("恢复", "resume")
_HELP = (
    "#定时 的用法：\n"
    "#定时 列表 —— 查看定时内容和下次发送时间\n"
    "#定时 暂停 编号 —— 暂停一条定时内容\n"
    "#定时 恢复 编号 —— 恢复发送"
)
_WEEKDAY_NAMES = {
    "mon": "一",
    "tue": "二",
    "wed": "三",
    "thu": "四",
    "fri": "五",
    "sat": "六",
    "sun": "日",
}


def describe_schedule(spec: str) -> str:
    """ "0 8 * * *" -> "每天 08:00"; what words cannot say simply is shown as written."""
    text = spec.strip()
    if ":" in text and " " not in text:
        hour, minute = text.split(":")
        return f"每天 {int(hour):02d}:{int(minute):02d}"
    minute, hour, day, month, weekday = text.split()
    if not (minute.isdigit() and hour.isdigit()) or day != "*" or month != "*":
        return f"按计划 {text}"
    at = f"{int(hour):02d}:{int(minute):02d}"
    days = crontab_weekdays(weekday)
    if days == "*":
        return f"每天 {at}"
    if days == "mon,tue,wed,thu,fri":
        return f"工作日 {at}"
    order = list(_WEEKDAY_NAMES)
    named = sorted(days.split(","), key=order.index)
    return "每" + "、".join(f"周{_WEEKDAY_NAMES[d]}" for d in named) + f" {at}"


def month_day_time(moment: datetime) -> str:
    return f"{moment.month}月{moment.day}日 {moment:%H:%M}"


class PostCommands:
    """`#定时` for the admin feature, which checks who may use it first. In a group it acts
    on that group; by DM (a super admin) on every group."""

    def __init__(self, config: AppConfig, content: ContentSource, clock: Clock) -> None:
        self.config = config
        self.content = content
        self.clock = clock

    @property
    def posts(self) -> PostsContent:
        return self.content.current.posts

    async def command(self, room_id: str | None, topic: str, args: str) -> str:
        words = args.split()
        verb = words[0].lower() if words else ""
        if verb in _LIST:
            return await self._list(room_id, topic)
        if verb not in _PAUSE + _RESUME:
            return _HELP
        if len(words) < 2:
            return f"请写上定时内容的编号，例如：#定时 {words[0]} morning-tips"
        post = self.posts.get(words[1])
        if post is None:
            known = "、".join(p.id for p in self.posts.posts) or "（暂无）"
            return f"没有编号为「{words[1]}」的定时内容。现有：{known}"
        if room_id is not None and not await self._targets(post, room_id, topic):
            return f"「{post.id}」不发到本群，无需暂停或恢复。"
        if verb in _PAUSE:
            return await self._pause(post.id, room_id)
        return await self._resume(post.id, room_id)

    async def _targets(self, post: PostSpec, room_id: str, topic: str) -> bool:
        tags = await brand_group_tags(self.config, room_id, topic)
        return tags is not None and targets_group(post, room_id, topic, tags)

    async def _list(self, room_id: str | None, topic: str) -> str:
        if room_id is None:
            posts = list(self.posts.posts)
        else:
            posts = [p for p in self.posts.posts if await self._targets(p, room_id, topic)]
        if not posts:
            return "本群没有定时内容。" if room_id is not None else "还没有定时内容。"
        head = "本群的定时内容：" if room_id is not None else "全部定时内容："
        lines = [await self._line(p, room_id) for p in posts]
        return head + "\n" + "\n".join(lines)

    async def _line(self, post: PostSpec, room_id: str | None) -> str:
        line = f"• {post.id}：{describe_schedule(post.schedule)}"
        if not post.enabled:
            return line + "（已停用）"
        try:
            upcoming = CronSchedule(post.schedule, self.clock.tz).next_after(self.clock.now())
            line += f"，下次 {month_day_time(upcoming)}"
        except ValueError:
            line += "，不会再发送"
        return line + await self._pause_note(post.id, room_id)

    @staticmethod
    async def _pause_note(post_id: str, room_id: str | None) -> str:
        paused = await store.paused_rooms(post_id)
        if store.EVERYWHERE in paused:
            return "（已全部暂停）"
        if room_id is None:
            return f"（{len(paused)}个群已暂停）" if paused else ""
        return "（本群已暂停）" if room_id in paused else ""

    async def _pause(self, post_id: str, room_id: str | None) -> str:
        now = self.clock.now()
        await store.set_paused(post_id, room_id or store.EVERYWHERE, True, now)
        where = "本群" if room_id is not None else "所有群"
        return f"已暂停{where}的定时内容「{post_id}」。发送 #定时 恢复 {post_id} 可恢复。"

    async def _resume(self, post_id: str, room_id: str | None) -> str:
        now = self.clock.now()
        if room_id is None:
            await store.resume_everywhere(post_id, now)
            return f"已在所有群恢复定时内容「{post_id}」。"
        await store.set_paused(post_id, room_id, False, now)
        if store.EVERYWHERE in await store.paused_rooms(post_id):
            return (
                f"已恢复本群的「{post_id}」，但它已被全部暂停，"
                "需超级管理员私聊发送 #定时 恢复 才会发出。"
            )
        return f"已恢复本群的定时内容「{post_id}」。"


def feature(p: Platform) -> Feature:
    """Scheduled group posts; `#定时` is routed to the exported commands by the admin."""
    s = p.services
    if s.work is None or s.links is None:
        raise RuntimeError("the posts feature needs the work queue and the link maker")
    posts = Posts(s.config, s.content, s.clock, s.work, s.outbox, s.rooms, s.links)
    return Feature(
        name="posts",
        content={"posts.toml": PostsContent},
        work={POST_FIRE: posts.fire, POST_SEND: posts.send},
        start=posts.plan,
        reloaded=posts.reloaded,
        exports={"posts": PostCommands(s.config, s.content, s.clock), "planner": posts},
    )
