"""Contacts, rooms and who is in which room (joined / left, invited by whom)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tortoise.expressions import Q

from storage.models import Contact, Room, RoomMembership


@dataclass(frozen=True, slots=True)
class KnownRoom:
    """A group as last recorded: its name and owner may have changed on the platform since."""

    room_id: str
    topic: str
    owner_id: str | None


async def upsert_contact(
    contact_id: str,
    now: datetime,
    *,
    name: str = "",
    is_friend: bool | None = None,
    channel: str | None = None,
) -> Contact:
    contact = await Contact.get_or_none(contact_id=contact_id)
    if contact is None:
        contact, created = await Contact.get_or_create(
            contact_id=contact_id,
            defaults={
                "name": name,
                "is_friend": bool(is_friend),
                "channel": channel,
                "first_seen_at": now,
                "updated_at": now,
            },
        )
        if created:
            return contact
    changed = False
    if name and contact.name != name:
        contact.name, changed = name, True
    if is_friend is not None and contact.is_friend != is_friend:
        contact.is_friend, changed = is_friend, True
    if is_friend and contact.unfriended_at is not None:
        contact.unfriended_at, changed = None, True  # a friend again
    if channel and contact.channel != channel:
        contact.channel, changed = channel, True
    if changed:
        contact.updated_at = now
        await contact.save()
    return contact


async def friend_lost(contact_id: str, now: datetime) -> bool:
    """She is no longer a friend (she deleted the bot, or an account removed her): no
    marketing DM reaches her until she is one again (storage/privacy.py `can_market`).
    True when she was not recorded as gone already. One flag for every account: a
    mother who is still the friend of another of the brand's accounts is held too."""
    changed = await Contact.filter(contact_id=contact_id, unfriended_at__isnull=True).update(
        is_friend=False, unfriended_at=now, updated_at=now
    )
    if changed:
        return True
    # Not recorded yet (a friend from before the bot kept contacts): held from now on.
    _, created = await Contact.get_or_create(
        contact_id=contact_id,
        defaults={"first_seen_at": now, "updated_at": now, "unfriended_at": now},
    )
    return created


async def friend_back(contact_id: str, now: datetime) -> bool:
    """She wrote to the bot directly: she is a friend (again), whatever the platform told
    (she unblocked it, or re-added it without a request the bot saw). True when she had
    been recorded as gone."""
    gone = Contact.filter(contact_id=contact_id, unfriended_at__isnull=False)
    if not await gone.exists():  # every direct message asks: a read, not a write
        return False
    return await gone.update(is_friend=True, unfriended_at=None, updated_at=now) > 0


async def set_phone(contact_id: str, phone: str, now: datetime) -> bool:
    """Record her phone number (already normalised); True when it changed."""
    return await set_ids(contact_id, now, phone=phone)


async def set_ids(
    contact_id: str,
    now: datetime,
    *,
    phone: str | None = None,
    unionid: str | None = None,
    external_id: str | None = None,
) -> bool:
    """Record the ids her contact card shows (each normalised; None or "": not shown,
    what is recorded stays). True when one changed."""
    contact = await Contact.get_or_none(contact_id=contact_id)
    if contact is None:
        return False
    shown = {"phone": phone, "unionid": unionid, "external_id": external_id}
    changed = [k for k, v in shown.items() if v and getattr(contact, k) != v]
    if not changed:
        return False
    for key in changed:
        setattr(contact, key, shown[key])
    contact.updated_at = now
    await contact.save(update_fields=[*changed, "updated_at"])
    return True


async def friends_to_look_up(after: str, limit: int) -> list[str]:
    """Up to `limit` friends, by contact id after `after`, of whom an id that orders name
    her by (phone, unionid, external id) is not recorded yet."""
    missing = Q(phone__isnull=True) | Q(unionid__isnull=True) | Q(external_id__isnull=True)
    query = Contact.filter(missing, is_friend=True, contact_id__gt=after)
    return [
        str(c)
        for c in await query.order_by("contact_id")
        .limit(limit)
        .values_list("contact_id", flat=True)
    ]


async def upsert_room(
    room_id: str, account_id: str, now: datetime, *, topic: str = "", owner_id: str | None = None
) -> Room:
    room, created = await Room.get_or_create(
        room_id=room_id,
        defaults={
            "account_id": account_id,
            "topic": topic,
            "owner_id": owner_id,
            "updated_at": now,
        },
    )
    if not created and (
        (topic and room.topic != topic) or (owner_id and room.owner_id != owner_id)
    ):
        room.topic = topic or room.topic
        room.owner_id = owner_id or room.owner_id
        room.updated_at = now
        await room.save()
    return room


async def first_room_named(topic: str) -> str | None:
    """The group recorded first under this name (the brand's, when a copy is named after
    it later); None when no group has it."""
    row = await Room.filter(topic=topic).order_by("id").first()
    return row.room_id if row else None


