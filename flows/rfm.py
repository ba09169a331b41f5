"""RFM segments: who buys recently, often and much, scored daily and written as tags.

Every contact with paid orders in the last `window_days` gets three scores, 1 to 5 (5 is
best): R from the days since her last order (fewer is better), F from how many orders,
M from how much she spent in the shop's currency (CURRENCY: amounts in two currencies do
not add up; an order in another one counts for R and F, not M, and the report counts
them). A score is her quintile among everyone scored that day, by her mid-rank:

    score = 1 + floor(5 * (rank - 1/2) / n)

where `rank` is her place from the worst (1) to the best (n), and contacts with equal
values share the average of their places. Five different values score 1..5; ten score
1,1,2,2..5,5; everyone equal scores 3 (nobody stands out either way). Fewer than
MIN_CONTACTS buyers are too few to rank: the job then scores nobody and changes no tag.
Her segment is the first of the configured segments whose ranges hold her (r, f, m),
else none.

The segment is the tag `tag_prefix + name` with source `rfm`; when it changes the old tag
goes and the new one comes, and the tag history records both. The job owns the prefix:
a tag with it given by hand is replaced by the job's own, so she carries one segment tag.
A contact whose orders all fell out of the window loses her segment tag and her score
row. Only tags that change are touched, so a quiet day writes the scores and little else.

The job is `rfm_daily` work, one row per day keyed by the date (like the stage job): it
runs once a day however many instances run, and a day missed while the bot was down runs
when it starts. It first links orders that were waiting for their contact (`rematch`).
"""

from __future__ import annotations

import logging
from bisect import bisect_left, bisect_right
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.cron import CronSchedule
from bot.work import Work, WorkQueue, work_key
from storage import orders as order_store
from storage import rfm as store

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import RfmSection, RfmSegment
    from storage.orders import PaidOrder
    from storage.tags import TagStore

log = logging.getLogger(__name__)


RFM_DAILY = "rfm_daily"
CURRENCY = "CNY"  # the shop's currency: M adds up amounts in it only
MIN_CONTACTS = 20  # fewer buyers than this are not ranked (quintiles of 3 say nothing)


@dataclass(frozen=True, slots=True)
class RfmReport:
    scored: int  # contacts with scores now
    changed: int  # contacts whose segment tag changed (gained, lost or swapped)
    dropped: int = 0  # of those, contacts who no longer have orders in the window
    too_few: int = 0  # buyers in the window when they were too few to score (else 0)
    other_currency: int = 0  # paid orders in the window not in CURRENCY (not in M)


