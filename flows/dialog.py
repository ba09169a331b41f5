"""Info-collection dialogs from content/dialogs.toml: ask, read the answer, re-ask politely,
move on without nagging, remember where we were.

A dialog is a list of steps (prompt variants, a parser, a hint, where the answer goes).
At every step 跳过 skips it and 取消 / 不用了 ends the dialog; a question of her own is
answered (by a keyword rule) or, when nothing answers it, acknowledged and passed to the
staff on duty (by the fallback), then the step is asked again. After `max_tries`
answers it cannot read, it moves on. A stage reading it is unsure of, or one that
contradicts her dates, is confirmed first (您是孕12周左右，…，对吗？): it waits in her
profile's `extra` (`confirm:<dialog>`) until 对 stores it; 不对 asks the step again.
Silence gets one gentle reminder after `reminder_after_seconds`, then the dialog closes
quietly. Each due time is a `dialog_due` row in the work queue, keyed by the state and the
time; a row whose state has moved on since (she answered) finds its state not yet due and
does nothing.

State is kept twice. The `dialog_state` table holds one row per contact and flow (one
active intake dialog per contact; other flows keep their own rows) with its due time: it is
what survives a crash or a restart on every backend, and what the reminder job scans. The
key-value store holds her dialog state too, under `dialog:<contact id>`, with an expiry at
the dialog's quiet close (plus a grace period), or "in no dialog" for an hour: it is what
her next private message is checked against, so a mother who is in no dialog costs no
database query. Every change writes the table first, then the key; a missing key (never
seen, expired, evicted) or a stale one is written again from the table when read, and at
start all keys of dialogs in progress are written (the in-process store starts empty).
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import cn2an

from bot.config import DialogSpec, DialogStep
from bot.events import Event, FriendRequest, MessageReceived, MessageType
from bot.handler import Context, Flow
from bot.stages import StageEntered, StageListener
from bot.templates import render
from bot.text import as_word
from bot.work import Work, WorkQueue, work_key
from flows import cities
from flows.family import family_choice, family_size
from flows.stage import StageResult, contradicts, parse_stage
from storage import care, dialogs, people, privacy, profiles
from storage.dialogs import DialogState
from storage.profiles import Profile

if TYPE_CHECKING:
    from bot.config import AppConfig, Content
    from bot.handler import ContentSource, Handler
    from bot.outbox import Outbox
    from storage.kv import KV
    from storage.tags import TagStore

log = logging.getLogger(__name__)

_NEGATED = re.compile(r"^(?:不是|并不是|不算)")
_AGE_UNIT = re.compile(r"(?:个)?(?:月|岁|天|周|多月|人|小时|星期)")
_PARTICLES = re.compile(r"[啊呀哦噢啦吧呢嘛的了哈呐~～]+$")
_YES: tuple[str, ...] = (
    "是的",
    "是",
    "对",
    "嗯",
    "好",
    "有",
    "要",
    "可以",
    "需要",
    "yes",
    "y",
    "ok",
    "好的",
)
_NO: tuple[str, ...] = (
    "不是",
    "不要",
    "不用",
    "没有",
    "没",
    "不",
    "否",
    "不需要",
    "还没",
    "no",
    "n",
)


# Her reply to a confirmation (您是孕10周左右，预产期大约2027年6月22日，对吗？), matched on the
# whole message without trailing particles, or one of them repeated (对对对, 嗯嗯).
_CONFIRM_YES: tuple[str, ...] = ("对", "是", "是的", "没错", "嗯", "对的", "正确", "yes", "ok")
_CONFIRM_NO: tuple[str, ...] = ("不对", "不是", "错了", "错", "不正确", "no")


def confirmation(text: str) -> bool | None:
    """True for a yes to a confirmation question, False for a no, None for anything else."""
    plain = as_word(text)
    core = _PARTICLES.sub("", plain) or plain
    for choices, value in ((_CONFIRM_NO, False), (_CONFIRM_YES, True)):  # 不对 before 对
        if any(core in (w, w * 2, w * 3) for w in choices):
            return value
    return None


@dataclass
class Answer:
    value: str
    fields: dict[str, Any]
    reading: StageResult | None = None  # stage_date only: the reading, with its confidence


def read_answer(step: DialogStep, text: str, today: Any, bounds: Any = None) -> Answer | None:
    """The step's parser over her text; None when it cannot be read."""
    plain = as_word(text)
    if not plain:
        return None
    if step.parser == "stage_date":
        result = parse_stage(text, today, step.expect, *(() if bounds is None else (bounds,)))
        if result.empty:
            return None
        fields: dict[str, Any] = {
            "due_date": result.due_date,
            "birth_date": result.birth_date,
            "stage": result.stage,
        }
        if result.children is not None:
            fields["children"] = result.children
        return Answer(result.stage or "", fields, result)
    if step.parser == "city":
        city = cities.cities().match(text)
        if city is None:
            return None
        return Answer(city.name, {"city": city.name, "province": city.province})
    if step.parser == "choice":
        if step.field == "family":
            family = _family(step, text)
            if family is not None:
                return Answer(family, {step.field: family})
        if _NEGATED.match(plain):
            return None  # "不是第一个": says what it is not
        best: tuple[int, str] | None = None
        for value, words in step.choices.items():
            for word in [value, *words]:
                w = as_word(word)
                if not w:
                    continue
                for found in re.finditer(re.escape(w), plain):
                    if _AGE_UNIT.match(plain, found.end()):
                        continue  # "三个月" is an age, "一个人" a person, not children
                    if best is None or len(w) > best[0]:
                        best = (len(w), value)
        return None if best is None else Answer(best[1], {step.field: best[1]})
    if step.parser == "yes_no":
        core = _PARTICLES.sub("", plain) or plain
        for choices, value in ((_NO, "否"), (_YES, "是")):  # "不是" before "是"
            if core in choices or any(core == w * 2 for w in choices):
                return Answer(value, {step.field: value})
        return None
    if step.parser == "number":
        number = _number(plain)
        if number is None:
            return None
        if (step.min is not None and number < step.min) or (
            step.max is not None and number > step.max
        ):
            return None
        value = str(int(number)) if number == int(number) else str(number)
        return Answer(value, {step.field: value})
    return Answer(text.strip(), {step.field: text.strip()})


