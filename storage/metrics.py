"""Operating metrics: per local day and over any date range, filterable by account, room
and channel code. `overview` gathers them all, JSON-ready, for the dashboard and the API.

What each figure counts (a day is a calendar day in the bot's timezone):
- new friends: each contact once, on the day of her first friend event that counts: her
  being added (`friend_added`) by an account that records adds (wechaty does, on the
  platform's confirmation), or her request (`friend_request`) to an account that never
  records an add (the simulator records requests only). Never again on another day or
  account; `contact.is_friend` plays no part. With the account filter she counts for the
  account of that first event only. Kept in metric_friend (first request and first add
  per contact and account), brought up to the interaction log on each read and job run.
- active, DAU, MAU: distinct contacts who sent a message or clicked a tracked link (not
  joins, leaves or the bot's own echoed messages). MAU on day D: active on any of the 30
  days ending D.
- the bot's own ids: every id a bot account logged in as is remembered (bot_identity,
  `remember_bot_id`, at each login) and always left out, logged in or not; `self_ids`
  given to a call are left out too. An id remembered after days were rolled up (its first
  login after this table came) has those days' words rolled again when read and, if the
  summaries counted it, the summaries dropped and rebuilt by the next daily job: once per
  new account.
- joins, leaves: join and leave events (not roster stints, which a member-list refresh
  opens and closes unseen). A leave with a remover, or with a guard or admin kick of her
  in that group since an hour before the day began, is a kick, not a leave: kicks are
  `guard_audit` action kick (one per group she was removed from).
- a group two bot accounts are in: each account records every event; a message, join or
  leave counts once (per group, member and day the larger of the accounts' counts), its
  words once, and every group figure goes to the group's own account (`room.account_id`
  when it was rolled up), whichever account received it.
- speakers / members: members are the people in a group at some time of the day (one who
  left and came back counts once); speakers the members who spoke that day (one who spoke
  but is not on the roster is not counted): the interaction rate, their ratio, is at most 1.
- churned: contacts who left a group that day (not kicked), plus those who deleted the
  bot that day (interaction kind friend_lost: the platform's bounce notice after a
  message to her, or a WeCom deletion event; per account, no group: a room filter leaves
  them out; once per loss: a later bounce counts only after she was a friend again, and
  a loss counts only when the log saw her as that account's friend before, by a friend
  request, an add or a direct message), plus those whose 30 days without activity ended
  that day (active on D-30, silent since); one who did two of these counts twice. A
  deletion is only seen when the bot next writes to her (WeChat tells nobody), so it
  lands on that day.
- funnel and channels: the contacts added in the range (new friends; with a room filter,
  those who joined that group) -> profile complete (stage, due date or birth date known)
  -> first order -> repeat order (one, two or more paid orders, as of now). Each step
  counts contacts of the cohort, so a mother who orders without telling her stage counts
  in the order steps. Orders and revenue per channel are the paid orders placed in the
  range, by the contact's channel (the order's own for an order not matched to anyone);
  revenue sums CNY orders only.
- conversion: per post and sequence step sent in the range: sends, tracked-link clicks,
  messages clicked at least once, and their rate. A sequence step's account is that of
  her enrolment in the sequence; a post's, its group's.
- hot topics: jieba TF-IDF over the group messages of the 7 days ending `end`, without
  the words in storage/data/stopwords.txt.

Known limits: forgetting a contact anonymises her rows, so final days and summaries keep
counting her under another id (the counts stay, the history is not rewritten); data that
arrives for a day already final (see below) is not counted.

Filters: the account filters interactions by their account and groups by theirs; the room
filter applies to group figures (activity, joins, leaves, kicks, members, churn, hot
topics, posts) and makes the funnel's cohort the group's new members; figures that have no
group (new friends, channels, sequences) ignore it. The channel filter keeps contacts whose
`contact.channel` is that code; hot topics ignore it (words are kept per group, not per
person).

Speed (bench/metrics.py). Three layers, each written once per local day:
- metric_activity (one row per contact, group and day) and metric_word (each group's top
  words of the day), by `roll_up`; metric_event keeps the activity rows' rare events
  (join, leave) apart. Two readers rolling one day at once take turns (an advisory lock on
  PostgreSQL; SQLite writes one transaction at a time). A day is final once it ended
  SETTLE ago (interactions are written behind, in batches); until then its rollup is
  provisional and rewritten by a read at least FRESH after it was written. Interactions
  that arrive for a day already final are not counted.
- metric_summary: per final day and scope ("" for no filter, and each account, group and
  channel code), DAU, MAU, lapses, joins, leaves, speakers, members and a histogram of
  the days since each active contact's previous active day (from which the distinct
  active contacts of any range are summed), continued from metric_last (each contact's
  last active day per scope). Written by `roll_up_finished_days`, which the daily work
  job calls: in day order, each day once, reaching back LOOKBACK_DAYS on the first run.
- `overview` reads the summaries when they cover its range: no filter or one filter,
  written in this timezone without the same unremembered `self_ids` (normally none), and
  at most PROVISIONAL_DAYS days (today, and yesterday until SETTLE) after the last one, which it
  works out from the activity rollup the same way without storing them. Leavers and a
  group's new members are read from metric_event, new friends from metric_friend; orders,
  kicks, conversion and words as they are. Anything else (two filters, a range older
  than the summaries, the job not run for days) is read from the activity rollup: the
  same figures, slower.
  A summary counts a contact under the channel code she had, and a group's members as
  recorded, when the day was summarised; later changes to them do not reach final days.
- rooms_summary (the per-group page) reads the activity rollup, not the summaries: its
  messages and distinct speakers over the range are in no summary (it stays in the
  hundreds of milliseconds for 30 days; see docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from storage import sql
from storage.models import (
    BotIdentity,
    MetricActivity,
    MetricDay,
    MetricEvent,
    MetricFriend,
    MetricLast,
    MetricSummary,
    MetricWord,
)

log = logging.getLogger(__name__)

SETTLE = timedelta(hours=2)  # after a day's end, its interactions are all written
FRESH = timedelta(minutes=5)  # a provisional day is rewritten at most this often
WORDS_FRESH = timedelta(hours=1)  # its words (jieba is slow; a week's topics move slowly)
MAX_DAYS = 400  # the longest range one overview covers
MAU_DAYS = 30
CHURN_DAYS = 30
HOT_TOPIC_DAYS = 7
HOT_TOPICS = 20
WORDS_PER_ROOM_DAY = 50  # kept per group and day; the week's top 20 come from these
ACTIVITY, WORDS, SUMMARY, FRIENDS = "activity", "words", "summary", "friends"
LOOKBACK_DAYS = MAX_DAYS + MAU_DAYS  # summaries reach back far enough for any range's MAU
PROVISIONAL_DAYS = 3  # days after the last summary a read works out itself
STOPWORDS_FILE = Path(__file__).with_name("data") / "stopwords.txt"


@dataclass(frozen=True)
class Filters:
    account_id: str | None = None
    room_id: str | None = None
    channel: str | None = None


# --------------------------------------------------------------------------- days


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The local calendar day as [start, end) instants."""
    start = datetime.combine(day, time(), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def local_day(at: datetime | str, tz: ZoneInfo) -> date:
    """The local day of a stored instant (SQLite hands raw rows back as text)."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(tz).date()


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _check_range(start: date, end: date) -> None:
    if start > end:
        raise ValueError(f"the range starts ({start}) after it ends ({end})")
    if (end - start).days + 1 > MAX_DAYS:
        raise ValueError(f"the range is longer than {MAX_DAYS} days")


def _marks(n: int) -> str:
    return ", ".join("?" for _ in range(n))


# --------------------------------------------------------------------------- rollups


async def roll_up(
    first: date,
    last: date,
    tz: ZoneInfo,
    now: datetime,
    *,
    parts: Sequence[str] = (ACTIVITY, WORDS),
    self_ids: Collection[str] = (),
) -> int:
    """Write the rollups of the days first..last that are missing, provisional and FRESH
    (words: WORDS_FRESH) old or final by now, or were written in another timezone; days not
    begun yet are skipped. Returns the days written. Idempotent: a day written twice (two
    instances at once) holds the same rows."""
    today = now.astimezone(tz).date()
    last = min(last, today)
    if first > last:
        return 0
    markers = await MetricDay.filter(
        day__gte=first.toordinal(), day__lte=last.toordinal(), part__in=list(parts), tz=tz.key
    ).values("day", "part", "final", "rolled_at")
    done = {
        (row["day"], row["part"])
        for row in markers
        if row["final"]
        or (
            row["rolled_at"] + (FRESH if row["part"] == ACTIVITY else WORDS_FRESH) > now
            and day_bounds(date.fromordinal(row["day"]), tz)[1] + SETTLE > now
        )
    }
    written = 0
    for day in _days(first, last):
        for part in parts:
            if (day.toordinal(), part) in done:
                continue
            await _roll_day(day, part, tz, now, self_ids)
            written += 1
    return written


async def _roll_day(
    day: date, part: str, tz: ZoneInfo, now: datetime, self_ids: Collection[str]
) -> None:
    lo, hi = day_bounds(day, tz)
    number = day.toordinal()
    words = await _day_words(lo, hi, self_ids) if part == WORDS else []
    async with in_transaction(MetricDay._meta.default_connection):
        # Two readers rolling the same day at once (PostgreSQL, READ COMMITTED) would both
        # delete, then both insert; one waits for the other instead. SQLite writes one
        # transaction at a time anyway.
        await _lock_day(number, part)
        if part == ACTIVITY:
            await sql.execute(MetricActivity, "DELETE FROM metric_activity WHERE day = ?", [number])
            await sql.execute(
                MetricActivity,
                _ACTIVITY_SQL,
                [number, hi, lo, lo, hi, lo - KICK_SLACK, hi, lo, hi],
            )
            await sql.execute(MetricEvent, "DELETE FROM metric_event WHERE day = ?", [number])
            for kind, column in _EVENT_KINDS:
                await sql.execute(
                    MetricEvent,
                    "INSERT INTO metric_event (day, kind, account_id, room_id, contact_id)"
                    f" SELECT day, '{kind}', account_id, room_id, contact_id FROM metric_activity"
                    f" WHERE day = ? AND {column} > 0",
                    [number],
                )
            await sql.execute(MetricEvent, _UNFRIEND_SQL, [number, lo, hi])
        else:
            await sql.execute(MetricWord, "DELETE FROM metric_word WHERE day = ?", [number])
            if words:
                await sql.execute_many(
                    MetricWord,
                    "INSERT INTO metric_word (day, account_id, room_id, word, count) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [[number, *row] for row in words],
                )
        await sql.execute(
            MetricDay,
            "INSERT INTO metric_day (day, part, tz, basis, final, rolled_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (day, part) DO UPDATE SET tz = excluded.tz,"
            " basis = excluded.basis, final = excluded.final, rolled_at = excluded.rolled_at",
            [number, part, tz.key, "", hi + SETTLE <= now, now],
        )


_PARTS = (ACTIVITY, WORDS, SUMMARY, FRIENDS)


async def _lock_day(number: int, part: str) -> None:
    """Serialise the writers of one day and part until the transaction ends (PostgreSQL)."""
    if sql.dialect_of(MetricDay) == "postgres":
        key = number * len(_PARTS) + _PARTS.index(part)
        await sql.fetch(MetricDay, "SELECT pg_advisory_xact_lock(?, ?)", [_LOCK_SPACE, key])


_LOCK_SPACE = 0x6D65  # "me"trics: the advisory lock's first key, apart from others' locks
KICK_SLACK = timedelta(hours=1)  # a kick just before midnight, her leave event just after

_EVENT_KINDS = (("join", "joins"), ("leave", "leaves"))
UNFRIEND = "unfriend"
# She deleted the bot (interaction kind friend_lost, handlers/roster.py): churn, per account.
# Each bounce of a later message tells it again: one counts only when her previous friend
# event with that account (a request, an add, a direct message from her, a loss) says she
# was a friend then, so she is counted once per loss, and never when she was never a
# friend of that account (as far as the log knows).
_UNFRIEND_SQL = (
    "INSERT INTO metric_event (day, kind, account_id, room_id, contact_id)"
    f" SELECT DISTINCT CAST(? AS INTEGER), '{UNFRIEND}', i.account_id, '', i.contact_id"
    " FROM interaction i WHERE i.kind = 'friend_lost' AND i.at >= ? AND i.at < ?"
    " AND i.contact_id <> '' AND (SELECT p.kind FROM interaction p"
    " WHERE p.contact_id = i.contact_id AND p.account_id = i.account_id"
    " AND (p.at < i.at OR (p.at = i.at AND p.id < i.id))"
    " AND (p.kind IN ('friend_lost', 'friend_added', 'friend_request')"
    " OR (p.kind = 'message' AND p.room_id IS NULL))"
    " ORDER BY p.at DESC, p.id DESC LIMIT 1) IN ('friend_added', 'friend_request', 'message')"
    " ON CONFLICT DO NOTHING"
)

# One row per contact and day: per direct chat of each account, and per group whatever
# account received it (two bot accounts in one group record each message twice: the
# larger count is kept, and the row goes to the group's own account). A leave is not
# counted when she was removed (a remover, or a guard or admin kick of her in that group
# since an hour before the day began): a kick is no customer leaving. `speaker`: she spoke
# in the group and was one of its members that day.
_ACTIVITY_SQL = """
INSERT INTO metric_activity
    (day, account_id, room_id, contact_id, messages, clicks, friend_events, joins, leaves,
     speaker)
SELECT ?, CASE WHEN p.room_id = '' THEN MIN(p.account_id)
        ELSE COALESCE(MIN(r.account_id), MIN(p.account_id)) END,
    p.room_id, p.contact_id, MAX(p.messages), MAX(p.clicks), MAX(p.friend_events),
    MAX(p.joins), MAX(p.leaves),
    CASE WHEN p.room_id <> '' AND MAX(p.messages) > 0 AND EXISTS (SELECT 1 FROM room_membership m
        WHERE m.room_id = p.room_id AND m.contact_id = p.contact_id AND m.joined_at < ?
        AND (m.left_at IS NULL OR m.left_at >= ?)) THEN 1 ELSE 0 END
FROM (
    SELECT i.account_id AS account_id, COALESCE(i.room_id, '') AS room_id,
        i.contact_id AS contact_id,
        CASE WHEN COALESCE(i.room_id, '') = '' THEN i.account_id ELSE '' END AS via,
        SUM(CASE WHEN i.kind = 'message' THEN 1 ELSE 0 END) AS messages,
        SUM(CASE WHEN i.kind = 'click' THEN 1 ELSE 0 END) AS clicks,
        SUM(CASE WHEN i.kind IN ('friend_request', 'friend_added') THEN 1 ELSE 0 END)
            AS friend_events,
        SUM(CASE WHEN i.kind = 'join' THEN 1 ELSE 0 END) AS joins,
        SUM(CASE WHEN i.kind = 'leave' AND NOT EXISTS (SELECT 1 FROM room_membership m
                WHERE m.room_id = i.room_id AND m.contact_id = i.contact_id
                AND m.remover_id IS NOT NULL AND m.remover_id <> m.contact_id
                AND m.left_at >= ? AND m.left_at < ?)
            AND NOT EXISTS (SELECT 1 FROM guard_audit g WHERE g.action = 'kick'
                AND g.room_id = i.room_id AND g.contact_id = i.contact_id
                AND g.at >= ? AND g.at < ?)
            THEN 1 ELSE 0 END) AS leaves
    FROM interaction i
    WHERE i.at >= ? AND i.at < ? AND i.contact_id <> ''
    GROUP BY i.account_id, COALESCE(i.room_id, ''), i.contact_id
) p LEFT JOIN room r ON r.room_id = p.room_id
WHERE p.contact_id <> ''
GROUP BY p.via, p.room_id, p.contact_id
ON CONFLICT DO NOTHING
"""


async def _day_words(
    lo: datetime, hi: datetime, self_ids: Collection[str]
) -> list[tuple[str, str, str, int]]:
    """The top words of each group's text messages in [lo, hi), without the bot's own.
    A group two bot accounts are in is read through one of them (its own account when that
    one recorded the day), so its words count once, under the group's account."""
    ids = sorted(self_ids)
    mine = f" AND i.contact_id NOT IN ({_marks(len(ids))})" if ids else ""
    rows = await sql.fetch(
        MetricWord,
        "SELECT i.account_id AS account_id, i.room_id AS room_id, i.text AS text,"
        " r.account_id AS owner FROM interaction i LEFT JOIN room r ON r.room_id = i.room_id"
        " WHERE i.at >= ? AND i.at < ? AND i.kind = 'message' AND i.room_id IS NOT NULL"
        f" AND i.text IS NOT NULL AND (i.msg_type IS NULL OR i.msg_type = 'text'){mine}",
        [lo, hi, *ids],
    )
    if not rows:
        return []
    heard: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    owner: dict[str, str] = {}
    for row in rows:
        room = str(row["room_id"])
        heard[room][str(row["account_id"])].append(str(row["text"]))
        if row["owner"] is not None:
            owner[room] = str(row["owner"])
    by_room: dict[tuple[str, str], list[str]] = {}
    for room, accounts in heard.items():
        own = owner.get(room)
        via = own if own in accounts else min(accounts, key=lambda a: (-len(accounts[a]), a))
        by_room[(own or via, room)] = accounts[via]
    # jieba is CPU work: off the event loop, so the bot keeps answering meanwhile.
    return await asyncio.to_thread(_count_words, by_room)


def _count_words(by_room: dict[tuple[str, str], list[str]]) -> list[tuple[str, str, str, int]]:
    cut = _tokenizer().lcut
    out: list[tuple[str, str, str, int]] = []
    for (account, room), texts in by_room.items():
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(w for w in cut(text[:500]) if _topical(w))
        out.extend((account, room, w, n) for w, n in counts.most_common(WORDS_PER_ROOM_DAY))
    return out


@cache
def stopwords() -> frozenset[str]:
    words: set[str] = set()
    for line in STOPWORDS_FILE.read_text(encoding="utf-8").splitlines():
        words.update(line.split("#", 1)[0].split())
    return frozenset(words)


def _topical(word: str) -> bool:
    """A word worth counting: two characters or more, some Chinese in it or a Latin name
    ("DHA", "NUK"), no numbers, not a stopword."""
    word = word.strip()
    if len(word) < 2 or len(word) > 64 or word.lower() in stopwords():
        return False
    if any("\u4e00" <= ch <= "\u9fff" for ch in word):
        return True
    return len(word) >= 3 and word.isascii() and word.isalpha()


@cache
def _tokenizer() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tok = jieba.Tokenizer()
    tok.initialize()
    return tok


@cache
def _idf() -> tuple[dict[str, float], float]:
    import jieba.analyse

    tfidf = jieba.analyse.TFIDF()
    return tfidf.idf_freq, float(tfidf.median_idf)


# --------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class _Where:
    """A WHERE fragment (starting with AND) and its parameters."""

    sql: str = ""
    params: tuple[Any, ...] = ()

    def __add__(self, other: _Where) -> _Where:
        return _Where(self.sql + other.sql, self.params + other.params)


def _activity_where(
    f: Filters, self_ids: Collection[str], *, rooms: bool = True, alias: str = "a"
) -> _Where:
    w = _Where()
    if f.account_id is not None:
        w += _Where(f" AND {alias}.account_id = ?", (f.account_id,))
    if rooms and f.room_id is not None:
        w += _Where(f" AND {alias}.room_id = ?", (f.room_id,))
    w += _contact_where(f, self_ids, f"{alias}.contact_id")
    return w


def _contact_where(f: Filters, self_ids: Collection[str], column: str) -> _Where:
    w = _Where()
    if f.channel is not None:
        w += _Where(
            f" AND {column} IN (SELECT contact_id FROM contact WHERE channel = ?)", (f.channel,)
        )
    ids = tuple(sorted(self_ids))
    if ids:
        # A row about nobody in particular (a post to a group) is not the bot's either.
        w += _Where(f" AND ({column} IS NULL OR {column} NOT IN ({_marks(len(ids))}))", ids)
    return w


def _room_where(f: Filters, column: str) -> _Where:
    """Rows about a group (membership, audit, post): the room and account filters."""
    w = _Where()
    if f.room_id is not None:
        w += _Where(f" AND {column} = ?", (f.room_id,))
    if f.account_id is not None:
        w += _Where(
            f" AND {column} IN (SELECT room_id FROM room WHERE account_id = ?)", (f.account_id,)
        )
    return w


async def _fetch(query: str, params: Iterable[Any]) -> list[dict[str, Any]]:
    return await sql.fetch(MetricActivity, query, list(params))


def _int(value: Any) -> int:
    return int(value or 0)


# --------------------------------------------------------------------------- single metrics


async def activity_by_day(
    start: date, end: date, f: Filters, self_ids: Collection[str] = ()
) -> dict[date, dict[str, int]]:
    """Per day: dau, joins, leaves, speakers (rolled-up days only)."""
    w = _activity_where(f, self_ids)
    rows = await _fetch(
        "SELECT a.day AS day,"
        " COUNT(DISTINCT CASE WHEN a.messages + a.clicks > 0 THEN a.contact_id END) AS dau,"
        " SUM(a.joins) AS joins, SUM(a.leaves) AS leaves,"
        " SUM(a.speaker) AS speakers"
        f" FROM metric_activity a WHERE a.day BETWEEN ? AND ?{w.sql} GROUP BY a.day",
        [start.toordinal(), end.toordinal(), *w.params],
    )
    return {
        date.fromordinal(_int(r["day"])): {
            k: _int(r[k]) for k in ("dau", "joins", "leaves", "speakers")
        }
        for r in rows
    }


async def active_contacts(
    start: date, end: date, f: Filters, self_ids: Collection[str] = ()
) -> int:
    """Distinct contacts who sent a message or clicked in the range."""
    w = _activity_where(f, self_ids)
    rows = await _fetch(
        "SELECT COUNT(DISTINCT a.contact_id) AS n FROM metric_activity a"
        f" WHERE a.day BETWEEN ? AND ? AND a.messages + a.clicks > 0{w.sql}",
        [start.toordinal(), end.toordinal(), *w.params],
    )
    return _int(rows[0]["n"])


def _stretches_cte(w: _Where) -> str:
    """Each active day of a contact and her next one: she counts in MAU from that day to
    the day before the next (at most 30 days), and churns on day+30 when no next comes."""
    return (
        "WITH act AS (SELECT DISTINCT a.contact_id AS contact_id, a.day AS day"
        " FROM metric_activity a WHERE a.day BETWEEN ? AND ? AND a.messages + a.clicks > 0"
        f"{w.sql}),"
        " st AS (SELECT contact_id, day,"
        " LEAD(day) OVER (PARTITION BY contact_id ORDER BY day) AS nxt FROM act)"
    )


async def mau_and_churn(
    start: date, end: date, f: Filters, self_ids: Collection[str] = ()
) -> tuple[dict[date, int], dict[date, int], int]:
    """MAU per day (contacts active in the 30 days ending the day), churned per day, and
    churned over the range. Churned counts each group leave (a contact once per day and
    once per range) and each lapse into 30 days of silence (active on D-30, silent since):
    a contact who did both in the range counts twice. One pass over the activity rows."""
    w = _activity_where(f, self_ids)
    s, e = start.toordinal(), end.toordinal()
    lo = s - max(MAU_DAYS, CHURN_DAYS)
    until = f"CASE WHEN nxt IS NULL OR nxt > day + {MAU_DAYS} THEN day + {MAU_DAYS} ELSE nxt END"
    lapsed = f"CASE WHEN nxt IS NULL OR nxt > day + {CHURN_DAYS} THEN 1 ELSE 0 END"
    rows = await _fetch(
        _stretches_cte(w) + f" SELECT day AS d, {until} AS e, {lapsed} AS lapsed,"
        f" COUNT(*) AS n FROM st GROUP BY day, {until}, {lapsed}",
        [lo, e, *w.params],
    )
    delta: Counter[int] = Counter()
    churned: Counter[date] = Counter()
    for r in rows:
        n = _int(r["n"])
        delta[_int(r["d"])] += n
        delta[_int(r["e"])] -= n
        gone = _int(r["d"]) + CHURN_DAYS
        if _int(r["lapsed"]) and s <= gone <= e:
            churned[date.fromordinal(gone)] += n
    mau: dict[date, int] = {}
    running = 0
    for number in range(lo, e + 1):
        running += delta[number]
        if number >= s:
            mau[date.fromordinal(number)] = running
    lapsed_total = sum(churned.values())
    leavers = " FROM metric_activity a WHERE a.leaves > 0 AND a.day BETWEEN ? AND ?" + w.sql
    daily = await _fetch(
        f"SELECT a.day AS day, COUNT(DISTINCT a.contact_id) AS n{leavers} GROUP BY a.day",
        [s, e, *w.params],
    )
    for r in daily:
        churned[date.fromordinal(_int(r["day"]))] += _int(r["n"])
    total = await _fetch(f"SELECT COUNT(DISTINCT a.contact_id) AS n{leavers}", [s, e, *w.params])
    unfriended, unfriended_total = await _events_by_day(UNFRIEND, start, end, f, self_ids)
    for day, n in unfriended.items():
        churned[day] += n
    return mau, dict(churned), lapsed_total + _int(total[0]["n"]) + unfriended_total


async def track_friends(now: datetime) -> None:
    """Bring metric_friend up to the interaction log: each contact's first friend request
    to, and first recorded adding by, each account. Incremental: from SETTLE before the
    last run (the log is written behind); the first run reads the whole log."""
    marks = await _fetch("SELECT rolled_at FROM metric_day WHERE day = 0 AND part = ?", [FRIENDS])
    since: list[Any] = []
    if marks:
        mark = marks[0]["rolled_at"]
        if isinstance(mark, str):
            mark = datetime.fromisoformat(mark)
        since = [mark - SETTLE]
    await sql.execute(
        MetricFriend,
        "INSERT INTO metric_friend (contact_id, account_id, kind, first_at)"
        " SELECT contact_id, account_id, kind, MIN(at) FROM interaction"
        " WHERE kind IN ('friend_request', 'friend_added') AND contact_id <> ''"
        f"{' AND at >= ?' if since else ''} GROUP BY contact_id, account_id, kind"
        " ON CONFLICT (contact_id, account_id, kind) DO UPDATE SET first_at = CASE"
        " WHEN excluded.first_at < metric_friend.first_at THEN excluded.first_at"
        " ELSE metric_friend.first_at END",
        since,
    )
    await sql.execute(
        MetricDay,
        "INSERT INTO metric_day (day, part, tz, basis, final, rolled_at)"
        " VALUES (0, ?, '', '', ?, ?) ON CONFLICT (day, part) DO UPDATE SET rolled_at = CASE"
        " WHEN excluded.rolled_at > metric_day.rolled_at THEN excluded.rolled_at"
        " ELSE metric_day.rolled_at END",
        [FRIENDS, False, now],
    )


# The friend events that make a new friend: her being added, on an account that records
# adds; her request, on one that never does (the simulator records requests only).
_COUNTS_AS_FRIEND = (
    "(q.kind = 'friend_added' OR q.account_id NOT IN"
    " (SELECT x.account_id FROM metric_friend x WHERE x.kind = 'friend_added'))"
)


def _new_friends_sql(
    lo: datetime, hi: datetime, f: Filters, self_ids: Collection[str]
) -> tuple[str, list[Any]]:
    """The contacts who became a friend in [lo, hi) (SQL with columns contact_id and at,
    and its parameters): her first friend event that counts, on any account, is in it.
    With the account filter, that first event's account must be the one."""
    w = _contact_where(f, self_ids, "n.contact_id")
    params: list[Any] = [lo, hi, lo, hi]
    account = ""
    if f.account_id is not None:
        account = (
            " AND (SELECT MIN(q.account_id) FROM metric_friend q WHERE q.contact_id ="
            f" n.contact_id AND q.first_at = n.at AND {_COUNTS_AS_FRIEND}) = ?"
        )
        params.append(f.account_id)
    return (
        "SELECT n.contact_id AS contact_id, n.at AS at FROM (SELECT q.contact_id AS"
        " contact_id, MIN(q.first_at) AS at FROM metric_friend q WHERE q.contact_id IN"
        " (SELECT y.contact_id FROM metric_friend y WHERE y.first_at >= ? AND y.first_at < ?)"
        f" AND {_COUNTS_AS_FRIEND} GROUP BY q.contact_id) n WHERE n.at >= ? AND n.at < ?"
        f"{account}{w.sql}",
        [*params, *w.params],
    )


async def new_friends(
    start: date, end: date, f: Filters, tz: ZoneInfo, self_ids: Collection[str] = ()
) -> tuple[dict[date, int], int]:
    """New friends per day, and over the range: each contact once, on the day of her first
    friend event that counts (`_COUNTS_AS_FRIEND`), on whichever account; never again on
    another day or account. The room filter does not apply (a friend is no group's)."""
    lo, _ = day_bounds(start, tz)
    _, hi = day_bounds(end, tz)
    query, params = _new_friends_sql(lo, hi, f, self_ids)
    rows = await _fetch(query, params)
    return dict(Counter(local_day(r["at"], tz) for r in rows)), len(rows)


async def members_by_day(
    start: date, end: date, f: Filters, tz: ZoneInfo, self_ids: Collection[str] = ()
) -> dict[str, dict[date, int]]:
    """Per group and day: the people who were its members at some time of the day."""
    w = _room_where(f, "m.room_id") + _contact_where(f, self_ids, "m.contact_id")
    by_room: dict[str, Counter[date]] = defaultdict(Counter)
    for key, changes in (await _member_deltas(start, end, tz, w)).items():
        by_room[key[0]].update(changes)
    return _running(start, end, dict(by_room))


async def _member_deltas(
    first: date, last: date, tz: ZoneInfo, w: _Where
) -> dict[tuple[str, str | None, str | None], Counter[date]]:
    """Per (group, its account, the member's channel): how its members change from day to
    day over first..last (a count on `first`, then +1 or -1). A member counts once a day
    however often she left and came back (her stints are merged), on the day she joined
    and on the day she left."""
    lo, _ = day_bounds(first, tz)
    _, hi = day_bounds(last, tz)
    frm = (
        " FROM room_membership m LEFT JOIN contact c ON c.contact_id = m.contact_id"
        " LEFT JOIN room r ON r.room_id = m.room_id"
    )
    cols = "m.room_id AS room_id, r.account_id AS account_id, c.channel AS channel"
    # In at the start: one member every day, unless she moves in the range (below).
    base = await _fetch(
        f"SELECT {cols}, COUNT(DISTINCT m.contact_id) AS n{frm} WHERE m.joined_at < ?"
        f" AND (m.left_at IS NULL OR m.left_at >= ?){w.sql}"
        " GROUP BY m.room_id, r.account_id, c.channel",
        [lo, lo, *w.params],
    )
    # Those who joined or left in the range: every stint of theirs in it.
    stints = await _fetch(
        f"SELECT {cols}, m.contact_id AS contact_id, m.joined_at AS joined_at,"
        f" m.left_at AS left_at{frm} WHERE m.contact_id IN (SELECT x.contact_id FROM"
        " room_membership x WHERE (x.joined_at >= ? AND x.joined_at < ?)"
        " OR (x.left_at >= ? AND x.left_at < ?)) AND m.joined_at < ?"
        f" AND (m.left_at IS NULL OR m.left_at >= ?){w.sql}",
        [lo, hi, lo, hi, hi, lo, *w.params],
    )
    out: dict[tuple[str, str | None, str | None], Counter[date]] = defaultdict(Counter)
    for r in base:
        out[_member_key(r)][first] += _int(r["n"])
    spans: dict[tuple[Any, ...], list[tuple[date, date]]] = defaultdict(list)
    moved: set[tuple[Any, ...]] = set()
    at_start: set[tuple[Any, ...]] = set()
    for r in stints:
        pair = (*_member_key(r), str(r["contact_id"]))
        joined_at, left_at = _instant(r["joined_at"]) or lo, _instant(r["left_at"])
        if joined_at >= lo or (left_at is not None and left_at < hi):
            moved.add(pair)
        if joined_at < lo:
            at_start.add(pair)
        joined = max(first, local_day(joined_at, tz))
        left = last if left_at is None or left_at >= hi else local_day(left_at, tz)
        spans[pair].append((joined, left))
    for pair in moved:
        room_key = (pair[0], pair[1], pair[2])
        if pair in at_start:
            out[room_key][first] -= 1  # counted in the base: counted here instead
        for joined, left in _merged(spans[pair]):
            out[room_key][joined] += 1
            if left < last:
                out[room_key][left + timedelta(days=1)] -= 1
    return out


def _instant(at: datetime | str | None) -> datetime | None:
    """A stored instant as an aware datetime (SQLite hands raw rows back as text)."""
    if at is None:
        return None
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _member_key(r: dict[str, Any]) -> tuple[str, str | None, str | None]:
    account, channel = r["account_id"], r["channel"]
    return (
        str(r["room_id"]),
        None if account is None else str(account),
        None if channel is None else str(channel),
    )


def _merged(spans: list[tuple[date, date]]) -> list[tuple[date, date]]:
    """Day spans (both ends in) merged where they overlap or touch."""
    out: list[tuple[date, date]] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1] + timedelta(days=1):
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _running(
    first: date, last: date, deltas: dict[Any, Counter[date]]
) -> dict[Any, dict[date, int]]:
    """Day-to-day changes summed into counts per day, per key."""
    out: dict[Any, dict[date, int]] = {}
    for key, changes in deltas.items():
        running, days = 0, {}
        for day in _days(first, last):
            running += changes[day]
            days[day] = running
        out[key] = days
    return out