def quintiles(values: Sequence[float]) -> list[int]:
    """Each value's score 1..5 among `values` (higher is better), by mid-rank: equal
    values share the average of their places (see the module docstring)."""
    n = len(values)
    ordered = sorted(values)
    scores = []
    for v in values:
        below = bisect_left(ordered, v)
        equal = bisect_right(ordered, v) - below
        # The average place of the equal ones is below + (equal + 1) / 2; the mid-rank
        # subtracts 1/2. Integers only: 1 + floor(5 * (2 * below + equal) / (2 * n)).
        scores.append(1 + (5 * (2 * below + equal)) // (2 * n))
    return scores


def segment_for(r: int, f: int, m: int, segments: Sequence[RfmSegment]) -> str:
    for segment in segments:
        if (
            segment.r[0] <= r <= segment.r[1]
            and segment.f[0] <= f <= segment.f[1]
            and segment.m[0] <= m <= segment.m[1]
        ):
            return segment.name
    return ""


async def run_rfm(
    tags: TagStore, config: RfmSection, now: datetime, *, min_contacts: int | None = None
) -> RfmReport:
    """Score every contact with paid orders in the window, store the scores and change
    the segment tags that changed (TagStore's listeners hear each change). Fewer buyers
    than `min_contacts` (default MIN_CONTACTS): nothing is scored or changed."""
    tz = now.tzinfo or ZoneInfo("UTC")
    today = now.astimezone(tz).date()
    totals = await store.paid_totals(now - timedelta(days=config.window_days), CURRENCY)
    other_currency = sum(t.other_currency for t in totals)
    least = MIN_CONTACTS if min_contacts is None else min_contacts
    if len(totals) < max(1, least):
        return RfmReport(0, 0, too_few=len(totals), other_currency=other_currency)
    recency = [max(0, (today - t.last_at.astimezone(tz).date()).days) for t in totals]
    r = quintiles([-days for days in recency])
    f = quintiles([t.orders for t in totals])
    m = quintiles([t.cents for t in totals])
    scores = [
        store.Score(
            t.contact_id,
            recency[i],
            t.orders,
            t.cents,
            r[i],
            f[i],
            m[i],
            segment_for(r[i], f[i], m[i], config.segments),
        )
        for i, t in enumerate(totals)
    ]
    wanted = {
        s.contact_id: (config.tag_prefix + s.segment, f"R{s.r} F{s.f} M{s.m}")
        for s in scores
        if s.segment
    }
    # Every tag with the prefix, whoever gave it: the job's own stay when still right;
    # one given by hand goes (the job's, with source rfm, replaces it when she has one).
    carried = await store.segment_tags(config.tag_prefix)
    removes = [
        (contact_id, tag)
        for contact_id, current in carried.items()
        for tag, source in sorted(current.items())
        if wanted.get(contact_id, ("", ""))[0] != tag or source != store.RFM_SOURCE
    ]
    adds = [
        (contact_id, tag, detail)
        for contact_id, (tag, detail) in wanted.items()
        if carried.get(contact_id, {}).get(tag) != store.RFM_SOURCE
    ]
    changes = await store.save(scores, adds, removes, now)
    for change in changes:
        # The tags were written in bulk; automation hears each change as from TagStore.
        await tags.notify(change)
    scored_ids = {s.contact_id for s in scores}
    touched = {c.contact_id for c in changes}
    return RfmReport(
        scored=len(scores),
        changed=len(touched),
        dropped=len({c for c in touched if c not in scored_ids}),
        other_currency=other_currency,
    )


class RfmDaily:
    """The daily job: link waiting orders, then score (see the module docstring)."""

    def __init__(
        self,
        config: RfmSection,
        tags: TagStore,
        clock: Clock,
        work: WorkQueue,
        linked: Callable[[list[PaidOrder]], Awaitable[object]],
    ) -> None:
        self.config = config
        self.tags = tags
        self.clock = clock
        self.work = work
        self.linked = linked  # told of paid orders `rematch` linked to their contact
        self.schedule = CronSchedule(config.run_at, clock.tz)

    async def plan(self) -> bool:
        """Today's run into the queue (due now if its time has passed and it has not run
        yet today). True if it was not there."""
        if not self.config.enabled:
            return False
        return await self._schedule(self.schedule.first_today(self.clock.now()))

    async def _schedule(self, fire: datetime) -> bool:
        return await self.work.schedule(
            RFM_DAILY, work_key(RFM_DAILY, fire.date().isoformat()), fire
        )

    async def run_work(self, item: Work) -> None:
        """Runs `rfm_daily` work."""
        if not self.config.enabled:
            return  # switched off since it was planned: the chain ends here
        # Tomorrow first: a run that fails for good must not end the daily chain.
        await self._schedule(self.schedule.next_after(item.due_at))
        await self.run(self.clock.now())

    async def run(self, now: datetime) -> RfmReport:
        paid = await order_store.rematch()
        if paid:
            await self.linked(paid)
        report = await run_rfm(self.tags, self.config, now)
        if report.too_few:
            log.info(
                "rfm: %d linked; %d contacts with paid orders: too few to score (%d needed), "
                "no segment tags written",
                len(paid),
                report.too_few,
                MIN_CONTACTS,
            )
        else:
            log.info(
                "rfm: %d linked, %d scored, %d segment tags changed (%d left the window)",
                len(paid),
                report.scored,
                report.changed,
                report.dropped,
            )
        if report.other_currency:
            log.info(
                "rfm: %d paid orders not in %s: counted in R and F, not in M",
                report.other_currency,
                CURRENCY,
            )
        return report
