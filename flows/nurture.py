"""Nurture sequences (content/sequences.toml): timed private messages by stage and interest.

A trigger on the bus (a stage entered, a tag added, a channel code, a keyword rule, a
tracked link clicked, an order) enrols her in every enabled sequence it names, once per
sequence ever (storage/nurture.py). Each step is a `nurture_step` row in the work queue,
scheduled when the one before it is done, so a restart or a second instance finds it there.

A step, when due: ends the enrolment if the sequence is gone or disabled, or if she left it
(an exit tag, a stage outside the sequence's, 退订); skips itself when its conditions do not
hold; asks the marketing gate before it sends (quiet hours, window, caps: it waits, it is
not lost); then sends, tags, invites, starts a dialog, and schedules the next step.

Every action is keyed by the step's row (outbox dedupe key, ledger key, schedule key), so a
step cut off anywhere and run again does nothing twice. A step naming a dialog or a group
that does not exist logs the mistake and goes on without that action: a broken sequence
costs that action, not her sequence or the bot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.config import SequencesContent, SequenceSpec, StepSpec, TriggerSpec, parse_window
from bot.features import Feature, Platform
from bot.permissions import brand_group_named
from bot.privacy import mask_id
from bot.templates import render
from bot.triggers import Trigger
from bot.work import Defer, Work, work_key
from storage import nurture as store
from storage import people, privacy, profiles
from storage import work as work_store
from storage.nurture import Enrolment

if TYPE_CHECKING:
    from bot.handler import Services
    from flows.dialog import DialogEngine

log = logging.getLogger(__name__)

NURTURE_STEP = "nurture_step"
NO_NAME = "妈妈"  # {name} when we do not know hers


def step_key(enrolment_id: int, index: int, step_id: str) -> str:
    """Keyed by position and id: a step ops moved or inserted is a new row, never one
    already done (which would end her chain)."""
    return work_key("nurture", enrolment_id, index, step_id)


def steps_prefix(enrolment_id: int) -> str:
    return f"nurture:{enrolment_id}:"


def triggered_by(spec: TriggerSpec, trigger: Trigger) -> bool:
    return spec.on == trigger.kind and (not spec.value or spec.value == trigger.value)


@dataclass(frozen=True, slots=True)
class Her:
    """What a step checks about her, read once when it runs."""

    tags: frozenset[str]
    stage: str | None
    may_market: bool

    def exit_reason(self, seq: SequenceSpec) -> str | None:
        for tag in seq.exit_tags:
            if tag in self.tags:
                return f"tag:{tag}"
        if seq.stages and self.stage not in seq.stages:
            return f"stage:{self.stage or ''}"
        return None if self.may_market else "退订"

    def meets(self, step: StepSpec) -> bool:
        return (
            all(tag in self.tags for tag in step.if_tags)
            and not any(tag in self.tags for tag in step.unless_tags)
            and (not step.stages or self.stage in step.stages)
        )


class Nurture:
    def __init__(self, services: Services, dialogs: DialogEngine | None) -> None:
        assert services.work is not None
        assert services.marketing is not None and services.links is not None
        self.s = services
        self.work = services.work
        self.marketing = services.marketing
        self.links = services.links
        self.dialogs = dialogs

    @property
    def sequences(self) -> SequencesContent:
        return self.s.content.current.sequences

    # ------------------------------------------------------------------ triggers

    async def on_trigger(self, trigger: Trigger) -> None:
        # Exits first: a stage trigger may end one sequence and start the next.
        ends = _ENDS.get(trigger.kind)
        # Every tag added passes here: her enrolments are read only when one could end.
        if ends is not None and any(ends(seq, trigger.value) for seq in self.sequences.sequences):
            reason = f"{trigger.kind}:{trigger.value}"
            await self._end_where(trigger.contact_id, reason, lambda seq: ends(seq, trigger.value))
        await self._enrol_matching(trigger)

    async def _enrol_matching(self, trigger: Trigger) -> None:
        matching = [
            seq
            for seq in self.sequences.sequences
            if seq.enabled and any(triggered_by(spec, trigger) for spec in seq.triggers)
        ]
        if not matching:
            return
        profile = await profiles.get(trigger.contact_id)
        account = trigger.account_id or (await profiles.account_for(profile) if profile else None)
        if account is None:
            log.info(
                "nurture: %s not enrolled by %s:%s, no account has talked to her",
                mask_id(trigger.contact_id),
                trigger.kind,
                trigger.value,
            )
            return
        stage = trigger.value if trigger.kind == "stage" else (profile.stage if profile else None)
        for seq in matching:
            if not seq.stages or stage in seq.stages:
                await self._enrol(seq, trigger, account)

    async def _enrol(self, seq: SequenceSpec, trigger: Trigger, account: str) -> None:
        async def first_step(enrolment: Enrolment) -> None:
            await self._schedule(enrolment, seq, 0, enrolment.enrolled_at)

        enrolment = await store.enrol(
            trigger.contact_id,
            seq.id,
            account,
            f"{trigger.kind}:{trigger.value}",
            self.s.clock.now(),
            first_step,
        )
        if enrolment is not None:
            log.info("nurture: %s enrolled in %s", mask_id(trigger.contact_id), seq.id)

    async def _schedule(
        self, enrolment: Enrolment, seq: SequenceSpec, index: int, previous_at: datetime
    ) -> None:
        step = seq.steps[index]
        base = enrolment.enrolled_at if step.after == "enrolment" else previous_at
        await self.work.schedule(
            NURTURE_STEP,
            step_key(enrolment.id, index, step.id),
            base + timedelta(seconds=step.delay_seconds),
            payload={
                "enrolment": enrolment.id,
                "step": index,
                "step_id": step.id,
                "sequence": seq.id,
            },
            account_id=enrolment.account_id,
            contact_id=enrolment.contact_id,
        )

    # ------------------------------------------------------------------ ending

    async def _end_where(
        self, contact_id: str, reason: str, leaves: Callable[[SequenceSpec], bool]
    ) -> list[str]:
        """End her active enrolments in the sequences `leaves(seq)` names."""
        ended = []
        for enrolment in await store.of_contact(contact_id, active_only=True):
            seq = self.sequences.get(enrolment.sequence_id)
            if seq is not None and leaves(seq) and await self._end(enrolment, reason):
                ended.append(enrolment.sequence_id)
        return ended

    async def _end(self, enrolment: Enrolment, reason: str) -> bool:
        if not await store.end(enrolment.id, reason, self.s.clock.now()):
            return False
        # Its next step would end at once anyway; dropping it keeps the queue clean.
        await work_store.cancel_prefixed(NURTURE_STEP, steps_prefix(enrolment.id))
        log.info(
            "nurture: %s left %s (%s)", mask_id(enrolment.contact_id), enrolment.sequence_id, reason
        )
        return True

    async def stop(self, contact_id: str, by: str) -> list[str]:
        """The manual end (#停止培育): her active enrolments end; the sequence ids ended."""
        # Not through _end_where: a sequence ops deleted since still ends here.
        return [
            enrolment.sequence_id
            for enrolment in await store.of_contact(contact_id, active_only=True)
            if await self._end(enrolment, f"manual:{by}")
        ]

    async def enrolments(self, contact_id: str) -> list[Enrolment]:
        """Every enrolment of hers, ended or not, oldest first."""
        return await store.of_contact(contact_id)

    # ------------------------------------------------------------------ steps

    async def run(self, item: Work) -> None:
        """Runs `nurture_step` work."""
        index = int(item.payload["step"])
        enrolment = await store.get(int(item.payload["enrolment"]))
        if enrolment is None or not enrolment.active:
            return  # ended, or forgotten with her
        seq = self.sequences.get(enrolment.sequence_id)
        if enrolment.step != index:
            await self._catch_up(enrolment, seq, index)
            return
        if seq is None or not seq.enabled:
            await self._end(enrolment, "sequence removed" if seq is None else "sequence disabled")
            return
        moved = await self._follow_edit(item, enrolment, seq, index)
        if moved is None:
            return
        enrolment, index = moved
        if index >= len(seq.steps):  # ops removed steps she had not reached
            await store.advance(enrolment.id, index, self.s.clock.now(), last=True)
            return
        her = await self._her(enrolment.contact_id)
        reason = her.exit_reason(seq)
        if reason is not None:
            await self._end(enrolment, reason)
            return
        step = seq.steps[index]
        if her.meets(step):
            if not await self._act(item, enrolment, seq, step):
                return
        else:
            log.info("nurture: %s step %s skipped, conditions not met", seq.id, step.id)
        await self._next(enrolment, seq, index)

    async def _follow_edit(
        self, item: Work, enrolment: Enrolment, seq: SequenceSpec, index: int
    ) -> tuple[Enrolment, int] | None:
        """The step this row was scheduled for, wherever ops moved it since: (her
        enrolment, its position now). None when it was deleted: the step now in its place
        (its successor) is scheduled instead, and nothing runs now."""
        step_id = item.payload.get("step_id")
        if step_id is None or (index < len(seq.steps) and seq.steps[index].id == step_id):
            return enrolment, index
        now_at = next((j for j, step in enumerate(seq.steps) if step.id == step_id), None)
        if now_at is None:
            log.info("nurture: %s step %s was removed; on to the next", seq.id, step_id)
            if index < len(seq.steps):
                await self._schedule(enrolment, seq, index, self.s.clock.now())
            else:
                await store.advance(enrolment.id, index, self.s.clock.now(), last=True)
            return None
        await store.move(enrolment.id, index, now_at)
        fresh = await store.get(enrolment.id)
        if fresh is None or not fresh.active or fresh.step != now_at:
            return None
        return fresh, now_at

    async def _catch_up(self, enrolment: Enrolment, seq: SequenceSpec | None, index: int) -> None:
        """A step that ran before but was cut off before its row was done: the enrolment
        moved on, so the next step must be in the queue (scheduling it again is a no-op)."""
        if seq is not None and index < enrolment.step < len(seq.steps):
            previous = enrolment.step_at or self.s.clock.now()
            await self._schedule(enrolment, seq, enrolment.step, previous)

    async def _her(self, contact_id: str) -> Her:
        profile = await profiles.get(contact_id)
        return Her(
            frozenset(await self.s.tags.tags_of(contact_id)),
            profile.stage if profile else None,
            await privacy.can_market(contact_id),
        )

    async def _next(self, enrolment: Enrolment, seq: SequenceSpec, index: int) -> None:
        now = self.s.clock.now()
        last = index + 1 >= len(seq.steps)
        # Not moved: it ended meanwhile (one of this step's own tags was an exit tag).
        if await store.advance(enrolment.id, index, now, last=last) and not last:
            await self._schedule(enrolment, seq, index + 1, now)
        if last:
            log.info("nurture: %s finished %s", mask_id(enrolment.contact_id), seq.id)

    async def _act(
        self, item: Work, enrolment: Enrolment, seq: SequenceSpec, step: StepSpec
    ) -> bool:
        """The step's actions, in order. False when the gate refuses her (退订, a loss).
        A step that writes to her (a text, an invitation, a dialog's question) passes the
        marketing gate first, once: quiet hours, window and caps hold for all of them."""
        if step.text or step.invite or step.dialog:
            refused = await self._reserve(item, enrolment, seq, step)
            if refused is not None:
                await self._end(enrolment, refused)
                return False
        if step.text:
            await self._send(item, enrolment, seq, step)
        detail = f"{seq.id}:{step.id}"
        for tag in step.add_tags:
            await self.s.tags.add(enrolment.contact_id, tag, source="sequence", detail=detail)
        for tag in step.remove_tags:
            await self.s.tags.remove(enrolment.contact_id, tag, source="sequence", detail=detail)
        if step.invite:
            await self._invite(item, enrolment, detail, step.invite)
        if step.dialog:
            await self._dialog(enrolment, detail, step.dialog)
        # Her messages are in the outbox's table before the enrolment moves on: a crash
        # right after must not lose them (the retried step's dedupe keys drop repeats).
        await self.s.outbox.stored()
        return True

    async def _reserve(
        self, item: Work, enrolment: Enrolment, seq: SequenceSpec, step: StepSpec
    ) -> str | None:
        """The marketing gate for this step: None to go on, or why it may not write to her
        (the enrolment ends with that reason). Waits (Defer) for hours, window and caps."""
        window = step.window or seq.window
        source = f"seq:{seq.id}:{step.id}"
        reservation = await self.marketing.reserve(
            enrolment.contact_id, item.key, source, parse_window(window) if window else None
        )
        if reservation.verdict == "wait":
            raise Defer(reservation.at or self.s.clock.now() + timedelta(minutes=1))
        if reservation.verdict == "skip":
            return "退订" if reservation.why == "opted out" else reservation.why
        return None

    async def _send(
        self, item: Work, enrolment: Enrolment, seq: SequenceSpec, step: StepSpec
    ) -> None:
        source = f"seq:{seq.id}:{step.id}"
        name = await people.name_of(enrolment.contact_id) or NO_NAME
        text = render(step.text, {"name": name, "bot": self.s.config.bot.name})
        text = await self.links.render(
            text,
            step.links,
            source,
            contact_id=enrolment.contact_id,
            account_id=enrolment.account_id,
        )
        await self.s.outbox.say(
            account_id=enrolment.account_id,
            room_id=None,
            contact_id=enrolment.contact_id,
            text=text,
            dedupe_key=f"{item.key}:say",
            marketing=True,
        )

    async def _invite(self, item: Work, enrolment: Enrolment, detail: str, group: str) -> None:
        room_id = await brand_group_named(self.s.config, group)
        if room_id is None:
            log.error("nurture %s: no brand group %r is known to invite her to", detail, group)
            return
        await self.s.outbox.invite(
            account_id=enrolment.account_id,
            room_id=room_id,
            contact_id=enrolment.contact_id,
            dedupe_key=f"{item.key}:invite",
        )

    async def _dialog(self, enrolment: Enrolment, detail: str, dialog_id: str) -> None:
        spec = self.s.content.current.dialogs.get(dialog_id)
        if spec is None or self.dialogs is None:
            log.error("nurture %s: there is no dialog %r to start", detail, dialog_id)
            return
        # Once: a dialog of its flow running (the one a cut-off run started) is not restarted.
        await self.dialogs.start_from_job(
            spec, enrolment.contact_id, enrolment.account_id, self.s.clock.now()
        )


# Triggers that end enrolments at once: a stage a sequence's stages leave out (the
# reason is "stage:<stage entered>"), and an exit tag she was given ("tag:<tag>").
_ENDS: dict[str, Callable[[SequenceSpec, str], bool]] = {
    "stage": lambda seq, stage: bool(seq.stages) and stage not in seq.stages,
    "tag": lambda seq, tag: tag in seq.exit_tags,
}


def _dialog_engine(p: Platform) -> DialogEngine | None:
    """The dialog engine (an app built without the dialogs feature has none)."""
    try:
        engine: DialogEngine = p.need("dialogs", "engine")
    except KeyError:
        return None
    return engine


def feature(p: Platform) -> Feature:
    nurture = Nurture(p.services, _dialog_engine(p))
    p.services.triggers.subscribe("nurture", nurture.on_trigger)
    return Feature(
        name="nurture",
        content={"sequences.toml": SequencesContent},
        work={NURTURE_STEP: nurture.run},
        exports={"nurture": nurture},
    )
