"""New group members waiting for their room's batched welcome (`pending_welcome`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

from tortoise.transactions import in_transaction

from storage.models import PendingWelcome

EVENT_ID_MAX = 191
CHUNK = 500
T = TypeVar("T")


async def park(
    event_id: str, account_id: str, room_id: str, contact_id: str, name: str, joined_at: datetime
) -> bool:
    """Park a join until its room's batch goes out; True if it was not parked already."""
    _row, created = await PendingWelcome.get_or_create(
        event_id=event_id[:EVENT_ID_MAX],
        defaults={
            "account_id": account_id,
            "room_id": room_id,
            "contact_id": contact_id,
            "name": name,
            "joined_at": joined_at,
        },
    )
    return bool(created)


async def waiting(account_id: str, room_id: str) -> list[PendingWelcome]:
    """The room's parked joins, first joined first."""
    return list(
        await PendingWelcome.filter(account_id=account_id, room_id=room_id).order_by(
            "joined_at", "id"
        )
    )


async def first_of_each_room() -> list[PendingWelcome]:
    """The earliest parked join of every room (to schedule batches left from before)."""
    first: dict[tuple[str, str], PendingWelcome] = {}
    for row in await PendingWelcome.all().order_by("joined_at", "id"):
        first.setdefault((row.account_id, row.room_id), row)
    return list(first.values())


def chunks(items: Sequence[T], size: int = CHUNK) -> list[Sequence[T]]:
    """Bounded `IN (...)` lists: SQLite caps the variables of one statement, and a join
    wave welcomes thousands at once."""
    return [items[i : i + size] for i in range(0, len(items), size)]


async def welcomed(ids: list[int]) -> None:
    """Their welcome went out: unpark them, all or none (a half-done unpark would welcome
    the rest a second time)."""
    async with in_transaction(PendingWelcome._meta.default_connection):
        for chunk in chunks(ids):
            await PendingWelcome.filter(id__in=chunk).delete()


async def forget_contact(contact_id: str) -> int:
    return int(await PendingWelcome.filter(contact_id=contact_id).delete())
