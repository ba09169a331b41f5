"""What the managers' dashboard keeps and reads that no other module owns: its users
(`mamabot users`), their login sessions, and the lists behind its pages (groups,
channels, the RFM segment table, the contact search), and the whole lists its CSV
downloads stream, read a batch at a time (keyset, never OFFSET) so a download of a
hundred thousand rows never sits in memory.

Passwords arrive here already hashed and session tokens as their SHA-256: nothing in the
database can log anyone in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery
from tortoise.functions import Avg, Count, Sum

from storage.models import (
    Contact,
    ContactTag,
    DashboardUser,
    Order,
    RfmScore,
    Room,
    TagEvent,
    WebSession,
)

EXPORT_BATCH = 1000  # rows per query of a CSV download

# ------------------------------------------------------------------ users


@dataclass(frozen=True, slots=True)
class User:
    name: str
    password_hash: str
    created_at: datetime
    last_login_at: datetime | None
    disabled: bool


def _user(row: DashboardUser) -> User:
    return User(row.name, row.password_hash, row.created_at, row.last_login_at, row.disabled)


async def add_user(name: str, password_hash: str, now: datetime) -> bool:
    """A new user; False when the name is taken (disabled users keep their name)."""
    if await DashboardUser.exists(name=name):
        return False
    try:
        await DashboardUser.create(name=name, password_hash=password_hash, created_at=now)
    except IntegrityError:  # added by someone else between the check and the insert
        return False
    return True


async def set_password(name: str, password_hash: str) -> bool:
    """A new password for an existing user, who is enabled again and logged out
    everywhere; False when there is no such user."""
    changed = await DashboardUser.filter(name=name).update(
        password_hash=password_hash, disabled=False
    )
    if changed:
        await WebSession.filter(user_name=name).delete()
    return bool(changed)


async def get_user(name: str) -> User | None:
    row = await DashboardUser.get_or_none(name=name)
    return None if row is None else _user(row)


async def list_users() -> list[User]:
    return [_user(row) for row in await DashboardUser.all().order_by("name")]


async def disable_user(name: str) -> bool:
    """Disable the user and end her sessions; False when there is no such user."""
    changed = await DashboardUser.filter(name=name).update(disabled=True)
    await WebSession.filter(user_name=name).delete()
    return bool(changed)


async def logged_in(name: str, password_hash: str | None, now: datetime) -> None:
    """Note a successful login (and a rehashed password, when the hasher asked for one)."""
    values: dict[str, Any] = {"last_login_at": now}
    if password_hash is not None:
        values["password_hash"] = password_hash
    await DashboardUser.filter(name=name).update(**values)


# ------------------------------------------------------------------ sessions


@dataclass(frozen=True, slots=True)
class Session:
    user_name: str
    csrf: str
    expires_at: datetime


async def create_session(
    token_hash: str, user_name: str, csrf: str, now: datetime, expires_at: datetime
) -> None:
    # Expired rows go when someone logs in: the table stays as small as the live logins.
    await WebSession.filter(expires_at__lte=now).delete()
    await WebSession.create(
        token_hash=token_hash, user_name=user_name, csrf=csrf, created_at=now, expires_at=expires_at
    )


async def live_session(token_hash: str, now: datetime) -> Session | None:
    """The session with this token hash, if it has not expired and its user may still
    log in."""
    row = await WebSession.get_or_none(token_hash=token_hash, expires_at__gt=now)
    if row is None:
        return None
    if not await DashboardUser.exists(name=row.user_name, disabled=False):
        return None
    return Session(row.user_name, row.csrf, row.expires_at)


async def end_session(token_hash: str) -> bool:
    return bool(await WebSession.filter(token_hash=token_hash).delete())


# ------------------------------------------------------------------ page lists


async def room_topic(room_id: str) -> str | None:
    """The group's topic ("" when it has none); None when the bot does not know it."""
    row = await Room.get_or_none(room_id=room_id).values_list("topic", flat=True)
    return None if row is None else str(row)


async def room_accounts() -> list[str]:
    """Every account a group is recorded under, for the pages' account filter."""
    ids = await Room.exclude(account_id="").distinct().values_list("account_id", flat=True)
    return sorted(set(map(str, ids)))


async def channel_codes() -> list[dict[str, Any]]:
    """Every channel code contacts came from, with how many came from it."""
    rows = (
        await Contact.filter(channel__isnull=False)
        .exclude(channel="")
        .group_by("channel")
        .annotate(n=Count("id"))
        .order_by("channel")
        .values_list("channel", "n")
    )
    return [{"channel": code, "contacts": n} for code, n in rows]


async def rfm_segments() -> list[dict[str, Any]]:
    """One row per segment: how many contacts, their mean recency and order count, and
    what they spent in all."""
    rows = (
        await RfmScore.all()
        .group_by("segment")
        .annotate(
            contacts=Count("id"),
            recency=Avg("recency_days"),
            frequency=Avg("frequency"),
            monetary=Sum("monetary_cents"),
        )
        .order_by("segment")
        .values("segment", "contacts", "recency", "frequency", "monetary")
    )
    return [
        {
            "segment": row["segment"],
            "contacts": int(row["contacts"]),
            "avg_recency_days": round(float(row["recency"] or 0), 1),
            "avg_frequency": round(float(row["frequency"] or 0), 2),
            "monetary_cents": int(row["monetary"] or 0),
        }
        for row in rows
    ]


_MEMBER_FIELDS = (
    "contact_id",
    "segment",
    "r",
    "f",
    "m",
    "recency_days",
    "frequency",
    "monetary_cents",
)