async def rooms_with(id_or_topic: str) -> list[tuple[str, str]]:
    """The recorded groups with this id or this name, first recorded first: (id, topic)."""
    rows = await (
        Room.filter(Q(room_id=id_or_topic) | Q(topic=id_or_topic))
        .order_by("id")
        .values_list("room_id", "topic")
    )
    return [(str(room), str(topic)) for room, topic in rows]


async def without_contact(contact_ids: Sequence[str]) -> list[str]:
    """Those of `contact_ids` with no contact row yet, in their order."""
    known: set[str] = set()
    for start in range(0, len(contact_ids), 500):
        chunk = list(contact_ids[start : start + 500])
        rows = await Contact.filter(contact_id__in=chunk).values_list("contact_id", flat=True)
        known.update(str(r) for r in rows)
    return [c for c in contact_ids if c not in known]


async def room_known(room_id: str) -> bool:
    return await Room.exists(room_id=room_id)


async def rooms_on(account_id: str) -> list[KnownRoom]:
    """Every group recorded for the account."""
    rows = await Room.filter(account_id=account_id).values_list("room_id", "topic", "owner_id")
    return [KnownRoom(str(room), str(topic), owner) for room, topic, owner in rows]


async def member_joined(
    room_id: str, contact_id: str, now: datetime, *, inviter_id: str | None = None
) -> RoomMembership:
    """Open a membership stint, unless one is already open (a re-delivered join)."""
    current = await RoomMembership.get_or_none(
        room_id=room_id, contact_id=contact_id, left_at__isnull=True
    )
    if current is not None:
        return current
    return await RoomMembership.create(
        room_id=room_id, contact_id=contact_id, inviter_id=inviter_id, joined_at=now
    )


async def member_left(
    room_id: str, contact_id: str, now: datetime, *, remover_id: str | None = None
) -> bool:
    updated = await RoomMembership.filter(
        room_id=room_id, contact_id=contact_id, left_at__isnull=True
    ).update(left_at=now, remover_id=remover_id)
    return updated > 0


async def rooms_of(contact_id: str) -> list[str]:
    rows = await RoomMembership.filter(contact_id=contact_id, left_at__isnull=True).values_list(
        "room_id", flat=True
    )
    return sorted(str(r) for r in rows)


async def members_of(room_id: str) -> list[str]:
    rows = await RoomMembership.filter(room_id=room_id, left_at__isnull=True).values_list(
        "contact_id", flat=True
    )
    return sorted(str(r) for r in rows)


async def all_rooms() -> list[tuple[str, str]]:
    """Every recorded group, with the account recorded for it: (room id, account id)."""
    rows = await Room.all().order_by("room_id").values_list("room_id", "account_id")
    return [(str(room), str(account)) for room, account in rows]


async def sync_members(room_id: str, member_ids: Sequence[str], now: datetime) -> tuple[int, int]:
    """Make the roster of a group match the channel's member list: a stint is opened for
    each listed member without one (members from before the bot arrived, joins it
    missed) and closed for each one no longer listed (leaves it missed). An empty list
    says nothing (the channel could not tell) and changes nothing. Returns (opened,
    closed)."""
    if not member_ids:
        return 0, 0
    listed = set(member_ids)
    current = set(await members_of(room_id))
    gone = sorted(current - listed)
    if gone:
        await RoomMembership.filter(
            room_id=room_id, contact_id__in=gone, left_at__isnull=True
        ).update(left_at=now)
    new = sorted(listed - current)
    if new:
        await RoomMembership.bulk_create(
            [RoomMembership(room_id=room_id, contact_id=c, joined_at=now) for c in new]
        )
    return len(new), len(gone)


async def rooms_ever(contact_id: str) -> list[str]:
    """Every group she has been in, now or before."""
    rows = await RoomMembership.filter(contact_id=contact_id).values_list("room_id", flat=True)
    return sorted({str(r) for r in rows})


async def name_of(contact_id: str) -> str:
    """The name she goes by on the platform; "" when we do not know her."""
    contact = await Contact.get_or_none(contact_id=contact_id)
    return contact.name if contact else ""


# The bare row `forget` keeps of a mother who said 退订 (storage/privacy.py): only her id
# and the opt-out, marked by an empty external id (no id of hers is ever empty). It is a
# suppression entry, not a contact: orders never match it. If she comes back (a name, a
# friendship), she is a contact again.
SUPPRESSION_MARK = ""


def suppression_entries() -> Q:
    """The contact rows that are bare suppression entries (see SUPPRESSION_MARK)."""
    # `isnull` first: NOT (NULL = '' AND ...) would be NULL, and exclude every NULL row.
    return Q(external_id__isnull=False, external_id=SUPPRESSION_MARK, name="", is_friend=False)