def _family(step: DialogStep, text: str) -> str | None:
    """The family step's choice for how many children her answer counts (这是老二，老大3岁了;
    一个男孩一个女孩; 双胞胎), when its choices name them by 一胎 / 二胎 / ...; None leaves
    the answer to the choice words."""
    size = family_size(text)
    return None if size is None else family_choice(step.choices, size)


def _number(text: str) -> float | None:
    match = re.search(r"\d+(?:\.\d+)?", text)
    if match:
        return float(match.group(0))
    match = re.search(r"[零〇一二两三四五六七八九十百]+", text)
    if match:
        try:
            return float(cn2an.cn2an(match.group(0), "smart"))
        except (ValueError, KeyError, TypeError):
            return None
    return None


# A birth told outside the birth question. Certain news: the baby has arrived.
_BORN = re.compile(
    r"生了(?![病气疹])|生啦|生咯|出生了|出生啦|已经出生|生完了|生下|卸货|顺产|剖了|剖腹产|剖宫产"
    r"|报喜|母子平安|母女平安|降生|诞生|宝宝(?:出来|来)了"
)
# A birthday said without the news words: counts only with a date (12月3号出生的女宝).
_BORN_DATED = re.compile(r"出生|生的|生于|生日")
# Questions, worries and the future are not news: 生了吗, 还没生, 快生了怎么办.
_NOT_NEWS = re.compile(
    r"还没|没生|没有生|没出生|吗|[?？]|什么时候|怎么|如何|多久|会不会|能不能|要不要|快生|要生|就要|就生|待产|如果|万一|担心|害怕"
)
BIRTH_NEWS = "birth_news"
# The earliest birthday that fits a due date: a baby born at 28 weeks.
EARLIEST_BIRTH = timedelta(weeks=12)

