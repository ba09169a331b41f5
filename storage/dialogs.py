"""Dialogs in progress (`dialog_state`): one row per contact and flow, with its step, tries,
the steps she answered, whether she was reminded, and its due time (the reminder, or the
quiet close after it).

flows/dialog.py runs the dialogs and mirrors these rows in the key-value store; this module
owns the rows. It hands them out as `DialogState`, a read-only view: the dialog reads
their fields and passes them back here to move them on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from storage import models


class DialogState(Protocol):
    """A dialog in progress, as the dialog flow sees it."""

    @property
    def id(self) -> int: ...
    @property
    def contact_id(self) -> str: ...
    @property
    def flow(self) -> str: ...
    @property
    def account_id(self) -> str: ...
    @property
    def dialog_id(self) -> str: ...
    @property
    def step(self) -> int: ...
    @property
    def tries(self) -> int: ...
    @property
    def answered(self) -> int: ...
    @property
    def reminded(self) -> bool: ...
    @property
    def asked_at(self) -> datetime: ...
    @property
    def due_at(self) -> datetime: ...


def _row(state: DialogState) -> models.DialogState:
    """The row behind a state this module handed out."""
    if not isinstance(state, models.DialogState):
        raise TypeError(f"not a dialog_state row: {state!r}")
    return state


# --------------------------------------------------------------------------- reading


async def by_id(state_id: int | None) -> DialogState | None:
    """The dialog with this id, or None when it has ended."""
    return await models.DialogState.get_or_none(id=state_id)


async def active_for(contact_id: str) -> DialogState | None:
    """The dialog her next message answers: the one asked most recently."""
    return await models.DialogState.filter(contact_id=contact_id).order_by("-asked_at").first()


async def all_of(contact_id: str) -> list[DialogState]:
    """Her dialogs in progress, most recently asked first."""
    return list(await models.DialogState.filter(contact_id=contact_id).order_by("-asked_at"))


async def running(contact_id: str, flow: str) -> bool:
    """Whether a dialog of this flow is in progress with her."""
    return await models.DialogState.filter(contact_id=contact_id, flow=flow).exists()


async def in_progress() -> list[DialogState]:
    """Every dialog in progress."""
    return list(await models.DialogState.all())


async def in_progress_by_contact() -> dict[str, list[DialogState]]:
    """Every dialog in progress, by contact, most recently asked first (one query)."""
    by_contact: dict[str, list[DialogState]] = {}
    for row in await models.DialogState.all().order_by("-asked_at"):
        by_contact.setdefault(row.contact_id, []).append(row)
    return by_contact


# --------------------------------------------------------------------------- writing


async def start(
    *,
    contact_id: str,
    flow: str,
    account_id: str,
    dialog_id: str,
    step: int,
    asked_at: datetime,
    due_at: datetime,
) -> DialogState:
    """A new dialog with her, asking `step` at `asked_at`, due (for a reminder) at `due_at`."""
    return await models.DialogState.create(
        contact_id=contact_id,
        flow=flow,
        account_id=account_id,
        dialog_id=dialog_id,
        step=step,
        asked_at=asked_at,
        due_at=due_at,
    )


async def advance(
    state: DialogState, step: int, asked_at: datetime, due_at: datetime, *, answered: bool
) -> None:
    """On to `step`, asked at `asked_at`: tries counted afresh, no reminder yet. `answered`:
    she answered the step it leaves (counted in `answered`)."""
    row = _row(state)
    if answered:
        row.answered += 1
    row.step, row.tries, row.reminded = step, 0, False
    row.asked_at = asked_at
    row.due_at = due_at
    await row.save()


async def ask_again(
    state: DialogState, asked_at: datetime, due_at: datetime, *, count_try: bool
) -> None:
    """The same step asked again at `asked_at`. `count_try`: her answer could not be read
    (one more try); not after a question of her own."""
    row = _row(state)
    if count_try:
        row.tries += 1
    row.asked_at = asked_at
    row.due_at = due_at
    await row.save()


async def end(state: DialogState) -> None:
    """The dialog is over (finished, cancelled, or gone from the content)."""
    await _row(state).delete()


# Conditional on the row being as it was loaded: if she answered in the meantime (asked_at
# moved) or another instance got there first, these change nothing and return False.


async def close_if_unchanged(state: DialogState) -> bool:
    """End the dialog after silence, unless it changed since it was loaded. True if it
    ended it."""
    return bool(
        await models.DialogState.filter(
            id=state.id, asked_at=state.asked_at, reminded=state.reminded
        ).delete()
    )


async def remind_if_unchanged(state: DialogState, due_at: datetime) -> bool:
    """Mark her reminded, with the quiet close due at `due_at`, unless the dialog changed
    since it was loaded. True if it did (and `state` says so too)."""
    row = _row(state)
    if not await models.DialogState.filter(
        id=row.id, asked_at=row.asked_at, reminded=row.reminded
    ).update(reminded=True, due_at=due_at):
        return False
    row.reminded, row.due_at = True, due_at
    return True
