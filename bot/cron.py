"""Fire times of recurring work: crontab expressions (standard day numbers) or a daily
"HH:MM", in the bot's timezone, computed with APScheduler's cron trigger.

It imports nothing of the bot, so config validation (posts' schedules) and the work queue
both use it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from apscheduler.triggers.cron import CronTrigger

__all__ = ["CronSchedule", "crontab_weekdays"]

_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _weekday(text: str) -> int:
    text = text.strip().lower()
    if text.isdigit():
        return int(text) % 7  # crontab: 0 and 7 are Sunday
    return _WEEKDAYS.index(text[:3])


def crontab_weekdays(field: str) -> str:
    """A crontab day-of-week field as weekday names. APScheduler 3 numbers days from
    Monday = 0, so "1-5" would mean Tuesday to Saturday; ops write crontab, where it
    means Monday to Friday."""
    if field.strip() in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base in ("*", ""):
            low, high = 0, 6
        elif "-" in base:
            start, end = base.split("-", 1)
            low, high = _weekday(start), _weekday(end)
            if high < low:
                high += 7  # fri-mon wraps over the weekend
        else:
            low = high = _weekday(base)
        days.update(d % 7 for d in range(low, high + 1, step))
    return ",".join(_WEEKDAYS[d] for d in sorted(days))


class CronSchedule:
    """Fire times of a crontab expression ("30 9 * * 1-5", standard day numbers) or a
    daily "HH:MM", in a timezone. A bad expression raises ValueError."""

    def __init__(self, spec: str, tz: tzinfo) -> None:
        self.spec = spec
        text = spec.strip()
        if ":" in text and " " not in text:
            hour, minute = text.split(":")
            self.trigger = CronTrigger(hour=int(hour), minute=int(minute), timezone=tz)
        else:
            fields = text.split()
            if len(fields) != 5:
                raise ValueError(f"a cron expression has 5 fields, not {len(fields)}: {spec!r}")
            minute, hour, day, month, weekday = fields
            self.trigger = CronTrigger(
                minute=minute,
                hour=hour,
                day=day,
                month=month,
                day_of_week=crontab_weekdays(weekday),
                timezone=tz,
            )
        self.tz = tz

    def next_after(self, moment: datetime) -> datetime:
        """The first fire time strictly after `moment`."""
        fire = self.trigger.get_next_fire_time(None, moment + timedelta(microseconds=1))
        if fire is None:
            raise ValueError(f"cron {self.spec!r} never fires again")
        return fire.astimezone(self.tz)

    def first_today(self, now: datetime) -> datetime:
        """Today's first fire time (in the past if it has gone by): a daily job planned at
        start runs today's fire even when the bot was down at its time."""
        return self.first_from(
            now.astimezone(self.tz).replace(hour=0, minute=0, second=0, microsecond=0)
        )

    def first_from(self, moment: datetime) -> datetime:
        """The first fire time at or after `moment`."""
        fire = self.trigger.get_next_fire_time(None, moment)
        if fire is None:
            raise ValueError(f"cron {self.spec!r} never fires again")
        return fire.astimezone(self.tz)
