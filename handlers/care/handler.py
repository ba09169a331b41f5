"""Care's handler and its work: a mother's urgent words get a safety answer at once, the
staff on duty and an escalation that reminds them until someone takes it; a loss stops all
marketing to her for good. Staff's commands close escalations, take a chat over and give
it back, and lift a stop.

Who is on duty: config.toml [bot] staff, or the super admins when no staff are named. Staff
and super admins are never read as mothers (their "#公告 发烧40度要马上就医" is no risk), and
only they may use care's commands: anyone else's go on to the admin commands.

Everything an event does is keyed by the event (the outbox's dedupe keys, the escalation's
event id, the reminders' work keys), so a message handled again answers and alerts once.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.config import AppConfig
from bot.events import Event, MessageReceived
from bot.handler import UNKNOWN_NAME, Context, Flow, Services
from bot.permissions import Permissions
from bot.templates import render
from bot.work import Work, WorkQueue, work_key
from flows.dialog import kv_key as dialog_key
from handlers.admin import COMMANDS as ADMIN_COMMANDS
from handlers.care.detect import Risk
from storage import care, dialogs, people, privacy

log = logging.getLogger(__name__)

CARE_REMIND = "care_remind"
# A takeover that ends by itself (its hours passed) is told to the staff member who took it.
TAKEOVER_ENDS = "care_takeover_ends"

# How the staff read a severity.
SEVERITY_WORDS = {
    "urgent": "紧急·需立即就医",
    "crisis": "心理危机",
    "concern": "需要关注",
    "loss": "失去宝宝",
}

COMMANDS: dict[str, str] = {
    "已处理": "handled",
    "handled": "handled",
    "接管": "takeover",
    "takeover": "takeover",
    "交还": "handback",
    "handback": "handback",
    "恢复推送": "resume",
    "resume-marketing": "resume",
}

_COMMAND = re.compile(r"^[#/＃]\s*([^\s@]+)\s*(.*)$", re.DOTALL)
_MENTION_TEXT = re.compile(r"@\S+[\s\u2005]?")


class Detects(Protocol):
    def detect(self, text: str) -> Risk | None: ...


def on_duty(config: AppConfig) -> list[str]:
    """Who is told of a risk: the staff, else (none named) the super admins."""
    return list(config.bot.staff or config.bot.super_admins)


def is_staff(config: AppConfig, contact: str) -> bool:
    return contact in config.bot.staff or contact in config.bot.super_admins


def minutes(span: timedelta) -> int:
    return max(0, math.ceil(span.total_seconds() / 60))


class CareHandler:
    name = "care"

    def __init__(
        self,
        detector: Callable[[], Detects],
        alerts: Alerts,
        commands: StaffCommands,
        permissions: Permissions,
    ):
        self.detector = detector  # the one for the content in force
        self.alerts = alerts
        self.commands = commands
        self.permissions = permissions

    async def handle(self, event: Event, ctx: Context) -> Flow | None:
        assert isinstance(event, MessageReceived)  # a text message: the feature's filter
        text = event.text.strip()
        command = _COMMAND.match(text)
        if command is not None:
            word = command.group(1).casefold()
            if word in COMMANDS:
                return await self.commands.run(event, ctx, COMMANDS[word], command.group(2))
            if word in ADMIN_COMMANDS and await self._may_command(event, ctx):
                return None  # an admin's command, not a mother's words
        config = ctx.services.config
        if not ctx.content.care.enabled or is_staff(config, event.sender_id):
            return None
        risk = self.detector().detect(text)
        if risk is None:
            return None
        try:
            await self.alerts.respond(event, ctx, risk)
        except Exception:
            # Nothing after a risk may answer her with a tip or the fallback: the chain
            # stops whatever failed. A store outage is re-raised (the dispatcher holds
            # the event and handles it again; every step of respond() is keyed once).
            log.exception("care: responding to a %s risk failed", risk.severity)
            if not await care.answers():
                raise
        return Flow.STOP

    async def _may_command(self, event: MessageReceived, ctx: Context) -> bool:
        """Whether the sender's # command is one (a group's admin, a super admin): a
        mother's "#帮助 宝宝抽搐了" is still read as her words."""
        if is_staff(ctx.services.config, event.sender_id):
            return True
        if event.room is None:
            return False
        return await self.permissions.may_command(ctx, event.room, event.sender_id)


