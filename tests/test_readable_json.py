"""JSON columns hold readable text: ops read outbox_message.payload in sqlite3 (the README
sends them there), so Chinese is stored as itself, never as \\uXXXX escapes, on SQLite and
PostgreSQL alike."""

from __future__ import annotations

from datetime import datetime

from storage import sql
from storage.db import Database
from storage.models import OutboxMessage, Profile, WorkItem, readable_json

AT = datetime.fromisoformat("2026-11-25T09:00:00+08:00")
PAYLOAD = {"room": None, "to": "m1", "text": "宝宝湿疹怎么办？先保湿🌷", "mentions": []}


async def test_an_outbox_payload_is_stored_readable_and_read_back(db: Database) -> None:
    await OutboxMessage.create(
        dedupe_key="k1", account_id="sim", action="say", payload=PAYLOAD, due_at=AT, created_at=AT
    )
    await WorkItem.create(kind="x", key="w1", due_at=AT, payload={"提醒": "孕中期"}, created_at=AT)
    await Profile.create(contact_id="m1", extra={"城市": "杭州"}, updated_at=AT)
    (row,) = await OutboxMessage.all().values("payload")
    assert row["payload"] == PAYLOAD  # the round trip, through JSON or jsonb
    (raw,) = await sql.fetch(
        OutboxMessage, "SELECT CAST(payload AS TEXT) AS p FROM outbox_message", []
    )
    assert "宝宝湿疹怎么办" in raw["p"] and "\\u" not in raw["p"]
    (work,) = await sql.fetch(WorkItem, "SELECT CAST(payload AS TEXT) AS p FROM work", [])
    assert "孕中期" in work["p"]
    (profile,) = await sql.fetch(Profile, "SELECT CAST(extra AS TEXT) AS p FROM profile", [])
    assert "杭州" in profile["p"]


def test_text_that_is_not_unicode_keeps_its_escapes() -> None:
    assert readable_json({"t": "小美"}) == '{"t":"小美"}'
    # A lone surrogate cannot be stored as UTF-8: escaped as before, never refused here.
    assert readable_json({"t": "小\ud800"}) == '{"t":"\\u5c0f\\ud800"}'
