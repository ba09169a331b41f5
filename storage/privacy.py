"""A mother's control over her data: 退订 (no marketing), and 删除我的信息 (forget her).

`forget` deletes her profile, tags (and their history), dialog state, pending welcomes, the
private messages sent to her and her contact row, and anonymises what must stay for the
group statistics: her interactions (text removed) and room memberships get one random id
that cannot be traced back to her (her rows stay linked to each other, so counts such as
"active members" remain right).
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime

from tortoise.transactions import in_transaction

from storage import sql
from storage.models import (
    Contact,
    ContactTag,
    DialogState,
    GuardAllow,
    GuardAudit,
    GuardFeedback,
    Interaction,
    OutboxMessage,
    PendingWelcome,
    Profile,
    Room,
    RoomMembership,
    TagEvent,
    WorkItem,
)

log = logging.getLogger(__name__)

# Every column that holds a contact id, and what `forget` does with it. A test walks the
# models and fails when a table gains such a column that is not listed here, so a new
# table cannot keep her data after she asked us to delete it. (Feature modules will bring
# their own forget hooks; until then this is the one list.)
FORGET_COVERS: dict[str, str] = {
    "contact.contact_id": "deleted (a bare row stays if she opted out: 退订 survives)",
    "profile.contact_id": "deleted",
    "contact_tag.contact_id": "deleted",
    "tag_event.contact_id": "deleted",
    "dialog_state.contact_id": "deleted",
    "pending_welcome.contact_id": "deleted",
    "work.contact_id": "deleted (reminders and steps about her)",
    "interaction.contact_id": "anonymised, text removed",
    "room_membership.contact_id": "anonymised",
    "room_membership.inviter_id": "anonymised",
    "room_membership.remover_id": "anonymised",
    "room.owner_id": "anonymised",
    "guard_audit.contact_id": "anonymised, text removed",
    "guard_audit.by": "anonymised",
    "guard_feedback.by": "anonymised",
    "guard_allow.contact_id": "deleted",
    "guard_ban.contact_id": "kept: a ban survives deletion, or it would be a way back in",
    "outbox_message.payload": "private sends to her deleted; group sends stay",
}


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
    await DialogState.filter(contact_id=contact_id).delete()  # no more questions either
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
    """Delete and anonymise everything about her, in one transaction; returns what was
    done, by table. A 退订 survives: her id stays only as a bare suppression entry, so
    deleting her data never turns marketing back on. So does a ban from the groups
    (guard_ban: her id and the reason), so deleting her data is no way back in for a
    spammer."""
    anonymous = f"anon-{secrets.token_hex(8)}"
    connection = Interaction._meta.default_connection
    async with in_transaction(connection):
        contact = await Contact.get_or_none(contact_id=contact_id)
        opted_out_at = contact.opted_out_at if contact else None
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
            "sends_deleted": await _forget_sends(contact_id),
            # The guard's record keeps what happened (group counts), not who or what she wrote.
            "audit_anonymised": await GuardAudit.filter(contact_id=contact_id).update(
                contact_id=anonymous, text=None
            ),
            "allowlist": await GuardAllow.filter(contact_id=contact_id).delete(),
            "work": await WorkItem.filter(contact_id=contact_id).delete(),
        }
        # Her id inside event ids (room joins and leaves carry it) and other people's rows.
        await sql.execute(
            Interaction,
            'UPDATE "interaction" SET "event_id" = REPLACE("event_id", ?, ?) '
            'WHERE "contact_id" = ?',
            [contact_id, anonymous, anonymous],
        )
        await RoomMembership.filter(inviter_id=contact_id).update(inviter_id=anonymous)
        await RoomMembership.filter(remover_id=contact_id).update(remover_id=anonymous)
        await Room.filter(owner_id=contact_id).update(owner_id=anonymous)
        await GuardAudit.filter(by=contact_id).update(by=anonymous)  # as an admin
        await GuardFeedback.filter(by=contact_id).update(by=anonymous)
        if opted_out_at is not None:
            await Contact.create(
                contact_id=contact_id,
                opted_out_at=opted_out_at,
                first_seen_at=opted_out_at,
                updated_at=opted_out_at,
            )
    log.info("forgot a contact: %s", ", ".join(f"{k}={v}" for k, v in done.items() if v))
    return done


async def _forget_sends(contact_id: str) -> int:
    """Delete the messages sent (or queued) to her privately; they hold her name and
    what she was told. Group messages stay: they belong to the group."""
    deleted, last = 0, 0
    while True:
        rows = (
            await OutboxMessage.filter(id__gt=last)
            .order_by("id")
            .limit(1000)
            .values_list("id", "payload")
        )
        if not rows:
            return deleted
        last = rows[-1][0]
        mine = [
            row_id
            for row_id, payload in rows
            if isinstance(payload, dict)
            and not payload.get("room")
            and contact_id in (payload.get("to"), payload.get("contact"))
        ]
        if mine:
            deleted += await OutboxMessage.filter(id__in=mine).delete()
