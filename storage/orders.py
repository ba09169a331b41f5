"""Orders from the shop, ERP or CRM, keyed by their own order id, and who placed them.

An order is written by `upsert`: a new order id is created, a known one updated in place
(or left alone when every field is equal), so importing the same export twice, or the same
order by CSV and by the API, never counts it twice. One batch is one transaction.

An order names the mother by the ids the other system knows her by. She is matched, in
this order, by: the bot's own contact id (when the sender knows it and we do too); her
WeCom external_userid (`Contact.external_id`, or the contact id itself: on WeCom they are
the same); her WeChat unionid; her phone number (digits only, without +86). An id that
two contacts share matches neither. An order nobody matches keeps its ids, and `rematch`
links it once a contact with one of them is known. An order sent again with other ids,
that match nobody, is no longer known to be hers: its link goes. A contact id the sender
knows and we do not (yet) is kept as the order's external id (on WeCom they are the same),
so `rematch` links her once she is known. The bare row `forget` keeps of a mother who said
退订 (storage/people.py `is_suppression_entry`) matches nothing.

`source` says how the order first came (csv | api). `announced` is false while the
order has never been a paid order of a known contact: its becoming one is the order
trigger's news, and the write that sets `announced`, and only it, tells (never again after
a refund and a new payment, nor by a second writer). `forgotten` marks an order whose
mother was forgotten: its ids stay cleared and it is never linked again, whatever a
re-import says. (Until migration 0008 both marks rode on `source`.)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from storage import sql
from storage.models import Contact, Order
from storage.people import suppression_entries

log = logging.getLogger(__name__)

_CHUNK = 500  # ids per IN (...): well inside every SQLite's variable limit
_PAGE = 1000  # unmatched orders read at a time by `rematch`

# The fields an order carries; `upsert` calls it unchanged when all of them are equal.
ORDER_FIELDS = (
    "contact_id",
    "external_id",
    "unionid",
    "phone",
    "amount_cents",
    "currency",
    "status",
    "product",
    "channel",
    "account_id",
    "placed_at",
)
STATUSES = ("paid", "refunded", "cancelled")
SOURCES = ("csv", "api")
RETRIES = 5  # runs of a batch that a concurrent writer got in the way of
_ID_FIELDS = ("external_id", "unionid", "phone")  # what names her (contact_id is the link)


def normalize_phone(raw: str | None) -> str | None:
    """Digits only, without the +86 / 0086 / 86 country prefix of a mainland mobile
    number; None when no digit is left."""
    if raw is None:
        return None
    digits = re.sub(r"\D", "", raw)
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix) :]
            break
    return digits or None


@dataclass(frozen=True, slots=True)
class OrderInput:
    """A checked order, ready to store (flows/orders.py reads it from a CSV row or JSON)."""

    order_id: str
    amount_cents: int
    placed_at: datetime  # timezone-aware
    status: str = "paid"
    currency: str = "CNY"
    contact_id: str | None = None  # the bot's own id for her, when the sender knows it
    external_id: str | None = None
    unionid: str | None = None
    phone: str | None = None  # normalize_phone'd
    product: str = ""
    channel: str | None = None
    account_id: str | None = None

    @property
    def ids(self) -> tuple[str | None, str | None, str | None, str | None]:
        return self.contact_id, self.external_id, self.unionid, self.phone


@dataclass(frozen=True, slots=True)
class PaidOrder:
    """A paid order that has just become hers: stored new, or linked to her later."""

    order_id: str
    contact_id: str
    product: str
    amount_cents: int
    placed_at: datetime
    channel: str | None
    account_id: str | None


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    unmatched: int = 0  # of the orders written, those no contact is known for
    # Orders that became "paid, and hers" for the first time in this write (the order
    # trigger's news): each order is in one such list once, whoever writes it.
    became_paid: list[PaidOrder] = field(default_factory=list)


async def upsert(orders: Sequence[OrderInput], source: str, now: datetime) -> UpsertResult:
    """Create or update the orders, keyed by order id, in one transaction. An order id
    given twice in the batch: the later one wins (and counts as an update of the first).

    Rows are written in order id order, so two writers of overlapping batches (an import
    and the API) lock them in the same order; a deadlock or a serialization failure the
    database reports anyway, or an order id another writer created in between, runs the
    batch again (RETRIES times)."""
    for attempt in range(1, RETRIES + 1):
        try:
            async with in_transaction(Order._meta.default_connection):
                return await _upsert(orders, source, now)
        except Exception as exc:
            if attempt == RETRIES or not _retryable(exc):
                raise
            log.info("orders: a concurrent write got in the way (%s); trying again", exc)
    raise AssertionError("unreachable")


def _retryable(exc: BaseException) -> bool:
    """A unique order id created by another writer, a deadlock (40P01) or a serialization
    failure (40001): running the batch again succeeds."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, IntegrityError):
            return True
        if getattr(seen, "sqlstate", None) in ("40P01", "40001"):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def _upsert(orders: Sequence[OrderInput], source: str, now: datetime) -> UpsertResult:
    result = UpsertResult()
    wanted = sorted({o.order_id for o in orders})
    stored: dict[str, Order] = {}
    for chunk in _chunks(wanted):
        for found in await Order.filter(order_id__in=chunk):
            stored[found.order_id] = found
    matched = await resolve([o.ids for o in orders])
    # What each stored order was before this write: only a change into "paid, and hers"
    # is news, and only the first (`announced` says whether it has been).
    was_hers = {order_id: _paid_hers(found) for order_id, found in stored.items()}
    fresh: dict[str, Order] = {}
    changed: dict[str, Order] = {}
    for order, contact_id in zip(orders, matched, strict=True):
        row: Order | None = fresh.get(order.order_id) or changed.get(order.order_id)
        row = row or stored.get(order.order_id)
        values = _values(order, contact_id, row)
        if values["contact_id"] is None:
            result.unmatched += 1
        if row is None:
            row = Order(order_id=order.order_id, source=source, created_at=now, updated_at=now)
            _assign(row, values)
            fresh[order.order_id] = row
            result.created += 1
        elif all(_same(getattr(row, k), v) for k, v in values.items()):
            result.unchanged += 1
        else:
            _assign(row, values)
            row.updated_at = now
            if order.order_id not in fresh:
                changed[order.order_id] = row
            result.updated += 1
    news: list[Order] = []
    if fresh:
        rows = [fresh[k] for k in sorted(fresh)]
        for row in rows:
            if _paid_hers(row):
                row.announced = True
                news.append(row)  # created by this write: nobody else told of it
        await Order.bulk_create(rows, batch_size=_CHUNK)
    if changed:
        rows = [changed[k] for k in sorted(changed)]
        await sql.execute_many(
            Order,
            _UPDATE_SQL,
            [[*(getattr(r, k) for k in ORDER_FIELDS), r.updated_at, r.order_id] for r in rows],
        )
        candidates = [
            r.order_id for r in rows if _paid_hers(r) and not was_hers.get(r.order_id, False)
        ]
        news.extend(await _claim(candidates, "order_id"))
    result.became_paid = [_paid(row) for row in news]
    return result


