"""How the dashboard answers: HTML pages from Jinja2 templates (autoescaped: names and
messages are mothers' text), the chart data as a JSON block, CSV downloads, and the
security headers every answer carries."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from markupsafe import Markup, escape

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

# No inline script (the chart data is a JSON block, data not code), nothing from another
# origin (an intranet install has no internet), no framing (clickjacking). Plotly sets
# styles on its own elements through the DOM and adds one <style> of its own rules, which
# needs 'unsafe-inline' for styles only; scripts stay 'self'.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
# Pages may show personal data: no browser or proxy keeps a copy.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def json_block(data: Any) -> Markup:
    """`data` as JSON that is safe inside <script type="application/json">: no "<" (so no
    "</script>" in a name can end the block), ">" or "&" appear literally."""
    text = json.dumps(data, ensure_ascii=False, default=_jsonable, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


@dataclass(frozen=True)
class Link:
    """A table cell that opens another dashboard page."""

    text: str
    href: str


@dataclass(frozen=True)
class Money:
    cents: int


@dataclass(frozen=True)
class Rate:
    value: float


@dataclass
class Table:
    """A table as the page shows it and as its CSV download holds it."""

    name: str  # ?format=csv&table=<name>
    title: str
    header: list[str]
    rows: list[list[Any]]
    note: str = ""  # under the table: "showing the latest 200 of 1,234" ...
    csv_href: str = ""  # set by the page
    # Every row, for the download, when `rows` is only what the page shows.
    source: Callable[[], AsyncIterator[Sequence[Any]]] | None = None


def cell_html(value: Any) -> Markup:
    if isinstance(value, Link):
        return Markup('<a href="{}">{}</a>').format(value.href, value.text or "-")
    if isinstance(value, Money):
        return Markup('<span class="num">{}</span>').format(yuan(value.cents))
    if isinstance(value, Rate):
        return Markup('<span class="num">{}</span>').format(percent(value.value))
    if isinstance(value, bool):
        return Markup("是" if value else "否")
    if isinstance(value, int | float):
        return Markup('<span class="num">{}</span>').format(f"{value:,}")
    if isinstance(value, datetime):
        return Markup(escape(when(value)))
    if isinstance(value, list | tuple):
        return Markup(escape("、".join(map(str, value)) or "-"))
    if value is None or value == "":
        return Markup("-")
    return Markup(escape(str(value)))


def yuan(cents: Any) -> str:
    """Cents as yuan with two decimals and thousands separators: 1234567 -> 1,234.57."""
    try:
        return f"{int(cents) / 100:,.2f}"
    except (TypeError, ValueError):
        return "-"


def percent(rate: Any) -> str:
    try:
        return f"{float(rate) * 100:.1f}%"
    except (TypeError, ValueError):
        return "-"


def when(value: Any, tz: tzinfo | None = None) -> str:
    """An ISO time (string or datetime) as "YYYY-MM-DD HH:MM" in `tz`; "-" when missing."""
    if value in (None, ""):
        return "-"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        if tz is not None and value.tzinfo is not None:
            value = value.astimezone(tz)
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


class Renderer:
    def __init__(self, static_version: str) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(TEMPLATES)),
            autoescape=True,  # every template, whatever its name
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(
            yuan=yuan, percent=percent, when=when, cell=cell_html, json_block=json_block
        )
        self.env.globals["static_version"] = static_version

    def page(
        self, template: str, status: int = 200, headers: Mapping[str, str] | None = None, **ctx: Any
    ) -> web.Response:
        html = self.env.get_template(template).render(**ctx)
        return web.Response(
            status=status,
            text=html,
            content_type="text/html",
            charset="utf-8",
            headers={**SECURITY_HEADERS, **NO_STORE, **(headers or {})},
        )


# A cell a spreadsheet would run as a formula (=HYPERLINK(...), +cmd|..., @SUM, -2+3):
# prefixed with a quote so Excel and WPS show it as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Link):
        value = value.text
    elif isinstance(value, Money):
        return f"{value.cents / 100:.2f}"
    elif isinstance(value, Rate):
        return f"{value.value:.4f}"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # a negative number is a number, not a formula
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        value = "、".join(map(str, value))
    text = str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


CSV_FLUSH_ROWS = 500  # rows written to the network at once by a streamed download


async def csv_download(request: web.Request, table: Table) -> web.StreamResponse:
    """The table as a CSV download: its whole `source` streamed when it has one (a
    query failing before the first row is the caller's error page; a later failure is
    logged and the connection dropped, so the browser reports a broken download rather
    than keeping a short file)."""
    if table.source is None:
        return csv_response(f"{table.name}.csv", table.header, table.rows)
    rows = table.source()
    first = await anext(rows, None)
    response = web.StreamResponse(headers=_csv_headers(f"{table.name}.csv"))
    response.content_type = "text/csv"
    response.charset = "utf-8"
    await response.prepare(request)
    lines = _CsvLines()
    lines.add(table.header)
    try:
        if first is not None:
            lines.add(first)
            async for row in rows:
                lines.add(row)
                if lines.count >= CSV_FLUSH_ROWS:
                    await response.write(lines.take())
        await response.write(lines.take())
        await response.write_eof()
    except ConnectionError:
        log.info("dashboard: the browser left during the download of %s", table.name)
    except Exception:
        log.exception("dashboard: the download of %s broke off", table.name)
        if request.transport is not None:
            request.transport.close()
    return response


class _CsvLines:
    """CSV rows collected as UTF-8 (a BOM first, so Excel on Windows reads Chinese),
    CRLF-ended, every cell guarded against formula injection."""

    def __init__(self) -> None:
        self._out = io.StringIO()
        self._out.write("\ufeff")
        self._writer = csv.writer(self._out, lineterminator="\r\n")
        self.count = 0

    def add(self, row: Sequence[Any]) -> None:
        self._writer.writerow([csv_cell(v) for v in row])
        self.count += 1

    def take(self) -> bytes:
        data = self._out.getvalue().encode("utf-8")
        self._out.seek(0)
        self._out.truncate()
        self.count = 0
        return data


def _csv_headers(filename: str) -> dict[str, str]:
    # The name is ASCII we make ourselves (never a mother's name or id).
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in filename)
    return {
        **SECURITY_HEADERS,
        **NO_STORE,
        "Content-Disposition": f'attachment; filename="{safe}"',
    }


def csv_response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> web.Response:
    """A CSV download of rows at hand (see _CsvLines)."""
    lines = _CsvLines()
    lines.add(header)
    for row in rows:
        lines.add(row)
    return web.Response(
        body=lines.take(),
        content_type="text/csv",
        charset="utf-8",
        headers=_csv_headers(filename),
    )