async def kicks_by_day(
    start: date, end: date, f: Filters, tz: ZoneInfo, self_ids: Collection[str] = ()
) -> dict[date, int]:
    w = _room_where(f, "g.room_id") + _contact_where(f, self_ids, "g.contact_id")
    lo, _ = day_bounds(start, tz)
    _, hi = day_bounds(end, tz)
    rows = await _fetch(
        "SELECT g.at AS at FROM guard_audit g WHERE g.action = 'kick' AND g.at >= ?"
        f" AND g.at < ?{w.sql}",
        [lo, hi, *w.params],
    )
    return dict(Counter(local_day(r["at"], tz) for r in rows))


def _cohort(
    start: date, end: date, f: Filters, tz: ZoneInfo, self_ids: Collection[str]
) -> tuple[str, list[Any]]:
    """The contacts added in the range (SQL and parameters): new friends, or with a room
    filter the group's new members."""
    if f.room_id is not None:
        w = _activity_where(f, self_ids, alias="e")
        return (
            "SELECT DISTINCT e.contact_id AS contact_id FROM metric_event e"
            f" WHERE e.kind = 'join' AND e.day BETWEEN ? AND ?{w.sql}",
            [start.toordinal(), end.toordinal(), *w.params],
        )
    lo, _ = day_bounds(start, tz)
    _, hi = day_bounds(end, tz)
    query, params = _new_friends_sql(lo, hi, f, self_ids)
    return f"SELECT k.contact_id AS contact_id FROM ({query}) k", params