_UPDATE_SQL = (
    "UPDATE shop_order SET "
    + ", ".join(f"{k} = ?" for k in ORDER_FIELDS)
    + ", updated_at = ? WHERE order_id = ?"
)
# Announce the given orders that are now paid orders of a known contact and were never
# announced: the rows this statement changes are this caller's news, and nobody else's.
_CLAIM_SQL = (
    "UPDATE shop_order SET announced = TRUE WHERE {key} IN ({marks}) AND status = 'paid'"
    " AND contact_id IS NOT NULL AND announced = FALSE RETURNING id"
)


async def _claim(keys: Sequence[Any], key: str) -> list[Order]:
    """The orders among `keys` (by `key`: id or order_id) that this call announces."""
    ids: list[int] = []
    for chunk in _chunks(sorted(keys)):
        statement = _CLAIM_SQL.format(key=key, marks=", ".join("?" * len(chunk)))
        ids.extend(int(row["id"]) for row in await sql.fetch(Order, statement, list(chunk)))
    found: list[Order] = []
    for chunk in _chunks(sorted(ids)):
        found.extend(await Order.filter(id__in=chunk).order_by("order_id"))
    return found


def _values(order: OrderInput, contact_id: str | None, row: Order | None) -> dict[str, Any]:
    values = {k: getattr(order, k) for k in ORDER_FIELDS}
    if values["external_id"] is None and order.contact_id and contact_id != order.contact_id:
        # The sender's id for her, that nobody here has yet: kept where `rematch` looks
        # (on WeCom her contact id is her external id), so she is linked once known.
        values["external_id"] = order.contact_id
    values["contact_id"] = contact_id
    if row is None:
        return values
    if row.forgotten:
        # Forgotten: the revenue stays, and nothing ever names her again.
        values.update(contact_id=None, external_id=None, unionid=None, phone=None)
    elif contact_id is None and all(_same(getattr(row, k), values[k]) for k in _ID_FIELDS):
        # The same ids as before, that nobody matches now: a link found earlier (rematch,
        # or a contact whose card has since changed) stays. Other ids: no longer hers.
        values["contact_id"] = row.contact_id
    return values


def _assign(row: Order, values: dict[str, Any]) -> None:
    for key, value in values.items():
        setattr(row, key, value)


