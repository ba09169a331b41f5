"""A row the database refuses is set aside; the rest of its batch is written."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from storage import dead_letter
from storage.db import Database
from storage.interactions import COLUMNS, INSERT_SQL
from storage.models import DeadLetter, Interaction

AT = datetime.fromisoformat("2026-11-27T09:00:00+08:00")


def row(event_id: str, text: str) -> list[object]:
    return [AT, "acct", event_id, "message", "r1@chatroom", "wxid_a", "text", text]


async def test_a_refused_row_is_set_aside_and_the_others_written(db: Database) -> None:
    # A lone surrogate: neither database driver can encode it (a NUL PostgreSQL refuses too).
    rows = [row("e1", "你好"), row("e2", "坏\x00\ud800行"), row("e3", "谢谢")]
    written, aside = await dead_letter.insert_each(
        Interaction, INSERT_SQL, rows, kind="interaction", at=AT, columns=COLUMNS
    )
    assert (written, aside) == (2, 1)
    texts = sorted(r.text for r in await Interaction.all())
    assert texts == ["你好", "谢谢"]
    (letter,) = await DeadLetter.all()
    assert letter.kind == "interaction"
    assert json.loads(letter.payload)["text"] == "坏\x00\ud800行"
    assert letter.payload.isascii()  # escaped: the letter itself is always storable


async def test_an_unreachable_database_raises_with_the_rows_handled(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storage import sql

    calls = 0
    real = sql.execute

    async def flaky(model, statement, params):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionError("server closed the connection")
        return await real(model, statement, params)

    async def away(model) -> bool:  # type: ignore[no-untyped-def]
        return False

    monkeypatch.setattr(sql, "execute", flaky)
    monkeypatch.setattr(dead_letter, "database_answers", away)
    rows = [row("e1", "a"), row("e2", "b"), row("e3", "c")]
    with pytest.raises(dead_letter.DatabaseAway) as caught:
        await dead_letter.insert_each(Interaction, INSERT_SQL, rows, kind="interaction", at=AT)
    assert caught.value.handled == 1
    assert await DeadLetter.all().count() == 0