DIALOG_DUE = "dialog_due"
KV_GRACE = timedelta(hours=6)  # the key outlives the quiet close the timer job will do
NONE_TTL = 3600.0  # "in no dialog" is remembered this long, then read from the table again


def kv_key(contact_id: str) -> str:
    return f"dialog:{contact_id}"


def pending_key(state: DialogState) -> str:
    """Where a stage reading waiting for her 对 is kept: her profile's `extra`."""
    return f"confirm:{state.dialog_id}"


def _pending_json(state: DialogState, answer: Answer, text: str) -> dict[str, Any]:
    fields = {
        name: value.isoformat() if isinstance(value, date) else value
        for name, value in answer.fields.items()
    }
    return {
        "state": state.id,
        "step": state.step,
        "value": answer.value,
        "fields": fields,
        "text": text,
    }


def _pending_answer(data: dict[str, Any]) -> tuple[Answer, str]:
    fields = dict(data["fields"])
    for name in ("due_date", "birth_date"):
        if fields.get(name):
            fields[name] = date.fromisoformat(fields[name])
    return Answer(str(data["value"]), fields), str(data.get("text", ""))


def _state_json(state: DialogState) -> dict[str, Any]:
    return {
        "id": state.id,
        "flow": state.flow,
        "dialog": state.dialog_id,
        "account": state.account_id,
        "step": state.step,
        "tries": state.tries,
        "answered": state.answered,
        "reminded": state.reminded,
        "asked_at": state.asked_at.isoformat(),
        "due_at": state.due_at.isoformat(),
    }