def _same(old: Any, new: Any) -> bool:
    return bool(old == new)  # aware datetimes compare as instants, whatever their offset


def _paid_hers(row: Order) -> bool:
    return row.status == "paid" and row.contact_id is not None


def _paid(row: Order) -> PaidOrder:
    assert row.contact_id is not None
    return PaidOrder(
        row.order_id,
        row.contact_id,
        row.product,
        row.amount_cents,
        row.placed_at,
        row.channel,
        row.account_id,
    )


# ------------------------------------------------------------------ who placed it


async def resolve(
    keys: Sequence[tuple[str | None, str | None, str | None, str | None]],
) -> list[str | None]:
    """The contact each (contact_id, external_id, unionid, phone) names, or None: the
    first of them, in that order, that names exactly one known contact."""
    given = {k[0] for k in keys if k[0]} | {k[1] for k in keys if k[1]}
    known: set[str] = set()
    for chunk in _chunks(sorted(given)):
        # The bare row of a forgotten mother who said 退订 names nobody.
        query = Contact.filter(contact_id__in=chunk).exclude(suppression_entries())
        known.update(str(c) for c in await query.values_list("contact_id", flat=True))
    by_external = await _unique_owner("external_id", {k[1] for k in keys if k[1]})
    by_unionid = await _unique_owner("unionid", {k[2] for k in keys if k[2]})
    by_phone = await _unique_owner("phone", {k[3] for k in keys if k[3]})
    found: list[str | None] = []
    for contact_id, external_id, unionid, phone in keys:
        candidates = (
            contact_id if contact_id in known else None,
            by_external.get(external_id) if external_id else None,
            external_id if external_id in known else None,
            by_unionid.get(unionid) if unionid else None,
            by_phone.get(phone) if phone else None,
        )
        found.append(next((c for c in candidates if c), None))
    return found


async def _unique_owner(column: str, values: set[str]) -> dict[str, str]:
    """value -> the one contact whose `column` holds it (values two contacts hold: left out)."""
    owners: dict[str, set[str]] = {}
    for chunk in _chunks(sorted(values)):
        rows = await Contact.filter(**{f"{column}__in": chunk}).values_list(column, "contact_id")
        for value, contact_id in rows:
            owners.setdefault(str(value), set()).add(str(contact_id))
    return {value: next(iter(ids)) for value, ids in owners.items() if len(ids) == 1}


async def rematch() -> list[PaidOrder]:
    """Link the orders no contact was known for to the contact their ids now name (she
    added the bot after she ordered, or her ids became known). Returns the paid ones that
    this call made hers for the first time (an import that linked one meanwhile told of
    it itself)."""
    linked: list[PaidOrder] = []
    last = 0
    while True:
        rows = (
            await Order.filter(id__gt=last, contact_id__isnull=True)
            .exclude(forgotten=True)
            .order_by("id")
            .limit(_PAGE)
            .values_list("id", "external_id", "unionid", "phone")
        )
        if not rows:
            return linked
        last = rows[-1][0]
        matched = await resolve([(None, ext, uni, phone) for _id, ext, uni, phone in rows])
        by_contact: dict[str, list[int]] = {}
        for (row_id, *_ids), contact_id in zip(rows, matched, strict=True):
            if contact_id is not None:
                by_contact.setdefault(contact_id, []).append(row_id)
        if not by_contact:
            continue
        async with in_transaction(Order._meta.default_connection):
            for contact_id in sorted(by_contact):
                for chunk in _chunks(by_contact[contact_id]):
                    # Still unmatched: an import may have linked one in the meantime.
                    await Order.filter(id__in=chunk, contact_id__isnull=True).update(
                        contact_id=contact_id
                    )
            claimed = await _claim([i for ids in by_contact.values() for i in ids], "id")
        linked.extend(_paid(row) for row in claimed)


# ------------------------------------------------------------------ reading


async def orders_of(contact_id: str) -> list[dict[str, Any]]:
    """Her orders, newest first, JSON-ready (placed_at as ISO 8601)."""
    rows = await Order.filter(contact_id=contact_id).order_by("-placed_at", "-id")
    return [
        {
            "order_id": o.order_id,
            "amount_cents": o.amount_cents,
            "currency": o.currency,
            "status": o.status,
            "product": o.product,
            "channel": o.channel,
            "placed_at": o.placed_at.isoformat(),
        }
        for o in rows
    ]


async def get(order_id: str) -> dict[str, Any] | None:
    """One order by its id (every field, its source and whether it is forgotten), or None."""
    row = await Order.get_or_none(order_id=order_id)
    if row is None:
        return None
    found = {k: getattr(row, k) for k in ("order_id", *ORDER_FIELDS)}
    found["source"], found["forgotten"] = row.source, row.forgotten
    return found


def _chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]
