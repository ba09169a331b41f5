"""Finding contact ids for ops (`mamabot contacts NAME`): config.toml names people by id
(super_admins, admins, guard_allow), while ops know them by name."""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.expressions import Q

from storage.models import Contact, ContactTag, Room, RoomMembership


@dataclass(frozen=True)
class ContactCard:
    contact_id: str
    name: str
    groups: list[str]  # the topics of the groups she is in now
    tags: list[str]


async def find_contacts(name: str = "", limit: int = 50) -> list[ContactCard]:
    """Contacts whose display name contains `name` or whose id is `name` (all, when
    empty), by name; at most `limit`."""
    query = Contact.all()
    if name:
        query = Contact.filter(Q(name__icontains=name) | Q(contact_id=name))
    rows = await query.order_by("name", "contact_id").limit(limit).values_list("contact_id", "name")
    cards = []
    for contact_id, display in rows:
        room_ids = await RoomMembership.filter(
            contact_id=contact_id, left_at__isnull=True
        ).values_list("room_id", flat=True)
        topics = dict(await Room.filter(room_id__in=list(room_ids)).values_list("room_id", "topic"))
        groups = sorted({str(topics.get(r) or r) for r in room_ids})
        tags = await ContactTag.filter(contact_id=contact_id).values_list("tag__name", flat=True)
        cards.append(ContactCard(contact_id, display, groups, sorted(map(str, tags))))
    return cards
