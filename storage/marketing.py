"""The ledger of marketing sends: what the frequency cap counts, and what conversion reads
as "sent". One row per work row that sent (its key), so a retried step counts once."""

from __future__ import annotations

from datetime import datetime

from tortoise.exceptions import IntegrityError

from storage.models import MarketingSend


async def record(
    key: str,
    source: str,
    at: datetime,
    *,
    contact_id: str | None = None,
    room_id: str | None = None,
) -> bool:
    """Write the send down; False when this key was written before."""
    if await MarketingSend.exists(key=key):
        return False
    try:
        await MarketingSend.create(
            key=key, source=source, contact_id=contact_id, room_id=room_id, at=at
        )
    except IntegrityError:
        return False
    return True


async def recorded(key: str) -> bool:
    return await MarketingSend.exists(key=key)


async def sends_to(contact_id: str, since: datetime) -> list[datetime]:
    """When marketing went to her since `since`, oldest first."""
    rows = await MarketingSend.filter(contact_id=contact_id, at__gte=since).order_by("at")
    return [row.at for row in rows]
