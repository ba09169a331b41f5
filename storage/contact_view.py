"""Read-only views of contacts for the open HTTP API and the dashboard: the contact list
(by tag and stage, paged), one mother's 360 view, her interaction timeline, tag counts,
and the interaction export.

Everything is returned JSON-ready: datetimes as ISO 8601 strings (in `tz` when one is
given, else as stored, UTC), dates as "YYYY-MM-DD". Pages are walked with opaque cursors
(keyset pagination, never OFFSET), so a page costs the same at the end of a long list as
at its start and rows added meanwhile never repeat a row already seen.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator
from datetime import date, datetime, tzinfo
from typing import Any

from tortoise.expressions import Q, Subquery
from tortoise.functions import Count

from storage.models import (
    Contact,
    ContactTag,
    Enrollment,
    Interaction,
    Order,
    Profile,
    RfmScore,
    Room,
    RoomMembership,
    Tag,
    TagEvent,
)

MAX_PAGE = 200
# The 360 view lists at most this many of her orders and tag changes (newest first); the
# counts beside them say when there are more.
MAX_ORDERS = 200
MAX_TAG_HISTORY = 500
EXPORT_BATCH = 1000
CONTACT_ID_BOUND = 2**31  # contact.id is an integer
INTERACTION_ID_BOUND = 2**63  # interaction.id is a bigint
CURSOR_YEARS = (2000, 2999)  # the times a timeline cursor may name


class BadCursor(ValueError):
    """A cursor this module did not hand out (or one for another list)."""


# --------------------------------------------------------------------------- cursors


def _encode(kind: str, position: list[Any]) -> str:
    raw = json.dumps([kind, *position], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(kind: str, cursor: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise BadCursor("cursor is not one this API handed out") from exc
    if not isinstance(value, list) or not value or value[0] != kind:
        raise BadCursor("cursor is not one this API handed out")
    return value[1:]


def _row_id(value: Any, bound: int) -> int:
    # Row ids are positive and below their column's bound; a bigger one fails in the
    # database driver (PostgreSQL's integer and bigint).
    if type(value) is not int or not 0 < value < bound:
        raise BadCursor("cursor is not one this API handed out")
    return value


def _contacts_after(cursor: str | None) -> int:
    if not cursor:
        return 0
    position = _decode("c", cursor)
    if len(position) != 1:
        raise BadCursor("cursor is not one this API handed out")
    return _row_id(position[0], CONTACT_ID_BOUND)


def _timeline_before(cursor: str) -> tuple[datetime, int]:
    position = _decode("t", cursor)
    if len(position) != 2 or not isinstance(position[0], str):
        raise BadCursor("cursor is not one this API handed out")
    try:
        at = datetime.fromisoformat(position[0])
    except ValueError as exc:
        raise BadCursor("cursor is not one this API handed out") from exc
    # No interaction is that old or that far ahead; near year 1 or 9999 a conversion to
    # UTC overflows.
    if at.tzinfo is None or not CURSOR_YEARS[0] <= at.year <= CURSOR_YEARS[1]:
        raise BadCursor("cursor is not one this API handed out")
    return at, _row_id(position[1], INTERACTION_ID_BOUND)


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be 1..{MAX_PAGE}, not {limit}")
    return limit


# --------------------------------------------------------------------------- values


def _when(value: datetime | None, tz: tzinfo | None) -> str | None:
    if value is None:
        return None
    return (value.astimezone(tz) if tz is not None else value).isoformat()


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


# --------------------------------------------------------------------------- contacts


async def list_contacts(
    *,
    tag: str | None,
    stage: str | None,
    cursor: str | None,
    limit: int,
    tz: tzinfo | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Contacts in the order we first saw them, optionally only those carrying `tag` now
    and those at `stage`; a page of at most `limit` and the cursor of the next page (None
    on the last). Raises BadCursor, or ValueError for a limit outside 1..MAX_PAGE."""
    limit = _limit(limit)
    query = Contact.filter(id__gt=_contacts_after(cursor))
    if tag:
        query = query.filter(
            contact_id__in=Subquery(ContactTag.filter(tag__name=tag).values("contact_id"))
        )
    if stage:
        query = query.filter(
            contact_id__in=Subquery(Profile.filter(stage=stage).values("contact_id"))
        )
    rows = await query.order_by("id").limit(limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    ids = [row.contact_id for row in rows]
    stages: dict[str, str | None] = {}
    tags: dict[str, list[str]] = {cid: [] for cid in ids}
    if ids:
        stages = dict(await Profile.filter(contact_id__in=ids).values_list("contact_id", "stage"))
        for contact_id, name in await ContactTag.filter(contact_id__in=ids).values_list(
            "contact_id", "tag__name"
        ):
            tags[str(contact_id)].append(str(name))
    page = [
        {
            "id": row.contact_id,
            "name": row.name,
            "channel": row.channel,
            "is_friend": row.is_friend,
            "first_seen_at": _when(row.first_seen_at, tz),
            "opted_out": row.opted_out_at is not None,
            "stage": stages.get(row.contact_id),
            "tags": sorted(tags[row.contact_id]),
        }
        for row in rows
    ]
    next_cursor = _encode("c", [rows[-1].id]) if more else None
    return page, next_cursor


async def contact_360(contact_id: str, *, tz: tzinfo | None = None) -> dict[str, Any] | None:
    """Everything we know about her in one document; None when the id is not `known`."""
    contact = await Contact.get_or_none(contact_id=contact_id)
    profile = await Profile.get_or_none(contact_id=contact_id)
    if contact is None and profile is None and not await known(contact_id):
        return None
    return {
        "contact": _contact(contact_id, contact, tz),
        "profile": _profile(profile, tz),
        "tags": await _tags(contact_id, tz),
        "tag_history": await _tag_history(contact_id, tz),
        "groups": await _groups(contact_id, tz),
        "orders": await _orders(contact_id, tz),
        "orders_total": await Order.filter(contact_id=contact_id).count(),
        "sequences": await _sequences(contact_id, tz),
        "rfm": await _rfm(contact_id, tz),
    }


def _contact(contact_id: str, row: Contact | None, tz: tzinfo | None) -> dict[str, Any]:
    return {
        "id": contact_id,
        "name": row.name if row else "",
        "channel": row.channel if row else None,
        "is_friend": row.is_friend if row else False,
        "first_seen_at": _when(row.first_seen_at, tz) if row else None,
        "opted_out": bool(row and row.opted_out_at is not None),
        # when she deleted (or blocked) the bot, as far as it knows; null while a friend
        "unfriended_at": _when(row.unfriended_at, tz) if row and row.unfriended_at else None,
    }


def _profile(row: Profile | None, tz: tzinfo | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "stage": row.stage,
        "due_date": _day(row.due_date),
        "birth_date": _day(row.birth_date),
        "city": row.city,
        "province": row.province,
        "children": row.children,
        "family": row.family,
        "extra": row.extra if isinstance(row.extra, dict) else {},
        "account_id": row.account_id,
        "updated_at": _when(row.updated_at, tz),
    }


async def _tags(contact_id: str, tz: tzinfo | None) -> list[dict[str, Any]]:
    rows = await (
        ContactTag.filter(contact_id=contact_id)
        .order_by("added_at", "id")
        .values_list("tag__name", "source", "detail", "added_at")
    )
    return [
        {"name": name, "source": source, "detail": detail, "added_at": _when(at, tz)}
        for name, source, detail, at in rows
    ]


async def _tag_history(contact_id: str, tz: tzinfo | None) -> list[dict[str, Any]]:
    rows = await (
        TagEvent.filter(contact_id=contact_id)
        .order_by("-id")
        .limit(MAX_TAG_HISTORY)
        .values_list("tag", "op", "source", "detail", "at")
    )
    return [
        {"tag": tag, "op": op, "source": source, "detail": detail, "at": _when(at, tz)}
        for tag, op, source, detail, at in reversed(rows)
    ]


async def _groups(contact_id: str, tz: tzinfo | None) -> list[dict[str, Any]]:
    stints = await (
        RoomMembership.filter(contact_id=contact_id)
        .order_by("joined_at", "id")
        .values_list("room_id", "joined_at", "left_at")
    )
    room_ids = sorted({str(room_id) for room_id, _, _ in stints})
    topics = dict(await Room.filter(room_id__in=room_ids).values_list("room_id", "topic"))
    return [
        {
            "room_id": room_id,
            "topic": topics.get(room_id, ""),
            "joined_at": _when(joined, tz),
            "left_at": _when(left, tz),
        }
        for room_id, joined, left in stints
    ]


async def _orders(contact_id: str, tz: tzinfo | None) -> list[dict[str, Any]]:
    rows = await Order.filter(contact_id=contact_id).order_by("-placed_at", "-id").limit(MAX_ORDERS)
    return [
        {
            "order_id": row.order_id,
            "amount_cents": row.amount_cents,
            "currency": row.currency,
            "status": row.status,
            "product": row.product,
            "channel": row.channel,
            "placed_at": _when(row.placed_at, tz),
        }
        for row in rows
    ]


async def _sequences(contact_id: str, tz: tzinfo | None) -> list[dict[str, Any]]:
    rows = await Enrollment.filter(contact_id=contact_id).order_by("enrolled_at", "id")
    return [
        {
            "sequence_id": row.sequence_id,
            "status": row.status,
            "step": row.step,
            "enrolled_at": _when(row.enrolled_at, tz),
            "ended_at": _when(row.ended_at, tz),
            "end_reason": row.end_reason,
        }
        for row in rows
    ]


async def _rfm(contact_id: str, tz: tzinfo | None) -> dict[str, Any] | None:
    row = await RfmScore.get_or_none(contact_id=contact_id)
    if row is None:
        return None
    return {
        "r": row.r,
        "f": row.f,
        "m": row.m,
        "segment": row.segment,
        "recency_days": row.recency_days,
        "frequency": row.frequency,
        "monetary_cents": row.monetary_cents,
        "computed_at": _when(row.computed_at, tz),
    }


# --------------------------------------------------------------------------- timeline


async def known(contact_id: str) -> bool:
    """Whether the id is one we have anything of: her contact row, her profile, or
    interactions (a forgotten mother's anonymised id has only those)."""
    return (
        await Contact.exists(contact_id=contact_id)
        or await Profile.exists(contact_id=contact_id)
        or await Interaction.exists(contact_id=contact_id)
    )


async def timeline(
    contact_id: str, *, cursor: str | None, limit: int, tz: tzinfo | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Her interactions newest first (by time, then by row for equal times); a page and
    the cursor of the next (older) page, None on the last."""
    limit = _limit(limit)
    query = Interaction.filter(contact_id=contact_id)
    if cursor:
        at, row_id = _timeline_before(cursor)
        query = query.filter(Q(at__lte=at), Q(at__lt=at) | Q(id__lt=row_id))
    rows = await (
        query.order_by("-at", "-id")
        .limit(limit + 1)
        .values_list("id", "at", "kind", "room_id", "msg_type", "text")
    )
    more = len(rows) > limit
    rows = rows[:limit]
    page = [
        {"at": _when(at, tz), "kind": kind, "room_id": room, "msg_type": msg_type, "text": text}
        for _, at, kind, room, msg_type, text in rows
    ]
    next_cursor = None
    if more:
        last_id, last_at = rows[-1][0], rows[-1][1]
        next_cursor = _encode("t", [last_at.isoformat(), last_id])
    return page, next_cursor


# --------------------------------------------------------------------------- tags


async def tag_counts() -> list[dict[str, Any]]:
    """Every tag somebody carries now, with how many carry it; most carried first."""
    rows = await (
        Tag.annotate(carriers=Count("contacts"))
        .filter(carriers__gt=0)
        .order_by("-carriers", "name")
        .values_list("name", "carriers")
    )
    return [{"name": name, "contacts": int(count)} for name, count in rows]


# --------------------------------------------------------------------------- export

EXPORT_FIELDS = ("id", "at", "account_id", "kind", "room_id", "contact_id", "msg_type", "text")


async def interactions_between(
    start: datetime, end: datetime, *, tz: tzinfo | None = None, batch: int = EXPORT_BATCH
) -> AsyncIterator[dict[str, Any]]:
    """Every interaction with start <= at < end, oldest first, read `batch` rows at a
    time (keyset on time and row), so an export of millions never sits in memory."""
    after: tuple[datetime, int] | None = None
    while True:
        query = Interaction.filter(at__gte=start, at__lt=end)
        if after is not None:
            # The bare `at >= last` lets the database seek in the time index; the OR
            # alone would make it scan from `start` again for every batch.
            query = query.filter(Q(at__gte=after[0]), Q(at__gt=after[0]) | Q(id__gt=after[1]))
        rows = await query.order_by("at", "id").limit(batch).values_list(*EXPORT_FIELDS)
        for row_id, at, account, kind, room, contact, msg_type, text in rows:
            yield {
                "id": row_id,
                "at": _when(at, tz),
                "account_id": account,
                "kind": kind,
                "room_id": room,
                "contact_id": contact,
                "msg_type": msg_type,
                "text": text,
            }
        if len(rows) < batch:
            return
        after = (rows[-1][1], rows[-1][0])