_STEPS = (
    " COUNT(*) AS added,"
    " SUM(CASE WHEN p.stage IS NOT NULL OR p.due_date IS NOT NULL OR p.birth_date IS NOT NULL"
    " THEN 1 ELSE 0 END) AS profile_complete,"
    " SUM(CASE WHEN o.n >= 1 THEN 1 ELSE 0 END) AS first_order,"
    " SUM(CASE WHEN o.n >= 2 THEN 1 ELSE 0 END) AS repeat_order"
)
_STEP_JOINS = (
    " LEFT JOIN profile p ON p.contact_id = k.contact_id"
    " LEFT JOIN (SELECT contact_id, COUNT(*) AS n FROM shop_order WHERE status = 'paid'"
    " AND contact_id IN (SELECT contact_id FROM cohort) GROUP BY contact_id) o"
    " ON o.contact_id = k.contact_id"
)


async def funnel(
    start: date, end: date, f: Filters, tz: ZoneInfo, self_ids: Collection[str] = ()
) -> dict[str, int]:
    cohort, params = _cohort(start, end, f, tz, self_ids)
    rows = await _fetch(
        f"WITH cohort AS ({cohort}) SELECT{_STEPS} FROM cohort k{_STEP_JOINS}", params
    )
    r = rows[0]
    return {k: _int(r[k]) for k in ("added", "profile_complete", "first_order", "repeat_order")}


