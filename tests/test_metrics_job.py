"""The daily metrics job (flows/metrics_job.py): finished days are summarised by the work
queue, once, so the dashboard and the API read summaries instead of raw interactions."""

from __future__ import annotations

from pathlib import Path

from storage import metrics
from storage.models import MetricSummary, WorkItem
from tests.harness import BotUnderTest, copy_project


async def test_the_daily_job_summarises_finished_days_once(tmp_path: Path) -> None:
    copy_project(tmp_path)
    async with BotUnderTest(tmp_path) as bot:
        bot.room("R1", "孕妈交流群", "owner", ["a", "b"])
        # Their membership is known (a speaker counts among the group's members only).
        await bot.app.rooms.refresh_roster(bot.channel.account_id, "R1")
        await bot.says("a", "大家早上好", room="R1")
        await bot.says("b", "早呀", room="R1")
        await bot.app.interactions.flush(force=True)
        # Today's run (02:30 had passed at start) found no finished day with anything in it.
        assert await WorkItem.filter(kind="metrics_daily", status="pending").count() == 1
        assert await MetricSummary.filter(dau__gt=0).count() == 0  # today is not over
        await bot.tick("1d")  # past 02:30 the next day: yesterday is final
        whole = await MetricSummary.filter(scope="").order_by("day")
        assert whole and whole[-1].dau == 2 and whole[-1].speakers == 2
        rows = await MetricSummary.all().count()
        assert metrics.last_final_day(bot.clock.tz, bot.clock.now()).toordinal() == whole[-1].day
        await bot.tick("1d")  # the next run adds the new day only; a final day stays
        again = await MetricSummary.filter(scope="").order_by("day")
        assert [(r.day, r.dau) for r in again[: len(whole)]] == [(r.day, r.dau) for r in whole]
        assert await MetricSummary.all().count() > rows
        assert await WorkItem.filter(kind="metrics_daily", status="pending").count() == 1
