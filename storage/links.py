"""Tracked links: each one as sent (token, target, whom it went to), and its clicks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tortoise.expressions import F

from storage.models import MarketingSend, TrackedLink


@dataclass(frozen=True, slots=True)
class Link:
    token: str
    link_id: str
    url: str
    tags: tuple[str, ...]
    source: str
    contact_id: str | None
    room_id: str | None
    account_id: str | None


def _link(row: TrackedLink) -> Link:
    tags = tuple(str(t) for t in row.tags) if isinstance(row.tags, list) else ()
    return Link(
        row.token,
        row.link_id,
        row.url,
        tags,
        row.source,
        row.contact_id,
        row.room_id,
        row.account_id,
    )


async def create(
    token: str,
    link_id: str,
    url: str,
    tags: Sequence[str],
    source: str,
    now: datetime,
    *,
    contact_id: str | None = None,
    room_id: str | None = None,
    account_id: str | None = None,
) -> None:
    await TrackedLink.create(
        token=token,
        link_id=link_id,
        url=url,
        tags=list(tags),
        source=source,
        contact_id=contact_id,
        room_id=room_id,
        account_id=account_id,
        created_at=now,
    )


async def get(token: str) -> Link | None:
    row = await TrackedLink.get_or_none(token=token)
    return _link(row) if row else None


async def count_click(token: str, now: datetime) -> bool:
    """One more click on it; False when the token is unknown."""
    updated = await TrackedLink.filter(token=token).update(
        clicks=F("clicks") + 1, last_click_at=now
    )
    if updated:
        await TrackedLink.filter(token=token, first_click_at__isnull=True).update(
            first_click_at=now
        )
    return bool(updated)


@dataclass(frozen=True, slots=True)
class Conversion:
    """One post or step: messages sent, of those (links) clicked at least once, and the
    contacts sent to who carry the exit tag now."""

    source: str
    sent: int
    clicked: int
    clicks: int
    converted: int


async def conversion(source: str, exit_tags: Sequence[str] = ()) -> Conversion:
    """Sent / clicked / followed by the exit tag for a post (`post:ID`) or a sequence step
    (`seq:ID:STEP`). A message counts as clicked when any link in it was (its links share
    the moment they were made). Converted: contacts it was sent to who were given an exit
    tag after it (a post goes to a group, so it converts nobody by this measure)."""
    from storage.models import TagEvent

    sent = await MarketingSend.filter(source=source).count()
    links = await TrackedLink.filter(source=source).values(
        "contact_id", "room_id", "created_at", "clicks"
    )
    clicked_messages = {
        (row["contact_id"], row["room_id"], str(row["created_at"]))
        for row in links
        if int(row["clicks"] or 0) > 0
    }
    clicks = sum(int(row["clicks"] or 0) for row in links)
    converted = 0
    if exit_tags:
        sends = await MarketingSend.filter(source=source, contact_id__isnull=False).values(
            "contact_id", "at"
        )
        first: dict[str, datetime] = {}
        for row in sends:
            contact, at = str(row["contact_id"]), row["at"]
            if contact not in first or at < first[contact]:
                first[contact] = at
        for contact, at in first.items():
            if await TagEvent.filter(
                contact_id=contact, op="add", tag__in=list(exit_tags), at__gte=at
            ).exists():
                converted += 1
    return Conversion(source, sent, len(clicked_messages), clicks, converted)