async def channels(
    start: date,
    end: date,
    f: Filters,
    tz: ZoneInfo,
    self_ids: Collection[str] = (),
    *,
    added: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Per channel code: new friends, of them profile complete and ordered, and the paid
    orders and revenue of the range. `added`: the cohort's steps per channel, when known."""
    if added is None:
        cohort, params = _cohort(start, end, Filters(f.account_id, None, f.channel), tz, self_ids)
        added = await _fetch(
            f"WITH cohort AS ({cohort}) SELECT c.channel AS channel,{_STEPS}"
            f" FROM cohort k JOIN contact c ON c.contact_id = k.contact_id{_STEP_JOINS}"
            " GROUP BY c.channel",
            params,
        )
    lo, _ = day_bounds(start, tz)
    _, hi = day_bounds(end, tz)
    w = _Where()
    if f.account_id is not None:
        w += _Where(" AND o.account_id = ?", (f.account_id,))
    if f.channel is not None:
        w += _Where(" AND COALESCE(c.channel, o.channel) = ?", (f.channel,))
    sold = await _fetch(
        "SELECT COALESCE(c.channel, o.channel) AS channel, COUNT(*) AS orders,"
        " SUM(CASE WHEN o.currency = 'CNY' THEN o.amount_cents ELSE 0 END) AS revenue_cents"
        " FROM shop_order o LEFT JOIN contact c ON c.contact_id = o.contact_id"
        f" WHERE o.status = 'paid' AND o.placed_at >= ? AND o.placed_at < ?{w.sql}"
        " GROUP BY COALESCE(c.channel, o.channel)",
        [lo, hi, *w.params],
    )
    table: dict[str | None, dict[str, Any]] = {}

    def row(channel: Any) -> dict[str, Any]:
        key = None if channel is None else str(channel)
        return table.setdefault(
            key,
            {
                "channel": key,
                "new_friends": 0,
                "profile_complete": 0,
                "first_order": 0,
                "orders": 0,
                "revenue_cents": 0,
            },
        )

    for r in added:
        entry = row(r["channel"])
        entry["new_friends"] = _int(r["added"])
        entry["profile_complete"] = _int(r["profile_complete"])
        entry["first_order"] = _int(r["first_order"])
    for r in sold:
        entry = row(r["channel"])
        entry["orders"] = _int(r["orders"])
        entry["revenue_cents"] = _int(r["revenue_cents"])
    return sorted(
        table.values(),
        key=lambda e: (-e["revenue_cents"], -e["new_friends"], e["channel"] or "\uffff"),
    )


async def conversion(
    start: date, end: date, f: Filters, tz: ZoneInfo, self_ids: Collection[str] = ()
) -> dict[str, list[dict[str, Any]]]:
    """Posts and sequence steps sent in the range: sent, clicks, clicked messages, rate;
    and per sequence the enrolments of the range and how they stand now."""
    lo, _ = day_bounds(start, tz)
    _, hi = day_bounds(end, tz)

    def where(alias: str, account_column: str) -> _Where:
        w = _Where()
        if f.room_id is not None:
            w += _Where(f" AND {alias}.room_id = ?", (f.room_id,))
        if f.account_id is not None:
            w += _Where(
                f" AND ({account_column} = ? OR {alias}.room_id IN"
                " (SELECT room_id FROM room WHERE account_id = ?))",
                (f.account_id, f.account_id),
            )
        return w + _contact_where(f, self_ids, f"{alias}.contact_id")

    # A sequence step's account: her enrolment in that sequence (seq:ID:STEP).
    ws = where(
        "s",
        "(SELECT MIN(e.account_id) FROM enrollment e WHERE e.contact_id = s.contact_id"
        " AND substr(s.source, 1, length(e.sequence_id) + 5) = 'seq:' || e.sequence_id || ':')",
    )
    sent = await _fetch(
        "SELECT s.source AS source, COUNT(*) AS n FROM marketing_send s"
        f" WHERE s.at >= ? AND s.at < ?{ws.sql} GROUP BY s.source",
        [lo, hi, *ws.params],
    )
    wt = where("t", "t.account_id")
    links = await _fetch(
        "SELECT t.source AS source, t.contact_id AS contact_id, t.room_id AS room_id,"
        " t.created_at AS created_at, SUM(t.clicks) AS clicks FROM tracked_link t"
        f" WHERE t.created_at >= ? AND t.created_at < ?{wt.sql}"
        " GROUP BY t.source, t.contact_id, t.room_id, t.created_at",
        [lo, hi, *wt.params],
    )
    stats: dict[str, dict[str, int]] = defaultdict(lambda: {"sent": 0, "clicks": 0, "clicked": 0})
    for r in sent:
        stats[str(r["source"])]["sent"] = _int(r["n"])
    for r in links:
        counts = stats[str(r["source"])]
        counts["clicks"] += _int(r["clicks"])
        counts["clicked"] += 1 if _int(r["clicks"]) > 0 else 0
    posts: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    for source in sorted(stats):
        s = stats[source]
        entry: dict[str, Any] = {
            "source": source,
            "sent": s["sent"],
            "clicks": s["clicks"],
            "clicked": s["clicked"],
            "rate": round(s["clicked"] / s["sent"], 4) if s["sent"] else 0.0,
        }
        (posts if source.startswith("post:") else steps).append(entry)
    we = _Where()
    if f.account_id is not None:
        we += _Where(" AND e.account_id = ?", (f.account_id,))
    we += _contact_where(f, self_ids, "e.contact_id")
    enrolled = await _fetch(
        "SELECT e.sequence_id AS sequence_id, COUNT(*) AS enrolled,"
        " SUM(CASE WHEN e.status = 'active' THEN 1 ELSE 0 END) AS active,"
        " SUM(CASE WHEN e.status = 'finished' THEN 1 ELSE 0 END) AS finished,"
        " SUM(CASE WHEN e.status = 'exited' THEN 1 ELSE 0 END) AS exited"
        f" FROM enrollment e WHERE e.enrolled_at >= ? AND e.enrolled_at < ?{we.sql}"
        " GROUP BY e.sequence_id ORDER BY e.sequence_id",
        [lo, hi, *we.params],
    )
    return {
        "posts": posts,
        "sequences": steps,
        "enrollments": [
            {
                "sequence_id": str(r["sequence_id"]),
                **{k: _int(r[k]) for k in ("enrolled", "active", "finished", "exited")},
            }
            for r in enrolled
        ],
    }


async def hot_topics(end: date, f: Filters) -> list[dict[str, Any]]:
    """The week's top words by TF-IDF: frequency in the week's group messages times
    jieba's inverse document frequency (its median for a word it does not know)."""
    w = _Where()
    if f.account_id is not None:
        w += _Where(" AND account_id = ?", (f.account_id,))
    if f.room_id is not None:
        w += _Where(" AND room_id = ?", (f.room_id,))
    first = end - timedelta(days=HOT_TOPIC_DAYS - 1)
    rows = await _fetch(
        "SELECT word, SUM(count) AS n FROM metric_word WHERE day BETWEEN ? AND ?"
        f"{w.sql} GROUP BY word",
        [first.toordinal(), end.toordinal(), *w.params],
    )
    total = sum(_int(r["n"]) for r in rows)
    if not total:
        return []
    idf, median = _idf()
    scored = sorted(
        (
            (_int(r["n"]) / total * idf.get(str(r["word"]), median), str(r["word"]), _int(r["n"]))
            for r in rows
        ),
        key=lambda t: (-t[0], t[1]),
    )
    return [
        {"word": word, "weight": round(weight, 6), "count": n}
        for weight, word, n in scored[:HOT_TOPICS]
    ]


# --------------------------------------------------------------------------- summaries


async def remember_bot_id(account_id: str, self_id: str, now: datetime) -> None:
    """Remember the contact id a bot account logged in as (bot/app.py, at each login):
    from then on the metrics leave it out, whether or not that account is logged in."""
    if not self_id or len(self_id) > 128:
        log.warning("metrics: bot id of account %s not remembered (empty or too long)", account_id)
        return
    await sql.execute(
        BotIdentity,
        "INSERT INTO bot_identity (self_id, account_id, first_seen_at, counted_out)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (self_id) DO NOTHING",
        [self_id, account_id[:64], now, False],
    )


async def _bots(self_ids: Collection[str]) -> tuple[frozenset[str], str]:
    """The bot ids the metrics leave out (every remembered one, and any other given), and
    the basis of the summaries: the given ids that are not remembered (none, normally:
    the basis does not change when an account logs in or out)."""
    rows = await _fetch("SELECT self_id, counted_out FROM bot_identity", [])
    known = {str(r["self_id"]) for r in rows}
    new = sorted(str(r["self_id"]) for r in rows if not r["counted_out"])
    if new:
        await _count_out(new)
    given = {i for i in self_ids if i}
    return frozenset(known | given), _basis(given - known)


async def _count_out(ids: list[str]) -> None:
    """Bot ids remembered since the last look: what was rolled up while they were not
    known is written again. The words of the days they spoke in a group are rolled again
    when read; the day summaries, if they counted one (its messages or its memberships),
    are dropped and rebuilt by the next daily job (once per new account: an account's id
    is remembered at its first login, normally before it has said anything)."""
    marks = _marks(len(ids))
    counted = await _fetch(
        f"SELECT 1 AS one FROM metric_activity WHERE contact_id IN ({marks})"
        f" UNION ALL SELECT 1 AS one FROM room_membership WHERE contact_id IN ({marks})",
        [*ids, *ids],
    )
    if counted and await MetricDay.filter(part=SUMMARY).exists():
        log.warning("metrics: day summaries dropped: they counted a bot account's own id")
        await _forget_summaries()
    await sql.execute(
        MetricDay,
        "DELETE FROM metric_day WHERE part = ? AND day IN (SELECT a.day FROM metric_activity a"
        f" WHERE a.contact_id IN ({marks}) AND a.room_id <> '' AND a.messages > 0)",
        [WORDS, *ids],
    )
    await sql.execute(
        BotIdentity,
        f"UPDATE bot_identity SET counted_out = ? WHERE self_id IN ({marks})",
        [True, *ids],
    )


def _basis(self_ids: Collection[str]) -> str:
    """What a summary was written without: the bot accounts' own ids, as a short digest."""
    if not self_ids:
        return ""
    return hashlib.sha256("\n".join(sorted(self_ids)).encode()).hexdigest()[:16]


def _scope(f: Filters) -> str | None:
    """The summary scope of a filter: "" for none, "account:ID", "room:ID" or
    "channel:CODE" for one; None for two or more (no summary: read from the activity)."""
    given = [
        (name, value)
        for name, value in (("account", f.account_id), ("room", f.room_id), ("channel", f.channel))
        if value is not None
    ]
    if not given:
        return ""
    if len(given) == 1:
        return f"{given[0][0]}:{given[0][1]}"
    return None


def _row_scopes(account: str, room: str, channel: str | None) -> list[str]:
    scopes = ["", f"account:{account}"]
    if room:
        scopes.append(f"room:{room}")
    if channel is not None:
        scopes.append(f"channel:{channel}")
    return scopes


async def _summary_span(tz: ZoneInfo, basis: str) -> tuple[date, date] | None:
    """The first and last summarised day, if the summaries are one unbroken run written in
    this timezone without these bot accounts; else None."""
    rows = await _fetch(
        "SELECT MIN(day) AS lo, MAX(day) AS hi, COUNT(*) AS n, MIN(tz) AS tz_lo,"
        " MAX(tz) AS tz_hi, MIN(basis) AS b_lo, MAX(basis) AS b_hi FROM metric_day"
        " WHERE part = ?",
        [SUMMARY],
    )
    r = rows[0]
    if not _int(r["n"]):
        return None
    lo, hi = _int(r["lo"]), _int(r["hi"])
    if (
        _int(r["n"]) != hi - lo + 1
        or {r["tz_lo"], r["tz_hi"]} != {tz.key}
        or {r["b_lo"], r["b_hi"]} != {basis}
    ):
        return None
    return date.fromordinal(lo), date.fromordinal(hi)


async def _forget_summaries() -> None:
    async with in_transaction(MetricDay._meta.default_connection):
        await sql.execute(MetricSummary, "DELETE FROM metric_summary", [])
        await sql.execute(MetricLast, "DELETE FROM metric_last", [])
        await sql.execute(MetricDay, "DELETE FROM metric_day WHERE part = ?", [SUMMARY])


def last_final_day(tz: ZoneInfo, now: datetime) -> date:
    """The last day that has ended at least SETTLE ago."""
    day = now.astimezone(tz).date() - timedelta(days=1)
    while day_bounds(day, tz)[1] + SETTLE > now:
        day -= timedelta(days=1)
    return day


async def roll_up_finished_days(
    tz: ZoneInfo, now: datetime, *, self_ids: Collection[str] = ()
) -> int:
    """Write the final rollups and day summaries of every day that is over (ended SETTLE
    ago) and not summarised yet, in day order, reaching back LOOKBACK_DAYS at most (the
    first run; summaries written in another timezone or without other bot accounts are
    dropped and written again). Returns the days summarised. Idempotent: a summarised day
    is never written again, and two runs at once cannot both write one (metric_day's
    unique day and part). Interrupted, the next run goes on where it stopped."""
    last = last_final_day(tz, now)
    self_ids, basis = await _bots(self_ids)
    await track_friends(now)
    horizon = now.astimezone(tz).date() - timedelta(days=LOOKBACK_DAYS)
    span = await _summary_span(tz, basis)
    if span is None or span[1] + timedelta(days=1) < horizon:
        if await MetricDay.filter(part=SUMMARY).exists():
            log.warning("metrics: day summaries dropped (timezone, bot accounts or a gap)")
            await _forget_summaries()
        first = horizon
        empty = await _skip_empty_days(first, last, tz, now, basis)
        first += timedelta(days=empty)
    else:
        empty = 0
        first = span[1] + timedelta(days=1)
    if first > last:
        return empty
    await roll_up(first, last, tz, now, self_ids=self_ids)
    members = await _members_by_scope(first, last, tz, self_ids)
    counts = await _last_counts(first)
    done = empty
    for day in _days(first, last):
        if not await _summarise_day(day, tz, now, basis, self_ids, counts, members):
            break  # another run is ahead
        done += 1
    if done:
        log.info("metrics: %d day(s) summarised up to %s", done, day)
    return done


async def _skip_empty_days(first: date, last: date, tz: ZoneInfo, now: datetime, basis: str) -> int:
    """A first run: mark the days before the first interaction and the first group member
    rolled up and summarised at once (nothing happened, nobody was in a group: there is
    nothing to count). Returns how many."""
    rows = await _fetch(
        "SELECT (SELECT MIN(at) FROM interaction) AS said,"
        " (SELECT MIN(joined_at) FROM room_membership) AS joined",
        [],
    )
    until = last
    for at in (rows[0]["said"], rows[0]["joined"]):
        if at is not None:
            until = min(until, local_day(at, tz) - timedelta(days=1))
    if until < first:
        return 0
    span = [first.toordinal(), until.toordinal()]
    async with in_transaction(MetricDay._meta.default_connection):
        for table in ("metric_activity", "metric_event", "metric_word", "metric_day"):
            await sql.execute(MetricDay, f"DELETE FROM {table} WHERE day BETWEEN ? AND ?", span)
        await sql.execute_many(
            MetricDay,
            "INSERT INTO metric_day (day, part, tz, basis, final, rolled_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                [day.toordinal(), part, tz.key, basis, True, now]
                for day in _days(first, until)
                for part in (ACTIVITY, WORDS, SUMMARY)
            ],
        )
    return (until - first).days + 1


