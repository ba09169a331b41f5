"""RFM: what the daily scoring reads (paid orders per contact) and writes (rfm_score rows
and the segment tags), in bulk.

The job scores every contact with orders each day, so it reads and writes with a handful
of set-wide statements instead of a query per contact: one GROUP BY over the orders, one
read of the segment tags there are, then one transaction that upserts the scores, deletes
those of contacts who no longer have orders, and changes only the tags that changed,
writing each change to the tag history as TagStore does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.transactions import in_transaction

from storage import sql
from storage.models import ContactTag, Order, RfmScore, Tag, TagEvent
from storage.tags import TagChange

RFM_SOURCE = "rfm"  # the source of segment tags in contact_tag and tag_event
_CHUNK = 500

_TOTALS_SQL = (
    "SELECT contact_id, MAX(placed_at) AS last_at, COUNT(*) AS orders, "
    "SUM(CASE WHEN currency = ? THEN amount_cents ELSE 0 END) AS cents, "
    "SUM(CASE WHEN currency = ? THEN 0 ELSE 1 END) AS other_currency FROM shop_order "
    "WHERE contact_id IS NOT NULL AND status = ? AND placed_at >= ? GROUP BY contact_id"
)
_UPSERT_SQL = (
    "INSERT INTO rfm_score (contact_id, recency_days, frequency, monetary_cents, r, f, m, "
    "segment, computed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (contact_id) DO UPDATE SET recency_days = excluded.recency_days, "
    "frequency = excluded.frequency, monetary_cents = excluded.monetary_cents, "
    "r = excluded.r, f = excluded.f, m = excluded.m, segment = excluded.segment, "
    "computed_at = excluded.computed_at"
)
_TAGS_SQL = (
    "SELECT ct.contact_id AS contact_id, ct.tag_id AS tag_id, ct.source AS source "
    "FROM contact_tag ct WHERE ct.tag_id IN ({marks})"
)
_ADD_TAG_SQL = (
    "INSERT INTO contact_tag (contact_id, tag_id, source, detail, added_at) VALUES (?, ?, ?, ?, ?)"
)
_EVENT_SQL = (
    "INSERT INTO tag_event (contact_id, tag, op, source, detail, at) VALUES (?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True, slots=True)
class PaidTotals:
    """A contact's paid orders inside the window."""

    contact_id: str
    last_at: datetime
    orders: int
    cents: int  # of the orders in the shop's currency only
    other_currency: int = 0  # orders in another currency: counted in `orders`, not `cents`


@dataclass(frozen=True, slots=True)
class Score:
    contact_id: str
    recency_days: int
    frequency: int
    monetary_cents: int
    r: int
    f: int
    m: int
    segment: str  # "" when no segment's ranges hold her scores


async def paid_totals(since: datetime, currency: str = "CNY") -> list[PaidTotals]:
    """Per contact: her last paid order, how many, and the sum of those in `currency`
    (amounts in two currencies do not add up), placed at or after `since` (orders no
    contact is known for are not counted)."""
    rows = await sql.fetch(Order, _TOTALS_SQL, [currency, currency, "paid", since])
    return [
        PaidTotals(
            str(row["contact_id"]),
            _aware(row["last_at"]),
            int(row["orders"]),
            int(row["cents"]),
            int(row["other_currency"]),
        )
        for row in rows
    ]


def _aware(value: Any) -> datetime:
    # PostgreSQL hands back a datetime; SQLite the UTC text tortoise stored.
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


async def segment_tags(prefix: str) -> dict[str, dict[str, str]]:
    """contact id -> {tag: source} of the tags she carries whose name starts with `prefix`
    (the job owns the prefix: a segment tag given by hand is among them)."""
    names = {
        int(tag_id): str(name)
        for tag_id, name in await Tag.filter(name__startswith=prefix).values_list("id", "name")
        if str(name).startswith(prefix)  # LIKE's wildcards in a prefix: checked exactly
    }
    found: dict[str, dict[str, str]] = {}
    for chunk in _chunks(sorted(names)):
        statement = _TAGS_SQL.format(marks=", ".join("?" * len(chunk)))
        for row in await sql.fetch(ContactTag, statement, list(chunk)):
            found.setdefault(str(row["contact_id"]), {})[names[int(row["tag_id"])]] = str(
                row["source"]
            )
    return found


async def save(
    scores: Sequence[Score],
    adds: Sequence[tuple[str, str, str]],
    removes: Sequence[tuple[str, str]],
    now: datetime,
) -> list[TagChange]:
    """In one transaction: upsert `scores`, delete every other contact's score, remove the
    segment tags `removes` names (contact, tag; whoever gave them), add those `adds` names
    (contact, tag, detail), and record each change in the tag history (source rfm: the
    job made it). Returns the changes, removals first."""
    tag_ids = {name: await _tag_id(name, now) for name in {t for _c, t, _d in adds}}
    changes = [TagChange(c, t, "remove", RFM_SOURCE, "", now) for c, t in removes]
    changes += [TagChange(c, t, "add", RFM_SOURCE, d, now) for c, t, d in adds]
    async with in_transaction(RfmScore._meta.default_connection):
        keep = {s.contact_id for s in scores}
        stale = [c for c in await RfmScore.all().values_list("contact_id", flat=True)]
        for chunk in _chunks([str(c) for c in stale if c not in keep]):
            await RfmScore.filter(contact_id__in=chunk).delete()
        if scores:
            await sql.execute_many(
                RfmScore,
                _UPSERT_SQL,
                [[*_score_values(s), now] for s in scores],
            )
        by_tag: dict[str, list[str]] = {}
        for contact_id, tag in removes:
            by_tag.setdefault(tag, []).append(contact_id)
        for tag, contacts in by_tag.items():
            for chunk in _chunks(contacts):
                await ContactTag.filter(tag__name=tag, contact_id__in=chunk).delete()
        if adds:
            await sql.execute_many(
                ContactTag,
                _ADD_TAG_SQL,
                [[c, tag_ids[t], RFM_SOURCE, d, now] for c, t, d in adds],
            )
        if changes:
            await sql.execute_many(
                TagEvent,
                _EVENT_SQL,
                [[c.contact_id, c.tag, c.op, c.source, c.detail, c.at] for c in changes],
            )
    return changes


def _score_values(s: Score) -> list[Any]:
    return [s.contact_id, s.recency_days, s.frequency, s.monetary_cents, s.r, s.f, s.m, s.segment]


async def _tag_id(name: str, now: datetime) -> int:
    tag, _ = await Tag.get_or_create(name=name, defaults={"created_at": now})
    return int(tag.id)


def _chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]
