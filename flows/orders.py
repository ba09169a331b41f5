"""Orders: `mamabot import-orders FILE.csv`, the order service behind POST /api/orders, and
the daily RFM job (flows/rfm.py).

An order comes as a record: the JSON of the API, or a CSV row mapped to the same fields by
config.toml [orders] columns. `OrderService.ingest` checks each record (a bad one is
reported with what is wrong and the rest are stored), stores them by order id (importing
again updates, never doubles; storage/orders.py), and fires the `order` trigger for each
paid order that has just become a known mother's: once, never again on a re-import.

Only recent orders fire it (placed within [orders] trigger_within_days): the first import
of a shop's history must not start a "thank you for your order" sequence for last year's orders. The
same holds for an order the daily job links to her later (she added the bot after she
ordered): it fires if it is recent, so a sequence on orders still reaches her.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import logging
import re
import sys
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from bot.features import Feature, Platform
from bot.text import storable
from bot.triggers import Trigger, Triggers
from flows.rfm import RFM_DAILY, RfmDaily
from storage import orders as store
from storage.orders import OrderInput, PaidOrder

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import AppConfig, OrdersSection
    from storage.db import Database
    from storage.kv import KV

log = logging.getLogger(__name__)

BATCH = 1000  # records per transaction
SOURCES = store.SOURCES
MAX_CENTS = 10**15  # ten trillion yuan: more is a wrong column, not an order
_LIMITS = {"order_id": 128, "contact_id": 128, "external_id": 128, "unionid": 128}
_SHORT = {"channel": 64, "account_id": 64}
_NUMBER = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)$")
_THOUSANDS = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")
# What Excel shows a long number as (an order id, a phone) unless the column is text:
# the digits are gone, so the value names nothing.
_SCIENTIFIC = re.compile(r"^\d(\.\d+)?[eE]\+\d+$")  # as Excel shows it: 1.23457E+17
FUTURE_SLACK = timedelta(days=1)  # clocks and time zones differ; more ahead is a wrong date
_LOCAL_TIME = re.compile(
    r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"
    r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?$"
)
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class OrderError(ValueError):
    """A record that cannot be stored: which field, and what is wrong with it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


# ------------------------------------------------------------------ reading a record


def parse_amount(value: Any) -> int:
    """Yuan (a number, or text such as "¥1,288.50" or "99元") to cents, exactly."""
    if isinstance(value, bool) or value is None:
        raise OrderError("amount", "missing" if value is None else "is not a number")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise OrderError("amount", "is not a number")
        amount = Decimal(repr(value))
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        if not text:
            raise OrderError("amount", "missing")
        cleaned = re.sub(r"^(¥|RMB|CNY)|元$", "", text.upper()).strip().replace(" ", "")
        if "," in cleaned:
            # Only as a thousands separator: "1,5" is a decimal comma, "12,50" a typo.
            if not _THOUSANDS.match(cleaned):
                raise OrderError(
                    "amount",
                    f"{_quoted(value)} is not an amount in yuan (a comma only separates "
                    "thousands, as in 1,288.50)",
                )
            cleaned = cleaned.replace(",", "")
        if not _NUMBER.match(cleaned):
            raise OrderError("amount", f"{_quoted(value)} is not an amount in yuan")
        try:
            amount = Decimal(cleaned)
        except InvalidOperation as exc:  # pragma: no cover - the pattern admits only numbers
            raise OrderError("amount", f"{_quoted(value)} is not an amount in yuan") from exc
    else:
        raise OrderError("amount", "is not a number")
    if not amount.is_finite():
        raise OrderError("amount", "is not a number")
    if amount < 0:
        raise OrderError("amount", f"{_quoted(value)} is negative")
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise OrderError("amount", f"{_quoted(value)} has more than two decimals")
    if cents > MAX_CENTS:
        raise OrderError("amount", f"{_quoted(value)} is too large")
    return int(cents)