async def _last_counts(first: date) -> dict[str, Counter[int]]:
    """Per scope: how many contacts were last active on each day since 31 days before
    `first` (what MAU and lapses are counted from)."""
    rows = await _fetch(
        "SELECT scope, last_day, COUNT(*) AS n FROM metric_last WHERE last_day >= ?"
        " GROUP BY scope, last_day",
        [first.toordinal() - CHURN_DAYS - 1],
    )
    counts: dict[str, Counter[int]] = defaultdict(Counter)
    for r in rows:
        counts[str(r["scope"])][_int(r["last_day"])] += _int(r["n"])
    return counts


@dataclass
class _Tally:
    """One day's activity rows of one scope."""

    active: set[str]
    joins: int = 0
    leaves: int = 0
    speakers: int = 0  # (group, member) rows of members who spoke


def _tally(rows: Iterable[dict[str, Any]], self_ids: Collection[str]) -> dict[str, _Tally]:
    """The activity rows of a day per scope (rows without a "channel" field: scope "")."""
    out: dict[str, _Tally] = {}
    for r in rows:
        contact = str(r["contact_id"])
        if contact in self_ids:
            continue
        room = str(r["room_id"] or "")
        if "channel" in r:
            channel = None if r["channel"] is None else str(r["channel"])
            scopes = _row_scopes(str(r["account_id"]), room, channel)
        else:
            scopes = [""]
        messages = _int(r["messages"])
        for scope in scopes:
            t = out.get(scope)
            if t is None:
                t = out[scope] = _Tally(set())
            if messages + _int(r["clicks"]) > 0:
                t.active.add(contact)
            t.joins += _int(r["joins"])
            t.leaves += _int(r["leaves"])
            t.speakers += _int(r["speaker"])
    return out