class Alerts:
    """What a risk sets off: her answer, the escalation, the staff, her marketing."""

    def __init__(self, reminders: Reminders, nurture: Any | None) -> None:
        self.reminders = reminders
        # flows/nurture.py's object (None in an app built without it): a loss ends her
        # sequences.
        self.nurture = nurture

    async def respond(self, event: MessageReceived, ctx: Context, risk: Risk) -> None:
        # Her answer first: whatever fails after it, she has been told what to do. Her
        # name is best effort: a channel that cannot say it costs the name, not the answer.
        name = event.sender_name or await _name_or_unknown(ctx, event.sender_id)
        await self._answer(event, ctx, risk, name)
        now = ctx.clock.now()
        case = await self._case(event, ctx, risk, now)
        await self._tell_staff(event, ctx, risk, name, case)
        await self.reminders.first(case)
        if is_loss(risk):
            await self._after_loss(event.sender_id, ctx, now)
        else:
            hours = ctx.services.config.care.pause_marketing_hours
            await care.pause_marketing(event.sender_id, now + timedelta(hours=hours), now)
        log.info("care: %s risk (%s), case %d", risk.severity, risk.reason, case.id)

    @staticmethod
    async def _answer(event: MessageReceived, ctx: Context, risk: Risk, name: str) -> None:
        content = ctx.content.care
        answers = getattr(content, risk.severity)
        values = {"name": name, "bot": ctx.services.config.bot.name, "hotline": content.hotline}
        if event.room is None:
            await ctx.reply(render(answers.dm, values))
        else:
            await ctx.reply(render(answers.group, values), [event.sender_id])

    @staticmethod
    async def _case(event: MessageReceived, ctx: Context, risk: Risk, now: datetime) -> care.Case:
        """Her escalation: opened now, or the one this message opened before (handled
        again after a failure)."""
        within = timedelta(minutes=ctx.services.config.care.respond_within_minutes)
        opened = await care.open_case(
            event.event_id,
            event.sender_id,
            event.room,
            event.account_id,
            risk.severity,
            risk.reason,
            event.text,
            now,
            now + within,
        )
        found = opened or await care.case_of_event(event.event_id)
        assert found is not None  # open_case gives None only when the event has one
        return found

    @staticmethod
    async def _tell_staff(
        event: MessageReceived, ctx: Context, risk: Risk, name: str, case: care.Case
    ) -> None:
        config = ctx.services.config
        staff = [s for s in on_duty(config) if s != event.sender_id]
        if not staff:
            log.warning("care: a %s risk and nobody on duty ([bot] staff)", risk.severity)
            return
        where = await _where(ctx, event.room)
        if is_loss(risk):
            done = (
                "已停止给她的所有营销推送和阶段培育，已移除她的阶段标签。\n"
                f"🔒 私密备注：请勿发送恭喜或阶段内容。需要时可回复 #恢复推送 {case.id}"
            )
        else:
            hours = config.care.pause_marketing_hours
            done = f"机器人已回复她应对建议，给她的营销推送已暂停{hours:g}小时。"
        within = config.care.respond_within_minutes
        text = (
            f"🚨 需要人工关怀【{SEVERITY_WORDS[risk.severity]}】编号{case.id}\n"
            f"妈妈：{name}\n位置：{where}\n原话：{event.text.strip()}\n识别：{risk.reason}\n"
            f"{done}\n请在{within:g}分钟内联系她，处理后回复：#已处理 {case.id}"
        )
        for member in staff:
            await ctx.say(contact_id=member, text=text)

    async def _after_loss(self, her: str, ctx: Context, now: datetime) -> None:
        """No marketing, no sequence, no stage: nothing may congratulate her or speak of
        her pregnancy or baby from now on, until staff lift it."""
        await care.stop_marketing(her, "loss", now)
        if self.nurture is not None:
            await self.nurture.stop(her, "care")
        prefix = ctx.services.config.stage.tag_prefix
        for tag in await ctx.services.tags.tags_of(her):
            if tag.startswith(prefix):
                await ctx.remove_tag(her, tag, source="care", detail="loss")
        # Without her dates the daily stage job cannot give a stage (or its tag) back.
        await care.forget_stage(her, now)
        # A question still open (the intake's due date, the birth question) is dropped:
        # her answer would give the stage back, and its thanks could congratulate her.
        for state in await dialogs.all_of(her):
            await dialogs.end(state)
        await ctx.kv.delete(dialog_key(her))


