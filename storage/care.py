"""Care's records: escalations (a message that needed a person, and how fast one came) and
each mother's care state (marketing paused or stopped, a staff takeover)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.exceptions import IntegrityError

from storage.models import CareState, Escalation, Profile

SEVERITIES = ("urgent", "crisis", "concern", "loss")


async def answers() -> bool:
    """Whether care's tables answer (an outage is told apart from a bug)."""
    from storage.dead_letter import database_answers

    return await database_answers(Escalation)


# --------------------------------------------------------------------------- care state


async def _state(contact_id: str, now: datetime) -> CareState:
    state, _ = await CareState.get_or_create(contact_id=contact_id, defaults={"updated_at": now})
    return state


async def pause_marketing(contact_id: str, until: datetime, now: datetime) -> None:
    """No marketing to her before `until` (a later pause already there stays)."""
    state = await _state(contact_id, now)
    if state.marketing_paused_until is None or state.marketing_paused_until < until:
        state.marketing_paused_until = until
        state.updated_at = now
        await state.save(update_fields=["marketing_paused_until", "updated_at"])


async def stop_marketing(contact_id: str, reason: str, now: datetime) -> bool:
    """No marketing to her until staff lift it. False when it was stopped already."""
    state = await _state(contact_id, now)
    if state.marketing_stopped_at is not None:
        return False
    state.marketing_stopped_at, state.stopped_reason, state.updated_at = now, reason[:64], now
    await state.save(update_fields=["marketing_stopped_at", "stopped_reason", "updated_at"])
    return True


async def lift(contact_id: str, now: datetime) -> bool:
    """Staff lift a stop and a pause. False when there was nothing to lift."""
    return bool(
        await CareState.filter(contact_id=contact_id)
        .filter(marketing_stopped_at__isnull=False)
        .update(marketing_stopped_at=None, stopped_reason="", updated_at=now)
        + await CareState.filter(contact_id=contact_id)
        .filter(marketing_paused_until__isnull=False)
        .update(marketing_paused_until=None, updated_at=now)
    )


@dataclass(frozen=True, slots=True)
class Hold:
    """Why marketing to her must not go now: stopped (for good), or until a time."""

    stopped: bool
    until: datetime | None
    why: str


async def marketing_hold(contact_id: str, now: datetime) -> Hold | None:
    state = await CareState.get_or_none(contact_id=contact_id)
    if state is None:
        return None
    if state.marketing_stopped_at is not None:
        return Hold(True, None, state.stopped_reason or "care")
    ends = [
        t for t in (state.marketing_paused_until, state.takeover_until) if t is not None and t > now
    ]
    return Hold(False, max(ends), "care pause") if ends else None


async def stopped(contact_id: str) -> bool:
    return await CareState.filter(
        contact_id=contact_id, marketing_stopped_at__isnull=False
    ).exists()


async def take_over(contact_id: str, by: str, until: datetime, now: datetime) -> None:
    state = await _state(contact_id, now)
    state.takeover_until, state.takeover_by, state.updated_at = until, by, now
    await state.save(update_fields=["takeover_until", "takeover_by", "updated_at"])


async def hand_back(contact_id: str, now: datetime) -> bool:
    """End a takeover; False when she was not taken over."""
    return bool(
        await CareState.filter(contact_id=contact_id, takeover_until__gt=now).update(
            takeover_until=None, takeover_by=None, updated_at=now
        )
    )


async def takeover_ended(contact_id: str, by: str, until: datetime) -> bool:
    """Whether her takeover by `by` until `until` is still the one on record (it ran out
    rather than being handed back or renewed)."""
    state = await CareState.get_or_none(contact_id=contact_id, takeover_by=by)
    return state is not None and state.takeover_until == until


async def taken_over_by(contact_id: str, now: datetime) -> str | None:
    """The staff member who has taken her chats over now, or None."""
    state = await CareState.get_or_none(contact_id=contact_id, takeover_until__gt=now)
    return state.takeover_by if state is not None else None


# --------------------------------------------------------------------------- escalations


@dataclass(frozen=True, slots=True)
class Case:
    id: int
    contact_id: str
    room_id: str | None
    account_id: str
    severity: str
    reason: str
    text: str
    opened_at: datetime
    respond_by: datetime
    reminders: int
    handled_at: datetime | None
    handled_by: str | None