def _advance(
    counts: Counter[int], day: int, active: Iterable[str], last: dict[str, int]
) -> dict[str, Any]:
    """Move one scope on to `day`: its active contacts' last days become `day`. `counts`
    (contacts per last active day) and `last` (per contact; missing: none within
    MAX_DAYS) are updated. Returns dau, mau, lapsed and the gaps histogram of the day."""
    gaps: Counter[int] = Counter()
    dau = 0
    for contact in active:
        dau += 1
        before = last.get(contact)
        gaps[day - before if before is not None and day - before < MAX_DAYS else 0] += 1
        if before is not None:
            counts[before] -= 1
        counts[day] += 1
        last[contact] = day
    return {
        "dau": dau,
        "mau": sum(counts[day - k] for k in range(MAU_DAYS)),
        "lapsed": counts[day - CHURN_DAYS],
        "gaps": gaps,
    }


async def _summarise_day(
    day: date,
    tz: ZoneInfo,
    now: datetime,
    basis: str,
    self_ids: Collection[str],
    counts: dict[str, Counter[int]],
    members: dict[str, dict[date, int]],
) -> bool:
    number = day.toordinal()
    rows = await _fetch(
        "SELECT a.account_id AS account_id, a.room_id AS room_id, a.contact_id AS contact_id,"
        " a.messages AS messages, a.clicks AS clicks, a.joins AS joins, a.leaves AS leaves,"
        " a.speaker AS speaker, c.channel AS channel FROM metric_activity a"
        " LEFT JOIN contact c ON c.contact_id = a.contact_id WHERE a.day = ?",
        [number],
    )
    tallies = _tally(rows, self_ids)
    known = await _fetch(
        "SELECT l.scope AS scope, l.contact_id AS contact_id, l.last_day AS last_day"
        " FROM metric_last l WHERE l.contact_id IN (SELECT a.contact_id FROM metric_activity a"
        " WHERE a.day = ? AND a.messages + a.clicks > 0)",
        [number],
    )
    last: dict[str, dict[str, int]] = defaultdict(dict)
    for r in known:
        last[str(r["scope"])][str(r["contact_id"])] = _int(r["last_day"])
    summaries: list[list[Any]] = []
    seen: list[list[Any]] = []
    for scope in sorted(set(tallies) | set(counts) | set(members)):
        t = tallies.get(scope) or _Tally(set())
        figures = _advance(counts[scope], number, t.active, last[scope])
        seen.extend([scope, contact, number] for contact in t.active)
        row = [
            figures["dau"],
            figures["mau"],
            figures["lapsed"],
            t.joins,
            t.leaves,
            t.speakers,
            members.get(scope, {}).get(day, 0),
        ]
        if any(row):
            gaps = json.dumps({str(k): v for k, v in sorted(figures["gaps"].items())})
            summaries.append([number, scope, *row, gaps])
    try:
        async with in_transaction(MetricDay._meta.default_connection):
            # First: a second run summarising the same day stops here.
            await MetricDay.create(
                day=number, part=SUMMARY, tz=tz.key, basis=basis, final=True, rolled_at=now
            )
            if summaries:
                await sql.execute_many(
                    MetricSummary,
                    "INSERT INTO metric_summary (day, scope, dau, mau, lapsed, joins, leaves,"
                    " speakers, members, gaps) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    summaries,
                )
            if seen:
                await sql.execute_many(
                    MetricLast,
                    "INSERT INTO metric_last (scope, contact_id, last_day) VALUES (?, ?, ?)"
                    " ON CONFLICT (scope, contact_id) DO UPDATE SET last_day = CASE"
                    " WHEN excluded.last_day > metric_last.last_day THEN excluded.last_day"
                    " ELSE metric_last.last_day END",
                    seen,
                )
    except IntegrityError:
        log.info("metrics: %s was summarised by another run", day)
        return False
    return True