async def _name_or_unknown(ctx: Context, contact: str) -> str:
    try:
        return await ctx.display_name(contact)
    except Exception:
        log.warning("care: her name could not be read; answering without it")
        return UNKNOWN_NAME


def is_loss(risk: Risk) -> bool:
    """A loss read with something more urgent (流产了，现在大出血) gets the urgent answer,
    and everything a loss does besides: marketing stopped, no stage content ever."""
    return risk.severity == "loss" or "loss" in risk.also


async def _where(ctx: Context, room: str | None) -> str:
    if room is None:
        return "私聊"
    try:
        info = await ctx.room_info(room)
    except Exception:
        log.warning("care: the group's name could not be read")
        return "群聊"
    return f"群「{info.topic}」" if info and info.topic else "群聊"


class Reminders:
    """`care_remind` work: the staff are reminded of an open case until someone sends
    #已处理: max_reminders at remind_every_minutes, then at remind_slowly_every_minutes with
    the super admins told too (an open case is never dropped, only reminded less often).
    One row at a time, keyed by the case and the reminder's number."""

    def __init__(self, services: Services, work: WorkQueue) -> None:
        self.s = services
        self.work = work

    async def first(self, case: care.Case) -> None:
        await self._schedule(case, 1)

    def _due(self, case: care.Case, number: int) -> datetime:
        settings = self.s.config.care
        every = timedelta(minutes=settings.remind_every_minutes)
        fast = min(number, settings.max_reminders)
        slowly = timedelta(minutes=settings.remind_slowly_every_minutes)
        return case.opened_at + every * fast + slowly * (number - fast)

    def _recipients(self, number: int) -> list[str]:
        """The staff on duty; past the fast reminders, the super admins as well."""
        config = self.s.config
        told = on_duty(config)
        if number > config.care.max_reminders:
            told += [a for a in config.bot.super_admins if a not in told]
        return told

    async def _schedule(self, case: care.Case, number: int) -> None:
        await self.work.schedule(
            CARE_REMIND,
            work_key(CARE_REMIND, case.id, number),
            self._due(case, number),
            payload={"case": case.id, "number": number},
            account_id=case.account_id,
            contact_id=case.contact_id,
        )

    async def run(self, item: Work) -> None:
        """Runs `care_remind` work."""
        case = await care.case(int(item.payload["case"]))
        if case is None or case.handled_at is not None:
            return  # handled (or forgotten with her): no more reminders
        number = int(item.payload["number"])
        # The next one first: a failed send must not end the chain.
        await self._schedule(case, number + 1)
        text = await self._text(case)
        for member in self._recipients(number):
            await self.s.outbox.say(
                account_id=case.account_id,
                room_id=None,
                contact_id=member,
                text=text,
                dedupe_key=f"{item.key}:{member}",
            )
        await care.reminded(case.id, number)

    async def _text(self, case: care.Case) -> str:
        name = await self._name(case)
        where = "私聊"
        if case.room_id is not None:
            room = await self.s.rooms.info(case.account_id, case.room_id)
            where = f"群「{room.topic}」" if room and room.topic else "群聊"
        waited = minutes(self.s.clock.now() - case.opened_at)
        return (
            f"⏰ 还没人处理：{name}（{SEVERITY_WORDS.get(case.severity, case.severity)}）"
            f"，{where}，已等{waited}分钟。\n原话：{case.text}\n"
            f"请尽快联系她，处理后回复：#已处理 {case.id}"
        )

    async def _name(self, case: care.Case) -> str:
        return await her_name(self.s, case.account_id, case.contact_id)


async def her_name(services: Services, account_id: str, contact_id: str) -> str:
    """Her name as Context.display_name finds it (no event here to build one on)."""
    name = await people.name_of(contact_id)
    if not name:
        info = await services.rooms.contact_info(account_id, contact_id)
        name = info.name if info else ""
    return name or UNKNOWN_NAME