class DialogEngine:
    def __init__(
        self,
        config: AppConfig,
        content: ContentSource,
        outbox: Outbox,
        tags: TagStore,
        kv: KV | None = None,
        work: WorkQueue | None = None,
    ) -> None:
        self.config = config
        self.content = content
        self.outbox = outbox
        self.tags = tags
        self.kv = kv
        self.work = work  # its kind, DIALOG_DUE, runs `due` (declared by the feature)
        # Told when her answer changes her stage, as the daily job tells its listeners.
        self.stage_listeners: list[StageListener] = []
        self._seq = 0
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    # ------------------------------------------------------------------ state

    async def active(self, contact_id: str) -> DialogState | None:
        """The dialog her next message answers: the one asked most recently."""
        if self.kv is not None:
            cached = await self.kv.get_json(kv_key(contact_id))
            if isinstance(cached, dict) and isinstance(cached.get("dialogs"), list):
                if not cached["dialogs"]:
                    return None  # known to be in no dialog: no database query
                state = await dialogs.by_id(cached["dialogs"][0].get("id"))
                if state is not None:
                    return state
        # No key (never seen, expired, evicted, flushed) or a stale one: the table decides,
        # and the key is written again.
        state = await dialogs.active_for(contact_id)
        if self.kv is not None:
            await self.sync(contact_id)
        return state

    async def sync(self, contact_id: str) -> None:
        """Write her dialogs from the table to the key-value store: the states until the
        last quiet close, or "none" for NONE_TTL. One at a time per contact, so a sync that
        read the table earlier cannot overwrite a later one."""
        if self.kv is None:
            return
        lock = self._locks.get(contact_id)
        if lock is None:
            lock = self._locks[contact_id] = asyncio.Lock()
        async with lock:
            rows = await dialogs.all_of(contact_id)
            await self._write(contact_id, rows)

    async def _write(self, contact_id: str, rows: list[DialogState]) -> None:
        """Her dialogs (most recently asked first) into the key-value store."""
        assert self.kv is not None
        if not rows:
            await self.kv.set_json(kv_key(contact_id), {"dialogs": []}, ttl=NONE_TTL)
            return
        ends = max(self._closes_at(row) for row in rows) + KV_GRACE
        ttl = max(60.0, (ends - self.outbox.clock.now()).total_seconds())
        await self.kv.set_json(
            kv_key(contact_id), {"dialogs": [_state_json(row) for row in rows]}, ttl=ttl
        )

    def _closes_at(self, state: DialogState) -> datetime:
        if state.reminded:
            return state.due_at
        spec = self.content.current.dialogs.get(state.dialog_id)
        return state.due_at + timedelta(seconds=spec.close_after_seconds if spec else 86400)

    async def warm(self) -> int:
        """At start: every dialog in progress into the key-value store. Returns how many
        contacts are in one."""
        if self.kv is None:
            return 0
        by_contact = await dialogs.in_progress_by_contact()  # one query, not one each
        for contact_id, rows in by_contact.items():
            await self._write(contact_id, rows)
        return len(by_contact)

    @staticmethod
    async def profile(contact_id: str, now: datetime) -> Profile:
        return await profiles.get_or_create(contact_id, now)

    def known(self, profile: Profile, step: DialogStep, now: datetime) -> bool:
        if not step.skip_if_known or not step.field:
            return False
        if step.field == "stage":
            if profile.due_date or profile.birth_date:
                return True  # dates keep the stage current by themselves
            stale = now - profile.updated_at > timedelta(days=self.config.stage.stale_after_days)
            return bool(profile.stage) and not stale
        if step.field in ("city", "family", "children"):
            return getattr(profile, step.field) is not None
        return step.field in (profile.extra or {})

    async def _next_step(self, spec: DialogSpec, contact_id: str, after: int, now: datetime) -> int:
        profile = await self.profile(contact_id, now)
        for index in range(after + 1, len(spec.steps)):
            if not self.known(profile, spec.steps[index], now):
                return index
        return -1

    # ------------------------------------------------------------------ starting

    async def _may_start(self, spec: DialogSpec, contact_id: str, now: datetime) -> bool:
        """Not while one of its flow runs, not after 退订, and not again soon after she
        ended or ignored it (a friend re-adding the bot is not asked all over)."""
        if await dialogs.running(contact_id, spec.flow):
            return False
        if not await privacy.can_market(contact_id):
            return False
        profile = await profiles.get(contact_id)
        closed = (profile.extra or {}).get(f"closed:{spec.id}") if profile else None
        if closed:
            days = (now.date() - date.fromisoformat(closed)).days
            if days < self.config.stage.stale_after_days:
                return False
        return True

    async def _closed(self, state: DialogState, now: datetime) -> None:
        """Remember that she ended or ignored this dialog."""
        profile = await self.profile(state.contact_id, now)
        await profiles.set_extra(profile, f"closed:{state.dialog_id}", now.date().isoformat())

    async def start(self, spec: DialogSpec, ctx: Context, contact_id: str) -> bool:
        """Begin the dialog unless one of its flow is running or she answered it all."""
        now = ctx.clock.now()
        if not await self._may_start(spec, contact_id, now):
            return False
        first = await self._next_step(spec, contact_id, -1, now)
        if first < 0:
            return False  # she already told us everything it asks
        state = await dialogs.start(
            contact_id=contact_id,
            flow=spec.flow,
            account_id=ctx.event.account_id,
            dialog_id=spec.id,
            step=first,
            asked_at=now,
            due_at=now + timedelta(seconds=spec.reminder_after_seconds),
        )
        await self._arm(state)
        await self.sync(contact_id)
        prompt = self._prompt(spec.steps[first], ctx)
        await ctx.say(
            contact_id=contact_id, text=f"{self._fill(spec.intro, ctx)}\n{prompt}".strip()
        )
        log.info("dialog %s started", spec.id)
        return True

    async def start_from_job(
        self, spec: DialogSpec, contact_id: str, account_id: str, now: datetime
    ) -> bool:
        """Begin a dialog from a scheduled job (no incoming message to answer)."""
        if not await self._may_start(spec, contact_id, now):
            return False
        first = await self._next_step(spec, contact_id, -1, now)
        if first < 0:
            return False
        state = await dialogs.start(
            contact_id=contact_id,
            flow=spec.flow,
            account_id=account_id,
            dialog_id=spec.id,
            step=first,
            asked_at=now,
            due_at=now + timedelta(seconds=spec.reminder_after_seconds),
        )
        await self._arm(state)
        await self.sync(contact_id)
        name = await people.name_of(contact_id)
        prompt = spec.steps[first].prompts[state.id % len(spec.steps[first].prompts)]
        text = f"{spec.intro}\n{prompt}".strip()
        await self.outbox.say(
            account_id=account_id,
            room_id=None,
            contact_id=contact_id,
            text=render(text, {"name": name, "bot": self.config.bot.name}),
            # Keyed by the state, not the time: one start, one question, however it runs.
            dedupe_key=f"dialog-start:{spec.id}:{contact_id}:{state.id}",
        )
        log.info("dialog %s started by a job", spec.id)
        return True

    # ------------------------------------------------------------------ answering

    async def on_message(self, event: MessageReceived, ctx: Context, answer_question: Any) -> bool:
        """Handle her DM if a dialog is waiting for it. True when the message was used."""
        state = await self.active(event.sender_id)
        if state is None:
            return False
        try:
            return await self._answer(state, event, ctx, answer_question)
        finally:
            await self.sync(event.sender_id)  # the table changed: the key follows

    async def _answer(
        self, state: DialogState, event: MessageReceived, ctx: Context, answer_question: Any
    ) -> bool:
        spec = ctx.content.dialogs.get(state.dialog_id)
        if spec is None or state.step >= len(spec.steps):
            await dialogs.end(state)  # the dialog was removed from content/
            return False
        plain = as_word(event.text)
        words = ctx.content.dialogs
        step = spec.steps[state.step]
        now = ctx.clock.now()
        pending = await self._pending(state, step, now)
        if pending is not None:
            # Her reply to the confirmation: 对 keeps the reading, anything else drops it
            # (不对 asks the step again; a new reading is read as a fresh answer).
            said = confirmation(event.text)
            if said:
                try:
                    kept, text = _pending_answer(pending)
                except (KeyError, TypeError, ValueError):
                    log.warning("dialog %s: unreadable pending reading dropped", spec.id)
                    kept, text = None, ""
                if kept is not None:
                    await self._store(step, kept, spec, ctx, event.sender_id)
                    await self._family_told(spec, step, kept, text, ctx, event.sender_id)
                    await self._drop_pending(state)
                    await self._advance(spec, state, ctx, answered=True)
                    return True
            await self._drop_pending(state)
            if said is False:
                due = now + timedelta(seconds=spec.reminder_after_seconds)
                await dialogs.ask_again(state, now, due, count_try=False)
                await self._arm(state)
                await ctx.reply(self._prompt(step, ctx))
                return True
        if plain in {as_word(w) for w in words.cancel_words}:
            await dialogs.end(state)
            await self._closed(state, ctx.clock.now())
            if spec.cancelled:
                await ctx.reply(self._fill(spec.cancelled, ctx))
            log.info("dialog %s cancelled at step %s", spec.id, spec.steps[state.step].id)
            return True
        if plain in {as_word(w) for w in words.skip_words}:
            await self._advance(spec, state, ctx)
            return True
        answer = read_answer(step, event.text, now.date(), self.config.stage.boundaries())
        if answer is not None and await self._unsure(spec, step, answer, event.sender_id, now):
            # Not a tag yet: kept until she says 对 (您是孕10周左右，…，对吗？).
            assert answer.reading is not None
            profile = await self.profile(event.sender_id, now)
            await profiles.set_extra(
                profile, pending_key(state), _pending_json(state, answer, event.text)
            )
            due = now + timedelta(seconds=spec.reminder_after_seconds)
            await dialogs.ask_again(state, now, due, count_try=False)
            await self._arm(state)
            await ctx.reply(answer.reading.confirm_question())
            log.info("dialog %s: step %s reading confirmed with her", spec.id, step.id)
            return True
        if answer is not None:
            await self._store(step, answer, spec, ctx, event.sender_id)
            await self._family_told(spec, step, answer, event.text, ctx, event.sender_id)
            await self._advance(spec, state, ctx, answered=True)
            return True
        if await answer_question(event, ctx):
            # A question of her own: answered, then the step again, with no try counted.
            due = now + timedelta(seconds=spec.reminder_after_seconds)
            await dialogs.ask_again(state, now, due, count_try=False)
            await self._arm(state)
            await ctx.reply(self._prompt(step, ctx))
            return True
        if state.tries + 1 >= spec.max_tries:
            log.info("dialog %s: step %s unreadable, moving on", spec.id, step.id)
            await self._advance(spec, state, ctx)
            return True
        due = now + timedelta(seconds=spec.reminder_after_seconds)
        await dialogs.ask_again(state, now, due, count_try=True)
        await self._arm(state)
        hint = self._fill(step.hint, ctx)
        await ctx.reply(
            f"{hint}\n{self._prompt(step, ctx)}".strip() if hint else self._prompt(step, ctx)
        )
        return True

    async def _unsure(
        self, spec: DialogSpec, step: DialogStep, answer: Answer, contact_id: str, now: datetime
    ) -> bool:
        """Whether a stage reading is confirmed with her before it is stored: it is not
        confident, or it contradicts the dates she gave earlier. In a dialog she started
        herself (a keyword such as 更新阶段), a different answer is the update she asked
        for, so only confidence counts there."""
        reading = answer.reading
        if reading is None or step.field != "stage":
            return False
        if reading.needs_confirmation:
            return True
        if spec.trigger == "keyword":
            return False
        profile = await profiles.get(contact_id)
        if profile is None or (profile.due_date is None and profile.birth_date is None):
            return False  # an undated stage is expected to move on
        before = StageResult(
            stage=profile.stage,
            due_date=profile.due_date,
            birth_date=profile.birth_date,
            children=profile.children,
            confidence=1.0,
        )
        return contradicts(before, reading)

    async def _pending(
        self, state: DialogState, step: DialogStep, now: datetime
    ) -> dict[str, Any] | None:
        """The reading of this step waiting for her 对, if there is one."""
        if step.parser != "stage_date":
            return None
        profile = await profiles.get(state.contact_id)
        data = (profile.extra or {}).get(pending_key(state)) if profile else None
        if not isinstance(data, dict):
            return None
        if data.get("state") != state.id or data.get("step") != state.step:
            await self._drop_pending(state)  # left over from an earlier dialog
            return None
        return data

    async def _drop_pending(self, state: DialogState) -> None:
        profile = await profiles.get(state.contact_id)
        if profile is not None and (profile.extra or {}).get(pending_key(state)) is not None:
            await profiles.set_extra(profile, pending_key(state), None)

    async def _advance(
        self, spec: DialogSpec, state: DialogState, ctx: Context, *, answered: bool = False
    ) -> None:
        """On to the next step she has not told us yet, or the end. `answered`: she
        answered the step it leaves."""
        now = ctx.clock.now()
        following = await self._next_step(spec, state.contact_id, state.step, now)
        if following < 0:
            await dialogs.end(state)
            # No thanks for nothing, no 恭喜 for a skip.
            if spec.done and (answered or state.answered):
                await ctx.reply(self._fill(spec.done, ctx))
            log.info("dialog %s finished", spec.id)
            return
        due = now + timedelta(seconds=spec.reminder_after_seconds)
        await dialogs.advance(state, following, now, due, answered=answered)
        await self._arm(state)
        await ctx.reply(self._prompt(spec.steps[following], ctx))

    async def _store(
        self, step: DialogStep, answer: Answer, spec: DialogSpec, ctx: Context, contact_id: str
    ) -> None:
        now = ctx.clock.now()
        old_stage, new_stage = await profiles.record_answer(
            contact_id,
            answer.fields,
            now,
            account_id=ctx.event.account_id,
            replace_dates=step.field == "stage",  # a new answer replaces both dates
        )
        if new_stage != old_stage:
            entered = StageEntered(contact_id, old_stage, new_stage, now, ctx.event.account_id)
            for listener in self.stage_listeners:
                try:
                    await listener(entered)
                except Exception:
                    log.exception("stage listener failed")
        if not answer.value:
            return
        detail = f"{spec.id}:{step.id}"
        current = await self.tags.tags_of(contact_id)
        for template in step.tags:
            tag = template.replace("{value}", answer.value)
            prefix = template.split("{value}")[0] if "{value}" in template else ""
            if prefix:  # one value per kind: 阶段:孕中期 replaces 阶段:孕早期
                for old in current:
                    if old.startswith(prefix) and old != tag:
                        await ctx.remove_tag(contact_id, old, source="dialog", detail=detail)
            await ctx.add_tag(contact_id, tag, source="dialog", detail=detail)

    async def _family_told(
        self,
        spec: DialogSpec,
        step: DialogStep,
        answer: Answer,
        text: str,
        ctx: Context,
        contact_id: str,
    ) -> None:
        """A stage answer that says how many children she has (老大5岁老二5个月, 怀二胎24周)
        answers the dialog's family step too, which is then not asked."""
        if step.field != "stage":
            return
        family = next((s for s in spec.steps if s.field == "family" and s.parser == "choice"), None)
        if family is None:
            return
        sizes = []
        children = answer.fields.get("children")
        if children:  # born ones; with a due date, the one on the way too
            sizes.append(children + (1 if answer.fields.get("due_date") else 0))
        told = family_size(text)
        if told is not None:
            sizes.append(told)
        value = family_choice(family.choices, max(sizes)) if sizes else None
        if value is not None:
            await self._store(family, Answer(value, {family.field: value}), spec, ctx, contact_id)

    # ------------------------------------------------------------------ news of a birth

    async def birth_news(self, event: MessageReceived, ctx: Context) -> bool:
        """A mother with a due date tells us, outside any dialog, that the baby has arrived
        (生了生了，12月3号出生的女宝). A birthday that fits her due date is recorded like her
        answer to the birth question and she is congratulated (the `birth_news` dialog's
        `done`); news without a date that fits starts that dialog, which asks for it. Once
        the birthday is known she is not congratulated again. True when it was news."""
        strong = bool(_BORN.search(event.text))
        if not (strong or _BORN_DATED.search(event.text)) or _NOT_NEWS.search(event.text):
            return False
        spec = ctx.content.dialogs.get(BIRTH_NEWS)
        if spec is None or spec.steps[0].parser != "stage_date":
            return False
        profile = await profiles.get(event.sender_id)
        if profile is None or profile.due_date is None or profile.birth_date is not None:
            return False
        step = spec.steps[0]
        today = ctx.clock.now().date()
        answer = read_answer(step, event.text, today, self.config.stage.boundaries())
        born = answer.fields.get("birth_date") if answer is not None else None
        fits = born is not None and profile.due_date - EARLIEST_BIRTH <= born <= today
        if answer is not None and fits and answer.fields.get("due_date") is None:
            await self._store(step, answer, spec, ctx, event.sender_id)
            if spec.done:
                await ctx.reply(self._fill(spec.done, ctx))
            log.info("birth news recorded")
            return True
        # News, but no birthday we can be sure of: ask her for it.
        return strong and await self.start(spec, ctx, event.sender_id)

    # ------------------------------------------------------------------ timeouts

    async def _arm(self, state: DialogState, due: datetime | None = None) -> bool:
        """Its due time (or `due`) into the work queue: a reminder, or the quiet close after
        one. True if that row was not there yet."""
        if self.work is None:
            return False
        due = due or state.due_at
        return await self.work.schedule(
            DIALOG_DUE,
            work_key("dialog", state.id, due.astimezone(UTC).isoformat()),
            due,
            account_id=state.account_id,
            contact_id=state.contact_id,
            payload={"state": state.id},
        )

    async def plan(self) -> int:
        """At start: a queue row for every dialog in progress (those from before the queue
        held them; the others exist already). Returns how many were added."""
        added = 0
        for state in await dialogs.in_progress():
            added += await self._arm(state)
        return added

    async def due(self, item: Work) -> None:
        """Runs `dialog_due` work: the reminder or the quiet close, if still due."""
        state = await dialogs.by_id(item.payload.get("state"))
        now = self.outbox.clock.now()
        if state is None or state.due_at > now:
            return  # ended, or moved on to a later due time that has its own row
        await self.timeout(state, now, self.content.current)

    async def timeout(self, state: DialogState, now: datetime, content: Content) -> None:
        """One reminder after silence, then a quiet close."""
        spec = content.dialogs.get(state.dialog_id)
        # 退订, a care stop, a care pause or a staff takeover: no reminder from the bot.
        quiet = not await privacy.can_market(state.contact_id) or (
            await care.marketing_hold(state.contact_id, now) is not None
        )
        # Every write is conditional on the row being as loaded: if she answered in the
        # meantime (asked_at moved), her answer wins and the timer does nothing.
        if spec is None or state.reminded or not spec.reminder or quiet:
            if await dialogs.close_if_unchanged(state):
                await self._closed(state, now)
                await self.sync(state.contact_id)
                log.info("dialog %s closed after silence", state.dialog_id)
            return
        due = now + timedelta(seconds=spec.close_after_seconds)
        # The close's row first: if the update below goes through and anything after it
        # fails, the dialog still closes on time (a row whose state moved on does nothing).
        await self._arm(state, due)
        if not await dialogs.remind_if_unchanged(state, due):
            return
        await self.sync(state.contact_id)
        name = await people.name_of(state.contact_id)
        text = render(spec.reminder, {"name": name, "bot": self.config.bot.name})
        await self.outbox.say(
            account_id=state.account_id,
            room_id=None,
            contact_id=state.contact_id,
            text=text,
            dedupe_key=f"dialog-remind:{state.id}:{state.asked_at.isoformat()}",
        )

    # ------------------------------------------------------------------ text

    def _prompt(self, step: DialogStep, ctx: Context) -> str:
        return self._fill(ctx.services.random.choice(step.prompts), ctx)

    def _fill(self, template: str, ctx: Context) -> str:
        event = ctx.event
        name = getattr(event, "sender_name", "") or getattr(event, "requester_name", "")
        return render(template, {"name": name, "bot": self.config.bot.name})


