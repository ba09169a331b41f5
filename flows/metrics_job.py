"""The `metrics` feature: the daily job that summarises finished days for the dashboard and
the API (storage/metrics.py `roll_up_finished_days`), so no reader pays for rolling up.

It runs at METRICS_AT (bot timezone), after the previous day has become final (2 h after
it ends), as `metrics_daily:<date>` work: once a day across instances and restarts; a run
that fails is retried by the queue, and the next day's run is planned first. The first run
on an existing database summarises up to storage.metrics.LOOKBACK_DAYS days (minutes);
later runs one day.
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.features import Feature, Platform
from bot.work import CronSchedule, Work, WorkQueue, work_key
from storage import metrics

log = logging.getLogger(__name__)

METRICS_DAILY = "metrics_daily"
METRICS_AT = "02:30"


class MetricsDaily:
    def __init__(self, clock: Clock, work: WorkQueue, self_ids: set[str], tz: ZoneInfo) -> None:
        self.clock = clock
        self.tz = tz  # the bot's timezone: its days are the ones summarised
        self.work = work
        self.self_ids = self_ids  # the live set: an account's id arrives at its login
        self.schedule = CronSchedule(METRICS_AT, clock.tz)

    async def plan(self) -> bool:
        """Today's run into the queue (due now if its time has passed). True if new."""
        return await self._schedule(self.schedule.first_today(self.clock.now()))

    async def _schedule(self, fire: datetime) -> bool:
        return await self.work.schedule(
            METRICS_DAILY, work_key(METRICS_DAILY, fire.date().isoformat()), fire
        )

    async def run_work(self, item: Work) -> None:
        """Runs `metrics_daily` work."""
        await self._schedule(self.schedule.next_after(item.due_at))  # tomorrow first
        days = await metrics.roll_up_finished_days(
            self.tz, self.clock.now(), self_ids=tuple(i for i in self.self_ids if i)
        )
        log.info("metrics: %d finished day(s) summarised", days)


def feature(p: Platform) -> Feature:
    s = p.services
    assert s.work is not None
    daily = MetricsDaily(s.clock, s.work, p.self_ids, ZoneInfo(s.config.bot.timezone))
    return Feature(
        name="metrics",
        work={METRICS_DAILY: daily.run_work},
        start=daily.plan,
        exports={"daily": daily},
    )
