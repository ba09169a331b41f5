"""The storage layer's contract, run against SQLite and real PostgreSQL alike."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from bot.clock import FakeClock
from bot.dispatcher import interaction_row
from bot.events import Event, MemberJoined, MessageReceived
from storage import people
from storage import sql as sql_module
from storage.db import Database
from storage.interactions import InteractionRow, InteractionWriter
from storage.models import Interaction, OutboxMessage
from storage.tags import TagChange, TagStore

AT = datetime.fromisoformat("2026-11-25T09:00:00+08:00")


def _row(event: Event) -> InteractionRow:
    """The writer takes rows; the core builds them from events."""
    row = interaction_row(event)
    assert row is not None
    return row


async def test_tags_have_source_and_history(db: Database) -> None:
    clock = FakeClock(AT)
    seen: list[TagChange] = []
    tags = TagStore(clock, on_change=seen.append)
    assert await tags.add("c1", "渠道:小红书", source="channel", detail="小红书")
    assert not await tags.add("c1", "渠道:小红书", source="keyword")  # already carried
    clock.advance(60)
    assert await tags.add("c1", "关注:湿疹", source="keyword", detail="eczema")
    assert await tags.tags_of("c1") == {"渠道:小红书": "channel", "关注:湿疹": "keyword"}
    clock.advance(60)
    assert await tags.remove("c1", "关注:湿疹", source="admin")
    assert not await tags.remove("c1", "关注:湿疹", source="admin")
    assert not await tags.remove("c1", "从没有过", source="admin")
    assert await tags.tags_of("c1") == {"渠道:小红书": "channel"}
    history = [(h.tag, h.op, h.source, h.at - AT) for h in await tags.history("c1")]
    assert history == [
        ("渠道:小红书", "add", "channel", timedelta(0)),
        ("关注:湿疹", "add", "keyword", timedelta(seconds=60)),
        ("关注:湿疹", "remove", "admin", timedelta(seconds=120)),
    ]
    assert [c.op for c in seen] == ["add", "add", "remove"]
    assert await tags.contacts_with("渠道:小红书") == ["c1"]
    with pytest.raises(ValueError):
        await tags.add("c1", "x", source="made-up")


async def test_memberships_record_stints_inviter_and_remover(db: Database) -> None:
    await people.member_joined("R1", "b", AT, inviter_id="a")
    await people.member_joined("R1", "b", AT)  # re-delivered join: no second stint
    await people.member_joined("R2", "b", AT)
    assert await people.rooms_of("b") == ["R1", "R2"]
    assert await people.member_left("R1", "b", AT + timedelta(hours=1), remover_id="bot")
    assert not await people.member_left("R1", "b", AT + timedelta(hours=2))
    assert await people.rooms_of("b") == ["R2"]
    await people.member_joined("R1", "b", AT + timedelta(days=1))
    assert await people.members_of("R1") == ["b"]
    from storage.models import RoomMembership

    stints = await RoomMembership.filter(room_id="R1", contact_id="b").order_by("id")
    assert [(s.inviter_id, s.remover_id, s.left_at is None) for s in stints] == [
        ("a", "bot", False),
        (None, None, True),
    ]


async def test_contacts_and_rooms_upsert(db: Database) -> None:
    c = await people.upsert_contact("c1", AT, name="小美")
    assert c.name == "小美" and not c.is_friend
    c = await people.upsert_contact("c1", AT + timedelta(days=1), is_friend=True, channel="门店")
    assert (c.name, c.is_friend, c.channel, c.first_seen_at) == ("小美", True, "门店", AT)
    r = await people.upsert_room("R1", "acc", AT, topic="孕妈交流群", owner_id="o")
    r = await people.upsert_room("R1", "acc", AT, topic="孕妈交流群2")
    assert (r.topic, r.owner_id) == ("孕妈交流群2", "o")


async def test_interactions_are_written_behind_in_batches(db: Database) -> None:
    writer = InteractionWriter(batch_size=3)
    for i in range(7):
        writer.record(
            _row(
                MessageReceived(
                    event_id=f"e{i}",
                    account_id="acc",
                    at=AT,
                    sender_id="b",
                    text=f"第{i}条😀",
                    room="R1",
                )
            )
        )
    writer.record(
        _row(MemberJoined(event_id="j", account_id="acc", at=AT, room="R1", member_id="c"))
    )
    assert writer.wants_flush and await Interaction.all().count() == 0
    assert await writer.flush() == 8
    rows = await Interaction.all().order_by("id")
    assert [r.kind for r in rows] == ["message"] * 7 + ["join"]
    assert rows[0].text == "第0条😀" and rows[0].msg_type == "text" and rows[0].room_id == "R1"
    assert (rows[0].at, rows[0].contact_id, rows[0].event_id) == (AT, "b", "e0")
    assert (rows[7].contact_id, rows[7].msg_type, rows[7].text) == ("c", None, None)
    assert await writer.flush() == 0


async def test_a_failed_interaction_flush_keeps_exactly_the_unwritten_rows(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = InteractionWriter(batch_size=3)
    for i in range(8):
        writer.record(
            _row(
                MessageReceived(
                    event_id=f"e{i}", account_id="acc", at=AT, sender_id="b", text=f"{i}"
                )
            )
        )
    client = Interaction._meta.db
    real = client.execute_many
    calls = 0

    async def second_chunk_fails(sql: str, values: list) -> None:  # type: ignore[type-arg]
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionError("database went away")
        await real(sql, values)

    monkeypatch.setattr(client, "execute_many", second_chunk_fails)
    assert await writer.flush() == 3
    assert writer.pending == 5
    assert await writer.flush() == 5
    assert sorted(r.text for r in await Interaction.all()) == [str(i) for i in range(8)]


async def test_outbox_claim_is_conditional(db: Database) -> None:
    row = await OutboxMessage.create(
        dedupe_key="k",
        account_id="acc",
        action="say",
        payload={"room": "R1", "text": "你好"},
        due_at=AT,
        created_at=AT,
    )
    first = await OutboxMessage.filter(id=row.id, status="pending").update(status="sending")
    second = await OutboxMessage.filter(id=row.id, status="pending").update(status="sending")
    assert (first, second) == (1, 0)  # only one instance wins the claim
    assert (await OutboxMessage.get(id=row.id)).payload == {"room": "R1", "text": "你好"}


async def test_an_older_schema_gets_the_new_columns_on_start(db: Database) -> None:
    from storage.db import add_missing_columns
    from storage.models import Contact, Profile

    await Contact.create(contact_id="old", first_seen_at=AT, updated_at=AT)
    client = Contact._meta.db
    await client.execute_script('ALTER TABLE "contact" DROP COLUMN "opted_out_at"')
    await client.execute_script('ALTER TABLE "profile" DROP COLUMN "extra"')
    assert sorted(await add_missing_columns()) == ["contact.opted_out_at", "profile.extra"]
    assert await add_missing_columns() == []
    contact = await Contact.get(contact_id="old")  # existing rows keep working
    assert contact.opted_out_at is None
    await Profile.create(contact_id="old", updated_at=AT)
    assert (await Profile.get(contact_id="old")).extra == {}


async def test_groups_first_seen_are_handed_over_once_after_a_flush(db: Database) -> None:
    writer = InteractionWriter(batch_size=10)
    handed: list[list[tuple[str, str]]] = []
    fail = [True]

    async def record(rooms: list[tuple[str, str]]) -> list[tuple[str, str]]:
        if fail.pop() if fail else False:
            raise ConnectionError("database went away")
        handed.append(rooms)
        return [r for r in rooms if r != ("acc", "R2")] if len(handed) == 1 else rooms

    writer.on_new_rooms = record
    for i, room in enumerate(["R2", "R1", "R2", None]):
        writer.record(
            _row(
                MessageReceived(
                    event_id=f"e{i}", account_id="acc", at=AT, sender_id="b", text="hi", room=room
                )
            )
        )
    assert await writer.flush() == 4 and handed == []  # failed: tried again next time
    writer.record(
        _row(
            MessageReceived(
                event_id="e9", account_id="acc", at=AT, sender_id="c", text="", room="R3"
            )
        )
    )
    assert await writer.flush() == 1
    assert handed == [[("acc", "R1"), ("acc", "R2"), ("acc", "R3")]]  # the failed ones too
    assert await writer.flush() == 0  # nothing to write, but R2 was not recorded: again
    assert handed[-1] == [("acc", "R2")]
    writer.record(
        _row(
            MessageReceived(
                event_id="e10", account_id="acc", at=AT, sender_id="b", text="", room="R3"
            )
        )
    )
    await writer.flush()
    assert len(handed) == 2  # a group recorded is handed over no more


async def test_a_flush_cancelled_mid_write_keeps_its_rows_for_the_next(db: Database) -> None:
    import asyncio

    writer = InteractionWriter(batch_size=2)
    for i in range(4):
        writer.record(
            _row(
                MessageReceived(
                    event_id=f"c{i}", account_id="a", at=AT, sender_id="s", text="hi", room="R1"
                )
            )
        )
    started, release = asyncio.Event(), asyncio.Event()
    real = sql_module.execute_many

    async def slow(model: Any, statement: str, rows: list[list[Any]]) -> None:
        started.set()
        await release.wait()
        await real(model, statement, rows)

    sql_module.execute_many = slow  # type: ignore[assignment]
    try:
        task = asyncio.create_task(writer.flush())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        sql_module.execute_many = real  # type: ignore[assignment]
    assert writer.pending == 4
    await writer.flush()
    assert await Interaction.filter(event_id__startswith="c").count() == 4