# Her own question, not an answer: 你们是做什么的 / 可以退货吗 / 在哪买？
_QUESTION = re.compile(
    r"[?？]|吗|什么|啥|怎么|咋|为什么|为啥|哪|谁|多少|如何|能不能|可不可以|是不是|有没有"
    r"|要不要|会不会|行不行|好不好|几[个点岁天号时次]"
)


class DialogHandler:
    """Starts dialogs (new friend, keyword), routes a mother's DMs into the one she is in,
    and hears the news of a birth."""

    name = "dialog"

    def __init__(
        self, engine: DialogEngine, questions: Handler, unanswered: Handler | None = None
    ) -> None:
        self.engine = engine
        self.questions = questions  # the keyword handler: answers her own questions
        # The fallback handler: a question no keyword answers goes to the staff on duty
        # and she gets its acknowledgement, as any unanswered private message does.
        self.unanswered = unanswered

    async def handle(self, event: Event, ctx: Context) -> Flow | None:
        if isinstance(event, FriendRequest):
            if ctx.content.welcome.accept_friends:
                spec = next((d for d in ctx.content.dialogs.dialogs if d.trigger == "friend"), None)
                if spec is not None:
                    await self.engine.start(spec, ctx, event.requester_id)
            return None
        if not isinstance(event, MessageReceived) or not event.is_dm:
            return None
        if event.type is not MessageType.TEXT:
            return None
        if await self.engine.on_message(event, ctx, self._answer_question):
            return Flow.STOP
        plain = as_word(event.text)
        for spec in ctx.content.dialogs.dialogs:
            if (
                spec.trigger == "keyword"
                and plain in {as_word(k) for k in spec.keywords}
                and await self.engine.start(spec, ctx, event.sender_id)
            ):
                return Flow.STOP
        if await self.engine.birth_news(event, ctx):
            return Flow.STOP
        return None

    async def _answer_question(self, event: MessageReceived, ctx: Context) -> bool:
        """Her message in a dialog, when it is no answer: a question a keyword rule answers,
        or one that goes on to the staff (with the fallback's acknowledgement to her). True
        when it was a question, so the step is asked again without counting a try."""
        if await self.questions.handle(event, ctx) is Flow.STOP:
            return True
        if self.unanswered is None or not _QUESTION.search(event.text):
            return False
        await self.unanswered.handle(event, ctx)  # within its cooldown: staff only
        return True