async def _members_by_scope(
    first: date, last: date, tz: ZoneInfo, self_ids: Collection[str]
) -> dict[str, dict[date, int]]:
    """Per scope and day: the members of its groups (as members_by_day)."""
    deltas = await _member_deltas(
        first, last, tz, _contact_where(Filters(), self_ids, "m.contact_id")
    )
    by_scope: dict[str, Counter[date]] = defaultdict(Counter)
    for (room, account, channel), changes in deltas.items():
        scopes = ["", f"room:{room}"]
        if account is not None:
            scopes.append(f"account:{account}")
        if channel is not None:
            scopes.append(f"channel:{channel}")
        for scope in scopes:
            by_scope[scope].update(changes)
    return _running(first, last, dict(by_scope))


async def _provisional(
    first: date,
    end: date,
    today: date,
    f: Filters,
    scope: str,
    tz: ZoneInfo,
    self_ids: Collection[str],
) -> dict[date, dict[str, Any]]:
    """The day figures of one scope for first..end, the days after the last summary, worked
    out as a summary would be but not stored (their activity rollup is provisional)."""
    number = first.toordinal()
    rows = await _fetch(
        "SELECT last_day, COUNT(*) AS n FROM metric_last WHERE scope = ? AND last_day >= ?"
        " GROUP BY last_day",
        [scope, number - CHURN_DAYS - 1],
    )
    counts: Counter[int] = Counter({_int(r["last_day"]): _int(r["n"]) for r in rows})
    rooms = await members_by_day(first, end, f, tz, self_ids)
    w = _activity_where(f, self_ids)
    mine: dict[str, int] = {}  # last active days within these days
    out: dict[date, dict[str, Any]] = {}
    for day in _days(first, end):
        tally = _Tally(set())
        if day <= today:
            rows = await _fetch(
                "SELECT a.account_id AS account_id, a.room_id AS room_id,"
                " a.contact_id AS contact_id, a.messages AS messages, a.clicks AS clicks,"
                f" a.joins AS joins, a.leaves AS leaves, a.speaker AS speaker"
                " FROM metric_activity a WHERE a.day = ?"
                f"{w.sql}",
                [day.toordinal(), *w.params],
            )
            tally = _tally(rows, self_ids).get("", tally)
        known = (
            await _fetch(
                "SELECT l.contact_id AS contact_id, l.last_day AS last_day FROM metric_last l"
                " WHERE l.scope = ? AND l.contact_id IN (SELECT a.contact_id FROM metric_activity a"
                f" WHERE a.day = ? AND a.messages + a.clicks > 0{w.sql})",
                [scope, day.toordinal(), *w.params],
            )
            if tally.active
            else []
        )
        last = {str(r["contact_id"]): _int(r["last_day"]) for r in known}
        last.update(mine)
        figures = _advance(counts, day.toordinal(), tally.active, last)
        mine.update({c: day.toordinal() for c in tally.active})
        out[day] = {
            **figures,
            "joins": tally.joins,
            "leaves": tally.leaves,
            "speakers": tally.speakers,
            "members": sum(days[day] for days in rooms.values()),
        }
    return out


async def _overview_summarised(
    start: date,
    end: date,
    f: Filters,
    scope: str,
    summarised: date,
    tz: ZoneInfo,
    now: datetime,
    self_ids: Collection[str],
) -> dict[str, Any]:
    today = now.astimezone(tz).date()
    days: dict[date, dict[str, Any]] = {}
    rows = await _fetch(
        "SELECT day, dau, mau, lapsed, joins, leaves, speakers, members, gaps"
        " FROM metric_summary WHERE scope = ? AND day BETWEEN ? AND ?",
        [scope, start.toordinal(), min(end, summarised).toordinal()],
    )
    for r in rows:
        day = date.fromordinal(_int(r["day"]))
        days[day] = {
            k: _int(r[k])
            for k in ("dau", "mau", "lapsed", "joins", "leaves", "speakers", "members")
        }
        days[day]["gaps"] = {int(k): v for k, v in json.loads(str(r["gaps"])).items()}
    if summarised < end:
        after = summarised + timedelta(days=1)
        if after <= today:
            await roll_up(after, min(end, today), tz, now, parts=(ACTIVITY,))
        later = await _provisional(after, end, today, f, scope, tz, self_ids)
        days.update({d: v for d, v in later.items() if d >= start})
    friends, friends_total = await new_friends(start, end, f, tz, self_ids)
    # The new friends with their steps: the channel table's cohort, and the funnel's too
    # unless a room filter makes that the group's new members.
    cohort = await _cohort_steps(start, end, Filters(f.account_id, None, f.channel), tz, self_ids)
    leavers, leavers_total = await _events_by_day("leave", start, end, f, self_ids)
    gone, gone_total = await _events_by_day(UNFRIEND, start, end, f, self_ids)
    for day in leavers.keys() | gone.keys():
        days.setdefault(day, {"lapsed": 0, "gaps": {}})  # a day with no summary row
    s = start.toordinal()
    active = 0
    lapsed_total = 0
    for day, figures in days.items():
        figures["churned"] = figures["lapsed"] + leavers.get(day, 0) + gone.get(day, 0)
        lapsed_total += figures["lapsed"]
        # A contact counts once: on her first active day of the range (no earlier active
        # day in the range: none at all, or one before the range starts).
        reach = day.toordinal() - s
        active += sum(n for gap, n in figures["gaps"].items() if gap == 0 or gap > reach)
    return await _result(
        start,
        end,
        f,
        tz,
        now,
        self_ids,
        days=days,
        friends=friends,
        totals={
            "new_friends": friends_total,
            "churned": lapsed_total + leavers_total + gone_total,
            "active": active,
        },
        funnel_of=lambda: _funnel_of(
            cohort if f.room_id is None else None, start, end, f, tz, self_ids
        ),
        channels_of=lambda: channels(start, end, f, tz, self_ids, added=_steps_by_channel(cohort)),
    )


async def _cohort_steps(
    start: date, end: date, f: Filters, tz: ZoneInfo, self_ids: Collection[str]
) -> list[dict[str, Any]]:
    """Each contact added in the range: channel, profile complete (0 or 1) and paid
    orders, counted up to two (the funnel needs no more)."""
    cohort, params = _cohort(start, end, f, tz, self_ids)
    return await _fetch(
        f"WITH cohort AS ({cohort}) SELECT c.channel AS channel, CASE WHEN p.stage IS NOT NULL"
        " OR p.due_date IS NOT NULL OR p.birth_date IS NOT NULL THEN 1 ELSE 0 END AS complete,"
        " (SELECT COUNT(*) FROM (SELECT 1 AS one FROM shop_order s WHERE s.contact_id ="
        " k.contact_id AND s.status = 'paid' LIMIT 2) AS x) AS paid"
        " FROM cohort k LEFT JOIN contact c ON c.contact_id = k.contact_id"
        " LEFT JOIN profile p ON p.contact_id = k.contact_id",
        params,
    )


