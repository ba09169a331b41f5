"""Mothers' profiles (`profile`): what she told us about herself — due or birth date, stage,
city, family, and the answers to custom dialog steps (`extra`) — plus what the features
that fill and follow them look up alongside: the name she goes by, and the account to write
to her from.

The dialogs write her answers here and the daily stage job keeps the stage current. Rows
are handed out as `Profile`, a read-only view: features read the fields and pass the
profile back here to change it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Protocol

from tortoise.expressions import Q

from storage import models

# Answer fields with a column of their own; any other field goes into `extra`.
COLUMNS = frozenset({"due_date", "birth_date", "stage", "children", "city", "province", "family"})


class Profile(Protocol):
    """A mother's profile, as the features see it."""

    @property
    def id(self) -> int: ...
    @property
    def contact_id(self) -> str: ...
    @property
    def account_id(self) -> str | None: ...
    @property
    def due_date(self) -> date | None: ...
    @property
    def birth_date(self) -> date | None: ...
    @property
    def stage(self) -> str | None: ...
    @property
    def children(self) -> int | None: ...
    @property
    def city(self) -> str | None: ...
    @property
    def province(self) -> str | None: ...
    @property
    def family(self) -> str | None: ...
    @property
    def extra(self) -> Any: ...
    @property
    def updated_at(self) -> datetime: ...


def _row(profile: Profile) -> models.Profile:
    """The row behind a profile this module handed out."""
    if not isinstance(profile, models.Profile):
        raise TypeError(f"not a profile row: {profile!r}")
    return profile


# --------------------------------------------------------------------------- reading


async def get(contact_id: str) -> Profile | None:
    """Her profile, or None when she has told us nothing yet."""
    return await models.Profile.get_or_none(contact_id=contact_id)


async def get_or_create(contact_id: str, now: datetime) -> Profile:
    """Her profile, created empty (updated at `now`) when she has none."""
    profile, _ = await models.Profile.get_or_create(
        contact_id=contact_id, defaults={"updated_at": now, "extra": {}}
    )
    return profile


async def dated(after_id: int, limit: int) -> list[Profile]:
    """Up to `limit` profiles with a due date or a birth date, by id, after `after_id`: the
    daily stage job goes through them in batches."""
    return list(
        await models.Profile.filter(
            Q(due_date__isnull=False) | Q(birth_date__isnull=False), id__gt=after_id
        )
        .order_by("id")
        .limit(limit)
    )


async def due_by_unborn(day: date) -> list[Profile]:
    """Profiles due on or before `day` with no birth date yet."""
    return list(await models.Profile.filter(due_date__lte=day, birth_date__isnull=True))


async def account_for(profile: Profile) -> str | None:
    """The account to write to her from: the one she talks to, else the one we last heard
    her on; None when we never heard from her on any account."""
    if profile.account_id:
        return profile.account_id
    last = await models.Interaction.filter(contact_id=profile.contact_id).order_by("-id").first()
    return None if last is None else last.account_id


# --------------------------------------------------------------------------- writing


async def record_answer(
    contact_id: str,
    fields: dict[str, Any],
    now: datetime,
    *,
    account_id: str,
    replace_dates: bool,
) -> tuple[str | None, str | None]:
    """Her answer into her profile (created if need be): fields with a column of their own
    there, any other into `extra`; unnamed fields are ignored. `replace_dates`: the answer
    was her stage, which replaces both dates (one it does not give is cleared). She talks to
    `account_id`. Returns her stage before and after."""
    row = _row(await get_or_create(contact_id, now))
    before = row.stage
    extra = dict(row.extra or {})
    for name, value in fields.items():
        if not name:
            continue
        if name in COLUMNS:
            setattr(row, name, value)
        else:
            extra[name] = value
    if replace_dates:
        row.due_date = fields.get("due_date")
        row.birth_date = fields.get("birth_date")
    row.extra = extra
    row.account_id = account_id
    row.updated_at = now
    await row.save()
    return before, row.stage


async def set_extra(profile: Profile, key: str, value: Any) -> None:
    """One entry of `extra` set (what the bot remembers about her, such as a dialog she
    ended); the rest of the profile is left as it is."""
    row = _row(profile)
    extra = dict(row.extra or {})
    extra[key] = value
    row.extra = extra
    await row.save(update_fields=["extra"])


async def set_stage(profile: Profile, stage: str | None, now: datetime) -> None:
    """Her stage, recomputed at `now`."""
    row = _row(profile)
    row.stage = stage
    row.updated_at = now
    await row.save(update_fields=["stage", "updated_at"])