async def rfm_members(segment: str | None, offset: int, limit: int) -> list[dict[str, Any]]:
    """Scored contacts (of one segment, "" being the unsegmented, or all), biggest
    spenders first."""
    query = RfmScore.all() if segment is None else RfmScore.filter(segment=segment)
    rows = (
        await query.order_by("-monetary_cents", "contact_id")
        .offset(offset)
        .limit(limit)
        .values(*_MEMBER_FIELDS)
    )
    return await _with_names(rows)


async def all_rfm_members(
    segment: str | None, batch: int = EXPORT_BATCH
) -> AsyncIterator[dict[str, Any]]:
    """Every scored contact, in `rfm_members` order, `batch` rows per query."""
    after: tuple[int, str] | None = None
    while True:
        query = RfmScore.all() if segment is None else RfmScore.filter(segment=segment)
        if after is not None:
            spent, contact_id = after
            query = query.filter(
                Q(monetary_cents__lte=spent),
                Q(monetary_cents__lt=spent) | Q(contact_id__gt=contact_id),
            )
        rows = (
            await query.order_by("-monetary_cents", "contact_id")
            .limit(batch)
            .values(*_MEMBER_FIELDS)
        )
        for row in await _with_names(rows):
            yield row
        if len(rows) < batch:
            return
        after = (rows[-1]["monetary_cents"], rows[-1]["contact_id"])


def _contact_query(text: str, tag: str | None) -> Any:
    query = Contact.all()
    text = text.strip()
    if text:
        # On SQLite `icontains` (LIKE) folds case for ASCII letters only ("émilie" does
        # not find "Émilie"; PostgreSQL's ILIKE does). Chinese names have no case, so
        # this is left as it is.
        query = query.filter(Q(name__icontains=text) | Q(contact_id=text))
    if tag:
        query = query.filter(
            contact_id__in=Subquery(ContactTag.filter(tag__name=tag).values("contact_id"))
        )
    return query


_CONTACT_FIELDS = ("contact_id", "name", "channel", "is_friend", "first_seen_at")


async def search_contacts(
    text: str, tag: str | None, offset: int, limit: int
) -> list[dict[str, Any]]:
    """Contacts whose name contains `text` or whose id is `text` (all when empty), who
    carry `tag` if given; newest first."""
    rows = (
        await _contact_query(text, tag)
        .order_by("-first_seen_at", "contact_id")
        .offset(offset)
        .limit(limit)
        .values(*_CONTACT_FIELDS)
    )
    return await _with_tags(rows)


async def all_contacts(
    text: str, tag: str | None, batch: int = EXPORT_BATCH
) -> AsyncIterator[dict[str, Any]]:
    """Every contact `search_contacts` finds, in its order, `batch` rows per query."""
    after: tuple[datetime, str] | None = None
    while True:
        query = _contact_query(text, tag)
        if after is not None:
            seen, contact_id = after
            query = query.filter(
                Q(first_seen_at__lte=seen),
                Q(first_seen_at__lt=seen) | Q(contact_id__gt=contact_id),
            )
        rows = (
            await query.order_by("-first_seen_at", "contact_id")
            .limit(batch)
            .values(*_CONTACT_FIELDS)
        )
        for row in await _with_tags(rows):
            yield row
        if len(rows) < batch:
            return
        after = (rows[-1]["first_seen_at"], rows[-1]["contact_id"])


async def _with_tags(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    tags: dict[str, list[str]] = {row["contact_id"]: [] for row in rows}
    for contact_id, name in await ContactTag.filter(contact_id__in=list(tags)).values_list(
        "contact_id", "tag__name"
    ):
        tags[contact_id].append(name)
    return [{**row, "tags": sorted(tags[row["contact_id"]])} for row in rows]


# ------------------------------------------------------------------ one contact, in full


async def tag_event_count(contact_id: str) -> int:
    """How many tag changes she has (the 360 view shows only the latest)."""
    return await TagEvent.filter(contact_id=contact_id).count()


async def all_tag_events(
    contact_id: str, batch: int = EXPORT_BATCH
) -> AsyncIterator[dict[str, Any]]:
    """Her whole tag history, oldest first."""
    after = 0
    while True:
        rows = (
            await TagEvent.filter(contact_id=contact_id, id__gt=after)
            .order_by("id")
            .limit(batch)
            .values("id", "tag", "op", "source", "detail", "at")
        )
        for row in rows:
            yield row
        if len(rows) < batch:
            return
        after = rows[-1]["id"]


_ORDER_FIELDS = ("id", "order_id", "amount_cents", "currency", "status", "product", "channel")


async def all_orders(contact_id: str, batch: int = EXPORT_BATCH) -> AsyncIterator[dict[str, Any]]:
    """All her orders, newest first."""
    after: tuple[datetime, int] | None = None
    while True:
        query = Order.filter(contact_id=contact_id)
        if after is not None:
            placed, row_id = after
            query = query.filter(
                Q(placed_at__lte=placed), Q(placed_at__lt=placed) | Q(id__lt=row_id)
            )
        rows = (
            await query.order_by("-placed_at", "-id")
            .limit(batch)
            .values(*_ORDER_FIELDS, "placed_at")
        )
        for row in rows:
            yield row
        if len(rows) < batch:
            return
        after = (rows[-1]["placed_at"], rows[-1]["id"])


async def tag_names() -> list[str]:
    """The tags contacts carry now, for the search's tag filter."""
    names = await ContactTag.all().distinct().values_list("tag__name", flat=True)
    return sorted(set(map(str, names)))


async def _with_names(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = [row["contact_id"] for row in rows]
    names = (
        dict(await Contact.filter(contact_id__in=ids).values_list("contact_id", "name"))
        if ids
        else {}
    )
    return [{**row, "name": names.get(row["contact_id"], "")} for row in rows]
