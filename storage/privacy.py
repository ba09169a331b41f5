"""A mother's control over her data: 退订 (no marketing), and 删除我的信息 (forget her).

`forget` deletes her profile, tags (and their history), dialog state and pending welcomes,
deletes her contact row, and anonymises what must stay for the group statistics: her
interactions (text removed) and room memberships get one random id that cannot be traced
back to her.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime

from storage.models import (
    Contact,
    ContactTag,
    DialogState,
    Interaction,
    PendingWelcome,
    Profile,
    RoomMembership,
    TagEvent,
)

log = logging.getLogger(__name__)


async def opt_out(contact_id: str, now: datetime) -> bool:
    """Stop marketing sends to her. False when she had already opted out."""
    contact, _ = await Contact.get_or_create(
        contact_id=contact_id, defaults={"first_seen_at": now, "updated_at": now}
    )
    if contact.opted_out_at is not None:
        return False
    contact.opted_out_at = now
    contact.updated_at = now
    await contact.save(update_fields=["opted_out_at", "updated_at"])
    return True


async def opt_in(contact_id: str, now: datetime) -> bool:
    """Marketing sends again. False when she was not opted out."""
    contact = await Contact.get_or_none(contact_id=contact_id)
    if contact is None or contact.opted_out_at is None:
        return False
    contact.opted_out_at = None
    contact.updated_at = now
    await contact.save(update_fields=["opted_out_at", "updated_at"])
    return True


async def can_market(contact_id: str) -> bool:
    """Whether scheduled and nurture sends may reach her."""
    return not await Contact.filter(contact_id=contact_id, opted_out_at__isnull=False).exists()


async def forget(contact_id: str) -> dict[str, int]:
    """Delete and anonymise everything about her; returns what was done, by table."""
    anonymous = f"anon-{secrets.token_hex(8)}"
    done = {
        "profile": await Profile.filter(contact_id=contact_id).delete(),
        "tags": await ContactTag.filter(contact_id=contact_id).delete(),
        "tag_history": await TagEvent.filter(contact_id=contact_id).delete(),
        "dialogs": await DialogState.filter(contact_id=contact_id).delete(),
        "pending_welcomes": await PendingWelcome.filter(contact_id=contact_id).delete(),
        "contact": await Contact.filter(contact_id=contact_id).delete(),
        "interactions_anonymised": await Interaction.filter(contact_id=contact_id).update(
            contact_id=anonymous, text=None
        ),
        "memberships_anonymised": await RoomMembership.filter(contact_id=contact_id).update(
            contact_id=anonymous
        ),
    }
    await RoomMembership.filter(inviter_id=contact_id).update(inviter_id=anonymous)
    await RoomMembership.filter(remover_id=contact_id).update(remover_id=anonymous)
    log.info("forgot a contact: %s", ", ".join(f"{k}={v}" for k, v in done.items() if v))
    return done