def parse_placed_at(value: Any, tz: tzinfo) -> datetime:
    """ISO 8601, or "YYYY-MM-DD HH:MM[:SS]" / "YYYY/MM/DD ..." (a date alone is midnight);
    a time without an offset is in the bot's timezone."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str) and value.strip():
        parsed = _parse_time_text(unicodedata.normalize("NFKC", value).strip())
    elif value is None or value == "":
        raise OrderError("placed_at", "missing")
    else:
        raise OrderError("placed_at", "is not a date and time")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    if not 1970 <= parsed.year <= 2200:
        raise OrderError("placed_at", f"{_quoted(str(value))} is not a plausible order time")
    return parsed


def _parse_time_text(text: str) -> datetime:
    bad = OrderError(
        "placed_at",
        f"{_quoted(text)} is not a date and time (YYYY-MM-DD HH:MM[:SS] or ISO 8601)",
    )
    found = _LOCAL_TIME.match(text)
    try:
        if found:
            year, month, day, hour, minute, second, fraction = found.groups()
            return datetime(
                int(year),
                int(month),
                int(day),
                int(hour or 0),
                int(minute or 0),
                int(second or 0),
                int((fraction or "0").ljust(6, "0")),
            )
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise bad from exc


class OrderReader:
    """Checks a record (a JSON order, or a mapped CSV row) into an OrderInput."""

    def __init__(self, config: OrdersSection, tz: tzinfo) -> None:
        self.tz = tz
        words: dict[str, str] = {status: status for status in store.STATUSES}
        words["canceled"] = "cancelled"
        for status, listed in (
            ("paid", config.paid_statuses),
            ("refunded", config.refunded_statuses),
            ("cancelled", config.cancelled_statuses),
        ):
            for word in listed:
                words[_word(word)] = status
        self.statuses = words

    def read(self, record: Any, now: datetime) -> OrderInput:
        """The order `record` names; `now` bounds its time (a day ahead at most)."""
        if not isinstance(record, Mapping):
            raise OrderError("order", "is not an object")
        order_id = self._text(record, "order_id", _LIMITS["order_id"])
        if not order_id:
            raise OrderError("order_id", "missing")
        _not_scientific("order_id", order_id)
        placed_at = parse_placed_at(record.get("placed_at"), self.tz)
        if placed_at > now + FUTURE_SLACK:
            raise OrderError("placed_at", f"{_quoted(record.get('placed_at'))} is in the future")
        return OrderInput(
            order_id=order_id,
            amount_cents=parse_amount(_blank_as_none(record.get("amount"))),
            placed_at=placed_at,
            status=self._status(record.get("status")),
            currency=self._currency(record.get("currency")),
            contact_id=self._text(record, "contact_id", _LIMITS["contact_id"]),
            external_id=self._text(record, "external_id", _LIMITS["external_id"]),
            unionid=self._text(record, "unionid", _LIMITS["unionid"]),
            phone=self._phone(record.get("phone")),
            product=(self._text(record, "product") or "")[:255],
            channel=self._text(record, "channel", _SHORT["channel"]),
            account_id=self._text(record, "account_id", _SHORT["account_id"]),
        )

    @staticmethod
    def _text(record: Mapping[str, Any], name: str, limit: int | None = None) -> str | None:
        value = record.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise OrderError(name, "is not text")
        text = storable(str(value)).strip()
        if limit is not None and len(text) > limit:
            raise OrderError(name, f"is longer than {limit} characters")
        return text or None

    def _status(self, value: Any) -> str:
        if value is None or (isinstance(value, str) and not value.strip()):
            return "paid"
        if not isinstance(value, str):
            raise OrderError("status", "is not text")
        status = self.statuses.get(_word(value))
        if status is None:
            raise OrderError(
                "status",
                f"{_quoted(value)} is not a known status (paid, refunded, cancelled, "
                "or a word listed in [orders])",
            )
        return status

    @staticmethod
    def _currency(value: Any) -> str:
        if value is None or (isinstance(value, str) and not value.strip()):
            return "CNY"
        text = str(value).strip().upper()
        if not _CURRENCY.match(text):
            raise OrderError("currency", f"{_quoted(str(value))} is not a currency code (CNY)")
        return text

    @staticmethod
    def _phone(value: Any) -> str | None:
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise OrderError("phone", "is not text")
        _not_scientific("phone", str(value).strip())
        phone = store.normalize_phone(str(value))
        if phone is not None and len(phone) > 20:
            raise OrderError("phone", "has more than 20 digits")
        return phone


def _not_scientific(name: str, text: str) -> None:
    if _SCIENTIFIC.match(unicodedata.normalize("NFKC", text)):
        raise OrderError(
            name,
            f"{_quoted(text)} is in scientific notation (Excel shortened the number and its "
            "last digits are lost): format the column as text and export again",
        )


def _word(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().casefold()


def _blank_as_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _quoted(value: Any) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:40] + "…")


# ------------------------------------------------------------------ the service


@dataclass(frozen=True, slots=True)
class RecordError:
    index: int  # the record's place in what was sent, from 0
    order_id: str | None
    error: str


@dataclass
class IngestReport:
    received: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    unmatched: int = 0
    errors: list[RecordError] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "unmatched": self.unmatched,
            "errors": [
                {"index": e.index, "order_id": e.order_id, "error": e.error} for e in self.errors
            ],
        }


class OrderService:
    """Stores orders and tells automation about new paid ones."""

    def __init__(self, config: OrdersSection, clock: Clock, triggers: Triggers) -> None:
        self.clock = clock
        self.triggers = triggers
        self.reader = OrderReader(config, clock.tz)
        # An older order is history: it fires no trigger.
        self.trigger_within = timedelta(days=config.trigger_within_days)

    async def ingest(self, records: Sequence[Mapping[str, Any]], source: str) -> IngestReport:
        """Check and store `records` (JSON orders, see the module docstring), BATCH at a
        time; a bad record is reported by its index and the rest are stored."""
        if source not in SOURCES:
            raise ValueError(f"unknown order source {source!r}")
        report = IngestReport(received=len(records))
        now = self.clock.now()
        for start in range(0, len(records), BATCH):
            good: list[OrderInput] = []
            for index in range(start, min(start + BATCH, len(records))):
                record = records[index]
                try:
                    good.append(self.reader.read(record, now))
                except OrderError as exc:
                    report.errors.append(RecordError(index, _order_id_of(record), str(exc)))
            if not good:
                continue
            result = await store.upsert(good, source, self.clock.now())
            report.created += result.created
            report.updated += result.updated
            report.unchanged += result.unchanged
            report.unmatched += result.unmatched
            await self.announce(result.became_paid)
        return report

    async def announce(self, paid: Sequence[PaidOrder]) -> int:
        """Fire the `order` trigger for each recent one; returns how many fired."""
        now = self.clock.now()
        fired = 0
        for order in paid:
            if order.placed_at < now - self.trigger_within:
                continue
            heard = await self.triggers.fire(
                Trigger(
                    "order",
                    order.contact_id,
                    order.product,
                    order.placed_at,
                    order.account_id,
                    {
                        "order_id": order.order_id,
                        "amount_cents": str(order.amount_cents),
                        "channel": order.channel or "",
                    },
                )
            )
            if not heard:
                log.warning("order trigger: a subscriber failed (see above); not retried")
            fired += 1
        return fired


def _order_id_of(record: Any) -> str | None:
    if isinstance(record, Mapping):
        value = record.get("order_id")
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
    return None


def feature(p: Platform) -> Feature:
    s = p.services
    assert s.work is not None
    service = OrderService(s.config.orders, s.clock, s.triggers)
    daily = RfmDaily(s.config.rfm, s.tags, s.clock, s.work, service.announce)
    return Feature(
        name="orders",
        work={RFM_DAILY: daily.run_work},
        start=daily.plan,
        exports={"service": service, "rfm": daily},
    )


# ------------------------------------------------------------------ mamabot import-orders


class CsvUnreadable(Exception):
    """Nothing of the file can be read: the message says why."""


MAX_UNDECODED = 100  # lines not in the configured encoding before the import stops


@dataclass(frozen=True, slots=True)
class CsvRow:
    line: int  # where the row starts in the file (the header is line 1)
    record: dict[str, str]
    problem: str = ""  # set when the row cannot be read at all
    last: bool = False  # the file cannot be read on from here (`problem` says why)


class OrderCsv:
    """Streams a CSV export as records, by config.toml [orders] columns."""

    def __init__(self, raw: IO[bytes], config: OrdersSection, name: str) -> None:
        self.config = config
        self.name = name
        self.bytes_read = 0
        self._bad_lines: set[int] = set()
        self._lines = self._decoded(raw)
        self._reader = csv.reader(self._lines, delimiter=config.delimiter)
        try:
            header = next(self._reader)
        except StopIteration:
            raise CsvUnreadable(f"{name} is empty") from None
        except csv.Error as exc:
            raise CsvUnreadable(f"{name}: the header is not CSV: {exc}") from None
        if 1 in self._bad_lines:
            raise CsvUnreadable(
                f'{name} is not {config.encoding} text (set [orders] encoding, e.g. "gbk")'
            )
        found = [h.strip().lstrip("\ufeff").strip() for h in header]
        self.header = found
        self.fields: dict[str, int] = {}
        self.missing: list[tuple[str, str]] = []
        for field_name, column in config.columns.items():
            if not column:
                continue
            if column.strip() in found:
                self.fields[field_name] = found.index(column.strip())
            else:
                self.missing.append((field_name, column))
        required = [(f, c) for f, c in self.missing if f in ("order_id", "amount", "placed_at")]
        if required:
            looked = ", ".join(f"{c!r} ({f})" for f, c in required)
            raise CsvUnreadable(
                f"{name} has no column {looked}; its columns are: "
                + ", ".join(repr(h) for h in found)
                + " (map them in config.toml [orders] columns)"
            )

    def _decoded(self, raw: IO[bytes]) -> Iterator[str]:
        for number, line in enumerate(raw, start=1):
            self.bytes_read += len(line)
            try:
                yield line.decode(self.config.encoding)
            except UnicodeDecodeError:
                self._bad_lines.add(number)
                yield line.decode(self.config.encoding, errors="replace")

    def _swallows_rows(self, cells: list[str]) -> bool:
        """Whether a cell over several lines holds a line with a row's worth of delimiters:
        a quote that was never closed took the rows after it in."""
        enough = len(self.header) - 1
        return enough > 0 and any(
            line.count(self.config.delimiter) >= enough
            for cell in cells
            if "\n" in cell
            for line in cell.split("\n")[1:]
        )

    def rows(self) -> Iterator[CsvRow]:
        while True:
            start = self._reader.line_num + 1
            try:
                cells = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield CsvRow(start, {}, f"not CSV: {exc}")
                continue
            if not any(c.strip() for c in cells):
                continue  # a blank line
            end = self._reader.line_num
            if any(n in self._bad_lines for n in range(start, end + 1)):
                if len(self._bad_lines) >= MAX_UNDECODED:
                    yield CsvRow(
                        start,
                        {},
                        f"stopped: {len(self._bad_lines)} lines are not {self.config.encoding} "
                        'text (set [orders] encoding, e.g. "gbk")',
                        last=True,
                    )
                    return
                problem = f"not {self.config.encoding} text (set [orders] encoding)"
                yield CsvRow(start, {}, problem)
                continue
            if end > start and self._swallows_rows(cells):
                problem = (
                    f"a quote opened here runs to line {end}, over lines that look like rows "
                    "(a stray quote?)"
                )
                yield CsvRow(start, {}, problem)
                continue
            if len(cells) != len(self.header):
                # A stray quote swallows the lines after it; a shifted column misplaces
                # every cell: either way no cell can be trusted.
                spans = f" (lines {start}-{end}: an unclosed quote?)" if end > start else ""
                problem = f"{len(cells)} cells where the header has {len(self.header)}{spans}"
                yield CsvRow(start, {}, problem)
                continue
            record = {
                name: cells[index].strip()
                for name, index in self.fields.items()
                if index < len(cells) and cells[index].strip()
            }
            yield CsvRow(start, record)


@dataclass
class ImportTotals:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    unmatched: int = 0
    bad: int = 0

    def line(self, name: str) -> str:
        return (
            f"imported {name}: {self.rows} rows, {self.created} created, "
            f"{self.updated} updated, {self.unchanged} unchanged, "
            f"{self.unmatched} unmatched, {self.bad} bad"
        )


class OfflineApp(Protocol):
    """What the import needs of the app the command line builds (bot/cli.py: offline, as
    `mamabot forget`: no WeChat connection, but every feature is built, so the order
    trigger reaches the nurture sequences that start from orders)."""

    config: AppConfig
    db: Database
    kv: KV
    features: list[Feature]


def cli_import(args: argparse.Namespace, build: Callable[[], OfflineApp]) -> int:
    """`mamabot import-orders FILE`: 0 when every row imported, 2 when some were bad (each
    is on stderr as `line N: reason`), 1 when nothing could be read, or the import stopped
    (the database failed, or too many lines were not in [orders] encoding)."""
    from bot.config import ConfigError

    try:
        app = build()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    app.db.auto_migrate = app.db.is_sqlite  # as `run`: PostgreSQL is migrated on purpose
    try:
        raw = open(args.file, "rb")  # noqa: SIM115 - closed below, read as a stream
    except OSError as exc:
        print(f"mamabot import-orders: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    with raw:
        try:
            table = OrderCsv(raw, app.config.orders, args.file)
        except CsvUnreadable as exc:
            print(f"mamabot import-orders: {exc}", file=sys.stderr)
            return 1
        for field_name, column in table.missing:
            print(
                f"mamabot import-orders: {args.file} has no column {column!r} "
                f"({field_name}): not read",
                file=sys.stderr,
            )
        size = Path(args.file).stat().st_size
        return asyncio.run(_import(app, table, args.file, size))


async def _import(app: OfflineApp, table: OrderCsv, name: str, size: int) -> int:
    from tqdm import tqdm

    from storage.db import DatabaseBehind, describe_url

    try:
        await app.db.open()
    except DatabaseBehind as exc:
        print(f"mamabot import-orders: {exc}; nothing was imported", file=sys.stderr)
        return 1
    except Exception as exc:
        print(
            f"mamabot import-orders: the database is unreachable ({describe_url(app.db.url)}): "
            f"{type(exc).__name__}: {exc}; nothing was imported",
            file=sys.stderr,
        )
        return 1
    service: OrderService = next(f for f in app.features if f.name == "orders").exports["service"]
    totals = ImportTotals()
    bar = tqdm(
        total=size,
        unit="B",
        unit_scale=True,
        desc=Path(name).name,
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
    )

    def bad(line: int, reason: str) -> None:
        totals.bad += 1
        tqdm.write(f"line {line}: {reason}", file=sys.stderr)

    async def flush(batch: list[CsvRow]) -> None:
        report = await service.ingest([row.record for row in batch], "csv")
        totals.created += report.created
        totals.updated += report.updated
        totals.unchanged += report.unchanged
        totals.unmatched += report.unmatched
        for error in report.errors:
            bad(batch[error.index].line, _csv_reason(error.error, table))
        bar.update(table.bytes_read - bar.n)

    first_line: dict[str, int] = {}  # order id -> the line it was first on
    stopped = ""
    try:
        batch: list[CsvRow] = []
        for row in table.rows():
            if row.last:
                stopped = f"line {row.line}: {row.problem}"
                break
            totals.rows += 1
            if row.problem:
                bad(row.line, row.problem)
                continue
            order_id = row.record.get("order_id")
            if order_id is not None:
                if order_id in first_line:
                    # Which of the two is right cannot be known here: the first stays.
                    bad(row.line, f"order id {order_id} also on line {first_line[order_id]}")
                    continue
                first_line[order_id] = row.line
            batch.append(row)
            if len(batch) >= BATCH:
                await flush(batch)
                batch = []
        if batch:
            await flush(batch)
    except Exception as exc:
        bar.close()
        log.debug("import failed", exc_info=True)
        print(totals.line(name))
        print(
            f"mamabot import-orders: stopped, the database failed ({type(exc).__name__}: "
            f"{exc}); the rows above were imported, run it again to import the rest",
            file=sys.stderr,
        )
        return 1
    finally:
        with contextlib.suppress(Exception):
            await app.kv.close()
        with contextlib.suppress(Exception):
            await app.db.close()
    bar.close()
    print(totals.line(name))
    if stopped:
        print(
            f"mamabot import-orders: {stopped}; the rows before it were imported, none after",
            file=sys.stderr,
        )
        return 1
    return 2 if totals.bad else 0


def _csv_reason(error: str, table: OrderCsv) -> str:
    """A record error in the file's own words: the column header, not the field name."""
    field_name, _, problem = error.partition(": ")
    column = table.config.columns.get(field_name)
    if not column:
        return error
    return f"{column} is missing" if problem == "missing" else f"{column} {problem}"
