"""The interaction export: `GET /api/interactions.jsonl` and `.csv`, streamed.

Rows are read in batches (storage.contact_view.interactions_between) and written to the
response as they come, so an export of a year never sits in memory. The first batch is
read before the response starts: a database that does not answer is still a JSON error
then. A failure later can only cut the stream short (logged); the client sees a
connection closed before the end of the chunked body, never a half file that looks whole.

CSV cells that a spreadsheet would run as a formula (starting with = + - @, or a tab or
carriage return before one) get a leading apostrophe: the export holds mothers' messages,
and a message must never become a formula on an ops laptop.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime, tzinfo
from typing import Any

from aiohttp import web

from storage import contact_view

log = logging.getLogger(__name__)

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Rows per write: large enough that a write is not a syscall per row.
_ROWS_PER_WRITE = 500


def safe_cell(value: Any) -> str:
    """A CSV cell as text, defused when a spreadsheet would read it as a formula."""
    if value is None:
        return ""
    text = str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def csv_lines(rows: list[dict[str, Any]], header: bool = False) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(contact_view.EXPORT_FIELDS)
    for row in rows:
        writer.writerow([safe_cell(row[field]) for field in contact_view.EXPORT_FIELDS])
    return out.getvalue()


def jsonl_lines(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


class StreamCut(Exception):
    """The export stopped after its response had started: the connection is dropped, so
    the client sees an incomplete body (already logged)."""


async def _chunks(rows: AsyncIterator[dict[str, Any]]) -> AsyncIterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    async for row in rows:
        chunk.append(row)
        if len(chunk) >= _ROWS_PER_WRITE:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def stream(
    request: web.Request, fmt: str, start: datetime, end: datetime, tz: tzinfo, name: str
) -> web.StreamResponse:
    """Stream the interactions of [start, end) as `fmt` (jsonl or csv)."""
    chunks = _chunks(contact_view.interactions_between(start, end, tz=tz))
    first = await anext(chunks, None)  # may raise: still answered as a JSON error
    content_type = "text/csv" if fmt == "csv" else "application/x-ndjson"
    response = web.StreamResponse(
        headers={
            "Content-Type": f"{content_type}; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{name}.{fmt}"',
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    try:
        if fmt == "csv":
            await response.write(csv_lines([], header=True).encode())
        chunk = first
        while chunk is not None:
            if fmt == "csv":
                # A lone surrogate (text a channel mangled) becomes "?" in the sheet.
                data = csv_lines(chunk).encode("utf-8", "replace")
            else:
                # ... and a \udXXX escape in JSON, which is valid JSON.
                data = jsonl_lines(chunk).encode("utf-8", "backslashreplace")
            await response.write(data)
            chunk = await anext(chunks, None)
    except ConnectionError:
        log.info("api: export %s.%s: the client went away", name, fmt)
        raise StreamCut(name) from None
    except Exception as exc:
        log.exception("api: export %s.%s failed part way; the stream is cut short", name, fmt)
        raise StreamCut(name) from exc
    await response.write_eof()
    return response