def _case(row: Escalation) -> Case:
    return Case(
        row.id,
        row.contact_id,
        row.room_id,
        row.account_id,
        row.severity,
        row.reason,
        row.text or "",
        row.opened_at,
        row.respond_by,
        row.reminders,
        row.handled_at,
        row.handled_by,
    )


async def open_case(
    event_id: str,
    contact_id: str,
    room_id: str | None,
    account_id: str,
    severity: str,
    reason: str,
    text: str,
    now: datetime,
    respond_by: datetime,
) -> Case | None:
    """Open an escalation for this message; None when it was opened before (the message
    handled again)."""
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r}")
    if await Escalation.exists(event_id=event_id):
        return None
    try:
        row = await Escalation.create(
            event_id=event_id,
            contact_id=contact_id,
            room_id=room_id,
            account_id=account_id,
            severity=severity,
            reason=reason[:255],
            text=text,
            opened_at=now,
            respond_by=respond_by,
        )
    except IntegrityError:
        return None
    return _case(row)


async def case(case_id: int) -> Case | None:
    row = await Escalation.get_or_none(id=case_id)
    return _case(row) if row else None


async def open_cases(contact_id: str | None = None) -> list[Case]:
    rows = Escalation.filter(handled_at__isnull=True)
    if contact_id is not None:
        rows = rows.filter(contact_id=contact_id)
    return [_case(r) for r in await rows.order_by("opened_at", "id")]


async def case_of_event(event_id: str) -> Case | None:
    """The escalation this message opened, if it opened one."""
    row = await Escalation.get_or_none(event_id=event_id)
    return _case(row) if row else None


async def reminded(case_id: int, number: int | None = None) -> None:
    """The staff were reminded once more; with `number` (the reminder's own number), a
    reminder sent again after a retry is not counted twice."""
    row = await Escalation.get_or_none(id=case_id)
    if row is not None:
        row.reminders = row.reminders + 1 if number is None else max(row.reminders, number)
        await row.save(update_fields=["reminders"])


async def handle(case_ids: list[int], by: str, now: datetime) -> int:
    """Mark these open cases handled; how many were still open."""
    if not case_ids:
        return 0
    return await Escalation.filter(id__in=case_ids, handled_at__isnull=True).update(
        handled_at=now, handled_by=by
    )


# --------------------------------------------------------------------------- after a loss


async def forget_stage(contact_id: str, now: datetime) -> str | None:
    """After a loss: her stage and the dates it is computed from are cleared, so the daily
    stage job has nothing to give back and the birth question nothing to ask about. What
    was cleared stays in `extra` for staff. Returns the stage she had."""
    row = await Profile.get_or_none(contact_id=contact_id)
    if row is None or (row.stage is None and row.due_date is None and row.birth_date is None):
        return None
    before = row.stage
    extra = dict(row.extra or {})
    extra["care_cleared"] = {
        "stage": row.stage,
        "due_date": row.due_date.isoformat() if row.due_date else None,
        "birth_date": row.birth_date.isoformat() if row.birth_date else None,
        "at": now.isoformat(),
    }
    row.stage = row.due_date = row.birth_date = None
    row.extra, row.updated_at = extra, now
    await row.save(update_fields=["stage", "due_date", "birth_date", "extra", "updated_at"])
    return before


async def forget_messages(contact_id: str, remind_kind: str, now: datetime) -> dict[str, int]:
    """What care told the staff about her (the alerts quoting her words, the reminders)
    goes with her, and her open cases are closed: nobody is left to reach. Run before the
    tables forget her (her cases still name her then)."""
    from storage.models import OutboxMessage

    deleted = 0
    for case_id, event_id in await Escalation.filter(contact_id=contact_id).values_list(
        "id", "event_id"
    ):
        deleted += await OutboxMessage.filter(dedupe_key__startswith=f"{event_id}:care:").delete()
        deleted += await OutboxMessage.filter(
            dedupe_key__startswith=f"{remind_kind}:{case_id}:"
        ).delete()
    closed = await Escalation.filter(contact_id=contact_id, handled_at__isnull=True).update(
        handled_at=now, handled_by="forgotten"
    )
    return {"staff_messages": deleted, "cases_closed": closed}
