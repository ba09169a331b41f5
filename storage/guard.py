"""The guard's records: the cross-group blacklist, the allow list, the audit trail of every
guard and admin action, the texts admins taught it (#垃圾 / #正常), and where a member's
warnings are counted.

Warnings live in the key-value store, not here: they expire on their own after the group's
`warning_memory_days`. This module only names their key, so the guard, the admins'
#警告 / #撤销警告 and forgetting a mother all count the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from storage.kv import KV
from storage.models import GuardAllow, GuardAudit, GuardBan, GuardFeedback

TEXT_MAX = 2000


def warn_key(room: str, contact: str) -> str:
    """Her warnings in one group (the warn ladder; admins' #警告 / #撤销警告)."""
    return f"g:warn:{room}:{contact}"


async def add_warning(kv: KV, room: str, contact: str, event_id: str, ttl: float) -> int:
    """Count one warning of hers in the group for this event, and return her count: once
    per event, even when the event is handled again after a store outage."""
    key = warn_key(room, contact)
    if await kv.set_if_absent(f"g:warned:{event_id}:{contact}", "1", ttl=ttl):
        return await kv.incr(key, ttl=ttl)
    return int(await kv.get(key) or 1)


# --------------------------------------------------------------------------- blacklist


async def ban(contact: str, reason: str, now: datetime) -> None:
    """Put her on the blacklist; a second ban keeps the first reason and time."""
    await GuardBan.get_or_create(contact_id=contact, defaults={"reason": reason, "at": now})


async def lift_ban(contact: str) -> bool:
    """Take her off the blacklist; False when she was not on it."""
    return bool(await GuardBan.filter(contact_id=contact).delete())


async def ban_reason(contact: str) -> str | None:
    """Why she is blacklisted, or None when she is not."""
    banned = await GuardBan.get_or_none(contact_id=contact)
    return None if banned is None else banned.reason


# --------------------------------------------------------------------------- allow list


async def allow(contact: str, now: datetime) -> None:
    await GuardAllow.get_or_create(contact_id=contact, defaults={"at": now})


async def is_allowed(contact: str) -> bool:
    return bool(await GuardAllow.filter(contact_id=contact).exists())


# --------------------------------------------------------------------------- audit


async def audit(
    now: datetime,
    room: str | None,
    contact: str,
    action: str,
    by: str,
    reasons: Sequence[str],
    score: float,
    text: str | None,
) -> None:
    """One guard or admin action. `contact` is "" when the action has no target, `by` is
    "guard" or the admin's contact id."""
    await GuardAudit.create(
        at=now,
        room_id=room,
        contact_id=contact,
        action=action,
        by=by,
        reasons="；".join(reasons),
        score=score,
        text=(text or "")[:TEXT_MAX] or None,
    )


async def actions_since(room: str, since: datetime, action: str) -> int:
    """How many times `action` was taken in the group since then."""
    return int(await GuardAudit.filter(room_id=room, at__gte=since, action=action).count())


# --------------------------------------------------------------------------- feedback


async def learned(label: str, text: str, by: str, now: datetime) -> int:
    """A text an admin labelled spam or ham, kept so every instance learns it (and relearns
    it on start). Returns its row id."""
    row = await GuardFeedback.create(label=label, text=text[:TEXT_MAX], by=by, at=now)
    return int(row.id)


async def feedback_after(last_id: int) -> list[tuple[int, str, str]]:
    """(id, label, text) of the lessons newer than `last_id`, oldest first."""
    rows = (
        await GuardFeedback.filter(id__gt=last_id).order_by("id").values_list("id", "label", "text")
    )
    return [(int(row_id), str(label), str(text)) for row_id, label, text in rows]


async def feedback() -> list[tuple[str, str]]:
    """Every (label, text) admins taught, oldest first."""
    rows = await GuardFeedback.all().order_by("id").values_list("label", "text")
    return [(str(label), str(text)) for label, text in rows]
