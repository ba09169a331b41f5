"""Tags on contacts, with their source and a full history of adds and removes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from tortoise.exceptions import IntegrityError

from storage.clock import Clock
from storage.models import ContactTag, Tag, TagEvent

log = logging.getLogger(__name__)

TAG_SOURCES = frozenset(
    {"channel", "dialog", "keyword", "admin", "rule", "stage", "link", "sequence", "care", "rfm"}
)


@dataclass(frozen=True, slots=True)
class TagChange:
    contact_id: str
    tag: str
    op: str  # add | remove
    source: str
    detail: str
    at: datetime


class TagStore:
    def __init__(self, clock: Clock, on_change: Callable[[TagChange], None] | None = None) -> None:
        self.clock = clock
        self.on_change = on_change
        # Told after each change is stored (automation starts and ends on tags); one that
        # fails is logged, and the tag stays.
        self.listeners: list[Callable[[TagChange], Awaitable[object]]] = []
        self._tag_ids: dict[str, int] = {}

    async def _tag_id(self, name: str) -> int:
        tag_id = self._tag_ids.get(name)
        if tag_id is None:
            tag, _ = await Tag.get_or_create(name=name, defaults={"created_at": self.clock.now()})
            tag_id = self._tag_ids[name] = tag.id
        return tag_id

    async def add(self, contact_id: str, tag: str, *, source: str, detail: str = "") -> bool:
        """Give the contact the tag. False (and no history row) if she already has it."""
        tag = tag.strip()
        if not tag:
            raise ValueError("empty tag name")
        if source not in TAG_SOURCES:
            raise ValueError(f"unknown tag source {source!r}")
        tag_id = await self._tag_id(tag)
        now = self.clock.now()
        if await ContactTag.exists(contact_id=contact_id, tag_id=tag_id):
            return False
        try:
            await ContactTag.create(
                contact_id=contact_id, tag_id=tag_id, source=source, detail=detail, added_at=now
            )
        except IntegrityError:
            return False  # another task added it in between
        await TagEvent.create(
            contact_id=contact_id, tag=tag, op="add", source=source, detail=detail, at=now
        )
        await self.notify(TagChange(contact_id, tag, "add", source, detail, now))
        return True

    async def remove(self, contact_id: str, tag: str, *, source: str, detail: str = "") -> bool:
        tag_id = self._tag_ids.get(tag)
        if tag_id is None:
            found = await Tag.get_or_none(name=tag)
            if found is None:
                return False
            tag_id = self._tag_ids[tag] = found.id
        deleted = await ContactTag.filter(contact_id=contact_id, tag_id=tag_id).delete()
        if not deleted:
            return False
        now = self.clock.now()
        await TagEvent.create(
            contact_id=contact_id, tag=tag, op="remove", source=source, detail=detail, at=now
        )
        await self.notify(TagChange(contact_id, tag, "remove", source, detail, now))
        return True

    async def tags_of(self, contact_id: str) -> dict[str, str]:
        """The contact's current tags, each with its source."""
        rows = await ContactTag.filter(contact_id=contact_id).prefetch_related("tag")
        return {row.tag.name: row.source for row in rows}

    async def history(self, contact_id: str) -> list[TagChange]:
        rows = await TagEvent.filter(contact_id=contact_id).order_by("id")
        return [TagChange(r.contact_id, r.tag, r.op, r.source, r.detail, r.at) for r in rows]

    async def contacts_with(self, tag: str) -> list[str]:
        rows = await ContactTag.filter(tag__name=tag).values_list("contact_id", flat=True)
        return sorted(str(r) for r in rows)

    async def notify(self, change: TagChange) -> None:
        """Tell the observer and the listeners of a change (written here, or in bulk by a
        storage function such as storage.rfm's)."""
        if self.on_change is not None:
            try:
                self.on_change(change)
            except Exception:
                log.exception("tag change observer failed")
        for listener in self.listeners:
            try:
                await listener(change)
            except Exception:
                log.exception("tag change listener failed")
