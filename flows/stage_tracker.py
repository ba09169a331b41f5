"""Stage over time: a daily job recomputes every stage from the stored dates.

When a stage changes, the old stage tag is replaced by the new one (the tag history keeps
both) and listeners hear a stage-entered event, which nurture sequences will use. After the
due date plus `ask_birth_after_days`, the bot asks once, through the `birth_check` dialog,
whether the baby has arrived; her answer records the birth date.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from tortoise.expressions import Q

from flows.stage import stage_for
from storage import privacy
from storage.models import Interaction, Profile

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import AppConfig
    from bot.handler import ContentSource
    from flows.dialog import DialogEngine
    from storage.tags import TagStore

log = logging.getLogger(__name__)

BIRTH_CHECK = "birth_check"
BATCH = 500


@dataclass(frozen=True)
class StageEntered:
    contact_id: str
    old: str | None
    new: str | None
    at: datetime


class StageTracker:
    name = "stage_daily"

    def __init__(
        self,
        config: AppConfig,
        content: ContentSource,
        dialogs: DialogEngine,
        tags: TagStore,
        clock: Clock,
    ) -> None:
        self.config = config
        self.content = content
        self.dialogs = dialogs
        self.tags = tags
        self.clock = clock
        self.listeners: list[Callable[[StageEntered], None]] = []
        self._last_run: date | None = None
        hour, minute = config.stage.recompute_at.split(":")
        self._at = time(int(hour), int(minute))

    async def next_due(self) -> datetime | None:
        now = self.clock.now()
        today_at = datetime.combine(now.date(), self._at, tzinfo=now.tzinfo)
        if self._last_run == now.date():
            return today_at + timedelta(days=1)
        return today_at  # later today, or now when today's run is still to do

    async def run(self, now: datetime) -> None:
        self._last_run = now.date()
        changed = await self.recompute(now)
        asked = await self.ask_births(now)
        log.info(
            "stage recompute: %d changed, %d asked whether the baby has arrived", changed, asked
        )

    async def recompute(self, now: datetime) -> int:
        today = now.date()
        bounds = self.config.stage.boundaries()
        prefix = self.config.stage.tag_prefix
        changed = 0
        last_id = 0
        while True:
            batch = (
                await Profile.filter(
                    Q(due_date__isnull=False) | Q(birth_date__isnull=False), id__gt=last_id
                )
                .order_by("id")
                .limit(BATCH)
            )
            if not batch:
                return changed
            last_id = batch[-1].id
            for profile in batch:
                new = stage_for(
                    today, due_date=profile.due_date, birth_date=profile.birth_date, bounds=bounds
                )
                if new == profile.stage:
                    continue
                old = profile.stage
                profile.stage = new
                profile.updated_at = now
                await profile.save(update_fields=["stage", "updated_at"])
                if old:
                    await self.tags.remove(profile.contact_id, prefix + old, source="stage")
                if new:
                    await self.tags.add(profile.contact_id, prefix + new, source="stage")
                changed += 1
                event = StageEntered(profile.contact_id, old, new, now)
                for listener in self.listeners:
                    try:
                        listener(event)
                    except Exception:
                        log.exception("stage listener failed")

    async def ask_births(self, now: datetime) -> int:
        spec = self.content.current.dialogs.get(BIRTH_CHECK)
        if spec is None:
            return 0
        limit = now.date() - timedelta(days=self.config.stage.ask_birth_after_days)
        asked = 0
        for profile in await Profile.filter(due_date__lte=limit, birth_date__isnull=True):
            extra = dict(profile.extra or {})
            if extra.get("birth_asked") or not await privacy.can_market(profile.contact_id):
                continue  # asked once: never again; and never after 退订
            account = profile.account_id
            if not account:
                last = (
                    await Interaction.filter(contact_id=profile.contact_id).order_by("-id").first()
                )
                if last is None:
                    continue  # we never heard from her on any account
                account = last.account_id
            if await self.dialogs.start_from_job(spec, profile.contact_id, account, now):
                asked += 1
            extra["birth_asked"] = now.date().isoformat()
            profile.extra = extra
            await profile.save(update_fields=["extra"])
        return asked
