"""Rows the database refused, set aside so the rest of their batch goes through.

A batch writer (the outbox, the interaction log) writes a whole batch at once. When the
batch is refused, `insert_each` writes its rows one by one: a row the database refuses
while it still answers is set aside in the dead_letter table with the error, and the
others are written. When the database does not answer at all (an outage, not a bad row),
it raises, and the writer keeps the unwritten rows for its next try.

A dead letter's payload is ASCII-escaped JSON, so it is always storable, whatever
characters made the original row fail.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tortoise.models import Model

from storage import sql
from storage.models import DeadLetter

log = logging.getLogger(__name__)

MAX_ERROR = 2000


class DatabaseAway(Exception):
    """The database stopped answering during `insert_each`; `handled` rows (from the
    start) were written or set aside, the rest are the caller's to keep."""

    def __init__(self, handled: int) -> None:
        super().__init__(f"database not answering after {handled} rows")
        self.handled = handled


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def encode(payload: Any) -> str:
    """The payload as JSON text a database always accepts (no NUL, no lone surrogate)."""
    return json.dumps(_jsonable(payload), ensure_ascii=True, sort_keys=True)


async def set_aside(kind: str, payload: Any, error: str, *, at: datetime) -> None:
    await DeadLetter.create(
        kind=kind[:32], payload=encode(payload), error=error[:MAX_ERROR], created_at=at
    )
    log.error("%s row refused by the database, set aside in dead_letter: %s", kind, error)


async def database_answers(model: type[Model]) -> bool:
    """Whether the database behind `model` answers a trivial query."""
    try:
        await sql.fetch(model, "SELECT 1 AS one", [])
    except Exception:
        return False
    return True


async def insert_each(
    model: type[Model],
    statement: str,
    rows: Sequence[Sequence[Any]],
    *,
    kind: str,
    at: datetime,
    columns: Sequence[str] = (),
) -> tuple[int, int]:
    """Write `rows` one statement each, setting aside those the database refuses.

    Returns (written, set aside). Raises DatabaseAway when the database stops answering:
    the caller keeps the rows from `handled` on for its next try. `columns` names the
    values of a row in its dead letter.
    """
    written = aside = 0
    for row in rows:
        try:
            await sql.execute(model, statement, list(row))
        except Exception as exc:
            if not await database_answers(model):
                raise DatabaseAway(written + aside) from exc
            payload: Any = dict(zip(columns, row, strict=False)) if columns else list(row)
            await set_aside(kind, payload, f"{type(exc).__name__}: {exc}", at=at)
            aside += 1
        else:
            written += 1
    return written, aside
