"""Stage over time: a daily job recomputes every stage from the stored dates.

The job is `stage_daily` work: one row per day in the work queue, keyed by the date, so it
runs once a day however many instances run and however often they restart. Each run puts
the next day's row in the queue before it starts; `plan()` at start puts today's there (or
finds it already done), so a day missed while the bot was down still runs when it starts.

When a stage changes, the old stage tag is replaced by the new one (the tag history keeps
both) and listeners hear a stage-entered event, which nurture sequences will use. After the
due date plus `ask_birth_after_days`, the bot asks once, through the `birth_check` dialog,
whether the baby has arrived; her answer records the birth date.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.stages import StageEntered, StageListener
from bot.work import CronSchedule, Work, WorkQueue, work_key
from flows.stage import stage_for
from storage import care, privacy, profiles

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import AppConfig
    from bot.handler import ContentSource
    from flows.dialog import DialogEngine
    from storage.tags import TagStore

log = logging.getLogger(__name__)

BIRTH_CHECK = "birth_check"
STAGE_DAILY = "stage_daily"
BATCH = 500


class StageTracker:
    name = "stage_daily"

    def __init__(
        self,
        config: AppConfig,
        content: ContentSource,
        dialogs: DialogEngine,
        tags: TagStore,
        clock: Clock,
        work: WorkQueue,
    ) -> None:
        self.config = config
        self.content = content
        self.dialogs = dialogs
        self.tags = tags
        self.clock = clock
        self.work = work
        # Also handed to the dialog engine: a stage she tells us is entered the same way.
        self.listeners: list[StageListener] = []
        self.schedule = CronSchedule(config.stage.recompute_at, clock.tz)

    async def plan(self) -> bool:
        """Today's run into the queue (it is due now if its time has passed and it has not
        run yet today). True if it was not there."""
        return await self._schedule(self.schedule.first_today(self.clock.now()))

    async def _schedule(self, fire: datetime) -> bool:
        return await self.work.schedule(
            STAGE_DAILY, work_key(STAGE_DAILY, fire.date().isoformat()), fire
        )

    async def run_work(self, item: Work) -> None:
        """Runs `stage_daily` work."""
        # Tomorrow first: a run that fails for good must not end the daily chain.
        await self._schedule(self.schedule.next_after(item.due_at))
        await self.run(self.clock.now())

    async def run(self, now: datetime) -> None:
        changed = await self.recompute(now)
        asked = await self.ask_births(now)
        # A quiet day is not news: at INFO it would fill the simulator's screen on /tick 10d.
        log.log(
            logging.INFO if changed or asked else logging.DEBUG,
            "stage recompute: %d changed, %d asked whether the baby has arrived",
            changed,
            asked,
        )

    async def recompute(self, now: datetime) -> int:
        today = now.date()
        bounds = self.config.stage.boundaries()
        prefix = self.config.stage.tag_prefix
        changed = untold = 0
        last_id = 0
        while True:
            batch = await profiles.dated(last_id, BATCH)
            if not batch:
                if untold:
                    # The row is retried: those whose change was stored are done; theirs
                    # is seen and told again.
                    raise RuntimeError(f"{untold} stage changes not heard by every listener")
                return changed
            last_id = batch[-1].id
            for profile in batch:
                new = stage_for(
                    today, due_date=profile.due_date, birth_date=profile.birth_date, bounds=bounds
                )
                if new == profile.stage:
                    continue
                old = profile.stage
                # Tags and listeners before the stage is stored: each is idempotent, so a
                # run cut off in between does them again on its retry, where storing the
                # stage first would leave the next run nothing to change and lose them.
                if old:
                    await self.tags.remove(profile.contact_id, prefix + old, source="stage")
                if new:
                    await self.tags.add(profile.contact_id, prefix + new, source="stage")
                event = StageEntered(profile.contact_id, old, new, now, profile.account_id)
                if not await self._tell(event):
                    untold += 1  # not stored: the retried run sees it and tells again
                    continue
                await profiles.set_stage(profile, new, now)
                changed += 1

    async def _tell(self, event: StageEntered) -> bool:
        """Every listener hears it; False when one failed (a store blip while enrolling
        her): her stage is then not stored, so the change is seen and told again."""
        told = True
        for listener in self.listeners:
            try:
                await listener(event)
            except Exception:
                log.exception("stage listener failed; her stage is recomputed next run")
                told = False
        return told

    async def ask_births(self, now: datetime) -> int:
        spec = self.content.current.dialogs.get(BIRTH_CHECK)
        if spec is None:
            return 0
        limit = now.date() - timedelta(days=self.config.stage.ask_birth_after_days)
        asked = 0
        for profile in await profiles.due_by_unborn(limit):
            asked_before = (profile.extra or {}).get("birth_asked")
            if asked_before or not await privacy.can_market(profile.contact_id):
                continue  # asked once: never again; and never after 退订 or a loss
            if await care.marketing_hold(profile.contact_id, now) is not None:
                continue  # a care pause or a takeover: asked on a later day
            account = await profiles.account_for(profile)
            if account is None:
                continue  # we never heard from her on any account
            if await self.dialogs.start_from_job(spec, profile.contact_id, account, now):
                asked += 1
            await profiles.set_extra(profile, "birth_asked", now.date().isoformat())
        return asked
