"""Enrolments in nurture sequences (`enrollment`): one per contact and sequence, ever.

The row says where she is: the next step to run (`step`), when the last one ran
(`step_at`), and, once it is over, how it ended (finished, or exited with a reason). Every
change is conditional on the row still being where the caller saw it (active, at that
step), so a step run twice, or an exit racing a step, moves it once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from storage.models import Enrollment

ACTIVE = "active"
FINISHED = "finished"
EXITED = "exited"


@dataclass(frozen=True, slots=True)
class Enrolment:
    id: int
    contact_id: str
    sequence_id: str
    account_id: str
    trigger: str
    status: str
    step: int  # the next step to run
    enrolled_at: datetime
    step_at: datetime | None
    ended_at: datetime | None
    end_reason: str

    @property
    def active(self) -> bool:
        return self.status == ACTIVE


def _enrolment(row: Enrollment) -> Enrolment:
    return Enrolment(
        id=row.id,
        contact_id=row.contact_id,
        sequence_id=row.sequence_id,
        account_id=row.account_id,
        trigger=row.trigger,
        status=row.status,
        step=row.step,
        enrolled_at=row.enrolled_at,
        step_at=row.step_at,
        ended_at=row.ended_at,
        end_reason=row.end_reason,
    )


async def enrol(
    contact_id: str,
    sequence_id: str,
    account_id: str,
    trigger: str,
    now: datetime,
    then: Callable[[Enrolment], Awaitable[object]],
) -> Enrolment | None:
    """Enrol her, unless she ever was (None). `then` (scheduling the first step) runs in
    the same transaction: an enrolment never exists without its first step queued."""
    if await Enrollment.exists(contact_id=contact_id, sequence_id=sequence_id):
        return None
    try:
        async with in_transaction(Enrollment._meta.default_connection):
            row = await Enrollment.create(
                contact_id=contact_id,
                sequence_id=sequence_id,
                account_id=account_id,
                trigger=trigger[:191],
                status=ACTIVE,
                step=0,
                enrolled_at=now,
            )
            enrolment = _enrolment(row)
            await then(enrolment)
    except IntegrityError:
        return None  # enrolled at the same moment by another trigger or instance
    return enrolment


async def get(enrolment_id: int) -> Enrolment | None:
    row = await Enrollment.get_or_none(id=enrolment_id)
    return _enrolment(row) if row else None


async def of_contact(contact_id: str, *, active_only: bool = False) -> list[Enrolment]:
    """Her enrolments, oldest first."""
    query = Enrollment.filter(contact_id=contact_id)
    if active_only:
        query = query.filter(status=ACTIVE)
    return [_enrolment(row) for row in await query.order_by("id")]


async def advance(enrolment_id: int, step: int, now: datetime, *, last: bool) -> bool:
    """Step `step` is done (ran or skipped): on to the next, or finished after the last.
    False when the row is no longer active at that step (ended, or moved on already)."""
    changes: dict[str, object] = {"step": step + 1, "step_at": now}
    if last:
        changes.update(status=FINISHED, ended_at=now)
    updated = await Enrollment.filter(id=enrolment_id, status=ACTIVE, step=step).update(**changes)
    return bool(updated)


async def move(enrolment_id: int, step: int, to: int) -> bool:
    """Her next step is at position `to` now (ops moved it in the sequence)."""
    updated = await Enrollment.filter(id=enrolment_id, status=ACTIVE, step=step).update(step=to)
    return bool(updated)


async def end(enrolment_id: int, reason: str, now: datetime) -> bool:
    """She leaves the sequence (exited, with the reason). False when it was over already."""
    updated = await Enrollment.filter(id=enrolment_id, status=ACTIVE).update(
        status=EXITED, ended_at=now, end_reason=reason[:191]
    )
    return bool(updated)