class TakeoverEnds:
    """`care_takeover_ends` work: when a takeover's hours pass, the staff member who took
    it is told the bot answers her again. Nothing is said when it was handed back or taken
    over anew before (her state no longer holds that takeover)."""

    def __init__(self, services: Services) -> None:
        self.s = services

    async def run(self, item: Work) -> None:
        if item.contact_id is None or item.account_id is None:
            return
        by, until = str(item.payload["by"]), datetime.fromisoformat(item.payload["until"])
        if not await care.takeover_ended(item.contact_id, by, until):
            return
        name = await her_name(self.s, item.account_id, item.contact_id)
        await self.s.outbox.say(
            account_id=item.account_id,
            room_id=None,
            contact_id=by,
            text=f"⏱ 对 {name} 的接管已到时间：机器人恢复自动回复她。还要继续请再发 #接管。",
            dedupe_key=f"{item.key}:told",
        )


class StaffCommands:
    """#已处理 #接管 #交还 #恢复推送, for the staff and the super admins. Replies go to the
    sender by DM. The target: an @mention in a group; by DM the case number from the alert
    or her contact id."""

    def __init__(self, self_ids: set[str]) -> None:
        self.self_ids = self_ids

    async def run(
        self, event: MessageReceived, ctx: Context, command: str, rest: str
    ) -> Flow | None:
        if not is_staff(ctx.services.config, event.sender_id):
            return None  # not care's to answer: the admin commands refuse it, or it is chat
        ctx.private_replies = True
        await getattr(self, f"_{command}")(event, ctx, rest.strip())
        return Flow.STOP

    async def _target(self, event: MessageReceived, rest: str) -> tuple[str | None, list[str]]:
        """Her contact id and the words after it."""
        words = _MENTION_TEXT.sub(" ", rest).split()
        mentioned = [m for m in event.mentions if m not in self.self_ids]
        if mentioned:
            return mentioned[0], words
        if not words:
            return None, []
        first, *after = words
        found = await self._case_named(first)
        return (found.contact_id if found else first), after

    @staticmethod
    async def _case_named(word: str) -> care.Case | None:
        """The case a word names: a number (the alert's 编号; staff never see her id)."""
        if not (word.isascii() and word.isdigit() and len(word) <= 12):
            return None
        return await care.case(int(word))

    @staticmethod
    async def _usage(event: MessageReceived, ctx: Context, example: str) -> None:
        how = "在群里@她" if event.room is not None else "写提醒编号或她的ID"
        await ctx.reply(f"请{how}，比如：{example}")

    async def _handled(self, event: MessageReceived, ctx: Context, rest: str) -> None:
        words = _MENTION_TEXT.sub(" ", rest).split()
        named = await self._case_named(words[0]) if words and not event.mentions else None
        if named is not None:
            # A case number closes that case only: a newer one of hers stays open.
            cases = [named] if named.handled_at is None else []
            if not cases:
                await ctx.reply(f"编号{named.id}已经处理过了。")
                return
        else:
            target, _ = await self._target(event, rest)
            cases = await self._cases(event, ctx, target)
        if not cases:
            return
        now = ctx.clock.now()
        await care.handle([c.id for c in cases], event.sender_id, now)
        first = cases[0]
        name = await ctx.display_name(first.contact_id)
        took = minutes(now - first.opened_at)
        target_minutes = ctx.services.config.care.respond_within_minutes
        verdict = "✅ 在目标时间内" if now <= first.respond_by else "⚠️ 超过了目标时间"
        await ctx.reply(
            f"已处理 {name} 的{len(cases)}条关怀提醒，提醒已停止。\n"
            f"从她发消息到处理用时{took}分钟（目标{target_minutes:g}分钟），{verdict}。"
        )
        await _tell_others(ctx, event.sender_id, f"✅ {name} 的关怀提醒已有同事处理。")

    async def _cases(
        self, event: MessageReceived, ctx: Context, target: str | None
    ) -> list[care.Case]:
        """The open cases #已处理 closes: hers, or (naming nobody) the only mother's with
        open cases (in this group, when typed in one). Tells the staff when there are
        none, or when naming nobody is not clear enough."""
        if target is not None:
            cases = await care.open_cases(target)
            if not cases:
                name = await ctx.display_name(target)
                await ctx.reply(f"{name} 没有待处理的关怀提醒。")
            return cases
        cases = [c for c in await care.open_cases() if event.room in (None, c.room_id)]
        mothers = list(dict.fromkeys(c.contact_id for c in cases))
        if not cases:
            await ctx.reply("现在没有待处理的关怀提醒。")
        elif len(mothers) > 1:
            lines = [await self._line(ctx, c) for c in cases[:20]]
            await ctx.reply(
                f"现在有{len(mothers)}位妈妈的提醒没处理，请写编号，比如：#已处理 {cases[0].id}\n"
                + "\n".join(lines)
            )
            return []
        return cases

    @staticmethod
    async def _line(ctx: Context, case: care.Case) -> str:
        name = await ctx.display_name(case.contact_id)
        return f"编号{case.id}：{name}（{SEVERITY_WORDS.get(case.severity, case.severity)}）"

    async def _takeover(self, event: MessageReceived, ctx: Context, rest: str) -> None:
        target, words = await self._target(event, rest)
        if target is None:
            example = "#接管 @小红 2" if event.room is not None else "#接管 12 2"
            return await self._usage(event, ctx, example)
        typed = not [m for m in event.mentions if m not in self.self_ids]
        if typed and not await privacy.is_known(target):
            # A typed name or a wrong id would make a takeover of nobody while she goes
            # on hearing the bot (a mention is the platform's id: always someone).
            await ctx.reply(f"找不到“{target}”：请写提醒里的编号或她的联系人ID，或在群里@她")
            return
        config = ctx.services.config
        hours = _hours(words, config.care.takeover_hours)
        if hours is None:
            await ctx.reply("接管的小时数请写 1 到 720 之间的数字，比如：#接管 @小红 2")
            return
        now = ctx.clock.now()
        until = now + timedelta(hours=hours)
        await care.take_over(target, event.sender_id, until, now)
        if ctx.services.work is not None:
            await ctx.services.work.schedule(
                TAKEOVER_ENDS,
                work_key(TAKEOVER_ENDS, target, event.sender_id, until.isoformat()),
                until,
                payload={"by": event.sender_id, "until": until.isoformat()},
                account_id=event.account_id,
                contact_id=target,
            )
        name = await ctx.display_name(target)
        await ctx.reply(
            f"🤝 已接管 {name} {hours:g}小时：这段时间机器人不再自动回复她，本来要回复她的内容"
            "会私聊转给你，也不给她发营销推送（她的紧急消息机器人仍会立即回应）。\n"
            "结束请发 #交还（群里@她，私聊写编号或ID），到时间也会自动结束。"
        )

    async def _handback(self, event: MessageReceived, ctx: Context, rest: str) -> None:
        target, _ = await self._target(event, rest)
        if target is None:
            example = "#交还 @小红" if event.room is not None else "#交还 12"
            return await self._usage(event, ctx, example)
        name = await ctx.display_name(target)
        if await care.hand_back(target, ctx.clock.now()):
            await ctx.reply(f"已交还 {name}：机器人恢复自动回复她。")
        else:
            await ctx.reply(f"{name} 现在没有被接管。")

    async def _resume(self, event: MessageReceived, ctx: Context, rest: str) -> None:
        target, _ = await self._target(event, rest)
        if target is None:
            example = "#恢复推送 @小红" if event.room is not None else "#恢复推送 12"
            return await self._usage(event, ctx, example)
        name = await ctx.display_name(target)
        if await care.lift(target, ctx.clock.now()):
            await ctx.reply(
                f"已恢复给 {name} 的推送。她的阶段和培育内容不会自动恢复："
                "等她重新告诉我们孕周或宝宝生日再开始。"
            )
        else:
            await ctx.reply(f"给 {name} 的推送没有被暂停或停止。")


def _hours(words: Sequence[str], default: float) -> float | None:
    """The hours a takeover lasts (the first word, default when none); None when bad."""
    if not words:
        return default
    try:
        hours = float(words[0].removesuffix("小时").removesuffix("h"))
    except ValueError:
        return None
    return hours if 0 < hours <= 24 * 30 else None


async def _tell_others(ctx: Context, sender: str, text: str) -> None:
    """The rest of the staff on duty, so nobody calls her a second time."""
    for member in on_duty(ctx.services.config):
        if member != sender:
            await ctx.say(contact_id=member, text=text)