def _steps(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    out = {"added": 0, "profile_complete": 0, "first_order": 0, "repeat_order": 0}
    for r in rows:
        paid = _int(r["paid"])
        out["added"] += 1
        out["profile_complete"] += _int(r["complete"])
        out["first_order"] += paid >= 1
        out["repeat_order"] += paid >= 2
    return out


async def _funnel_of(
    cohort: list[dict[str, Any]] | None,
    start: date,
    end: date,
    f: Filters,
    tz: ZoneInfo,
    self_ids: Collection[str],
) -> dict[str, int]:
    """The funnel of the new friends (`cohort`, already read) or, with a room filter, of
    the group's new members."""
    if cohort is None:
        cohort = await _cohort_steps(start, end, f, tz, self_ids)
    return _steps(cohort)


def _steps_by_channel(cohort: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for r in cohort:
        by[r["channel"]].append(r)
    return [{"channel": channel, **_steps(rows)} for channel, rows in by.items()]


async def _events_by_day(
    kind: str, start: date, end: date, f: Filters, self_ids: Collection[str]
) -> tuple[dict[date, int], int]:
    """Distinct contacts per day and over the range with an event of `kind` (join, leave,
    unfriend)."""
    w = _activity_where(f, self_ids, alias="e")
    frm = " FROM metric_event e WHERE e.kind = ? AND e.day BETWEEN ? AND ?"
    params = [kind, start.toordinal(), end.toordinal(), *w.params]
    daily = await _fetch(
        f"SELECT e.day AS day, COUNT(DISTINCT e.contact_id) AS n{frm}{w.sql} GROUP BY e.day",
        params,
    )
    total = await _fetch(f"SELECT COUNT(DISTINCT e.contact_id) AS n{frm}{w.sql}", params)
    return {date.fromordinal(_int(r["day"])): _int(r["n"]) for r in daily}, _int(total[0]["n"])


# --------------------------------------------------------------------------- overview


async def overview(
    start: date,
    end: date,
    filters: Filters,
    tz: ZoneInfo,
    now: datetime,
    *,
    self_ids: Collection[str] = (),
    summaries: bool = True,
) -> dict[str, Any]:
    """Every metric of the range, JSON-ready. `self_ids`: the bot accounts' own contact
    ids (their echoed messages are not activity). Raises ValueError for a bad range.

    Read from the day summaries when they cover the range (see the module docstring);
    otherwise, or with `summaries=False`, worked out from the activity rollup (the same
    figures, slower)."""
    _check_range(start, end)
    scope = _scope(filters)
    self_ids, basis = await _bots(self_ids)
    await track_friends(now)
    if summaries and scope is not None:
        span = await _summary_span(tz, basis)
        today = now.astimezone(tz).date()
        if (
            span is not None
            and start - timedelta(days=MAU_DAYS) >= span[0]
            and (min(end, today) - span[1]).days <= PROVISIONAL_DAYS
        ):
            return await _overview_summarised(
                start, end, filters, scope, span[1], tz, now, self_ids
            )
    return await _overview_from_activity(start, end, filters, tz, now, self_ids)


async def _overview_from_activity(
    start: date,
    end: date,
    filters: Filters,
    tz: ZoneInfo,
    now: datetime,
    self_ids: Collection[str],
) -> dict[str, Any]:
    f = filters
    await roll_up(
        start - timedelta(days=max(MAU_DAYS, CHURN_DAYS)), end, tz, now, parts=(ACTIVITY,)
    )
    activity = await activity_by_day(start, end, f, self_ids)
    mau, churned, churned_total = await mau_and_churn(start, end, f, self_ids)
    friends, friends_total = await new_friends(start, end, f, tz, self_ids)
    rooms = await members_by_day(start, end, f, tz, self_ids)
    members = {d: sum(days[d] for days in rooms.values()) for d in _days(start, end)}
    days = {
        day: {
            **activity.get(day, {}),
            "mau": mau.get(day, 0),
            "members": members[day],
            "churned": churned.get(day, 0),
        }
        for day in _days(start, end)
    }
    return await _result(
        start,
        end,
        f,
        tz,
        now,
        self_ids,
        days=days,
        friends=friends,
        totals={
            "new_friends": friends_total,
            "churned": churned_total,
            "active": await active_contacts(start, end, f, self_ids),
        },
        funnel_of=lambda: funnel(start, end, f, tz, self_ids),
        channels_of=lambda: channels(start, end, f, tz, self_ids),
    )


async def _result(
    start: date,
    end: date,
    f: Filters,
    tz: ZoneInfo,
    now: datetime,
    self_ids: Collection[str],
    *,
    days: dict[date, dict[str, int]],
    friends: dict[date, int],
    totals: dict[str, int],
    funnel_of: Callable[[], Awaitable[dict[str, int]]],
    channels_of: Callable[[], Awaitable[list[dict[str, Any]]]],
) -> dict[str, Any]:
    """The overview from the per-day figures (dau, mau, joins, leaves, speakers, members,
    churned) and the range's distinct counts, plus what both ways read alike."""
    await roll_up(
        end - timedelta(days=HOT_TOPIC_DAYS - 1), end, tz, now, parts=(WORDS,), self_ids=self_ids
    )
    kicks = await kicks_by_day(start, end, f, tz, self_ids)
    daily: list[dict[str, Any]] = []
    for day in _days(start, end):
        a = days.get(day, {})
        speakers, members = a.get("speakers", 0), a.get("members", 0)
        daily.append(
            {
                "day": day.isoformat(),
                "new_friends": friends.get(day, 0),
                "dau": a.get("dau", 0),
                "mau": a.get("mau", 0),
                "joins": a.get("joins", 0),
                "leaves": a.get("leaves", 0),
                "kicks": kicks.get(day, 0),
                "speakers": speakers,
                "members": members,
                "interaction_rate": _rate(speakers, members),
                "churned": a.get("churned", 0),
            }
        )
    speakers_sum = sum(d["speakers"] for d in daily)
    members_sum = sum(d["members"] for d in daily)
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "filters": {"account": f.account_id, "room": f.room_id, "channel": f.channel},
        "totals": {
            "new_friends": totals["new_friends"],
            "dau_avg": round(sum(d["dau"] for d in daily) / len(daily), 1),
            "mau": daily[-1]["mau"],
            "joins": sum(d["joins"] for d in daily),
            "leaves": sum(d["leaves"] for d in daily),
            "kicks": sum(d["kicks"] for d in daily),
            "interaction_rate": _rate(speakers_sum, members_sum),
            "churned": totals["churned"],
            "active": totals["active"],
        },
        "daily": daily,
        "funnel": await funnel_of(),
        "channels": await channels_of(),
        "conversion": await conversion(start, end, f, tz, self_ids),
        "hot_topics": await hot_topics(end, f),
    }


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


async def rooms_summary(
    start: date,
    end: date,
    filters: Filters,
    tz: ZoneInfo,
    now: datetime,
    *,
    self_ids: Collection[str] = (),
) -> list[dict[str, Any]]:
    """One line per group for the per-group page: topic, account, members on the last
    day, joins, leaves, kicks, messages, distinct speakers and the interaction rate of
    the range. Busiest groups (most members) first."""
    _check_range(start, end)
    f = filters
    self_ids, _ = await _bots(self_ids)
    await roll_up(start, end, tz, now, parts=(ACTIVITY,))
    rooms = await members_by_day(start, end, f, tz, self_ids)
    w = _activity_where(f, self_ids)
    acts = await _fetch(
        "SELECT a.room_id AS room_id, SUM(a.joins) AS joins, SUM(a.leaves) AS leaves,"
        " SUM(a.messages) AS messages,"
        " COUNT(DISTINCT CASE WHEN a.speaker > 0 THEN a.contact_id END) AS speakers,"
        " SUM(a.speaker) AS speaker_days"
        f" FROM metric_activity a WHERE a.room_id <> '' AND a.day BETWEEN ? AND ?{w.sql}"
        " GROUP BY a.room_id",
        [start.toordinal(), end.toordinal(), *w.params],
    )
    lo, _ = day_bounds(start, tz)
    _, hi = day_bounds(end, tz)
    wk = _room_where(f, "g.room_id") + _contact_where(f, self_ids, "g.contact_id")
    kicks = await _fetch(
        "SELECT g.room_id AS room_id, COUNT(*) AS n FROM guard_audit g WHERE g.action = 'kick'"
        f" AND g.at >= ? AND g.at < ?{wk.sql} GROUP BY g.room_id",
        [lo, hi, *wk.params],
    )
    wr = _Where()
    if f.account_id is not None:
        wr += _Where(" AND account_id = ?", (f.account_id,))
    if f.room_id is not None:
        wr += _Where(" AND room_id = ?", (f.room_id,))
    known = await _fetch(
        f"SELECT room_id, topic, account_id FROM room WHERE 1 = 1{wr.sql}", wr.params
    )
    by_act = {str(r["room_id"]): r for r in acts}
    by_kick = {str(r["room_id"]): _int(r["n"]) for r in kicks}
    info = {str(r["room_id"]): r for r in known}
    out: list[dict[str, Any]] = []
    for room in sorted(set(info) | set(by_act) | set(rooms)):
        a = by_act.get(room, {})
        days = rooms.get(room, {})
        member_days = sum(days.values())
        out.append(
            {
                "room_id": room,
                "topic": str(info[room]["topic"]) if room in info else "",
                "account_id": str(info[room]["account_id"]) if room in info else None,
                "members": days.get(end, 0),
                "joins": _int(a.get("joins")),
                "leaves": _int(a.get("leaves")),
                "kicks": by_kick.get(room, 0),
                "messages": _int(a.get("messages")),
                "speakers": _int(a.get("speakers")),
                "interaction_rate": _rate(_int(a.get("speaker_days")), member_days),
            }
        )
    out.sort(key=lambda r: (-r["members"], r["room_id"]))
    return out
